/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Applications: search, info, install, ls, status, config, apply, history,
 * diff, revert, remove, doctor, catalog; and start/stop/restart/logs/
 * history of an instance (a name that is an instance's goes to it, any other
 * to the container commands). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "app/instance.h"
#include "app/recipe.h"
#include "base/json.h"
#include "base/macros.h"
#include "base/strv.h"
#include "base/xalloc.h"
#include "cli/cli.h"
#include "base/banned.h"

static char *config_dir(void)
{
  _cleanup_free_ char *p = cli_config_path("x");
  return xstrndup(p, strlen(p) - 2);
}

/* The catalog shipped with bothy: $BOTHY_CATALOG, else ../catalog beside
 * the binary's directory (a build tree), else /usr/share/bothy/catalog. */
static char *bundled_catalog(void)
{
  const char *env = getenv("BOTHY_CATALOG");
  if (env && *env)
    return xstrdup(env);
  char buf[PATH_MAX];
  const char *exe = getenv("BOTHY_EXE");
  ssize_t n = exe ? -1 : readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n > 0)
    buf[n] = '\0';
  _cleanup_free_ char *d = xstrdup(exe ? exe : n > 0 ? buf : "/usr/local/bin/bothy");
  char *slash = strrchr(d, '/');
  if (slash)
    *slash = '\0';
  _cleanup_free_ char *beside = xasprintf("%s/../catalog/index.ini", d);
  if (access(beside, R_OK) == 0)
    return xasprintf("%s/../catalog", d);
  return xstrdup("/usr/share/bothy/catalog");
}

static char *command_line(int argc, char **argv)
{
  char *s = xstrdup("bothy");
  for (int i = 0; i < argc; i++) {
    char *n = xasprintf("%s %s", s, argv[i]);
    free(s);
    s = n;
  }
  return s;
}

struct app_cli {
  struct bothy_ctx ctr;
  char *config, *catalog, *command;
  struct bothy_app_ctx a;
};

/* cmd: the command line as typed (getopt permutes argv), or NULL to take it
 * from argc/argv. */
static void app_cli_init_cmd(struct app_cli *c, int argc, char **argv, bool quiet, char *cmd)
{
  c->ctr = cli_ctx();
  c->config = config_dir();
  c->catalog = bundled_catalog();
  c->command = cmd ? cmd : command_line(argc, argv);
  c->a = (struct bothy_app_ctx){
    .ctr = &c->ctr,
    .config_dir = c->config,
    .bundled_catalog = c->catalog,
    .out = quiet ? NULL : stderr,
    .command = c->command,
  };
}

static void app_cli_init(struct app_cli *c, int argc, char **argv, bool quiet)
{
  app_cli_init_cmd(c, argc, argv, quiet, NULL);
}

static void app_cli_done(struct app_cli *c)
{
  free(c->config);
  free(c->catalog);
  free(c->command);
}

static void print_json(json_t *j)
{
  _cleanup_free_ char *s = bothy_json_dump(j, true);
  fputs(s, stdout);
}

static int print_lines(char **v, const char *prefix)
{
  for (char **p = v; p && *p; p++)
    printf("%s%s\n", prefix, *p);
  return 0;
}

/* ---- catalog, search, info ---- */

int cmd_search(int argc, char **argv)
{
  struct app_cli c;
  app_cli_init(&c, argc, argv, true);
  bothy_error_t err = NULL;
  struct bothy_catalog_app *apps = NULL;
  size_t n = 0;
  int rc = 0;
  if (bothy_catalog_list(&c.a, &apps, &n, &err) < 0) {
    rc = cli_fail(&err);
    goto out;
  }
  printf("%-16s %-12s %-10s %s\n", "APP", "VERSION", "CATALOG", "SUMMARY");
  for (size_t i = 0; i < n; i++) {
    const char *term = argc > 1 ? argv[1] : NULL;
    if (term && !strcasestr(apps[i].name, term) &&
        !(apps[i].summary && strcasestr(apps[i].summary, term)))
      continue;
    printf("%-16s %-12s %-10s %s\n", apps[i].name, apps[i].version ? apps[i].version : "",
           apps[i].catalog, apps[i].summary ? apps[i].summary : "");
  }
out:
  bothy_catalog_apps_free(apps, n);
  app_cli_done(&c);
  return rc;
}

int cmd_info(int argc, char **argv)
{
  struct app_cli c;
  app_cli_init(&c, argc, argv, true);
  bothy_error_t err = NULL;
  struct bothy_catalog_app app = { 0 };
  _cleanup_recipe_ struct bothy_recipe *r = NULL;
  int rc = 0;
  if (bothy_catalog_find(&c.a, argv[1], &app, &err) < 0 ||
      bothy_recipe_load(app.recipe_path, &r, &err) < 0) {
    rc = cli_fail(&err);
    goto out;
  }
  printf("%s %s: %s\n", r->name, r->version, r->summary ? r->summary : "");
  printf("maintainer: %s\n", r->maintainer ? r->maintainer : "");
  if (r->upstream)
    printf("upstream:   %s\n", r->upstream);
  if (r->license)
    printf("license:    %s\n", r->license);
  if (r->source)
    printf("recipe:     %s (contribute there)\n", r->source);
  printf("catalog:    %s (%s)\n", app.catalog, app.recipe_path);
  printf("services:\n");
  for (size_t i = 0; i < r->n_services; i++) {
    const struct bothy_service *s = &r->services[i];
    printf("  %-12s %s%s", s->name, s->build ? "build " : "", s->build ? s->build : s->image);
    if (s->web_port)
      printf("  (web, port %d)", s->web_port);
    printf("\n");
  }
  if (r->n_settings)
    printf("settings:\n");
  for (size_t i = 0; i < r->n_settings; i++) {
    const struct bothy_setting *s = &r->settings[i];
    printf("  %-16s %s%s%s%s\n", s->name, s->description ? s->description : "",
           s->secret ? " (secret, generated)" : "", s->required ? " (required)" : "",
           s->default_value && !s->secret ? "" : "");
    if (s->default_value && !s->secret)
      printf("  %-16s default: %s\n", "", s->default_value);
  }
out:
  free(app.name);
  free(app.version);
  free(app.summary);
  free(app.catalog);
  free(app.recipe_path);
  app_cli_done(&c);
  return rc;
}

int cmd_catalog(int argc, char **argv)
{
  struct app_cli c;
  app_cli_init(&c, argc, argv, true);
  bothy_error_t err = NULL;
  int rc = 0;
  const char *sub = argv[1];
  if (streq(sub, "add") && argc == 4) {
    if (bothy_catalog_add(&c.a, argv[2], argv[3], &err) < 0)
      rc = cli_fail(&err);
  } else if (streq(sub, "ls") && argc == 2) {
    _cleanup_json_ json_t *v = NULL;
    if (bothy_catalog_catalogs(&c.a, &v, &err) < 0) {
      rc = cli_fail(&err);
    } else {
      printf("%-12s %-5s %s\n", "CATALOG", "APPS", "PATH");
      size_t i;
      json_t *o;
      json_array_foreach (v, i, o) {
        const char *e = json_string_value(json_object_get(o, "Error"));
        printf("%-12s %-5lld %s%s%s\n", json_string_value(json_object_get(o, "Name")),
               (long long) json_integer_value(json_object_get(o, "Apps")),
               json_string_value(json_object_get(o, "Path")), e ? "  ERROR: " : "", e ? e : "");
      }
    }
  } else if (streq(sub, "update") && argc == 2) {
    _cleanup_strv_free_ char **problems = NULL;
    if (bothy_catalog_update(&c.a, &problems, &err) < 0)
      rc = cli_fail(&err);
    else if (problems) {
      print_lines(problems, "problem: ");
      rc = 1;
    } else {
      printf("every recipe loads\n");
    }
  } else {
    rc = cli_failf("usage: bothy catalog add NAME DIR | ls | update");
  }
  app_cli_done(&c);
  return rc;
}

/* ---- instances ---- */

int cmd_install(int argc, char **argv)
{
  static const struct option opts[] = {
    { "name", required_argument, NULL, 'n' },  { "set", required_argument, NULL, 's' },
    { "keep-failed", no_argument, NULL, 'k' }, { "timeout", required_argument, NULL, 't' },
    { "quiet", no_argument, NULL, 'q' },       { NULL, 0, NULL, 0 },
  };
  struct bothy_install_req req = { 0 };
  _cleanup_strv_free_ char **settings = NULL;
  bool quiet = false;
  char *cmd = command_line(argc, argv);
  optind = 0;
  opterr = 0;
  for (;;) {
    int o = getopt_long(argc, argv, "n:s:q", opts, NULL);
    if (o == -1)
      break;
    switch (o) {
    case 'n':
      req.name = optarg;
      break;
    case 's':
      if (!strchr(optarg, '='))
        return cli_failf("--set %s: settings are given as KEY=VALUE", optarg);
      strv_push(&settings, xstrdup(optarg));
      break;
    case 'k':
      req.keep_failed = true;
      break;
    case 't':
      req.timeout_sec = (int) strtol(optarg, NULL, 10);
      if (req.timeout_sec <= 0)
        return cli_failf("--timeout takes a number of seconds, not '%s'", optarg);
      break;
    case 'q':
      quiet = true;
      break;
    default:
      free(cmd);
      return cli_failf("usage: bothy install APP [--name N] [--set K=V]... [--keep-failed] "
                       "[--timeout S]");
    }
  }
  if (argc - optind != 1) {
    free(cmd);
    return cli_failf("usage: bothy install APP [--name N] [--set K=V]... [--keep-failed]");
  }
  req.app = argv[optind];
  req.settings = settings;
  struct app_cli c;
  app_cli_init_cmd(&c, argc, argv, quiet, cmd);
  bothy_error_t err = NULL;
  _cleanup_free_ char *addr = NULL;
  int rc = 0;
  if (bothy_instance_install(&c.a, &req, &addr, &err) < 0)
    rc = cli_fail(&err);
  else if (addr)
    printf("%s is installed: %s\n", req.name ? req.name : req.app, addr);
  else
    printf("%s is installed\n", req.name ? req.name : req.app);
  app_cli_done(&c);
  return rc;
}

int cmd_ls(int argc, char **argv)
{
  bool json = argc == 3 && streq(argv[1], "--format") && streq(argv[2], "json");
  if (argc != 1 && !json)
    return cli_failf("usage: bothy ls [--format json]");
  struct app_cli c;
  app_cli_init(&c, argc, argv, true);
  bothy_error_t err = NULL;
  _cleanup_json_ json_t *v = NULL;
  int rc = 0;
  if (bothy_instance_list(&c.a, &v, &err) < 0) {
    rc = cli_fail(&err);
  } else if (json) {
    print_json(v);
  } else {
    printf("%-16s %-14s %-12s %-9s %-10s %s\n", "NAME", "APP", "VERSION", "STATE", "HEALTH",
           "ADDRESS");
    size_t i;
    json_t *o;
    json_array_foreach (v, i, o) {
#define S(k)                                                                                       \
  (json_string_value(json_object_get(o, k)) ? json_string_value(json_object_get(o, k)) : "")
      if (json_object_get(o, "Error"))
        printf("%-16s ERROR: %s\n", S("Name"), S("Error"));
      else
        printf("%-16s %-14s %-12s %-9s %-10s %s\n", S("Name"), S("App"), S("Version"), S("State"),
               S("Health"), S("Address"));
#undef S
    }
  }
  app_cli_done(&c);
  return rc;
}

int cmd_status(int argc, char **argv)
{
  bool json = argc == 4 && streq(argv[2], "--format") && streq(argv[3], "json");
  if (argc != 2 && !json)
    return cli_failf("usage: bothy status NAME [--format json]");
  struct app_cli c;
  app_cli_init(&c, argc, argv, true);
  bothy_error_t err = NULL;
  _cleanup_json_ json_t *v = NULL;
  int rc = 0;
  if (bothy_instance_status(&c.a, argv[1], &v, &err) < 0) {
    rc = cli_fail(&err);
  } else if (json) {
    print_json(v);
  } else {
#define S(o, k)                                                                                    \
  (json_string_value(json_object_get(o, k)) ? json_string_value(json_object_get(o, k)) : "")
    printf("%s: %s %s, %s, %s\n", S(v, "Name"), S(v, "App"), S(v, "Version"), S(v, "State"),
           S(v, "Health"));
    if (*S(v, "Address"))
      printf("address: %s\n", S(v, "Address"));
    if (json_is_true(json_object_get(v, "Modified")))
      printf("instances/%s.ini was edited by hand: `bothy diff %s` shows how, `bothy apply %s` "
             "applies it\n",
             argv[1], argv[1], argv[1]);
    printf("services:\n");
    size_t i;
    json_t *o;
    json_array_foreach (json_object_get(v, "Services"), i, o)
      printf("  %-12s %-24s %-9s %s\n", S(o, "Service"), S(o, "Name"), S(o, "State"),
             S(o, "Health"));
    printf("settings:\n");
    const char *k;
    json_t *val;
    json_object_foreach (json_object_get(v, "Settings"), k, val)
      printf("  %s=%s\n", k, json_string_value(val));
#undef S
  }
  app_cli_done(&c);
  return rc;
}

enum change_kind { CHANGE_CONFIG, CHANGE_APPLY, CHANGE_REVERT };

/* config N K=V..., apply N, revert N REV: the instance changed, and which
 * services were made again. */
static int change(int argc, char **argv, enum change_kind kind)
{
  struct app_cli c;
  app_cli_init(&c, argc, argv, false);
  bothy_error_t err = NULL;
  _cleanup_strv_free_ char **recreated = NULL;
  int rc = 0, r;
  if (kind == CHANGE_CONFIG)
    r = bothy_instance_configure(&c.a, argv[1], argv + 2, &recreated, &err);
  else if (kind == CHANGE_APPLY)
    r = bothy_instance_apply(&c.a, argv[1], &recreated, &err);
  else
    r = bothy_instance_revert(&c.a, argv[1], argv[2], &recreated, &err);
  if (r < 0)
    rc = cli_fail(&err);
  else if (recreated)
    print_lines(recreated, "recreated ");
  else
    printf("nothing to recreate\n");
  app_cli_done(&c);
  return rc;
}

int cmd_config(int argc, char **argv)
{
  struct app_cli c;
  app_cli_init(&c, argc, argv, false);
  bothy_error_t err = NULL;
  int rc = 0;
  if (argc == 2) {
    _cleanup_json_ json_t *v = NULL;
    if (bothy_instance_status(&c.a, argv[1], &v, &err) < 0) {
      rc = cli_fail(&err);
    } else {
      const char *k;
      json_t *val;
      json_object_foreach (json_object_get(v, "Settings"), k, val)
        printf("%s=%s\n", k, json_string_value(val));
    }
  } else {
    rc = change(argc, argv, CHANGE_CONFIG);
  }
  app_cli_done(&c);
  return rc;
}

int cmd_apply(int argc, char **argv)
{
  return change(argc, argv, CHANGE_APPLY);
}

int cmd_revert(int argc, char **argv)
{
  return change(argc, argv, CHANGE_REVERT);
}

int cmd_diff(int argc, char **argv)
{
  struct app_cli c;
  app_cli_init(&c, argc, argv, true);
  bothy_error_t err = NULL;
  _cleanup_free_ char *d = NULL;
  int rc = 0;
  if (!bothy_instance_exists(&c.a, argv[1]) && argc == 2)
    rc = cli_failf("no instance called '%s'", argv[1]);
  else if (bothy_instance_diff(&c.a, argv[1], argc > 2 ? argv[2] : NULL, &d, &err) < 0)
    rc = cli_fail(&err);
  else
    fputs(d, stdout);
  app_cli_done(&c);
  return rc;
}

int cmd_remove(int argc, char **argv)
{
  bool keep = false;
  const char *name = NULL;
  for (int i = 1; i < argc; i++) {
    if (streq(argv[i], "--keep-data"))
      keep = true;
    else if (!name && argv[i][0] != '-')
      name = argv[i];
    else
      return cli_failf("usage: bothy remove NAME [--keep-data]");
  }
  if (!name)
    return cli_failf("usage: bothy remove NAME [--keep-data]");
  struct app_cli c;
  app_cli_init(&c, argc, argv, true);
  bothy_error_t err = NULL;
  _cleanup_strv_free_ char **removed = NULL;
  int rc = 0;
  if (bothy_instance_remove(&c.a, name, keep, &removed, &err) < 0)
    rc = cli_fail(&err);
  else
    print_lines(removed, "removed ");
  app_cli_done(&c);
  return rc;
}

int cmd_doctor(int argc, char **argv)
{
  bool fix = argc == 2 && streq(argv[1], "--fix");
  if (argc != 1 && !fix)
    return cli_failf("usage: bothy doctor [--fix]");
  struct app_cli c;
  app_cli_init(&c, argc, argv, true);
  bothy_error_t err = NULL;
  _cleanup_strv_free_ char **found = NULL;
  int rc = 0;
  if (bothy_doctor(&c.a, fix, &found, &err) < 0)
    rc = cli_fail(&err);
  else if (found) {
    print_lines(found, "");
    rc = fix ? 0 : 1;
  } else {
    printf("nothing to repair\n");
  }
  app_cli_done(&c);
  return rc;
}

/* ---- the names shared with containers ---- */

/* The first positional argument, skipping options (and their values for
 * the options in with_value). */
static const char *first_positional(int argc, char **argv, const char *const *with_value)
{
  for (int i = 1; i < argc; i++) {
    if (argv[i][0] != '-')
      return argv[i];
    for (const char *const *w = with_value; w && *w; w++)
      if (streq(argv[i], *w) && !strchr(argv[i], '='))
        i++;
  }
  return NULL;
}

static bool is_instance(const char *name)
{
  if (!name)
    return false;
  _cleanup_free_ char *cfg = config_dir();
  struct bothy_app_ctx a = { .config_dir = cfg };
  return bothy_instance_exists(&a, name);
}

static int act(int argc, char **argv, enum bothy_instance_action what)
{
  if (argc != 2)
    return cli_failf("usage: bothy %s NAME", argv[0]);
  struct app_cli c;
  app_cli_init(&c, argc, argv, true);
  bothy_error_t err = NULL;
  int rc = 0;
  if (bothy_instance_act(&c.a, argv[1], what, &err) < 0)
    rc = cli_fail(&err);
  app_cli_done(&c);
  return rc;
}

int cmd_any_start(int argc, char **argv)
{
  if (argc == 2 && is_instance(argv[1]))
    return act(argc, argv, BOTHY_INSTANCE_START);
  return cmd_container_start(argc, argv);
}

int cmd_any_stop(int argc, char **argv)
{
  if (argc == 2 && is_instance(argv[1]))
    return act(argc, argv, BOTHY_INSTANCE_STOP);
  return cmd_container_stop(argc, argv);
}

int cmd_any_restart(int argc, char **argv)
{
  if (argc == 2 && is_instance(argv[1]))
    return act(argc, argv, BOTHY_INSTANCE_RESTART);
  return cmd_container_restart(argc, argv);
}

int cmd_any_history(int argc, char **argv)
{
  if (argc != 2 || !is_instance(argv[1]))
    return cmd_history(argc, argv);
  struct app_cli c;
  app_cli_init(&c, argc, argv, true);
  bothy_error_t err = NULL;
  _cleanup_json_ json_t *v = NULL;
  int rc = 0;
  if (bothy_instance_history(&c.a, argv[1], &v, &err) < 0) {
    rc = cli_fail(&err);
  } else {
    size_t i;
    json_t *o;
    json_array_foreach (v, i, o) {
      time_t t = (time_t) json_integer_value(json_object_get(o, "Time"));
      struct tm tm;
      char ts[32];
      strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
      printf("%.12s  %s  %s\n", json_string_value(json_object_get(o, "Commit")), ts,
             json_string_value(json_object_get(o, "Message")));
    }
  }
  app_cli_done(&c);
  return rc;
}

/* `bothy logs N [SERVICE] [-f] [--since T] [--tail N] [-t]`: the service's
 * container's log; without SERVICE, every service's in turn. */
int cmd_any_logs(int argc, char **argv)
{
  static const char *const with_value[] = { "--since", "--until", "--tail", "-n", NULL };
  const char *name = first_positional(argc, argv, with_value);
  if (!is_instance(name))
    return cmd_container_logs(argc, argv);
  struct app_cli c;
  app_cli_init(&c, argc, argv, true);
  bothy_error_t err = NULL;
  _cleanup_strv_free_ char **ctrs = NULL, **services = NULL, **rest = NULL;
  int rc = 0;
  if (bothy_instance_containers(&c.a, name, &ctrs, &services, &err) < 0) {
    rc = cli_fail(&err);
    goto out;
  }
  /* The service named after the instance, if any. */
  const char *service = NULL;
  bool seen_name = false, follow = false;
  for (int i = 0; i < argc; i++) {
    if (i > 0 && !seen_name && argv[i] == name) {
      seen_name = true;
      continue;
    }
    if (seen_name && !service && argv[i][0] != '-' && argv[i - 1] == name) {
      service = argv[i];
      continue;
    }
    if (streq(argv[i], "-f") || streq(argv[i], "--follow"))
      follow = true;
    strv_push(&rest, xstrdup(argv[i]));
  }
  size_t n = strv_length(ctrs);
  if (follow && !service && n > 1) {
    rc = cli_failf("%s has several services: name one to follow", name);
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    if (service && !streq(services[i], service))
      continue;
    if (!service && n > 1)
      printf("==> %s <==\n", services[i]);
    fflush(stdout);
    size_t k = strv_length(rest);
    char **args = xcalloc(k + 2, sizeof(char *));
    for (size_t j = 0; j < k; j++)
      args[j] = rest[j];
    args[k] = ctrs[i];
    rc |= cmd_container_logs((int) k + 1, args);
    free(args);
    fflush(stdout);
    if (service)
      goto out;
  }
  if (service)
    rc = cli_failf("%s has no service '%s'", name, service);
out:
  app_cli_done(&c);
  return rc;
}
