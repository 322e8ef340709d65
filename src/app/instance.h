/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* Instances: an application installed from a recipe, under a name.
 *
 * Desired state (CONFIG = /etc/bothy, or ROOT/etc when the root is moved),
 * a git repository (confrepo.h):
 *   instances/NAME.ini    [Instance] App, Catalog, Version, WebPort;
 *                         [Settings] every non-secret setting's value
 *   catalogs.d/NAME.ini   the catalogs added with `bothy catalog add`
 * Secrets, outside the history: CONFIG/secrets/NAME/SETTING (0600 files in a
 * 0700 directory).
 *
 * What runs, derived from the desired state:
 *   network  "app-NAME"            the instance's own bridge network
 *   volumes  "NAME-VOLUME"         one per Volume= name; "NAME-secrets" holds
 *                                  the SecretFile= files (read-only at /run/secrets)
 *   containers "NAME-SERVICE"      --userns=auto, --restart unless-stopped,
 *                                  network alias SERVICE, labels bothy.instance,
 *                                  bothy.app, bothy.service; only the Web=
 *                                  service publishes, on 127.0.0.1:WebPort
 *   images   built from the recipe: "bothy-app/APP-SERVICE:VERSION"
 * Everything an instance owns carries its name, so removing it can find and
 * remove all of it, and `doctor` can find what nothing owns any more. */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include "base/error.h"
#include "container/container.h"

struct bothy_app_ctx {
  const struct bothy_ctx *ctr; /* the container layer's context (root, helpers) */
  const char *config_dir;      /* CONFIG */
  const char *bundled_catalog; /* the catalog shipped with bothy; NULL: none */
  FILE *out;                   /* progress; NULL: quiet */
  const char *command;         /* the command line, for commit messages */
};

/* ---- catalogs ---- */

struct bothy_catalog_app {
  char *name, *version, *summary;
  char *catalog;     /* the catalog's name ("bundled", or as added) */
  char *recipe_path; /* absolute */
};
void bothy_catalog_apps_free(struct bothy_catalog_app *v, size_t n);

/* Every app of every catalog (added ones first, then the bundled one; an app
 * in two catalogs is listed for each). */
int bothy_catalog_list(const struct bothy_app_ctx *a, struct bothy_catalog_app **ret, size_t *ret_n,
                       bothy_error_t *err);
/* The app called name (the first catalog that has it); ENOENT "unknown app
 * 'x' (bothy search lists the apps)". */
int bothy_catalog_find(const struct bothy_app_ctx *a, const char *name,
                       struct bothy_catalog_app *ret, bothy_error_t *err);
/* `bothy catalog add NAME DIR`: DIR/index.ini is read and every recipe in it
 * checked before the catalog is recorded (and committed). */
int bothy_catalog_add(const struct bothy_app_ctx *a, const char *name, const char *dir,
                      bothy_error_t *err);
/* The catalogs: [{"Name", "Path", "Apps"}]. */
int bothy_catalog_catalogs(const struct bothy_app_ctx *a, json_t **ret, bothy_error_t *err);
/* Re-reads every catalog's index and checks its recipes; *ret_problems: one
 * line per recipe that does not load (NULL when none). */
int bothy_catalog_update(const struct bothy_app_ctx *a, char ***ret_problems, bothy_error_t *err);

/* ---- instances ---- */

struct bothy_install_req {
  const char *app;
  const char *name; /* NULL: the app's name */
  char **settings;  /* --set KEY=VALUE */
  bool keep_failed;
  int timeout_sec; /* for each service to become healthy; 0: 300 */
};

/* Installs: resolves and validates settings, generates secrets, builds or
 * pulls images, creates the network, volumes and containers in dependency
 * order, waiting for each to be healthy before the next; then records the
 * instance (a commit "bothy install APP --name NAME"). *ret_address: where it
 * answers ("http://127.0.0.1:PORT/"), NULL without a web service. On
 * failure everything made is removed (unless keep_failed) and the error
 * names the service, with its last log lines. */
int bothy_instance_install(const struct bothy_app_ctx *a, const struct bothy_install_req *req,
                           char **ret_address, bothy_error_t *err);

/* Removes the containers, network, volumes (unless keep_data), secrets and
 * the instance file (a commit), and the images built for it that nothing
 * else uses. *ret_removed: one line per thing removed. */
int bothy_instance_remove(const struct bothy_app_ctx *a, const char *name, bool keep_data,
                          char ***ret_removed, bothy_error_t *err);

/* [{"Name","App","Version","State","Health","Address"}] for `bothy ls`. */
int bothy_instance_list(const struct bothy_app_ctx *a, json_t **ret, bothy_error_t *err);
/* One instance: the above plus "Services" (name, container, state,
 * health), "Settings" (secrets masked) and "Modified" (the file differs
 * from the last commit: a hand edit `bothy apply` would apply). */
int bothy_instance_status(const struct bothy_app_ctx *a, const char *name, json_t **ret,
                          bothy_error_t *err);
/* Whether an instance of that name exists. */
bool bothy_instance_exists(const struct bothy_app_ctx *a, const char *name);

enum bothy_instance_action { BOTHY_INSTANCE_START, BOTHY_INSTANCE_STOP, BOTHY_INSTANCE_RESTART };
int bothy_instance_act(const struct bothy_app_ctx *a, const char *name,
                       enum bothy_instance_action what, bothy_error_t *err);

/* The container names of an instance's services, in order (for logs). */
int bothy_instance_containers(const struct bothy_app_ctx *a, const char *name, char ***ret_names,
                              char ***ret_services, bothy_error_t *err);

/* `bothy config N K=V...`: validated against the recipe, recorded (a
 * commit), and only the services whose environment or files change are
 * recreated. *ret_recreated: their names. */
int bothy_instance_configure(const struct bothy_app_ctx *a, const char *name, char *const *kv,
                             char ***ret_recreated, bothy_error_t *err);
/* `bothy apply N`: makes what runs match the instance file as it is now
 * (a hand edit), validates and commits it. */
int bothy_instance_apply(const struct bothy_app_ctx *a, const char *name, char ***ret_recreated,
                         bothy_error_t *err);
/* `bothy revert N REV`: the instance file as it was at REV, applied and
 * committed ("bothy revert N REV"). */
int bothy_instance_revert(const struct bothy_app_ctx *a, const char *name, const char *rev,
                          char ***ret_recreated, bothy_error_t *err);
/* `bothy history N`: [{"Commit","Time","Message"}], newest first. */
int bothy_instance_history(const struct bothy_app_ctx *a, const char *name, json_t **ret,
                           bothy_error_t *err);
/* `bothy diff N [REV]`: the instance file's diff from REV (NULL: the last
 * commit, so a hand edit shows) to now. */
int bothy_instance_diff(const struct bothy_app_ctx *a, const char *name, const char *rev,
                        char **ret, bothy_error_t *err);

/* `bothy doctor [--fix]`: containers, volumes and networks that claim an
 * instance that does not exist, instance files without their containers,
 * unused layers. *ret_findings: one line each; with fix, each is repaired
 * (removed, or for a missing container, recreated by apply). */
int bothy_doctor(const struct bothy_app_ctx *a, bool fix, char ***ret_findings, bothy_error_t *err);
