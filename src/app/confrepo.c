/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "app/confrepo.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/xalloc.h"
#include "app/dl-git2.h" /* last: redirects the library calls */

#define AUTHOR_NAME  "bothy"
#define AUTHOR_EMAIL "bothy@localhost"
#define GITIGNORE    "secrets/\n"
#define FILE_MODE    0644
#define DIR_MODE     0755

struct bothy_confrepo {
  char *dir;
  int dirfd; /* the working tree's top */
  git_repository *repo;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(git_repository *, git_repository_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(git_commit *, git_commit_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(git_tree *, git_tree_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(git_tree_entry *, git_tree_entry_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(git_blob *, git_blob_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(git_object *, git_object_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(git_index *, git_index_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(git_signature *, git_signature_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(git_revwalk *, git_revwalk_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(git_diff *, git_diff_free)

static void git_buf_disposep(git_buf *b)
{
  git_buf_dispose(b);
}

/* libgit2's error codes, as the errno-like codes of base/error.h. */
static int git_code_to_errno(int code)
{
  switch (code) {
  case GIT_ENOTFOUND:
  case GIT_EUNBORNBRANCH:
    return ENOENT;
  case GIT_EEXISTS:
    return EEXIST;
  case GIT_EAMBIGUOUS:
  case GIT_EINVALIDSPEC:
  case GIT_EINVALID:
    return EINVAL;
  case GIT_ELOCKED:
  case GIT_EMODIFIED:
    return EBUSY;
  case GIT_EDIRECTORY:
    return EISDIR;
  default:
    return 0;
  }
}

/* Sets err to "<context>: <libgit2's last message>" for the libgit2 return
 * value code. */
_printf_(3, 4) static int git_fail(bothy_error_t *err, int code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  _cleanup_free_ char *what = xvasprintf(fmt, ap);
  va_end(ap);
  const git_error *e = git_error_last();
  return bothy_error_set_code(err, git_code_to_errno(code), "%s: %s", what,
                              e && e->message ? e->message : "libgit2 error");
}

/* A path of a file in the repository: relative, no empty, "." or ".."
 * component, nothing inside .git. */
static int check_path(const char *path, bothy_error_t *err)
{
  if (!path || !*path)
    return bothy_error_set_code(err, EINVAL, "invalid path: empty");
  if (path[0] == '/')
    return bothy_error_set_code(err, EINVAL, "invalid path '%s': not relative", path);
  const char *p = path;
  for (;;) {
    size_t len = strcspn(p, "/");
    if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
      return bothy_error_set_code(err, EINVAL, "invalid path '%s': empty, '.' or '..' component",
                                  path);
    /* Case-insensitively, as git itself refuses ".GIT" (core.protectNTFS
     * and protectHFS exist for checkouts on such file systems). */
    if (len == 4 && strncasecmp(p, ".git", 4) == 0)
      return bothy_error_set_code(err, EINVAL, "invalid path '%s': inside .git", path);
    if (p[len] == '\0')
      return 0;
    p += len + 1;
  }
}

struct bothy_confrepo *bothy_confrepo_free(struct bothy_confrepo *c)
{
  if (!c)
    return NULL;
  if (c->repo)
    git_repository_free(c->repo);
  safe_close(c->dirfd);
  free(c->dir);
  free(c);
  return NULL;
}

const char *bothy_confrepo_dir(const struct bothy_confrepo *c)
{
  return c->dir;
}

/* Takes the repository's lock: an flock of .git/bothy.lock, released when
 * the returned fd is closed. */
static int lock_repo(struct bothy_confrepo *c, bothy_error_t *err)
{
  _cleanup_free_ char *path = xasprintf("%sbothy.lock", git_repository_path(c->repo));
  _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return bothy_error_errno(err, "cannot open '%s'", path);
  while (flock(fd, LOCK_EX) < 0)
    if (errno != EINTR)
      return bothy_error_errno(err, "cannot lock '%s'", path);
  return TAKE_FD(fd);
}

/* HEAD's commit, or *ret NULL on an unborn branch. */
static int head_commit(struct bothy_confrepo *c, git_commit **ret, bothy_error_t *err)
{
  git_oid id;
  int r = git_reference_name_to_id(&id, c->repo, "HEAD");
  if (r == GIT_ENOTFOUND) {
    *ret = NULL;
    return 0;
  }
  if (r < 0)
    return git_fail(err, r, "cannot resolve HEAD in '%s'", c->dir);
  r = git_commit_lookup(ret, c->repo, &id);
  if (r < 0)
    return git_fail(err, r, "cannot read HEAD's commit in '%s'", c->dir);
  return 0;
}

/* The id of path's entry in tree; false when there is none. */
static int tree_path_id(git_tree *tree, const char *path, git_oid *ret, bool *ret_found,
                        bothy_error_t *err)
{
  _cleanup_(git_tree_entry_freep) git_tree_entry *e = NULL;
  *ret_found = false;
  if (!tree)
    return 0;
  int r = git_tree_entry_bypath(&e, tree, path);
  if (r == GIT_ENOTFOUND)
    return 0;
  if (r < 0)
    return git_fail(err, r, "cannot look up '%s'", path);
  *ret = *git_tree_entry_id(e);
  *ret_found = true;
  return 0;
}

/* Splits path into its directory (NULL at the top) and its last component. */
static char *path_dirname(const char *path, const char **ret_base)
{
  const char *slash = strrchr(path, '/');
  *ret_base = slash ? slash + 1 : path;
  return slash ? xstrndup(path, (size_t) (slash - path)) : NULL;
}

/* An fd of path's parent directory (created with its parents when create),
 * resolved inside the working tree so that a symlink cannot lead out of it.
 * -ENOENT (no error set) when it is missing and not to be created. */
static int open_parent(struct bothy_confrepo *c, const char *path, bool create,
                       const char **ret_base, bothy_error_t *err)
{
  _cleanup_free_ char *parent = path_dirname(path, ret_base);
  if (!parent) {
    int fd = fcntl(c->dirfd, F_DUPFD_CLOEXEC, 3);
    return fd < 0 ? bothy_error_errno(err, "cannot duplicate the fd of '%s'", c->dir) : fd;
  }
  _cleanup_close_ int pfd = -1;
  if (create) {
    pfd = bothy_mkdir_p_in_root(c->dirfd, parent, DIR_MODE, err);
    if (pfd < 0)
      return bothy_error_prefix(err, "in '%s'", c->dir);
  } else {
    pfd = bothy_open_in_root(c->dirfd, parent, O_PATH | O_DIRECTORY, 0);
    if (pfd == -ENOENT || pfd == -ENOTDIR)
      return -ENOENT;
    if (pfd < 0)
      return bothy_error_set(err, -pfd, "cannot open '%s/%s'", c->dir, parent);
  }
  /* A real (not O_PATH) fd: the atomic write fsyncs the directory. */
  int fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return bothy_error_errno(err, "cannot open '%s/%s'", c->dir, parent);
  return fd;
}

static int write_work_file(struct bothy_confrepo *c, const char *path, const char *content,
                           bothy_error_t *err)
{
  const char *base;
  _cleanup_close_ int pfd = open_parent(c, path, /* create= */ true, &base, err);
  if (pfd < 0)
    return pfd;
  int r = bothy_write_file_atomic(pfd, base, content, strlen(content), FILE_MODE, err);
  if (r < 0)
    return bothy_error_prefix(err, "in '%s'", c->dir);
  return 0;
}

/* Removes path, then the directories above it that this left empty (as
 * `git rm` does). A missing file is fine. */
static int remove_work_file(struct bothy_confrepo *c, const char *path, bothy_error_t *err)
{
  const char *base;
  _cleanup_close_ int pfd = open_parent(c, path, /* create= */ false, &base, err);
  if (pfd == -ENOENT)
    return 0;
  if (pfd < 0)
    return pfd;
  if (unlinkat(pfd, base, 0) < 0 && errno != ENOENT)
    return bothy_error_errno(err, "cannot remove '%s/%s'", c->dir, path);
  _cleanup_free_ char *dir = xstrdup(path);
  for (char *slash = strrchr(dir, '/'); slash; slash = strrchr(dir, '/')) {
    *slash = '\0';
    const char *dbase;
    _cleanup_close_ int dpfd = open_parent(c, dir, /* create= */ false, &dbase, NULL);
    if (dpfd < 0 || unlinkat(dpfd, dbase, AT_REMOVEDIR) < 0)
      break; /* not empty (or gone): the rest above is not empty either */
  }
  return 0;
}

/* The index is git's cache of the working tree: after a commit made without
 * it, its entries for the committed paths are brought up to date so that
 * `git status` shows them clean. Other entries (what a user staged by hand)
 * are left as they are. */
static int sync_index(struct bothy_confrepo *c, char *const *paths, char *const *contents, size_t n,
                      git_tree *tree, bothy_error_t *err)
{
  _cleanup_(git_index_freep) git_index *idx = NULL;
  int r = git_repository_index(&idx, c->repo);
  if (r < 0)
    return git_fail(err, r, "cannot open the index of '%s'", c->dir);
  /* Forced: another bothy or git may have rewritten it since we last read. */
  r = git_index_read(idx, /* force= */ 1);
  if (r < 0)
    return git_fail(err, r, "cannot read the index of '%s'", c->dir);
  /* No index at all (a fresh repository, or a user deleted it): start from
   * the commit, or every other file would look staged for removal. */
  if (!bothy_path_exists(git_index_path(idx))) {
    r = git_index_read_tree(idx, tree);
    if (r < 0)
      return git_fail(err, r, "cannot fill the index of '%s'", c->dir);
  }
  for (size_t i = 0; i < n; i++) {
    r = contents[i] ? git_index_add_bypath(idx, paths[i]) : git_index_remove_bypath(idx, paths[i]);
    if (r < 0)
      return git_fail(err, r, "cannot update '%s' in the index of '%s'", paths[i], c->dir);
  }
  r = git_index_write(idx);
  if (r < 0)
    return git_fail(err, r, "cannot write the index of '%s'", c->dir);
  return 0;
}

/* The commit itself; the caller holds the lock. The new tree is HEAD's tree
 * with exactly these paths changed, so nothing else of the working tree or
 * the index gets in. */
static int commit_locked(struct bothy_confrepo *c, char *const *paths, char *const *contents,
                         size_t n, const char *message, char **ret_commit, bothy_error_t *err)
{
  int r;
  for (size_t i = 0; i < n; i++) {
    r = contents[i] ? write_work_file(c, paths[i], contents[i], err)
                    : remove_work_file(c, paths[i], err);
    if (r < 0)
      return r;
  }

  _cleanup_(git_commit_freep) git_commit *head = NULL;
  _cleanup_(git_tree_freep) git_tree *base = NULL;
  r = head_commit(c, &head, err);
  if (r < 0)
    return r;
  if (head) {
    r = git_commit_tree(&base, head);
    if (r < 0)
      return git_fail(err, r, "cannot read HEAD's tree in '%s'", c->dir);
  }

  _cleanup_free_ git_tree_update *ups = xcalloc(n ? n : 1, sizeof(*ups));
  size_t nups = 0;
  for (size_t i = 0; i < n; i++) {
    if (contents[i]) {
      git_oid blob;
      r = git_blob_create_from_buffer(&blob, c->repo, contents[i], strlen(contents[i]));
      if (r < 0)
        return git_fail(err, r, "cannot store '%s' in '%s'", paths[i], c->dir);
      ups[nups++] = (git_tree_update){
        .action = GIT_TREE_UPDATE_UPSERT,
        .id = blob,
        .filemode = GIT_FILEMODE_BLOB,
        .path = paths[i],
      };
    } else {
      /* Removing an entry that is not there is an error for libgit2, and
       * nothing to do for us. */
      git_oid old;
      bool found;
      r = tree_path_id(base, paths[i], &old, &found, err);
      if (r < 0)
        return r;
      if (found)
        ups[nups++] = (git_tree_update){ .action = GIT_TREE_UPDATE_REMOVE, .path = paths[i] };
    }
  }
  if (!base && nups == 0) {
    if (ret_commit)
      *ret_commit = NULL;
    return 0;
  }

  git_oid tree_id;
  r = git_tree_create_updated(&tree_id, c->repo, base, nups, ups);
  if (r < 0)
    return git_fail(err, r, "cannot build the tree to commit in '%s'", c->dir);
  _cleanup_(git_tree_freep) git_tree *tree = NULL;
  r = git_tree_lookup(&tree, c->repo, &tree_id);
  if (r < 0)
    return git_fail(err, r, "cannot read the new tree in '%s'", c->dir);

  if (base && git_oid_cmp(&tree_id, git_tree_id(base)) == 0) {
    /* Nothing changed: no empty commit. The files may still have been
     * rewritten (same bytes, new stat data), so the index is refreshed. */
    r = sync_index(c, paths, contents, n, tree, err);
    if (r < 0)
      return r;
    if (ret_commit)
      *ret_commit = NULL;
    return 0;
  }

  _cleanup_(git_signature_freep) git_signature *sig = NULL;
  r = git_signature_now(&sig, AUTHOR_NAME, AUTHOR_EMAIL);
  if (r < 0)
    return git_fail(err, r, "cannot make the commit's signature");
  size_t mlen = strlen(message);
  _cleanup_free_ char *msg = xasprintf("%s%s", message, message[mlen - 1] == '\n' ? "" : "\n");
  const git_commit *parents[1] = { head };
  git_oid id;
  r = git_commit_create(&id, c->repo, "HEAD", sig, sig, /* message_encoding= */ NULL, msg, tree,
                        head ? 1 : 0, parents);
  if (r < 0)
    return git_fail(err, r, "cannot commit in '%s'", c->dir);

  char hex[GIT_OID_HEXSZ + 1];
  git_oid_tostr(hex, sizeof(hex), &id);
  r = sync_index(c, paths, contents, n, tree, err);
  if (r < 0)
    /* A later commit of the same paths (a no-op then) refreshes it. */
    return bothy_error_prefix(err, "committed %s, but", hex);
  if (ret_commit)
    *ret_commit = xstrdup(hex);
  return 0;
}

/* Reads path of the working tree; *ret NULL (and 0) when it is absent. */
static int read_work_file(struct bothy_confrepo *c, const char *path, char **ret, size_t *ret_len,
                          bothy_error_t *err)
{
  _cleanup_close_ int fd = bothy_open_in_root(c->dirfd, path, O_RDONLY, 0);
  if (fd == -ENOENT || fd == -ENOTDIR) {
    *ret = NULL;
    *ret_len = 0;
    return 0;
  }
  if (fd < 0)
    return bothy_error_set(err, -fd, "cannot open '%s/%s'", c->dir, path);
  int r = bothy_read_fd(fd, ret, ret_len, err);
  if (r < 0)
    return bothy_error_prefix(err, "'%s/%s'", c->dir, path);
  return 0;
}

static int init_repo(struct bothy_confrepo *c, bothy_error_t *err)
{
  /* Two commands may find no repository at once: the first one in creates
   * it, under an flock of the directory itself (.git/bothy.lock does not
   * exist yet). */
  _cleanup_close_ int dlock = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dlock < 0)
    return bothy_error_errno(err, "cannot open '%s'", c->dir);
  while (flock(dlock, LOCK_EX) < 0)
    if (errno != EINTR)
      return bothy_error_errno(err, "cannot lock '%s'", c->dir);

  int r;
  if (!c->repo) {
    r = git_repository_open_ext(&c->repo, c->dir, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
    if (r == GIT_ENOTFOUND) {
      git_repository_init_options opts;
      r = git_repository_init_options_init(&opts, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
      if (r < 0)
        return git_fail(err, r, "cannot create a git repository in '%s'", c->dir);
      opts.flags = GIT_REPOSITORY_INIT_MKPATH;
      opts.initial_head = "main";
      r = git_repository_init_ext(&c->repo, c->dir, &opts);
      if (r < 0)
        return git_fail(err, r, "cannot create a git repository in '%s'", c->dir);
    } else if (r < 0) {
      return git_fail(err, r, "cannot open the git repository '%s'", c->dir);
    }
  }
  if (git_repository_is_bare(c->repo))
    return bothy_error_set_code(err, EINVAL, "'%s' is a bare git repository", c->dir);

  _cleanup_close_ int lock = lock_repo(c, err);
  if (lock < 0)
    return lock;
  _cleanup_(git_commit_freep) git_commit *head = NULL;
  r = head_commit(c, &head, err);
  if (r < 0 || head)
    return r;

  /* A .gitignore already there (a user's, or from an init that stopped
   * half-way) is kept as it is. */
  _cleanup_free_ char *ignore = NULL;
  size_t len;
  r = read_work_file(c, ".gitignore", &ignore, &len, err);
  if (r < 0)
    return r;
  if (!ignore)
    ignore = xstrdup(GITIGNORE);
  char *paths[] = { ".gitignore" };
  char *contents[] = { ignore };
  return commit_locked(c, paths, contents, 1, "bothy: init", NULL, err);
}

int bothy_confrepo_open(const char *dir, struct bothy_confrepo **ret, bothy_error_t *err)
{
  static bool configured;
  int r = bothy_dlopen_git2(err);
  if (r < 0)
    return r;
  if (!configured) {
    /* The history is the desired state: a commit must survive a crash as
     * the atomically written files do. */
    (void) git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
    configured = true;
  }

  r = bothy_mkdir_p(dir, DIR_MODE, err);
  if (r < 0)
    return r;
  _cleanup_(bothy_confrepo_freep) struct bothy_confrepo *c = xmalloc0(sizeof(*c));
  c->dir = xstrdup(dir);
  c->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (c->dirfd < 0)
    return bothy_error_errno(err, "cannot open '%s'", dir);

  /* NO_SEARCH: dir itself, never a repository that happens to be above it. */
  r = git_repository_open_ext(&c->repo, dir, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
  if (r < 0 && r != GIT_ENOTFOUND)
    return git_fail(err, r, "cannot open the git repository '%s'", dir);
  bool ready = false;
  if (r == 0 && !git_repository_is_bare(c->repo)) {
    _cleanup_(git_commit_freep) git_commit *head = NULL;
    r = head_commit(c, &head, err);
    if (r < 0)
      return r;
    ready = head != NULL;
  }
  if (!ready) {
    r = init_repo(c, err);
    if (r < 0)
      return r;
  }
  *ret = TAKE_PTR(c);
  return 0;
}

static int check_paths(struct bothy_confrepo *c, char *const *paths, size_t n, bothy_error_t *err)
{
  for (size_t i = 0; i < n; i++) {
    int r = check_path(paths[i], err);
    if (r < 0)
      return r;
    for (size_t j = 0; j < i; j++)
      if (streq(paths[i], paths[j]))
        return bothy_error_set_code(err, EINVAL, "'%s' is given twice", paths[i]);
    int ignored = 0;
    r = git_ignore_path_is_ignored(&ignored, c->repo, paths[i]);
    if (r < 0)
      return git_fail(err, r, "cannot check '%s' against .gitignore", paths[i]);
    if (ignored)
      return bothy_error_set_code(err, EINVAL,
                                  "'%s' is ignored (.gitignore) and cannot be committed", paths[i]);
  }
  return 0;
}

int bothy_confrepo_commit(struct bothy_confrepo *c, char *const *paths, char *const *contents,
                          size_t n, const char *message, char **ret_commit, bothy_error_t *err)
{
  if (!message || !*message)
    return bothy_error_set_code(err, EINVAL, "cannot commit in '%s': empty message", c->dir);
  int r = check_paths(c, paths, n, err);
  if (r < 0)
    return r;
  _cleanup_close_ int lock = lock_repo(c, err);
  if (lock < 0)
    return lock;
  return commit_locked(c, paths, contents, n, message, ret_commit, err);
}

int bothy_confrepo_read(struct bothy_confrepo *c, const char *path, char **ret, bool *ret_modified,
                        bothy_error_t *err)
{
  int r = check_path(path, err);
  if (r < 0)
    return r;
  _cleanup_free_ char *data = NULL;
  size_t len;
  r = read_work_file(c, path, &data, &len, err);
  if (r < 0)
    return r;

  bool modified = false;
  if (ret_modified) {
    _cleanup_(git_commit_freep) git_commit *head = NULL;
    _cleanup_(git_tree_freep) git_tree *tree = NULL;
    r = head_commit(c, &head, err);
    if (r < 0)
      return r;
    if (head) {
      r = git_commit_tree(&tree, head);
      if (r < 0)
        return git_fail(err, r, "cannot read HEAD's tree in '%s'", c->dir);
    }
    git_oid committed;
    bool found;
    r = tree_path_id(tree, path, &committed, &found, err);
    if (r < 0)
      return r;
    if (data && found) {
      /* The blob id the file would get: equal ids, equal contents. */
      git_oid now;
      r = git_odb_hash(&now, data, len, GIT_OBJECT_BLOB);
      if (r < 0)
        return git_fail(err, r, "cannot hash '%s/%s'", c->dir, path);
      modified = git_oid_cmp(&now, &committed) != 0;
    } else if (data) {
      /* Added by hand, unless it is ignored (a secret): git status does
       * not show those either. */
      int ignored = 0;
      r = git_ignore_path_is_ignored(&ignored, c->repo, path);
      if (r < 0)
        return git_fail(err, r, "cannot check '%s' against .gitignore", path);
      modified = !ignored;
    } else {
      modified = found;
    }
  }
  if (ret)
    *ret = TAKE_PTR(data);
  if (ret_modified)
    *ret_modified = modified;
  return 0;
}

/* rev (NULL: HEAD) as a commit. */
static int resolve_commit(struct bothy_confrepo *c, const char *rev, git_commit **ret,
                          bothy_error_t *err)
{
  if (!rev)
    rev = "HEAD";
  _cleanup_(git_object_freep) git_object *obj = NULL;
  int r = git_revparse_single(&obj, c->repo, rev);
  if (r == GIT_ENOTFOUND || r == GIT_EINVALIDSPEC)
    return bothy_error_set_code(err, ENOENT, "unknown revision '%s' in '%s'", rev, c->dir);
  if (r == GIT_EAMBIGUOUS)
    return bothy_error_set_code(err, EINVAL, "ambiguous revision '%s' in '%s'", rev, c->dir);
  if (r < 0)
    return git_fail(err, r, "cannot resolve revision '%s' in '%s'", rev, c->dir);
  _cleanup_(git_object_freep) git_object *peeled = NULL;
  r = git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT);
  if (r < 0)
    return bothy_error_set_code(err, EINVAL, "revision '%s' in '%s' is not a commit", rev, c->dir);
  *ret = (git_commit *) TAKE_PTR(peeled);
  return 0;
}

int bothy_confrepo_read_at(struct bothy_confrepo *c, const char *path, const char *rev, char **ret,
                           bothy_error_t *err)
{
  int r = check_path(path, err);
  if (r < 0)
    return r;
  _cleanup_(git_commit_freep) git_commit *commit = NULL;
  r = resolve_commit(c, rev, &commit, err);
  if (r < 0)
    return r;
  _cleanup_(git_tree_freep) git_tree *tree = NULL;
  r = git_commit_tree(&tree, commit);
  if (r < 0)
    return git_fail(err, r, "cannot read the tree of '%s' in '%s'", rev, c->dir);
  _cleanup_(git_tree_entry_freep) git_tree_entry *e = NULL;
  r = git_tree_entry_bypath(&e, tree, path);
  if (r == GIT_ENOTFOUND) {
    *ret = NULL;
    return 0;
  }
  if (r < 0)
    return git_fail(err, r, "cannot look up '%s' at '%s' in '%s'", path, rev, c->dir);
  if (git_tree_entry_type(e) != GIT_OBJECT_BLOB)
    return bothy_error_set_code(err, EISDIR, "'%s' at '%s' in '%s' is not a file", path, rev,
                                c->dir);
  _cleanup_(git_blob_freep) git_blob *blob = NULL;
  r = git_blob_lookup(&blob, c->repo, git_tree_entry_id(e));
  if (r < 0)
    return git_fail(err, r, "cannot read '%s' at '%s' in '%s'", path, rev, c->dir);
  size_t size = (size_t) git_blob_rawsize(blob);
  char *data = xmalloc(size + 1);
  memcpy(data, git_blob_rawcontent(blob), size);
  data[size] = '\0';
  *ret = data;
  return 0;
}

void bothy_confrepo_entries_free(struct bothy_confrepo_entry *e, size_t n)
{
  if (!e)
    return;
  for (size_t i = 0; i < n; i++) {
    free(e[i].commit);
    free(e[i].message);
  }
  free(e);
}

struct entries {
  struct bothy_confrepo_entry *e;
  size_t n;
};

static void entries_done(struct entries *l)
{
  bothy_confrepo_entries_free(l->e, l->n);
}

/* Whether commit changed path against its first parent (a merge is judged
 * against its first parent only, as `git log --first-parent` does). */
static int commit_changed(git_commit *commit, const char *path, bool *ret, bothy_error_t *err)
{
  _cleanup_(git_tree_freep) git_tree *tree = NULL;
  _cleanup_(git_commit_freep) git_commit *parent = NULL;
  _cleanup_(git_tree_freep) git_tree *ptree = NULL;
  int r = git_commit_tree(&tree, commit);
  if (r < 0)
    return git_fail(err, r, "cannot read a commit's tree");
  if (git_commit_parentcount(commit) > 0) {
    r = git_commit_parent(&parent, commit, 0);
    if (r == 0)
      r = git_commit_tree(&ptree, parent);
    if (r < 0)
      return git_fail(err, r, "cannot read a commit's parent");
  }
  git_oid now, before;
  bool in_now, in_before;
  r = tree_path_id(tree, path, &now, &in_now, err);
  if (r == 0)
    r = tree_path_id(ptree, path, &before, &in_before, err);
  if (r < 0)
    return r;
  *ret = in_now != in_before || (in_now && git_oid_cmp(&now, &before) != 0);
  return 0;
}

int bothy_confrepo_log(struct bothy_confrepo *c, const char *path,
                       struct bothy_confrepo_entry **ret, size_t *ret_n, bothy_error_t *err)
{
  int r;
  if (path) {
    r = check_path(path, err);
    if (r < 0)
      return r;
  }
  _cleanup_(git_revwalk_freep) git_revwalk *walk = NULL;
  r = git_revwalk_new(&walk, c->repo);
  if (r == 0)
    r = git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME);
  if (r < 0)
    return git_fail(err, r, "cannot walk the history of '%s'", c->dir);
  _cleanup_(entries_done) struct entries l = { NULL, 0 };
  r = git_revwalk_push_head(walk);
  if (r < 0 && r != GIT_ENOTFOUND && r != GIT_EUNBORNBRANCH)
    return git_fail(err, r, "cannot walk the history of '%s'", c->dir);
  git_oid id;
  while (r == 0 && (r = git_revwalk_next(&id, walk)) == 0) {
    _cleanup_(git_commit_freep) git_commit *commit = NULL;
    r = git_commit_lookup(&commit, c->repo, &id);
    if (r < 0)
      return git_fail(err, r, "cannot read a commit of '%s'", c->dir);
    if (path) {
      bool changed = false;
      r = commit_changed(commit, path, &changed, err);
      if (r < 0)
        return bothy_error_prefix(err, "in '%s'", c->dir);
      if (!changed)
        continue;
    }
    const char *msg = git_commit_message(commit);
    char hex[GIT_OID_HEXSZ + 1];
    git_oid_tostr(hex, sizeof(hex), &id);
    l.e = xrealloc(l.e, (l.n + 1) * sizeof(*l.e));
    l.e[l.n++] = (struct bothy_confrepo_entry){
      .commit = xstrdup(hex),
      .time = (int64_t) git_commit_time(commit),
      .message = xstrndup(msg ? msg : "", msg ? strcspn(msg, "\n") : 0),
    };
  }
  if (r < 0 && r != GIT_ITEROVER && r != GIT_ENOTFOUND && r != GIT_EUNBORNBRANCH)
    return git_fail(err, r, "cannot walk the history of '%s'", c->dir);
  *ret_n = l.n;
  *ret = TAKE_PTR(l.e);
  l.n = 0;
  return 0;
}

int bothy_confrepo_diff(struct bothy_confrepo *c, const char *path, const char *rev, char **ret,
                        bothy_error_t *err)
{
  int r;
  if (path) {
    r = check_path(path, err);
    if (r < 0)
      return r;
  }
  _cleanup_(git_commit_freep) git_commit *commit = NULL;
  r = resolve_commit(c, rev, &commit, err);
  if (r < 0)
    return r;
  _cleanup_(git_tree_freep) git_tree *tree = NULL;
  r = git_commit_tree(&tree, commit);
  if (r < 0)
    return git_fail(err, r, "cannot read the tree of '%s' in '%s'", rev ? rev : "HEAD", c->dir);

  git_diff_options opts;
  r = git_diff_options_init(&opts, GIT_DIFF_OPTIONS_VERSION);
  if (r < 0)
    return git_fail(err, r, "cannot set up a diff");
  /* The tree against the files as they are, index or not; a file that is
   * in the working tree but not in the tree is shown as added (a file added
   * by hand is "modified" for bothy_confrepo_read too). Paths are literal:
   * a file, or a directory and all below it. */
  opts.flags = GIT_DIFF_INCLUDE_UNTRACKED | GIT_DIFF_RECURSE_UNTRACKED_DIRS |
               GIT_DIFF_SHOW_UNTRACKED_CONTENT | GIT_DIFF_DISABLE_PATHSPEC_MATCH;
  char *spec[1] = { (char *) path };
  if (path) {
    opts.pathspec.strings = spec;
    opts.pathspec.count = 1;
  }
  _cleanup_(git_diff_freep) git_diff *diff = NULL;
  r = git_diff_tree_to_workdir(&diff, c->repo, tree, &opts);
  if (r < 0)
    return git_fail(err, r, "cannot compare '%s' with the working tree in '%s'", rev ? rev : "HEAD",
                    c->dir);
  _cleanup_(git_buf_disposep) git_buf buf = GIT_BUF_INIT;
  r = git_diff_to_buf(&buf, diff, GIT_DIFF_FORMAT_PATCH);
  if (r < 0)
    return git_fail(err, r, "cannot format the diff of '%s'", c->dir);
  *ret = xstrndup(buf.ptr ? buf.ptr : "", buf.ptr ? buf.size : 0);
  return 0;
}
