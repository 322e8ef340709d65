/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "image/bootstrap.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/log.h"
#include "base/process.h" /* bothy_waitpid, bothy_exit_code */
#include "base/strv.h"
#include "base/xalloc.h"
#include "image/archive.h"
#include "image/reference.h"

#define TMP_PREFIX "tmp-bootstrap-"
#define LOG_TAIL   12 /* lines of debootstrap's log shown when it fails */

/* Where helper programs are looked for: a fixed list, not the caller's PATH,
 * since this runs as root. */
static const char *const bin_dirs[] = {
  "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin",
};
#define SAFE_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static char *find_program(const char *name)
{
  for (size_t i = 0; i < ARRAY_SIZE(bin_dirs); i++) {
    char *p = xasprintf("%s/%s", bin_dirs[i], name);
    if (access(p, X_OK) == 0)
      return p;
    free(p);
  }
  return NULL;
}

/* ---- the default name ------------------------------------------------------ */

char *bothy_bootstrap_default_ref(const char *suite)
{
  static const char *const releases[][2] = {
    { "buster", "10" }, { "bullseye", "11" }, { "bookworm", "12" },
    { "trixie", "13" }, { "forky", "14" },
  };
  if (!suite)
    suite = BOTHY_BOOTSTRAP_DEFAULT_SUITE;
  const char *tag = suite;
  for (size_t i = 0; i < ARRAY_SIZE(releases); i++)
    if (streq(releases[i][0], suite))
      tag = releases[i][1];
  return xasprintf("%s:%s", BOTHY_BOOTSTRAP_DEFAULT_REPOSITORY, tag);
}

/* ---- apt's sources ----------------------------------------------------------- */

/* A URI debootstrap can fetch from and that can go into a sources.list line
 * as one word. apt's other methods (cdrom:, mirror+file:, tor+http:) cannot. */
static bool usable_uri(const char *s, size_t n)
{
  static const char *const schemes[] = { "http://", "https://", "ftp://", "file:/" };
  bool scheme = false;
  for (size_t i = 0; i < ARRAY_SIZE(schemes); i++)
    if (n > strlen(schemes[i]) && strncmp(s, schemes[i], strlen(schemes[i])) == 0)
      scheme = true;
  if (!scheme)
    return false;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char) s[i] <= ' ' || s[i] == 0x7f)
      return false;
  return true;
}

static char *uri_dup(const char *s, size_t n)
{
  while (n > 0 && s[n - 1] == '/')
    n--;
  return xstrndup(s, n);
}

/* true when the whitespace-separated list has word. */
static bool has_word(const char *list, const char *word)
{
  size_t wl = strlen(word);
  for (const char *p = list; *p;) {
    p += strspn(p, " \t");
    size_t n = strcspn(p, " \t");
    if (n == wl && strncmp(p, word, n) == 0)
      return true;
    p += n;
  }
  return false;
}

/* The first usable URI of a whitespace-separated list, or NULL. */
static char *first_uri(const char *list)
{
  for (const char *p = list; *p;) {
    p += strspn(p, " \t");
    size_t n = strcspn(p, " \t");
    if (n > 0 && usable_uri(p, n))
      return uri_dup(p, n);
    p += n;
  }
  return NULL;
}

struct stanza {
  char *types, *uris, *suites, *enabled;
};

static void stanza_clear(struct stanza *s)
{
  free(s->types);
  free(s->uris);
  free(s->suites);
  free(s->enabled);
  *s = (struct stanza){ 0 };
}

static char *stanza_match(const struct stanza *s, const char *suite)
{
  if (!s->types || !s->uris || !s->suites || !has_word(s->types, "deb") ||
      !has_word(s->suites, suite))
    return NULL;
  if (s->enabled && (strcasecmp(s->enabled, "no") == 0 || strcasecmp(s->enabled, "false") == 0))
    return NULL;
  return first_uri(s->uris);
}

/* deb822 (sources.list(5), "DEB822-STYLE FORMAT"): stanzas separated by
 * blank lines, "Field: value" with continuation lines that start with a
 * space or tab, '#' comment lines. Field names are case-insensitive. */
static char *deb822_find(char *text, const char *suite)
{
  struct stanza s = { 0 };
  char **field = NULL; /* the field continuation lines add to */
  char *found = NULL, *rest = text, *l;
  /* strsep, not strtok: blank lines end stanzas. */
  while ((l = strsep(&rest, "\n"))) {
    size_t n = strlen(l);
    while (n > 0 && isspace((unsigned char) l[n - 1]))
      l[--n] = '\0';
    if (l[0] == '#')
      continue;
    if (n == 0) {
      if ((found = stanza_match(&s, suite)))
        break;
      stanza_clear(&s);
      field = NULL;
      continue;
    }
    if (l[0] == ' ' || l[0] == '\t') {
      if (field && *field) {
        char *joined = xasprintf("%s %s", *field, l);
        free(*field);
        *field = joined;
      }
      continue;
    }
    char *colon = strchr(l, ':');
    field = NULL;
    if (!colon)
      continue;
    *colon = '\0';
    const char *value = colon + 1 + strspn(colon + 1, " \t");
    if (strcasecmp(l, "Types") == 0)
      field = &s.types;
    else if (strcasecmp(l, "URIs") == 0)
      field = &s.uris;
    else if (strcasecmp(l, "Suites") == 0)
      field = &s.suites;
    else if (strcasecmp(l, "Enabled") == 0)
      field = &s.enabled;
    if (field) {
      free(*field);
      *field = xstrdup(value);
    }
  }
  if (!found)
    found = stanza_match(&s, suite);
  stanza_clear(&s);
  return found;
}

/* One-line style: "deb [ option=value ... ] uri suite [component...]". */
static char *oneline_find(char *text, const char *suite)
{
  char *save = NULL;
  for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
    l[strcspn(l, "#")] = '\0';
    l += strspn(l, " \t");
    if (strncmp(l, "deb", 3) != 0 || (l[3] != ' ' && l[3] != '\t'))
      continue;
    l += 3 + strspn(l + 3, " \t");
    if (*l == '[') {
      char *end = strchr(l, ']');
      if (!end)
        continue;
      l = end + 1 + strspn(end + 1, " \t");
    }
    size_t ul = strcspn(l, " \t");
    const char *uri = l;
    char *s = l + ul + strspn(l + ul, " \t");
    size_t sl = strcspn(s, " \t");
    if (sl == strlen(suite) && strncmp(s, suite, sl) == 0 && usable_uri(uri, ul))
      return uri_dup(uri, ul);
  }
  return NULL;
}

static char *find_in_files(const char *pattern, const char *suite, bool deb822)
{
  glob_t g = { 0 };
  char *found = NULL;
  if (glob(pattern, 0, NULL, &g) != 0)
    return NULL;
  for (size_t i = 0; i < g.gl_pathc && !found; i++) {
    _cleanup_free_ char *text = NULL;
    if (bothy_read_file(AT_FDCWD, g.gl_pathv[i], &text, NULL, NULL) < 0)
      continue; /* unreadable sources are apt's problem, not ours */
    found = deb822 ? deb822_find(text, suite) : oneline_find(text, suite);
  }
  globfree(&g);
  return found;
}

int bothy_debian_mirror(const char *apt_dir, const char *suite, char **ret, bothy_error_t *err)
{
  if (!apt_dir)
    apt_dir = "/etc/apt";
  _cleanup_free_ char *sources = xasprintf("%s/sources.list.d/*.sources", apt_dir);
  _cleanup_free_ char *list = xasprintf("%s/sources.list", apt_dir);
  _cleanup_free_ char *lists = xasprintf("%s/sources.list.d/*.list", apt_dir);
  char *found = find_in_files(sources, suite, true);
  if (!found)
    found = find_in_files(list, suite, false);
  if (!found)
    found = find_in_files(lists, suite, false);
  if (!found)
    return bothy_error_set_code(err, ENOENT, "no apt source for '%s' in %s", suite, apt_dir);
  *ret = found;
  return 0;
}

/* ---- the temporary directory ------------------------------------------------- */

/* Detaches every mount under dir, deepest first (debootstrap mounts /proc
 * and /sys in its target and may leave them when it is killed). */
static void unmount_under(const char *dir)
{
  _cleanup_fclose_ FILE *mi = fopen("/proc/self/mountinfo", "re");
  _cleanup_strv_free_ char **mps = NULL;
  _cleanup_free_ char *line = NULL;
  size_t cap = 0, dl = strlen(dir);
  while (mi && getline(&line, &cap, mi) > 0) {
    /* "ID PARENT MAJ:MIN ROOT MOUNTPOINT ...", with octal escapes; ours
     * contain none, so an escaped one is not under dir anyway. */
    char *p = line;
    for (int i = 0; i < 4 && p; i++) {
      p = strchr(p, ' ');
      if (p)
        p++;
    }
    if (!p)
      continue;
    p[strcspn(p, " ")] = '\0';
    if (strncmp(p, dir, dl) == 0 && p[dl] == '/')
      strv_push(&mps, xstrdup(p));
  }
  /* mountinfo lists parents before children. */
  for (size_t n = strv_length(mps); n-- > 0;)
    if (umount2(mps[n], MNT_DETACH) < 0)
      log_debug("umount %s: %m", mps[n]);
}

struct work {
  char *dir;  /* ROOT/tmp-bootstrap-XXXXXX */
  int lockfd; /* the directory itself, flock()ed while we use it */
};

/* Unmounts and removes the directory (when there is one), then unlocks it. */
static void work_done(struct work *w)
{
  if (w->dir) {
    unmount_under(w->dir);
    bothy_error_t e = NULL;
    if (bothy_rm_rf_at(AT_FDCWD, w->dir, &e) < 0)
      log_debug("%s, ignoring", e->msg);
    bothy_error_free(&e);
    free(w->dir);
  }
  safe_close(w->lockfd);
  *w = (struct work){ .lockfd = -1 };
}
#define _cleanup_work_ _cleanup_(work_done)

/* Removes what killed bootstraps left: directories whose lock is free. One
 * younger than a minute may be a bootstrap between mkdtemp() and flock(),
 * and is left for the next sweep. */
static void sweep_stale(const char *root)
{
  _cleanup_closedir_ DIR *d = opendir(root);
  struct dirent *de;
  while (d && (de = readdir(d))) {
    if (strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) != 0)
      continue;
    _cleanup_free_ char *dir = xasprintf("%s/%s", root, de->d_name);
    _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || st.st_ctime > time(NULL) - 60 ||
        flock(fd, LOCK_EX | LOCK_NB) < 0)
      continue; /* young, or another bootstrap is running */
    struct work w = { .dir = TAKE_PTR(dir), .lockfd = TAKE_FD(fd) };
    work_done(&w);
  }
}

static int work_create(const char *root, struct work *ret, bothy_error_t *err)
{
  _cleanup_free_ char *dir = xasprintf("%s/" TMP_PREFIX "XXXXXX", root);
  if (!mkdtemp(dir))
    return bothy_error_errno(err, "cannot create a directory in '%s'", root);
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 || flock(fd, LOCK_EX) < 0) {
    int e = errno;
    safe_close(fd);
    rmdir(dir);
    return bothy_error_set(err, e, "cannot lock a directory in '%s'", root);
  }
  *ret = (struct work){ .dir = TAKE_PTR(dir), .lockfd = fd };
  return 0;
}

/* ---- debootstrap --------------------------------------------------------------- */

/* The last n lines of a file, each indented, or NULL when it is empty or
 * missing. */
static char *file_tail(const char *path, unsigned n)
{
  _cleanup_free_ char *text = NULL;
  size_t len = 0;
  if (bothy_read_file(AT_FDCWD, path, &text, &len, NULL) < 0)
    return NULL;
  while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
    text[--len] = '\0';
  if (len == 0)
    return NULL;
  size_t start = len;
  for (unsigned lines = 0; start > 0; start--)
    if (text[start - 1] == '\n' && ++lines == n)
      break;
  _cleanup_free_ char *out = xstrdup("");
  char *save = NULL;
  for (char *l = strtok_r(text + start, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
    size_t ll = strlen(l);
    while (ll > 0 && isspace((unsigned char) l[ll - 1]))
      l[--ll] = '\0';
    char *next = xasprintf("%s\n  %s", out, l);
    free(out);
    out = next;
  }
  return TAKE_PTR(out);
}

/* The environment for debootstrap and tar: a fixed PATH and C locale, plus
 * the caller's proxy settings (apt in the target uses them too). */
static char **helper_env(void)
{
  static const char *const pass[] = { "http_proxy", "https_proxy", "ftp_proxy", "no_proxy",
                                      "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY" };
  char **env = NULL;
  strv_push(&env, xstrdup(SAFE_PATH));
  strv_push(&env, xstrdup("LC_ALL=C"));
  strv_push(&env, xstrdup("DEBIAN_FRONTEND=noninteractive"));
  for (size_t i = 0; i < ARRAY_SIZE(pass); i++) {
    const char *v = getenv(pass[i]);
    if (v)
      strv_push(&env, xasprintf("%s=%s", pass[i], v));
  }
  return env;
}

/* Set while a helper runs: where SIGINT, SIGTERM and SIGHUP go. */
static volatile sig_atomic_t helper_pid, helper_signal;

static void forward_signal(int sig)
{
  helper_signal = sig;
  if (helper_pid > 0)
    kill((pid_t) helper_pid, sig);
}

/* Runs argv (argv[0] absolute) with stdout and stderr to out_fd and waits.
 * Not bothy_cmd_run(), for three reasons: the helper must stay in our
 * process group (a Ctrl-C reaches debootstrap, whose exit trap unmounts what
 * it mounted), must die with us (PR_SET_PDEATHSIG), and must inherit the
 * work directory's lock (as fd 3, and so every process it starts), so that
 * a later bootstrap never sweeps a directory something still writes in.
 * A signal that would end us is passed on and waited out instead, so the
 * caller still removes the directory; it then fails with EINTR. */
static int run_helper(char *const argv[], char *const env[], int out_fd, int lock_fd,
                      int *ret_status, bothy_error_t *err)
{
  static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
  struct sigaction sa = { .sa_handler = forward_signal }, old[ARRAY_SIZE(sigs)];
  sigemptyset(&sa.sa_mask);
  helper_signal = 0;
  helper_pid = 0;
  for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
    sigaction(sigs[i], &sa, &old[i]);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
      _exit(127);
    for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
      signal(sigs[i], SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    /* dup2() clears O_CLOEXEC on the copies. */
    if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
        dup2(out_fd, STDERR_FILENO) < 0 ||
        (lock_fd == 3 ? fcntl(3, F_SETFD, 0) : dup2(lock_fd, 3)) < 0)
      _exit(127);
    bothy_close_fds_from(4);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(argv[0], argv, env);
    _exit(127);
  }
  int e = errno;
  if (pid > 0) {
    helper_pid = pid;
    if (helper_signal) /* one that came before we knew the pid */
      kill(pid, helper_signal);
  }
  int st = pid > 0 ? bothy_waitpid(pid, 0) : -e;
  helper_pid = 0;
  for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
    sigaction(sigs[i], &old[i], NULL);
  if (pid < 0)
    return bothy_error_set(err, e, "cannot fork");
  if (st < 0)
    return bothy_error_set(err, -st, "cannot wait for '%s'", argv[0]);
  if (helper_signal)
    return bothy_error_set_code(err, EINTR, "interrupted by signal %d", (int) helper_signal);
  *ret_status = st;
  return 0;
}

static int run_debootstrap(const struct work *w, const char *program, const char *suite,
                           const char *variant, const char *mirror, int output_fd,
                           bothy_error_t *err)
{
  _cleanup_free_ char *target = xasprintf("%s/rootfs", w->dir);
  _cleanup_free_ char *out_path = xasprintf("%s/output.log", w->dir);
  _cleanup_free_ char *variant_opt = xasprintf("--variant=%s", variant);
  char *const argv[] = { (char *) program, variant_opt,     (char *) suite,
                         target,           (char *) mirror, NULL };
  _cleanup_strv_free_ char **env = helper_env();
  _cleanup_close_ int out = -1;
  if (output_fd < 0) {
    out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (out < 0)
      return bothy_error_errno(err, "cannot create '%s'", out_path);
  }
  int status = 0;
  if (run_helper(argv, env, out >= 0 ? out : output_fd, w->lockfd, &status, err) < 0)
    return -1;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    return 0;

  /* Its I: and E: lines go to its output; what the programs it runs said
   * goes to debootstrap.log in the target. Show the end of both. */
  _cleanup_free_ char *log_path = xasprintf("%s/debootstrap/debootstrap.log", target);
  _cleanup_free_ char *log_tail = file_tail(log_path, LOG_TAIL);
  _cleanup_free_ char *out_tail = out >= 0 ? file_tail(out_path, 4) : NULL;
  return bothy_error_set_code(err, EIO, "debootstrap failed (exit status %d)%s%s%s",
                              bothy_exit_code(status), log_tail || out_tail ? ":" : "",
                              log_tail ? log_tail : "", out_tail ? out_tail : "");
}

/* ---- the tree ------------------------------------------------------------------- */

static int open_dir_in(int rootfd, const char *path, bothy_error_t *err)
{
  int fd = bothy_open_in_root(rootfd, path, O_RDONLY | O_DIRECTORY, 0);
  if (fd < 0)
    return bothy_error_set(err, -fd, "cannot open '/%s' in the new tree", path);
  return fd;
}

/* Removes dir's entries (all, or those ending in suffix). */
static int empty_dir_in(int rootfd, const char *path, const char *suffix, bothy_error_t *err)
{
  int fd = open_dir_in(rootfd, path, err);
  if (fd < 0)
    return -1;
  _cleanup_closedir_ DIR *d = fdopendir(fd);
  if (!d) {
    safe_close(fd);
    return bothy_error_errno(err, "cannot read '/%s' in the new tree", path);
  }
  struct dirent *de;
  size_t sl = suffix ? strlen(suffix) : 0;
  while ((de = readdir(d))) {
    size_t n = strlen(de->d_name);
    if (streq(de->d_name, ".") || streq(de->d_name, ".."))
      continue;
    if (suffix && (n < sl || strcmp(de->d_name + n - sl, suffix) != 0))
      continue;
    if (bothy_rm_rf_at(dirfd(d), de->d_name, err) < 0)
      return bothy_error_prefix(err, "emptying '/%s'", path);
  }
  return 0;
}

static int write_in(int rootfd, const char *dir, const char *name, const char *text, mode_t mode,
                    bothy_error_t *err)
{
  _cleanup_close_ int fd = open_dir_in(rootfd, dir, err);
  if (fd < 0)
    return -1;
  if (bothy_write_file_replace(fd, name, text, strlen(text), mode, err) < 0)
    return bothy_error_prefix(err, "writing '/%s/%s' in the new tree", dir, name);
  return 0;
}

#define APT_CLEAN                                                                                  \
  "\"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb "                   \
  "/var/cache/apt/*.bin || true\";"
static const char APT_CONF[] =
    "// bothy: apt in a container image (written by `bothy image bootstrap`)\n"
    "Dir::Cache::pkgcache \"\";\n"
    "Dir::Cache::srcpkgcache \"\";\n"
    "DPkg::Post-Invoke { " APT_CLEAN " };\n"
    "APT::Update::Post-Invoke { " APT_CLEAN " };\n"
    "Acquire::Languages \"none\";\n";

static int finish_tree(const struct work *w, const char *apt_dir, const char *suite,
                       const char *mirror, bothy_error_t *err)
{
  _cleanup_free_ char *target = xasprintf("%s/rootfs", w->dir);
  _cleanup_close_ int rootfd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0)
    return bothy_error_errno(err, "cannot open '%s'", target);

  /* Device nodes belong to each container's own /dev (and a layer with
   * them could not be unpacked in a user namespace). */
  if (empty_dir_in(rootfd, "dev", NULL, err) < 0)
    return -1;
  {
    _cleanup_close_ int etc = open_dir_in(rootfd, "etc", err);
    if (etc < 0)
      return -1;
    /* The host's, copied by debootstrap: not the image's business. */
    if ((unlinkat(etc, "resolv.conf", 0) < 0 && errno != ENOENT) ||
        (unlinkat(etc, "hostname", 0) < 0 && errno != ENOENT))
      return bothy_error_errno(err, "cannot remove the host's files from '/etc' in the new tree");
  }
  /* debootstrap's downloads, and its package list of the main suite alone,
   * which the sources below make stale: a build runs apt-get update. */
  if (empty_dir_in(rootfd, "var/cache/apt/archives", ".deb", err) < 0 ||
      empty_dir_in(rootfd, "var/lib/apt/lists", NULL, err) < 0)
    return -1;

  /* Sources for the suite, and its updates and security suites where this
   * machine has them; only the main archive's suite is required. */
  _cleanup_free_ char *sources = xasprintf("deb %s %s main\n", mirror, suite);
  static const char *const extra[] = { "updates", "security" };
  for (size_t i = 0; i < ARRAY_SIZE(extra); i++) {
    _cleanup_free_ char *s = xasprintf("%s-%s", suite, extra[i]);
    _cleanup_free_ char *uri = NULL;
    if (bothy_debian_mirror(apt_dir, s, &uri, NULL) < 0)
      continue;
    char *more = xasprintf("%sdeb %s %s main\n", sources, uri, s);
    free(sources);
    sources = more;
  }
  if (write_in(rootfd, "etc/apt", "sources.list", sources, 0644, err) < 0)
    return -1;
  /* apt in a container: no package caches or downloaded .debs left in a
   * layer (apt's .bin caches alone are 80 MB after an update), no
   * translations; what docker's Debian images set in docker-clean and
   * docker-no-languages. */
  if (write_in(rootfd, "etc/apt/apt.conf.d", "90bothy-container", APT_CONF, 0644, err) < 0)
    return -1;
  /* invoke-rc.d(8): 101 is "action forbidden by policy", so a package's
   * postinst does not start its daemon inside a build. */
  return write_in(rootfd, "usr/sbin", "policy-rc.d",
                  "#!/bin/sh\n# bothy: services are not started while building images\nexit 101\n",
                  0755, err);
}

static int tar_tree(const struct work *w, const char *program, char **ret_path, bothy_error_t *err)
{
  _cleanup_free_ char *target = xasprintf("%s/rootfs", w->dir);
  _cleanup_free_ char *tarball = xasprintf("%s/rootfs.tar", w->dir);
  _cleanup_free_ char *out_path = xasprintf("%s/tar.log", w->dir);
  /* Numeric owners (the image's ids, not this host's names), sorted for a
   * stable layer, file capabilities kept. */
  char *const argv[] = { (char *) program,
                         "--numeric-owner",
                         "--sort=name",
                         "--xattrs",
                         "--xattrs-include=security.capability",
                         "-C",
                         target,
                         "-cf",
                         tarball,
                         ".",
                         NULL };
  _cleanup_strv_free_ char **env = helper_env();
  _cleanup_close_ int out =
      open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  if (out < 0)
    return bothy_error_errno(err, "cannot create '%s'", out_path);
  int status = 0;
  if (run_helper(argv, env, out, w->lockfd, &status, err) < 0)
    return -1;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    _cleanup_free_ char *tail = file_tail(out_path, 4);
    return bothy_error_set_code(err, EIO, "tar failed (exit status %d)%s%s",
                                bothy_exit_code(status), tail ? ":" : "", tail ? tail : "");
  }
  *ret_path = TAKE_PTR(tarball);
  return 0;
}

/* ---- the whole ------------------------------------------------------------------- */

static bool valid_suite(const char *s)
{
  if (!s || !islower((unsigned char) s[0]) || strlen(s) > 64)
    return false;
  for (; *s; s++)
    if (!islower((unsigned char) *s) && !isdigit((unsigned char) *s) && *s != '-' && *s != '.')
      return false;
  return true;
}

static int bootstrap(struct bothy_images *imgs, const struct bothy_bootstrap_opts *o,
                     const char *suite, const char *variant, const char *ref, char **ret_digest,
                     bothy_error_t *err)
{
  _cleanup_free_ char *debootstrap = find_program("debootstrap");
  if (!debootstrap)
    return bothy_error_set_code(err, ENOENT,
                                "debootstrap is not installed (apt-get install debootstrap)");
  _cleanup_free_ char *tar = find_program("tar");
  if (!tar)
    return bothy_error_set_code(err, ENOENT, "tar is not installed (apt-get install tar)");

  _cleanup_free_ char *mirror = NULL;
  if (o->mirror) {
    if (!usable_uri(o->mirror, strlen(o->mirror)))
      return bothy_error_set_code(err, EINVAL, "mirror '%s' is not an http, https, ftp or file URI",
                                  o->mirror);
    mirror = uri_dup(o->mirror, strlen(o->mirror));
  } else if (bothy_debian_mirror(o->apt_dir, suite, &mirror, err) < 0) {
    return bothy_error_prefix(err, "finding the Debian mirror (give one with --mirror URI)");
  }

  _cleanup_work_ struct work w = { .lockfd = -1 };
  if (work_create(imgs->root, &w, err) < 0)
    return -1;
  int r = run_debootstrap(&w, debootstrap, suite, variant, mirror, o->output_fd, err);
  /* Whatever debootstrap left mounted in its target (it unmounts /proc and
   * /sys on exit, but not when killed) must not go into the tar. */
  unmount_under(w.dir);
  _cleanup_free_ char *tarball = NULL;
  if (r < 0 || finish_tree(&w, o->apt_dir, suite, mirror, err) < 0 ||
      tar_tree(&w, tar, &tarball, err) < 0)
    return -1;
  _cleanup_close_ int fd = open(tarball, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return bothy_error_errno(err, "cannot open '%s'", tarball);
  _cleanup_free_ char *what = xasprintf("debootstrap of %s from %s", suite, mirror);
  return bothy_archive_import(imgs, fd, what, ref, ret_digest, err);
}

int bothy_bootstrap_debian(struct bothy_images *imgs, const struct bothy_bootstrap_opts *o,
                           char **ret_digest, bool *ret_existed, bothy_error_t *err)
{
  const char *suite = o->suite ? o->suite : BOTHY_BOOTSTRAP_DEFAULT_SUITE;
  const char *variant = o->variant ? o->variant : BOTHY_BOOTSTRAP_DEFAULT_VARIANT;
  if (!valid_suite(suite))
    return bothy_error_set_code(err, EINVAL, "invalid suite '%s'", suite);
  if (!valid_suite(variant))
    return bothy_error_set_code(err, EINVAL, "invalid variant '%s'", variant);
  _cleanup_free_ char *default_ref = o->ref ? NULL : bothy_bootstrap_default_ref(suite);
  _cleanup_reference_ struct bothy_reference *parsed = NULL;
  if (bothy_reference_parse(o->ref ? o->ref : default_ref, &parsed, err) < 0)
    return -1;
  if (parsed->digest)
    return bothy_error_set_code(err, EINVAL, "cannot name an image with a digest: '%s'", o->ref);
  _cleanup_free_ char *ref = bothy_reference_string(parsed);
  sweep_stale(imgs->root);

  if (!o->force) {
    _cleanup_image_ struct bothy_image *img = NULL;
    _cleanup_error_ bothy_error_t e = NULL;
    if (bothy_images_get(imgs, ref, &img, &e) >= 0) {
      *ret_digest = xstrdup(img->digest);
      if (ret_existed)
        *ret_existed = true;
      return 0;
    }
    /* Not there (or a layer of it is missing): make it. */
    if (e->code != ENOENT) {
      if (err)
        bothy_error_set_code(err, e->code, "%s", e->msg);
      return bothy_error_ret(&e);
    }
  }

  _cleanup_free_ char *digest = NULL;
  if (bootstrap(imgs, o, suite, variant, ref, &digest, err) < 0)
    return bothy_error_prefix(err, "bootstrapping Debian %s", suite);
  *ret_digest = TAKE_PTR(digest);
  if (ret_existed)
    *ret_existed = false;
  return 0;
}
