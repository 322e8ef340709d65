/* SPDX-License-Identifier: GPL-2.0-or-later */
/* app/recipe: reading and checking recipes (docs/recipes.md), the
 * dependency order, resolving an instance's settings, ${} expansion. Each
 * test runs in a temporary directory of its own with the recipe as "r.ini",
 * so error messages read as in the documentation. */
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "app/recipe.h"
#include "base/fs.h"
#include "base/strv.h"
#include "base/xalloc.h"

/* Lines 1-5. */
#define APP "[App]\nName=x\nVersion=1\nSummary=s\nMaintainer=m\n"
/* Two lines. */
#define SVC(name) "[Service " name "]\nImage=busybox\n"

static char *top;
static char *doc; /* docs/recipes.md, found from __FILE__ before the first chdir */

static int setup(void **state)
{
  char tmpl[] = "/tmp/test-recipe-XXXXXX";
  if (!mkdtemp(tmpl))
    return -1;
  top = xstrdup(tmpl);
  return chdir(top);
}

static int teardown(void **state)
{
  if (chdir("/") < 0)
    return -1;
  bothy_rm_rf_at(AT_FDCWD, top, NULL);
  free(top);
  return 0;
}

static void write_text(const char *path, const char *text)
{
  FILE *f = fopen(path, "we");
  assert_non_null(f);
  assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
  assert_int_equal(fclose(f), 0);
}

static struct bothy_recipe *load(const char *text)
{
  write_text("r.ini", text);
  struct bothy_recipe *r = NULL;
  bothy_error_t err = NULL;
  if (bothy_recipe_load("r.ini", &r, &err) < 0)
    fail_msg("unexpected error: %s", err->msg);
  assert_non_null(r);
  return r;
}

static void expect_err(const char *text, const char *want)
{
  write_text("r.ini", text);
  struct bothy_recipe *r = (struct bothy_recipe *) 0x1;
  bothy_error_t err = NULL;
  assert_int_equal(bothy_recipe_load("r.ini", &r, &err), -EINVAL);
  assert_non_null(err);
  assert_int_equal(err->code, EINVAL);
  if (strcmp(err->msg, want) != 0)
    fail_msg("got \"%s\", want \"%s\"", err->msg, want);
  assert_ptr_equal(r, (struct bothy_recipe *) 0x1);
  bothy_error_free(&err);
}

static const char full[] = "# a recipe with every key\n"                                  /* 1 */
                           "[App]\n"                                                      /* 2 */
                           "Name=wordpress\n"                                             /* 3 */
                           "Version=6.1.1-1\n"                                            /* 4 */
                           "Summary=Blog and CMS\n"                                       /* 5 */
                           "Maintainer=Jane Doe <jane@example.org>\n"                     /* 6 */
                           "Upstream=https://wordpress.org/\n"                            /* 7 */
                           "License=GPL-2.0-or-later\n"                                   /* 8 */
                           "Source=https://example.org/bothy-catalog\n"                   /* 9 */
                           "\n"                                                           /* 10 */
                           "[Service web]\n"                                              /* 11 */
                           "Build=web/Containerfile\n"                                    /* 12 */
                           "Environment=WORDPRESS_DB_PASSWORD=${db_password}\n"           /* 13 */
                           "Environment=TITLE=${site_title} costs $$5\n"                  /* 14 */
                           "Volume=content:/var/www/html/wp-content\n"                    /* 15 */
                           "Volume=db:/mnt/db:ro\n"                                       /* 16 */
                           "Web=80\n"                                                     /* 17 */
                           "DependsOn=db\n"                                               /* 18 */
                           "Command=apache2-foreground\n"                                 /* 19 */
                           "\n"                                                           /* 20 */
                           "[Setting site_title]\n"                                       /* 21 */
                           "Description=The blog's title\n"                               /* 22 */
                           "Default=My blog\n"                                            /* 23 */
                           "Type=string\n"                                                /* 24 */
                           "Required=yes\n"                                               /* 25 */
                           "Pattern=^[A-Za-z ]+$\n"                                       /* 26 */
                           "\n"                                                           /* 27 */
                           "[Setting db_password]\n"                                      /* 28 */
                           "Secret=yes\n"                                                 /* 29 */
                           "Length=20\n"                                                  /* 30 */
                           "Charset=hex\n"                                                /* 31 */
                           "\n"                                                           /* 32 */
                           "[Service db]\n"                                               /* 33 */
                           "  Image = docker.io/library/mariadb:10.11\n"                  /* 34 */
                           "Environment=MYSQL_DATABASE=wordpress\n"                       /* 35 */
                           "SecretFile=db_password:/run/secrets/db_password\n"            /* 36 */
                           "Volume=db:/var/lib/mysql:rw\n"                                /* 37 */
                           "Health=mysqladmin ping ; echo '# not a comment'\n"            /* 38 */
                           "ReadOnly=yes\n"                                               /* 39 */
                           "Memory=512m\n"                                                /* 40 */
                           "User=mysql\n"                                                 /* 41 */
                           "\n"                                                           /* 42 */
                           "[Backup db]\n"                                                /* 43 */
                           "Before=mysqldump --all-databases > /var/lib/mysql/dump.sql\n" /* 44 */
                           "After=rm -f /var/lib/mysql/dump.sql\n"                        /* 45 */
                           "\n"                                                           /* 46 */
                           "; the other comment character\n"                              /* 47 */
                           "[Update db]\n"                                                /* 48 */
                           "Before=true\n"                                                /* 49 */
                           "After=mysql_upgrade\n";                                       /* 50 */

static void test_full(void **state)
{
  if (mkdir("sub", 0755) < 0)
    fail_msg("mkdir: %m");
  write_text("sub/recipe.ini", full);
  struct bothy_recipe *r = NULL;
  bothy_error_t err = NULL;
  if (bothy_recipe_load("sub/recipe.ini", &r, &err) < 0)
    fail_msg("unexpected error: %s", err->msg);
  assert_string_equal(r->path, "sub/recipe.ini");
  assert_string_equal(r->dir, "sub");
  assert_string_equal(r->name, "wordpress");
  assert_string_equal(r->version, "6.1.1-1");
  assert_string_equal(r->summary, "Blog and CMS");
  assert_string_equal(r->maintainer, "Jane Doe <jane@example.org>");
  assert_string_equal(r->upstream, "https://wordpress.org/");
  assert_string_equal(r->license, "GPL-2.0-or-later");
  assert_string_equal(r->source, "https://example.org/bothy-catalog");

  assert_int_equal(r->n_settings, 2);
  const struct bothy_setting *s = &r->settings[0];
  assert_ptr_equal(bothy_recipe_setting(r, "site_title"), s);
  assert_string_equal(s->name, "site_title");
  assert_string_equal(s->description, "The blog's title");
  assert_string_equal(s->default_value, "My blog");
  assert_int_equal(s->type, BOTHY_SETTING_STRING);
  assert_true(s->required);
  assert_string_equal(s->pattern, "^[A-Za-z ]+$");
  assert_false(s->secret);
  assert_null(s->charset);
  assert_int_equal(s->line, 21);
  s = &r->settings[1];
  assert_ptr_equal(bothy_recipe_setting(r, "db_password"), s);
  assert_null(s->description);
  assert_null(s->default_value);
  assert_null(s->pattern);
  assert_true(s->secret);
  assert_false(s->required);
  assert_int_equal(s->length, 20);
  assert_string_equal(s->charset, "0123456789abcdef");
  assert_int_equal(s->line, 28);
  assert_null(bothy_recipe_setting(r, "nope"));

  /* db first: web depends on it. */
  assert_int_equal(r->n_services, 2);
  const struct bothy_service *db = &r->services[0], *web = &r->services[1];
  assert_ptr_equal(bothy_recipe_service(r, "db"), db);
  assert_ptr_equal(bothy_recipe_service(r, "web"), web);
  assert_null(bothy_recipe_service(r, "nope"));
  assert_string_equal(db->name, "db");
  assert_int_equal(db->line, 33);
  assert_string_equal(db->image, "docker.io/library/mariadb:10.11");
  assert_null(db->build);
  assert_int_equal(strv_length(db->environment), 1);
  assert_string_equal(db->environment[0], "MYSQL_DATABASE=wordpress");
  assert_int_equal(db->n_secret_files, 1);
  assert_string_equal(db->secret_files[0].setting, "db_password");
  assert_string_equal(db->secret_files[0].path, "/run/secrets/db_password");
  assert_int_equal(db->n_volumes, 1);
  assert_string_equal(db->volumes[0].name, "db");
  assert_string_equal(db->volumes[0].path, "/var/lib/mysql");
  assert_false(db->volumes[0].readonly);
  assert_string_equal(db->health, "mysqladmin ping ; echo '# not a comment'");
  assert_null(db->command);
  assert_true(db->read_only);
  assert_int_equal(db->memory, 512 * 1024 * 1024);
  assert_string_equal(db->user, "mysql");
  assert_int_equal(db->web_port, 0);
  assert_int_equal(strv_length(db->depends_on), 0);
  assert_string_equal(db->backup.before, "mysqldump --all-databases > /var/lib/mysql/dump.sql");
  assert_string_equal(db->backup.after, "rm -f /var/lib/mysql/dump.sql");
  assert_string_equal(db->update.before, "true");
  assert_string_equal(db->update.after, "mysql_upgrade");

  assert_string_equal(web->name, "web");
  assert_int_equal(web->line, 11);
  assert_null(web->image);
  assert_string_equal(web->build, "web/Containerfile");
  assert_int_equal(strv_length(web->environment), 2);
  assert_string_equal(web->environment[0], "WORDPRESS_DB_PASSWORD=${db_password}");
  assert_string_equal(web->environment[1], "TITLE=${site_title} costs $$5");
  assert_int_equal(web->n_volumes, 2);
  assert_string_equal(web->volumes[0].name, "content");
  assert_string_equal(web->volumes[0].path, "/var/www/html/wp-content");
  assert_false(web->volumes[0].readonly);
  assert_string_equal(web->volumes[1].name, "db");
  assert_string_equal(web->volumes[1].path, "/mnt/db");
  assert_true(web->volumes[1].readonly);
  assert_int_equal(web->n_secret_files, 0);
  assert_int_equal(web->web_port, 80);
  assert_int_equal(strv_length(web->depends_on), 1);
  assert_string_equal(web->depends_on[0], "db");
  assert_string_equal(web->command, "apache2-foreground");
  assert_null(web->health);
  assert_null(web->user);
  assert_false(web->read_only);
  assert_int_equal(web->memory, 0);
  assert_null(web->backup.before);
  assert_null(web->update.after);
  bothy_recipe_free(r);
  assert_null(bothy_recipe_free(NULL));
}

/* What inih would do on its own but systemd does not, and inih's limits. */
static void test_syntax(void **state)
{
  /* A line longer than inih's default 200 bytes; a 60-character setting
   * name (inih cuts section names at 49); an indented line is not a
   * continuation; a section without keys still counts; CRLF. */
  char health[1001];
  memset(health, 'h', sizeof(health) - 1);
  health[sizeof(health) - 1] = '\0';
  const char *name = "s23456789012345678901234567890123456789012345678901234567890";
  _cleanup_free_ char *text =
      xasprintf("\xEF\xBB\xBF" APP "[Service a]\r\nImage=busybox\r\nHealth=%s\n"
                "Environment=A=1\n  Environment=B=2\n[Setting %s]\n[Setting empty]\n",
                health, name);
  struct bothy_recipe *r = load(text);
  assert_string_equal(r->services[0].health, health);
  assert_int_equal(strv_length(r->services[0].environment), 2);
  assert_string_equal(r->services[0].environment[1], "B=2");
  assert_int_equal(r->n_settings, 2);
  assert_string_equal(r->settings[0].name, name);
  assert_int_equal(r->settings[0].line, 11);
  assert_string_equal(r->settings[1].name, "empty");
  assert_int_equal(r->settings[1].line, 12);
  bothy_recipe_free(r);

  /* inih's options are put back. */
  assert_true(ini_allow_multiline);
  assert_true(ini_allow_inline_comments);
  assert_int_equal(ini_max_line, 200);
  assert_false(ini_stop_on_first_error);

  _cleanup_free_ char *long_line = xasprintf(APP SVC("a") "Health=%8192s\n", "x");
  expect_err(long_line, "r.ini:8: line longer than 8192 characters");
  expect_err(APP SVC("a") "Health=a\x1b[0m\n", "r.ini:8: control character 0x1b in the line");
  expect_err(APP "Summary\n", "r.ini:6: expected '[Section]', 'Key=value' or a comment");
  expect_err(APP "Summary: x\n", "r.ini:6: expected '[Section]', 'Key=value' or a comment");
  expect_err(APP "=x\n", "r.ini:6: expected 'Key=value' with the key before the '='");
  expect_err(APP "[Service a\n", "r.ini:6: a section header is one '[Section]' on its line");
  expect_err(APP "[Service a] x\n", "r.ini:6: a section header is one '[Section]' on its line");
  expect_err(APP SVC("a") "Command=a \\\n  b\n",
             "r.ini:8: a line cannot end with '\\' (no continuation lines)");
  expect_err("Name=x\n" APP, "r.ini:1: 'Name=' outside a section");
}

static void test_errors_sections(void **state)
{
  expect_err(APP SVC("a") "[Servce db]\n", "r.ini:8: unknown section [Servce db]");
  expect_err(APP "[App x]\n", "r.ini:6: unknown section [App x]");
  expect_err(APP "[Service]\nImage=x\n", "r.ini:6: [Service]: missing name: [Service NAME]");
  expect_err(APP "[Service Db]\n",
             "r.ini:6: [Service Db]: invalid service name 'Db' (a-z, 0-9 and '-', starting with "
             "a letter)");
  expect_err(APP "[Setting a-b]\n",
             "r.ini:6: [Setting a-b]: invalid setting name 'a-b' (a-z, 0-9 and '_', starting "
             "with a letter)");
  expect_err(APP SVC("a") SVC("a"), "r.ini:8: [Service a]: duplicate section (first at line 6)");
  expect_err(APP SVC("a") "[App]\n", "r.ini:8: [App]: duplicate section (first at line 1)");
  expect_err(APP SVC("a") "[Backup a]\n[Backup a]\n",
             "r.ini:9: [Backup a]: duplicate section (first at line 8)");
  expect_err(APP SVC("a") "Imgae=x\n", "r.ini:8: [Service a]: unknown key \"Imgae\"");
  expect_err(APP SVC("a") "image=x\n", "r.ini:8: [Service a]: unknown key \"image\"");
  expect_err(APP SVC("a") "Image=y\n",
             "r.ini:8: [Service a]: duplicate key \"Image\" (first at line 7)");
  expect_err(APP SVC("a") "User=\n", "r.ini:8: [Service a]: empty value for \"User\"");
  expect_err(SVC("a"), "r.ini:1: missing [App] section");
  expect_err("[App]\nVersion=1\nSummary=s\nMaintainer=m\n" SVC("a"),
             "r.ini:1: [App]: missing Name=");
  expect_err("# x\n[App]\nName=x\nSummary=s\nMaintainer=m\n" SVC("a"),
             "r.ini:2: [App]: missing Version=");
  expect_err(APP, "r.ini:1: [App]: the recipe has no [Service NAME] section");
  expect_err(APP SVC("a") "[Backup b]\nBefore=x\n",
             "r.ini:8: [Backup b]: no [Service b] in the recipe");
  expect_err(APP SVC("a") "[Update a]\nDuring=x\n", "r.ini:9: [Update a]: unknown key \"During\"");
}

static void test_errors_app(void **state)
{
  expect_err("[App]\nName=Word Press\n",
             "r.ini:2: [App]: Name=Word Press: a-z, 0-9 and '-', starting with a letter");
  expect_err("[App]\nVersion=1 2\n", "r.ini:2: [App]: Version=1 2: no spaces or '/'");
  expect_err("[App]\nUpstream=ftp://x\n",
             "r.ini:2: [App]: Upstream=ftp://x: not an http:// or https:// URL");
  expect_err("[App]\nSource=https://\n",
             "r.ini:2: [App]: Source=https://: not an http:// or https:// URL");
}

static void test_errors_settings(void **state)
{
  expect_err(APP SVC("a") "[Setting x]\nType=text\n",
             "r.ini:9: [Setting x]: Type=text: string, int, bool, port, email, url or hostname");
  expect_err(APP SVC("a") "[Setting x]\nRequired=maybe\n",
             "r.ini:9: [Setting x]: Required=maybe: not a boolean (yes/no, true/false, on/off, "
             "1/0)");
  expect_err(APP SVC("a") "[Setting x]\nPattern=^[a$\n",
             "r.ini:9: [Setting x]: Pattern=^[a$: not a POSIX extended regular expression: "
             "Unmatched [, [^, [:, [., or [=");
  expect_err(APP SVC("a") "[Setting x]\nPattern=a{2,1}\n",
             "r.ini:9: [Setting x]: Pattern=a{2,1}: not a POSIX extended regular expression: "
             "Invalid content of \\{\\}");
  /* What would make glibc's regcomp() take gigabytes or regexec() take
   * exponential time. */
  expect_err(
      APP SVC("a") "[Setting x]\nPattern=^a+++++++++++++++++++++++++++++++++++$\n",
      "r.ini:9: [Setting x]: Pattern=^a+++++++++++++++++++++++++++++++++++$: a repetition of a "
      "repetition (use a group)");
  expect_err(APP SVC("a") "[Setting x]\nPattern=^=***@*#*z\n",
             "r.ini:9: [Setting x]: Pattern=^=***@*#*z: a repetition of a repetition (use a "
             "group)");
  expect_err(APP SVC("a") "[Setting x]\nPattern=a+{2}\n",
             "r.ini:9: [Setting x]: Pattern=a+{2}: a repetition of a repetition (use a group)");
  expect_err(APP SVC("a") "[Setting x]\nPattern=((a{99}){99})\n",
             "r.ini:9: [Setting x]: Pattern=((a{99}){99}): too complex (nested or large "
             "repetitions)");
  expect_err(APP SVC("a") "[Setting x]\nPattern=a{1,99999}\n",
             "r.ini:9: [Setting x]: Pattern=a{1,99999}: too complex (nested or large "
             "repetitions)");
  expect_err(APP SVC("a") "[Setting x]\nPattern=^(a*)*\\1$\n",
             "r.ini:9: [Setting x]: Pattern=^(a*)*\\1$: back-references are not supported");
  char nested[2 * 33 + 2] = { 0 };
  memset(nested, '(', 33);
  nested[33] = 'a';
  memset(nested + 34, ')', 33);
  _cleanup_free_ char *deep = xasprintf(APP SVC("a") "[Setting x]\nPattern=%s\n", nested);
  _cleanup_free_ char *deep_want =
      xasprintf("r.ini:9: [Setting x]: Pattern=%s: groups nested too deep", nested);
  expect_err(deep, deep_want);
  nested[0] = 'x'; /* 32 deep */
  nested[2 * 33] = '\0';
  _cleanup_free_ char *deep32 = xasprintf(APP SVC("a") "[Setting x]\nPattern=%s\n", nested);
  bothy_recipe_free(load(deep32));
  struct bothy_recipe *r =
      load(APP SVC("a") "[Setting a]\nPattern=^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$\n"
                        "[Setting b]\nPattern=^[[:alpha:]]+[]a-]*(x|y|z){2,}\\.[^]]?$\n"
                        "[Setting c]\nPattern=^.{1,1000}$\n");
  char *given[] = { "a=my-host", "b=Abc]a-xyz.", "c=x", NULL };
  char **v = NULL;
  bothy_error_t err = NULL;
  if (bothy_recipe_resolve(r, given, &v, NULL, &err) < 0)
    fail_msg("unexpected error: %s", err->msg);
  strv_free(v);
  bothy_recipe_free(r);
  expect_err(APP SVC("a") "[Setting port]\nType=port\nDefault=x\n",
             "r.ini:10: [Setting port]: Default=x: not a port number (1-65535)");
  expect_err(APP SVC("a") "[Setting x]\nDefault=ab\nPattern=^[0-9]+$\n",
             "r.ini:9: [Setting x]: Default=ab: does not match Pattern=^[0-9]+$");
  expect_err(APP SVC("a") "[Setting x]\nSecret=yes\nType=int\n",
             "r.ini:10: [Setting x]: Type=int: a Secret=yes setting is a string");
  expect_err(APP SVC("a") "[Setting x]\nDefault=a\nSecret=yes\n",
             "r.ini:9: [Setting x]: Default= and Secret=yes: a secret is given or generated, never "
             "a default");
  expect_err(APP SVC("a") "[Setting x]\nSecret=yes\nPattern=^a$\n",
             "r.ini:10: [Setting x]: Pattern= does not apply to a Secret=yes setting");
  expect_err(APP SVC("a") "[Setting x]\nLength=8\n",
             "r.ini:9: [Setting x]: Length= applies only to a Secret=yes setting");
  expect_err(APP SVC("a") "[Setting x]\nSecret=yes\nRequired=yes\nCharset=hex\n",
             "r.ini:11: [Setting x]: Charset= does not apply to a Required=yes secret (never "
             "generated)");
  expect_err(APP SVC("a") "[Setting x]\nSecret=yes\nLength=0\n",
             "r.ini:10: [Setting x]: Length=0: not a length (1-4096)");
  expect_err(APP SVC("a") "[Setting x]\nSecret=yes\nLength=4097\n",
             "r.ini:10: [Setting x]: Length=4097: not a length (1-4096)");
  expect_err(APP SVC("a") "[Setting x]\nSecret=yes\nCharset=aaa\n",
             "r.ini:10: [Setting x]: Charset=aaa: at least 2 different characters");
  expect_err(APP SVC("a") "[Setting x]\nSecret=yes\nCharset=a b\n",
             "r.ini:10: [Setting x]: Charset=a b: alnum, hex, base64url, digits, or printable "
             "ASCII characters other than space");
}

static void test_errors_services(void **state)
{
  expect_err(APP "[Service a]\nImage=busybox\nBuild=Containerfile\n",
             "r.ini:8: [Service a]: Image= and Build= both given (one or the other)");
  expect_err(APP "[Service a]\nBuild=Containerfile\nImage=busybox\n",
             "r.ini:8: [Service a]: Image= and Build= both given (one or the other)");
  expect_err(APP "[Service a]\nUser=x\n", "r.ini:6: [Service a]: missing Image= or Build=");
  static const char *const escapes[] = {
    "../x/Containerfile", "/etc/Containerfile", "web/../../Containerfile", "web/..", "web/", "."
  };
  for (size_t i = 0; i < ARRAY_SIZE(escapes); i++) {
    _cleanup_free_ char *text = xasprintf(APP "[Service a]\nBuild=%s\n", escapes[i]);
    _cleanup_free_ char *want = xasprintf("r.ini:7: [Service a]: Build=%s: not a relative path "
                                          "to a file inside the recipe's directory",
                                          escapes[i]);
    expect_err(text, want);
  }
  expect_err(APP "[Service a]\nImage=Foo\n",
             "r.ini:7: [Service a]: Image=Foo: invalid reference 'Foo': invalid reference format: "
             "repository name must be lowercase");
  expect_err(APP "[Service web]\nImage=busybox\nWeb=80\n"
                 "[Service api]\nImage=busybox\nWeb=8080\n",
             "r.ini:11: [Service api]: Web= is already in [Service web] (line 8): one service is "
             "published");
  expect_err(APP SVC("a") "Web=0\n", "r.ini:8: [Service a]: Web=0: not a port number (1-65535)");
  expect_err(APP SVC("a") "Web=65536\n",
             "r.ini:8: [Service a]: Web=65536: not a port number (1-65535)");
  expect_err(APP SVC("web") "DependsOn=db\n" SVC("db") "DependsOn=dbb\n",
             "r.ini:11: [Service db]: DependsOn=dbb: no [Service dbb] in the recipe");
  expect_err(APP SVC("a") "DependsOn=a\n",
             "r.ini:8: [Service a]: DependsOn=a: a service cannot depend on itself");
  expect_err(APP SVC("a") "Environment=X=${nope}\n",
             "r.ini:8: [Service a]: Environment=X=${nope}: unknown setting 'nope'");
  expect_err(APP SVC("a") "Environment=X=${x\n",
             "r.ini:8: [Service a]: Environment=X=${x: unterminated '${'");
  expect_err(APP SVC("a") "Environment=X\n",
             "r.ini:8: [Service a]: Environment=X: expected NAME=VALUE");
  expect_err(APP SVC("a") "Environment=1A=x\n",
             "r.ini:8: [Service a]: Environment=1A=x: '1A' is not a variable name (A-Z, a-z, 0-9 "
             "and '_', not starting with a digit)");
  expect_err(APP SVC("a") "Environment=A=1\nEnvironment=A=2\n",
             "r.ini:9: [Service a]: Environment=A=2: 'A' is set twice");
  expect_err(APP SVC("a") "SecretFile=site_title:/run/s\n[Setting site_title]\n",
             "r.ini:8: [Service a]: SecretFile=site_title:/run/s: setting 'site_title' is not "
             "Secret=yes");
  expect_err(APP SVC("a") "SecretFile=nope:/run/s\n",
             "r.ini:8: [Service a]: SecretFile=nope:/run/s: unknown setting 'nope'");
  expect_err(APP SVC("a") "SecretFile=x\n",
             "r.ini:8: [Service a]: SecretFile=x: expected SETTING:/path");
  expect_err(APP SVC("a") "SecretFile=x:run/s\n",
             "r.ini:8: [Service a]: SecretFile=x:run/s: 'run/s' is not a normalised absolute path");
  expect_err(APP SVC("a") "Volume=data\n",
             "r.ini:8: [Service a]: Volume=data: expected NAME:/path[:ro], NAME of a-z, 0-9 and "
             "'-', starting with a letter");
  expect_err(APP SVC("a") "Volume=Data:/x\n",
             "r.ini:8: [Service a]: Volume=Data:/x: expected NAME:/path[:ro], NAME of a-z, 0-9 "
             "and '-', starting with a letter");
  expect_err(APP SVC("a") "Volume=data:/x:rx\n",
             "r.ini:8: [Service a]: Volume=data:/x:rx: the option after the path is ro or rw");
  static const char *const paths[] = { "/x/", "/", "x", "/a/../b", "/a/./b", "/a//b", "/.." };
  for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
    _cleanup_free_ char *text = xasprintf(APP SVC("a") "Volume=data:%s\n", paths[i]);
    _cleanup_free_ char *want =
        xasprintf("r.ini:8: [Service a]: Volume=data:%s: '%s' is not a normalised absolute path",
                  paths[i], paths[i]);
    expect_err(text, want);
  }
  expect_err(APP SVC("a") "Volume=data:/x\nVolume=logs:/x\n",
             "r.ini:9: [Service a]: Volume=logs:/x: '/x' is mounted twice");
  expect_err(APP SVC("a") "ReadOnly=maybe\n",
             "r.ini:8: [Service a]: ReadOnly=maybe: not a boolean (yes/no, true/false, on/off, "
             "1/0)");
  expect_err(APP SVC("a") "User=a b\n",
             "r.ini:8: [Service a]: User=a b: a user name or id (user[:group]), without spaces");
  static const char *const sizes[] = { "12x",     "0", "1.5g", "512 m",
                                       "-1",      "m", "1mbb", "9223372036854775808",
                                       "8388608t" };
  for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
    _cleanup_free_ char *text = xasprintf(APP SVC("a") "Memory=%s\n", sizes[i]);
    _cleanup_free_ char *want = xasprintf("r.ini:8: [Service a]: Memory=%s: not a size (bytes, "
                                          "or a number with k, m, g or t: 512m, 1g)",
                                          sizes[i]);
    expect_err(text, want);
  }
}

static void test_memory(void **state)
{
  static const struct {
    const char *s;
    int64_t bytes;
  } sizes[] = {
    { "1048576", 1048576 },          { "100b", 100 },         { "4k", 4096 },
    { "512m", 512LL << 20 },         { "512M", 512LL << 20 }, { "1g", 1LL << 30 },
    { "2GiB", 2LL << 30 },           { "3gb", 3LL << 30 },    { "1t", 1LL << 40 },
    { "8388607t", 8388607LL << 40 },
  };
  for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
    _cleanup_free_ char *text = xasprintf(APP SVC("a") "Memory=%s\n", sizes[i].s);
    struct bothy_recipe *r = load(text);
    if (r->services[0].memory != sizes[i].bytes)
      fail_msg("Memory=%s: %lld", sizes[i].s, (long long) r->services[0].memory);
    bothy_recipe_free(r);
  }
}

static void expect_order(const char *text, const char *want)
{
  struct bothy_recipe *r = load(text);
  _cleanup_free_ char *got = xstrdup("");
  for (size_t i = 0; i < r->n_services; i++) {
    char *g = xasprintf("%s%s%s", got, i ? " " : "", r->services[i].name);
    free(got);
    got = g;
  }
  if (strcmp(got, want) != 0)
    fail_msg("order \"%s\", want \"%s\"", got, want);
  bothy_recipe_free(r);
}

static void test_order(void **state)
{
  expect_order(APP SVC("c") SVC("b") SVC("a"), "c b a");
  expect_order(APP SVC("x") SVC("web") "DependsOn=db cache\n" SVC("db") SVC("cache"),
               "x db cache web");
  expect_order(APP SVC("c") "DependsOn=b\n" SVC("b") "DependsOn=a\n" SVC("a") SVC("d"), "a b c d");
  /* Repeatable, space-separated, a name twice counts once. */
  expect_order(APP SVC("web") "DependsOn=db\nDependsOn=cache  db\n" SVC("cache")
                   SVC("db") "DependsOn=cache\n",
               "cache db web");
  struct bothy_recipe *r =
      load(APP SVC("web") "DependsOn=db\nDependsOn=cache  db\n" SVC("cache") SVC("db"));
  const struct bothy_service *web = bothy_recipe_service(r, "web");
  assert_int_equal(strv_length(web->depends_on), 2);
  assert_string_equal(web->depends_on[0], "db");
  assert_string_equal(web->depends_on[1], "cache");
  bothy_recipe_free(r);

  expect_err(APP SVC("a") "DependsOn=b\n" SVC("b") "DependsOn=a\n",
             "r.ini:8: [Service a]: dependency cycle: a -> b -> a");
  /* The cycle starts at its first service in the file, at the line of
   * that service's edge in the cycle. */
  expect_err(APP SVC("x") "DependsOn=c\n" SVC("b") "DependsOn=c\n" SVC("c") "DependsOn=a\n" SVC(
                 "a") "DependsOn=b\n",
             "r.ini:11: [Service b]: dependency cycle: b -> c -> a -> b");
  expect_err(APP SVC("x") "DependsOn=c\n" SVC("c") "DependsOn=a\n" SVC(
                 "a") "DependsOn=x\n"
                      "DependsOn=b\n" SVC("b") "DependsOn=c\n",
             "r.ini:8: [Service x]: dependency cycle: x -> c -> a -> x");
}

/* ------------------------------------------------------------- resolving */

static const char settings[] = APP SVC("a") "[Setting title]\n"    /* 8 */
                                            "Default=My blog\n"    /* 9 */
                                            "[Setting email]\n"    /* 10 */
                                            "Type=email\n"         /* 11 */
                                            "Required=yes\n"       /* 12 */
                                            "[Setting count]\n"    /* 13 */
                                            "Type=int\n"           /* 14 */
                                            "Default=-5\n"         /* 15 */
                                            "[Setting flag]\n"     /* 16 */
                                            "Type=bool\n"          /* 17 */
                                            "[Setting port]\n"     /* 18 */
                                            "Type=port\n"          /* 19 */
                                            "Default=8080\n"       /* 20 */
                                            "[Setting url]\n"      /* 21 */
                                            "Type=url\n"           /* 22 */
                                            "[Setting host]\n"     /* 23 */
                                            "Type=hostname\n"      /* 24 */
                                            "[Setting code]\n"     /* 25 */
                                            "Pattern=^[0-9]{3}$\n" /* 26 */
                                            "[Setting pw]\n"       /* 27 */
                                            "Secret=yes\n"         /* 28 */
                                            "[Setting pin]\n"      /* 29 */
                                            "Secret=yes\n"         /* 30 */
                                            "Length=6\n"           /* 31 */
                                            "Charset=digits\n"     /* 32 */
                                            "[Setting api_key]\n"  /* 33 */
                                            "Secret=yes\n"         /* 34 */
                                            "Required=yes\n";      /* 35 */

static char **resolve(const struct bothy_recipe *r, char **given, char ***generated)
{
  char **out = NULL;
  bothy_error_t err = NULL;
  if (bothy_recipe_resolve(r, given, &out, generated, &err) < 0)
    fail_msg("unexpected error: %s", err->msg);
  return out;
}

static void expect_resolve_err(const struct bothy_recipe *r, char **given, const char *want)
{
  char **out = (char **) 0x1;
  char **generated = (char **) 0x1;
  bothy_error_t err = NULL;
  assert_int_equal(bothy_recipe_resolve(r, given, &out, &generated, &err), -EINVAL);
  assert_int_equal(err->code, EINVAL);
  if (strcmp(err->msg, want) != 0)
    fail_msg("got \"%s\", want \"%s\"", err->msg, want);
  assert_ptr_equal(out, (char **) 0x1);
  assert_ptr_equal(generated, (char **) 0x1);
  bothy_error_free(&err);
}

static void test_resolve(void **state)
{
  struct bothy_recipe *r = load(settings);
  char *given[] = { "email=me@example.org", "api_key=k", "count=1", "count=42", "flag=", NULL };
  char **generated = NULL;
  char **v = resolve(r, given, &generated);
  assert_int_equal(strv_length(v), 11);
  assert_string_equal(v[0], "title=My blog");
  assert_string_equal(v[1], "email=me@example.org");
  assert_string_equal(v[2], "count=42"); /* the last one given wins */
  assert_string_equal(v[3], "flag=");    /* empty: no value, and no default */
  assert_string_equal(v[4], "port=8080");
  assert_string_equal(v[5], "url=");
  assert_string_equal(v[6], "host=");
  assert_string_equal(v[7], "code=");
  assert_string_equal(v[10], "api_key=k");
  /* Generated: pw, 32 alphanumerics; pin, 6 digits. */
  assert_int_equal(strv_length(generated), 2);
  assert_string_equal(generated[0], "pw");
  assert_string_equal(generated[1], "pin");
  assert_true(strncmp(v[8], "pw=", 3) == 0);
  assert_int_equal(strlen(v[8] + 3), 32);
  assert_int_equal(
      strspn(v[8] + 3, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"), 32);
  assert_true(strncmp(v[9], "pin=", 4) == 0);
  assert_int_equal(strlen(v[9] + 4), 6);
  assert_int_equal(strspn(v[9] + 4, "0123456789"), 6);

  /* Two resolutions generate different secrets; a given secret is kept. */
  char **v2 = resolve(r, given, NULL);
  assert_string_not_equal(v[8], v2[8]);
  strv_free(v2);
  char *given2[] = { "email=me@example.org", "api_key=k", "pw=kept", NULL };
  strv_free(generated);
  v2 = resolve(r, given2, &generated);
  assert_string_equal(v2[8], "pw=kept");
  assert_int_equal(strv_length(generated), 1);
  assert_string_equal(generated[0], "pin");
  strv_free(v2);
  strv_free(generated);
  strv_free(v);

  /* Good values of every type. */
  char *good[] = { "email=a.b+c@mail.example.org",
                   "api_key=k",
                   "count=9223372036854775807",
                   "flag=Off",
                   "port=65535",
                   "url=https://[::1]:8443/x?y#z",
                   "host=a-1.example.org",
                   "code=007",
                   NULL };
  v = resolve(r, good, NULL);
  assert_string_equal(v[3], "flag=Off");
  assert_string_equal(v[5], "url=https://[::1]:8443/x?y#z");
  strv_free(v);
  bothy_recipe_free(r);
}

static void test_resolve_errors(void **state)
{
  struct bothy_recipe *r = load(settings);
#define GIVEN(...) ((char *[]){ "email=me@example.org", "api_key=k", __VA_ARGS__, NULL })
  expect_resolve_err(r, GIVEN("nope=1"), "setting 'nope': recipe 'x' has no such setting");
  expect_resolve_err(r, GIVEN("title"), "setting 'title': expected NAME=VALUE");
  expect_resolve_err(r, (char *[]){ "api_key=k", NULL },
                     "setting 'email': required, and no value given");
  expect_resolve_err(r, (char *[]){ "email=me@example.org", "api_key=", NULL },
                     "setting 'api_key': required, and no value given");
  expect_resolve_err(r, GIVEN("count=x"), "setting 'count': 'x' is not an integer");
  expect_resolve_err(r, GIVEN("count=+1"), "setting 'count': '+1' is not an integer");
  expect_resolve_err(r, GIVEN("count=9223372036854775808"),
                     "setting 'count': '9223372036854775808' is not an integer");
  expect_resolve_err(r, GIVEN("flag=maybe"),
                     "setting 'flag': 'maybe' is not a boolean (yes/no, true/false, on/off, 1/0)");
  expect_resolve_err(r, GIVEN("port=x"), "setting 'port': 'x' is not a port number (1-65535)");
  expect_resolve_err(r, GIVEN("port=0"), "setting 'port': '0' is not a port number (1-65535)");
  expect_resolve_err(r, GIVEN("port=65536"),
                     "setting 'port': '65536' is not a port number (1-65535)");
  expect_resolve_err(r, GIVEN("port=080"), "setting 'port': '080' is not a port number (1-65535)");
  static const char *const emails[] = { "me",      "@example.org",    "me@localhost",
                                        "me@a..b", "m e@example.org", "a@b@example.org" };
  for (size_t i = 0; i < ARRAY_SIZE(emails); i++) {
    _cleanup_free_ char *g = xasprintf("email=%s", emails[i]);
    _cleanup_free_ char *want =
        xasprintf("setting 'email': '%s' is not an email address", emails[i]);
    expect_resolve_err(r, (char *[]){ "api_key=k", g, NULL }, want);
  }
  static const char *const urls[] = {
    "example.org",    "ftp://example.org",       "https://", "https://a b", "http://x:0/",
    "https://u:p@x/", "https://example.org/a b", "HTTPS://x"
  };
  for (size_t i = 0; i < ARRAY_SIZE(urls); i++) {
    _cleanup_free_ char *g = xasprintf("url=%s", urls[i]);
    _cleanup_free_ char *want =
        xasprintf("setting 'url': '%s' is not an http:// or https:// URL", urls[i]);
    expect_resolve_err(r, GIVEN(g), want);
  }
  _cleanup_free_ char *label64 = xasprintf("host=%064d.org", 0);
  static const char *const hosts[] = { "-a.org", "a-.org", "a..org", "a.org.", "a_b.org", "a b" };
  for (size_t i = 0; i < ARRAY_SIZE(hosts); i++) {
    _cleanup_free_ char *g = xasprintf("host=%s", hosts[i]);
    _cleanup_free_ char *want = xasprintf("setting 'host': '%s' is not a hostname", hosts[i]);
    expect_resolve_err(r, GIVEN(g), want);
  }
  _cleanup_free_ char *want64 = xasprintf("setting 'host': '%s' is not a hostname", label64 + 5);
  expect_resolve_err(r, GIVEN(label64), want64);
  expect_resolve_err(r, GIVEN("code=12"), "setting 'code': '12' does not match '^[0-9]{3}$'");
  expect_resolve_err(r, GIVEN("code=1234"), "setting 'code': '1234' does not match '^[0-9]{3}$'");
  expect_resolve_err(r, GIVEN("title=a\nb"),
                     "setting 'title': 'a\nb' contains a control character (a newline?)");
  expect_resolve_err(r, GIVEN("title= a"), "setting 'title': ' a' starts or ends with a space");
  /* A secret's value is not in the message. */
  expect_resolve_err(r, GIVEN("pw=secret "), "setting 'pw': the value starts or ends with a space");
#undef GIVEN
  bothy_recipe_free(r);
}

static void test_secret_charsets(void **state)
{
  struct bothy_recipe *r =
      load(APP SVC("a") "[Setting a]\nSecret=yes\nCharset=base64url\n"
                        "Length=4096\n"
                        "[Setting b]\nSecret=yes\nCharset=xyzzy\nLength=300\n");
  assert_string_equal(r->settings[0].charset,
                      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
  assert_string_equal(r->settings[1].charset, "xyz");
  assert_int_equal(r->settings[1].length, 300);
  char **v = resolve(r, NULL, NULL);
  const char *a = v[0] + 2, *b = v[1] + 2;
  assert_int_equal(strlen(a), 4096);
  assert_int_equal(strspn(a, r->settings[0].charset), 4096);
  /* 4096 draws from 64: every character is there (the chance that one is
   * missing is about 64 * (63/64)^4096, 1e-26). */
  for (const char *c = r->settings[0].charset; *c; c++)
    if (!strchr(a, *c))
      fail_msg("'%c' never drawn", *c);
  assert_int_equal(strlen(b), 300);
  assert_int_equal(strspn(b, "xyz"), 300);
  assert_non_null(strchr(b, 'x'));
  assert_non_null(strchr(b, 'y'));
  assert_non_null(strchr(b, 'z'));
  strv_free(v);
  bothy_recipe_free(r);
}

/* The complete example of docs/recipes.md loads, in the order and with the
 * values the page says. */
static void test_doc_example(void **state)
{
  if (!doc)
    skip();
  _cleanup_free_ char *text = NULL;
  bothy_error_t err = NULL;
  if (bothy_read_file(AT_FDCWD, doc, &text, NULL, &err) < 0)
    fail_msg("%s", err->msg);
  const char *start = strstr(text, "## A complete example");
  assert_non_null(start);
  start = strstr(start, "```ini\n");
  assert_non_null(start);
  start += strlen("```ini\n");
  const char *end = strstr(start, "```");
  assert_non_null(end);
  _cleanup_free_ char *example = xstrndup(start, (size_t) (end - start));
  struct bothy_recipe *r = load(example);
  assert_string_equal(r->name, "wordpress");
  assert_int_equal(r->n_services, 2);
  assert_string_equal(r->services[0].name, "db");
  assert_string_equal(r->services[1].name, "web");
  assert_string_equal(r->services[0].backup.after, "rm -f /var/lib/mysql/dump.sql");
  char *given[] = { "admin_email=me@example.org", "smtp_password=s3cret", NULL };
  char **generated = NULL;
  char **v = resolve(r, given, &generated);
  assert_string_equal(strv_env_get(v, "site_title"), "My blog");
  assert_string_equal(strv_env_get(v, "admin_email"), "me@example.org");
  assert_string_equal(strv_env_get(v, "upload_limit_mb"), "64");
  assert_string_equal(strv_env_get(v, "debug"), "no");
  assert_string_equal(strv_env_get(v, "smtp_password"), "s3cret");
  assert_int_equal(strlen(strv_env_get(v, "db_password")), 32);
  assert_int_equal(strlen(strv_env_get(v, "db_root_password")), 32);
  assert_int_equal(strv_length(generated), 2);
  for (size_t i = 0; i < r->n_services; i++)
    for (char **e = r->services[i].environment; *e; e++) {
      char *x = NULL;
      if (bothy_recipe_expand(*e, v, &x, &err) < 0)
        fail_msg("%s", err->msg);
      if (strncmp(x, "PRICE=", 6) == 0)
        assert_string_equal(x, "PRICE=$5");
      free(x);
    }
  strv_free(generated);
  strv_free(v);
  bothy_recipe_free(r);
}

/* ------------------------------------------------------------- expansion */

static void expect_expand(const char *s, const char *want)
{
  char *values[] = { "a=1", "b=", "pw=x$y", "long_name=v", NULL };
  char *out = NULL;
  bothy_error_t err = NULL;
  if (bothy_recipe_expand(s, values, &out, &err) < 0)
    fail_msg("unexpected error: %s", err->msg);
  assert_string_equal(out, want);
  free(out);
}

static void expect_expand_err(const char *s, const char *want)
{
  char *values[] = { "a=1", "ab=2", NULL };
  char *out = (char *) 0x1;
  bothy_error_t err = NULL;
  assert_int_equal(bothy_recipe_expand(s, values, &out, &err), -EINVAL);
  assert_int_equal(err->code, EINVAL);
  if (strcmp(err->msg, want) != 0)
    fail_msg("got \"%s\", want \"%s\"", err->msg, want);
  assert_ptr_equal(out, (char *) 0x1);
  bothy_error_free(&err);
}

static void test_expand(void **state)
{
  expect_expand("", "");
  expect_expand("plain", "plain");
  expect_expand("${a}", "1");
  expect_expand("x${a}y${b}z", "x1yz");
  expect_expand("$$", "$");
  expect_expand("$${a}", "${a}");
  expect_expand("$$$${a}", "$${a}");
  expect_expand("$$$$${a}", "$$1");
  expect_expand("costs $5 or $", "costs $5 or $");
  expect_expand("${pw}${pw}", "x$yx$y"); /* values are not expanded again */
  expect_expand("${long_name}", "v");
  expect_expand_err("${nope}", "unknown setting 'nope' in '${nope}'");
  expect_expand_err("x${a", "unterminated '${' in 'x${a'");
  expect_expand_err("${}", "unknown setting '' in '${}'");
  expect_expand_err("${a=1}", "unknown setting 'a=1' in '${a=1}'");
  expect_expand_err("${A}", "unknown setting 'A' in '${A}'");
}

int main(void)
{
  /* __FILE__ is as the compiler was given it: relative to the build
   * directory, where meson runs the tests. */
  _cleanup_free_ char *src = xstrdup(__FILE__);
  char *slash = strstr(src, "tests/unit/test_recipe.c");
  if (slash) {
    *slash = '\0';
    _cleanup_free_ char *path = xasprintf("%sdocs/recipes.md", src);
    doc = realpath(path, NULL);
  }
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_full, setup, teardown),
    cmocka_unit_test_setup_teardown(test_syntax, setup, teardown),
    cmocka_unit_test_setup_teardown(test_errors_sections, setup, teardown),
    cmocka_unit_test_setup_teardown(test_errors_app, setup, teardown),
    cmocka_unit_test_setup_teardown(test_errors_settings, setup, teardown),
    cmocka_unit_test_setup_teardown(test_errors_services, setup, teardown),
    cmocka_unit_test_setup_teardown(test_memory, setup, teardown),
    cmocka_unit_test_setup_teardown(test_order, setup, teardown),
    cmocka_unit_test_setup_teardown(test_resolve, setup, teardown),
    cmocka_unit_test_setup_teardown(test_resolve_errors, setup, teardown),
    cmocka_unit_test_setup_teardown(test_secret_charsets, setup, teardown),
    cmocka_unit_test_setup_teardown(test_doc_example, setup, teardown),
    cmocka_unit_test(test_expand),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  free(doc);
  return rc;
}
