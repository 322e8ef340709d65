/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* Recipes: how an application is installed, in a systemd-unit-like INI file
 * (read with inih). The reference is docs/recipes.md; in short:
 *
 *   [App]
 *   Name=wordpress                 a-z0-9 and '-', starting with a letter
 *   Version=6.1.1-1                the packaged version
 *   Summary=Blog and CMS
 *   Maintainer=Jane Doe <jane@example.org>
 *   Upstream=https://wordpress.org/
 *   License=GPL-2.0-or-later
 *   Source=https://example.org/bothy-catalog   where to contribute to the recipe
 *
 *   [Setting site_title]           one section per setting
 *   Description=The blog's title
 *   Default=My blog
 *   Type=string                    string|int|bool|port|email|url|hostname
 *   Required=yes                   (no default and not given: an error)
 *   Pattern=^[A-Za-z ]+$           POSIX extended regex the value must match
 *
 *   [Setting db_password]
 *   Secret=yes                     generated when not given; never printed
 *   Length=32                      generated length (default 32)
 *   Charset=alnum                  alnum|hex|base64url|digits|<literal characters>
 *
 *   [Service db]                   one section per service (container)
 *   Image=docker.io/library/mariadb@sha256:...   or Build=db/Containerfile
 *   Environment=MYSQL_DATABASE=wordpress          repeatable; ${setting} expands
 *   Environment=MYSQL_PASSWORD=${db_password}
 *   SecretFile=db_password:/run/secrets/db_password   a secret as a 0400 file
 *   Volume=data:/var/lib/mysql     repeatable; NAME:/path[:ro]
 *   Health=mysqladmin ping         a shell command run inside the container
 *   Command=...                    overrides the image's command (shell words)
 *   ReadOnly=yes                   read-only root filesystem
 *   Memory=512m
 *   User=mysql
 *   DependsOn=other-service ...    started after them (and after they are healthy)
 *
 *   [Service web]
 *   Build=web/Containerfile        the directory of the file is the build context
 *   Web=80                         the port the front end routes to (one service)
 *   DependsOn=db
 *
 *   [Backup db]                    hooks, commands run inside the service's
 *   Before=mysqldump --all-databases > /var/lib/mysql/dump.sql
 *   After=rm -f /var/lib/mysql/dump.sql
 *
 *   [Update db]
 *   Before=...
 *   After=mysql_upgrade
 *
 * Keys are case-sensitive as in systemd units; an unknown section or key is an
 * error (a typo must not be silently ignored), with the file and line:
 *   recipes/wordpress/recipe.ini:12: [Service db]: unknown key "Imgae" */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"

enum bothy_setting_type {
  BOTHY_SETTING_STRING,
  BOTHY_SETTING_INT,
  BOTHY_SETTING_BOOL,
  BOTHY_SETTING_PORT,
  BOTHY_SETTING_EMAIL,
  BOTHY_SETTING_URL,
  BOTHY_SETTING_HOSTNAME,
};

struct bothy_setting {
  char *name; /* [a-z][a-z0-9_]* */
  char *description;
  char *default_value; /* NULL: none */
  enum bothy_setting_type type;
  bool required;
  char *pattern; /* NULL: none */
  bool secret;
  unsigned length; /* secret: generated length (32) */
  char *charset;   /* secret: the characters to draw from (the named sets expanded) */
  unsigned line;
};

struct bothy_volume_decl {
  char *name; /* the volume's name within the instance */
  char *path; /* absolute, in the container */
  bool readonly;
};

struct bothy_secret_file {
  char *setting; /* a Secret=yes setting */
  char *path;    /* absolute, in the container */
};

struct bothy_hooks {
  char *before, *after; /* shell commands, NULL when not given */
};

struct bothy_service {
  char *name;         /* [a-z][a-z0-9-]* */
  char *image;        /* Image=, NULL with Build= */
  char *build;        /* Build=, relative to the recipe's directory */
  char **environment; /* "KEY=VALUE" with ${setting} unexpanded */
  struct bothy_volume_decl *volumes;
  size_t n_volumes;
  struct bothy_secret_file *secret_files;
  size_t n_secret_files;
  int web_port; /* 0: none */
  char **depends_on;
  char *health;  /* NULL: the image's */
  char *command; /* NULL: the image's */
  bool read_only;
  int64_t memory; /* bytes, 0: none */
  char *user;     /* NULL: the image's */
  struct bothy_hooks backup, update;
  unsigned line;
};

struct bothy_recipe {
  char *path; /* the recipe file */
  char *dir;  /* its directory (Build= paths are relative to it) */
  char *name, *version, *summary, *maintainer, *upstream, *license, *source;
  struct bothy_setting *settings;
  size_t n_settings;
  struct bothy_service *services; /* in dependency order: a service after those it depends on */
  size_t n_services;
};

/* Reads and checks the recipe at path: [App] with Name, Version, Summary and
 * Maintainer present; every setting and service well-formed; Image= or
 * Build= (one, not both) in each service; Build= inside the recipe's
 * directory; at most one service with Web=; DependsOn= naming services of
 * the recipe, without cycles; ${name} in Environment= naming settings;
 * SecretFile= naming secret settings; [Backup S]/[Update S] naming services.
 * Services come out sorted so that each follows what it depends on (stable
 * otherwise). EINVAL with "file:line: ..." on any error. */
int bothy_recipe_load(const char *path, struct bothy_recipe **ret, bothy_error_t *err);
struct bothy_recipe *bothy_recipe_free(struct bothy_recipe *r); /* NULL-safe, returns NULL */
DEFINE_TRIVIAL_CLEANUP_FUNC(struct bothy_recipe *, bothy_recipe_free)
#define _cleanup_recipe_ _cleanup_(bothy_recipe_freep)

const struct bothy_setting *bothy_recipe_setting(const struct bothy_recipe *r, const char *name);
const struct bothy_service *bothy_recipe_service(const struct bothy_recipe *r, const char *name);

/* Resolves an instance's settings: given ("KEY=VALUE", from the instance
 * file and --set; later wins) over defaults; secrets not given are
 * generated (getrandom, the setting's charset and length); each value is
 * checked against its type and pattern. A given key the recipe does not
 * declare, a required setting without a value, a value of the wrong type or
 * not matching: EINVAL naming the setting ("setting 'port': 'x' is not a
 * port number (1-65535)"). *ret: "KEY=VALUE" for every setting, in the
 * recipe's order; *ret_generated (optional): the names of the secrets
 * generated now. */
int bothy_recipe_resolve(const struct bothy_recipe *r, char *const *given, char ***ret,
                         char ***ret_generated, bothy_error_t *err);

/* Expands ${name} in s from values ("KEY=VALUE"); "$$" is a literal '$'.
 * An unknown name or an unterminated "${" is EINVAL naming it. */
int bothy_recipe_expand(const char *s, char *const *values, char **ret, bothy_error_t *err);
