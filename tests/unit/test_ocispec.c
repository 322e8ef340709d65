/* SPDX-License-Identifier: GPL-2.0-or-later */
/* container/mountspec and container/ocispec: docker's mount flags parsed,
 * and the OCI configuration generated from an image config and `bothy run`
 * options. Every generated configuration must also pass the runtime's own
 * checks (spec parser, capabilities, seccomp compiler): a spec the runtime
 * refuses is a bug here. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/json.h"
#include "base/strv.h"
#include "container/mountspec.h"
#include "container/ocispec.h"
#include "runtime/caps.h"
#include "runtime/seccomp.h"
#include "runtime/spec.h"

/* ---- mount flag parsers ---- */

typedef int (*parser_fn)(const char *, struct bothy_mount_req *, bothy_error_t *);

static void parse_ok(parser_fn fn, const char *spec, struct bothy_mount_req *m)
{
  bothy_error_t err = NULL;
  if (fn(spec, m, &err) < 0)
    fail_msg("'%s': unexpected error: %s", spec, err->msg);
}

static void expect_err(parser_fn fn, const char *spec, const char *want)
{
  bothy_error_t err = NULL;
  struct bothy_mount_req m = { .kind = BOTHY_MOUNT_TMPFS, .target = (char *) "untouched" };
  int r = fn(spec, &m, &err);
  if (r >= 0)
    fail_msg("'%s': parsed, expected \"%s\"", spec, want);
  assert_int_equal(r, -EINVAL);
  assert_int_equal(err->code, EINVAL);
  if (strcmp(err->msg, want) != 0)
    fail_msg("'%s': got \"%s\", want \"%s\"", spec, err->msg, want);
  /* Not written on failure. */
  assert_string_equal(m.target, "untouched");
  bothy_error_free(&err);
}

static void assert_options(char **got, const char *const *want)
{
  size_t n = 0;
  while (want[n])
    n++;
  if (strv_length(got) != n)
    fail_msg("%zu options, want %zu", strv_length(got), n);
  for (size_t i = 0; i < n; i++)
    assert_string_equal(got[i], want[i]);
}
#define OPTS(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define NO_OPTS   ((const char *const[]){ NULL })

static void test_volume_ok(void **state)
{
  struct bothy_mount_req m;
  parse_ok(bothy_mount_parse_volume, "/srv/data:/data", &m);
  assert_int_equal(m.kind, BOTHY_MOUNT_BIND);
  assert_string_equal(m.source, "/srv/data");
  assert_string_equal(m.target, "/data");
  assert_false(m.readonly);
  assert_null(m.options);
  bothy_mount_req_done(&m);

  parse_ok(bothy_mount_parse_volume, "/srv:/data/./x//:ro,rshared,z", &m);
  assert_int_equal(m.kind, BOTHY_MOUNT_BIND);
  assert_string_equal(m.target, "/data/x");
  assert_true(m.readonly);
  assert_options(m.options, OPTS("rshared"));
  bothy_mount_req_done(&m);
  bothy_mount_req_done(&m); /* twice is fine */

  parse_ok(bothy_mount_parse_volume, "db-data_1.x:/var/lib/db:nocopy,rw", &m);
  assert_int_equal(m.kind, BOTHY_MOUNT_VOLUME);
  assert_string_equal(m.source, "db-data_1.x");
  assert_false(m.readonly);
  assert_options(m.options, OPTS("nocopy"));
  bothy_mount_req_done(&m);

  /* A destination alone: an anonymous volume. */
  parse_ok(bothy_mount_parse_volume, "/cache", &m);
  assert_int_equal(m.kind, BOTHY_MOUNT_VOLUME);
  assert_null(m.source);
  assert_string_equal(m.target, "/cache");
  bothy_mount_req_done(&m);

  parse_ok(bothy_mount_parse_volume, "/a:/b:", &m);
  assert_string_equal(m.target, "/b");
  bothy_mount_req_done(&m);
}

static void test_volume_errors(void **state)
{
  parser_fn f = bothy_mount_parse_volume;
  expect_err(f, "", "invalid volume specification: \"\"");
  expect_err(f, ":/b", "invalid volume specification: \":/b\"");
  expect_err(f, "/a:/b:ro:x", "invalid volume specification: \"/a:/b:ro:x\"");
  /* A destination and a mode, no source. */
  expect_err(f, "/data:ro", "invalid volume specification: \"/data:ro\"");
  expect_err(f, "/a:/b:rx", "invalid volume specification: \"/a:/b:rx\": invalid mode \"rx\"");
  expect_err(f, "/a:/b:ro,rw",
             "invalid volume specification: \"/a:/b:ro,rw\": invalid mode \"ro,rw\"");
  expect_err(f, "/a:/b:shared,slave",
             "invalid volume specification: \"/a:/b:shared,slave\": invalid mode "
             "\"shared,slave\"");
  expect_err(f, "./dir:/b",
             "invalid volume specification: \"./dir:/b\": \"./dir\" includes invalid characters "
             "for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed; if you "
             "intended to pass a host directory, use an absolute path");
  expect_err(f, "~/dir:/b",
             "invalid volume specification: \"~/dir:/b\": \"~/dir\" includes invalid characters "
             "for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed; if you "
             "intended to pass a host directory, use an absolute path");
  expect_err(f, "x:/b",
             "invalid volume specification: \"x:/b\": \"x\" volume name is too short, names "
             "should be at least two alphanumeric characters");
  expect_err(f, "vol:/b:rshared",
             "invalid volume specification: \"vol:/b:rshared\": propagation mode \"rshared\" "
             "applies to bind mounts only");
  expect_err(f, "/a:/b:nocopy",
             "invalid volume specification: \"/a:/b:nocopy\": \"nocopy\" applies to volumes only");
  expect_err(f, "/a:b",
             "invalid volume specification: \"/a:b\": invalid mount path \"b\": must be absolute");
  expect_err(f, "data",
             "invalid volume specification: \"data\": invalid mount path \"data\": must be "
             "absolute");
  expect_err(f, "/a:/b/../etc",
             "invalid volume specification: \"/a:/b/../etc\": invalid mount path \"/b/../etc\": "
             "must not contain \"..\"");
  expect_err(f, "/a:/",
             "invalid volume specification: \"/a:/\": invalid mount path \"/\": can't be \"/\"");
  expect_err(f, "/a:/./",
             "invalid volume specification: \"/a:/./\": invalid mount path \"/./\": can't be "
             "\"/\"");
}

static void test_mount_ok(void **state)
{
  struct bothy_mount_req m;
  parse_ok(bothy_mount_parse_mount, "type=bind,source=/srv,target=/data,readonly", &m);
  assert_int_equal(m.kind, BOTHY_MOUNT_BIND);
  assert_string_equal(m.source, "/srv");
  assert_string_equal(m.target, "/data");
  assert_true(m.readonly);
  assert_null(m.options);
  bothy_mount_req_done(&m);

  parse_ok(bothy_mount_parse_mount,
           "Type=BIND,src=/srv,dst=/data/,bind-propagation=RSLAVE,ro=false,consistency=cached", &m);
  assert_int_equal(m.kind, BOTHY_MOUNT_BIND);
  assert_false(m.readonly);
  assert_options(m.options, OPTS("rslave"));
  bothy_mount_req_done(&m);

  /* The default type is volume; no source: anonymous. */
  parse_ok(bothy_mount_parse_mount, "destination=/cache", &m);
  assert_int_equal(m.kind, BOTHY_MOUNT_VOLUME);
  assert_null(m.source);
  assert_string_equal(m.target, "/cache");
  bothy_mount_req_done(&m);

  parse_ok(bothy_mount_parse_mount, "type=volume,source=myvol,target=/c,volume-nocopy,ro=1", &m);
  assert_int_equal(m.kind, BOTHY_MOUNT_VOLUME);
  assert_string_equal(m.source, "myvol");
  assert_true(m.readonly);
  assert_options(m.options, OPTS("nocopy"));
  bothy_mount_req_done(&m);

  parse_ok(bothy_mount_parse_mount, "type=volume,source=myvol,target=/c,volume-nocopy=false", &m);
  assert_null(m.options);
  bothy_mount_req_done(&m);

  parse_ok(bothy_mount_parse_mount, "type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1770", &m);
  assert_int_equal(m.kind, BOTHY_MOUNT_TMPFS);
  assert_null(m.source);
  assert_options(m.options, OPTS("size=64m", "mode=1770"));
  bothy_mount_req_done(&m);

  /* docker's sizes: powers of 1024, written with the largest exact unit. */
  parse_ok(bothy_mount_parse_mount, "type=tmpfs,target=/t,tmpfs-size=1.5g", &m);
  assert_options(m.options, OPTS("size=1536m"));
  bothy_mount_req_done(&m);
  parse_ok(bothy_mount_parse_mount, "type=tmpfs,target=/t,tmpfs-size=1000", &m);
  assert_options(m.options, OPTS("size=1000"));
  bothy_mount_req_done(&m);
  parse_ok(bothy_mount_parse_mount, "type=tmpfs,target=/t,tmpfs-size=2 KiB", &m);
  assert_options(m.options, OPTS("size=2k"));
  bothy_mount_req_done(&m);

  /* CSV quoting: a comma and a quote inside a field. */
  parse_ok(bothy_mount_parse_mount, "type=bind,\"source=/a,b\",\"target=/c\"\"d\"", &m);
  assert_string_equal(m.source, "/a,b");
  assert_string_equal(m.target, "/c\"d");
  bothy_mount_req_done(&m);
}

static void test_mount_errors(void **state)
{
  parser_fn f = bothy_mount_parse_mount;
  expect_err(f, "type=bind", "invalid mount spec \"type=bind\": target is required");
  expect_err(f, "type=bind,target=/c",
             "invalid mount spec \"type=bind,target=/c\": invalid mount config for type \"bind\": "
             "field Source must not be empty");
  expect_err(f, "type=bind,source=rel,target=/c",
             "invalid mount spec \"type=bind,source=rel,target=/c\": invalid mount config for "
             "type \"bind\": invalid mount path \"rel\": must be absolute");
  expect_err(f, "type=bind,source=/a,target=/c,bind-propagation=up",
             "invalid mount spec \"type=bind,source=/a,target=/c,bind-propagation=up\": invalid "
             "mount config: must use either propagation mode \"rslave\", \"rshared\", "
             "\"rprivate\", \"slave\", \"shared\" or \"private\", not \"up\"");
  expect_err(f, "type=volume,target=/c,bind-propagation=rshared",
             "invalid mount spec \"type=volume,target=/c,bind-propagation=rshared\": cannot mix "
             "\"bind-*\" options with mount type \"volume\"");
  expect_err(f, "type=bind,source=/a,target=/c,volume-nocopy",
             "invalid mount spec \"type=bind,source=/a,target=/c,volume-nocopy\": cannot mix "
             "\"volume-*\" options with mount type \"bind\"");
  expect_err(f, "target=/c,tmpfs-size=1m",
             "invalid mount spec \"target=/c,tmpfs-size=1m\": cannot mix \"tmpfs-*\" options "
             "with mount type \"volume\"");
  expect_err(f, "type=tmpfs,source=x,target=/c",
             "invalid mount spec \"type=tmpfs,source=x,target=/c\": invalid mount config for "
             "type \"tmpfs\": field Source must not be specified");
  expect_err(f, "type=npipe,target=/c",
             "invalid mount spec \"type=npipe,target=/c\": unsupported mount type \"npipe\"");
  expect_err(f, "type=bind,source=/a,target=/c,foo=bar",
             "invalid mount spec \"type=bind,source=/a,target=/c,foo=bar\": unexpected key "
             "\"foo\" in \"foo=bar\"");
  expect_err(f, "type=bind,source=/a,target=/c,bogus",
             "invalid mount spec \"type=bind,source=/a,target=/c,bogus\": invalid field "
             "\"bogus\" must be a key=value pair");
  expect_err(f, "type=bind,source=/a,target=/c,,",
             "invalid mount spec \"type=bind,source=/a,target=/c,,\": invalid field \"\" must "
             "be a key=value pair");
  expect_err(f, "type=bind,source=/a,target=/c,readonly=maybe",
             "invalid mount spec \"type=bind,source=/a,target=/c,readonly=maybe\": invalid "
             "value for readonly: \"maybe\"");
  expect_err(f, "type=tmpfs,target=/c,tmpfs-size=lots",
             "invalid mount spec \"type=tmpfs,target=/c,tmpfs-size=lots\": invalid value for "
             "tmpfs-size: \"lots\"");
  expect_err(f, "type=tmpfs,target=/c,tmpfs-mode=9",
             "invalid mount spec \"type=tmpfs,target=/c,tmpfs-mode=9\": invalid value for "
             "tmpfs-mode: \"9\"");
  expect_err(f, "type=volume,source=a/b,target=/c",
             "invalid mount spec \"type=volume,source=a/b,target=/c\": \"a/b\" includes invalid "
             "characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are "
             "allowed; if you intended to pass a host directory, use an absolute path");
  expect_err(f, "type=bind,source=/a,target=/c/..",
             "invalid mount spec \"type=bind,source=/a,target=/c/..\": invalid mount path "
             "\"/c/..\": must not contain \"..\"");
  expect_err(f, "type=bind,source=/a,target=/c,volume-driver=x",
             "invalid mount spec \"type=bind,source=/a,target=/c,volume-driver=x\": "
             "\"volume-driver\" is not supported");
  expect_err(f, "type=bind,source=/a\"b,target=/c",
             "invalid mount spec \"type=bind,source=/a\"b,target=/c\": bare \" in "
             "non-quoted-field");
  expect_err(f, "\"type=bind",
             "invalid mount spec \"\"type=bind\": extraneous or missing \" in quoted-field");
  expect_err(f, "\"type=bind\"x,target=/c",
             "invalid mount spec \"\"type=bind\"x,target=/c\": extraneous or missing \" in "
             "quoted-field");
  expect_err(f, "", "invalid mount spec \"\": invalid field \"\" must be a key=value pair");
}

static void test_tmpfs(void **state)
{
  struct bothy_mount_req m;
  parse_ok(bothy_mount_parse_tmpfs, "/run", &m);
  assert_int_equal(m.kind, BOTHY_MOUNT_TMPFS);
  assert_null(m.source);
  assert_string_equal(m.target, "/run");
  assert_false(m.readonly);
  assert_null(m.options);
  bothy_mount_req_done(&m);

  parse_ok(bothy_mount_parse_tmpfs, "/run/:size=64m,mode=1777,noexec,ro,uid=1000,defaults", &m);
  assert_string_equal(m.target, "/run");
  assert_true(m.readonly);
  assert_options(m.options, OPTS("size=64m", "mode=1777", "noexec", "uid=1000"));
  bothy_mount_req_done(&m);

  parser_fn f = bothy_mount_parse_tmpfs;
  expect_err(f, "run", "invalid tmpfs destination \"run\": must be absolute");
  expect_err(f, "", "invalid tmpfs destination \"\": must be absolute");
  expect_err(f, "/", "invalid tmpfs destination \"/\": can't be \"/\"");
  expect_err(f, "/a/../b:size=1m",
             "invalid tmpfs destination \"/a/../b\": must not contain \"..\"");
  expect_err(f, "/run:foo", "invalid tmpfs option \"foo\" in \"/run:foo\"");
  expect_err(f, "/run:mode=abc", "invalid tmpfs option \"mode=abc\" in \"/run:mode=abc\"");
  expect_err(f, "/run:size=", "invalid tmpfs option \"size=\" in \"/run:size=\"");
  expect_err(f, "/run:colour=red", "invalid tmpfs option \"colour=red\" in \"/run:colour=red\"");
}

/* ---- the generated configuration ---- */

static char rootfs[] = "/tmp/bothy-test-ocispec-XXXXXX";
static char *cmd_sh[] = { "sh", NULL };

static void write_file(const char *dir, const char *name, const char *content)
{
  char *p = NULL;
  assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
  FILE *fp = fopen(p, "w");
  assert_non_null(fp);
  fputs(content, fp);
  fclose(fp);
  free(p);
}

static int setup(void **state)
{
  if (!mkdtemp(rootfs))
    return -1;
  char *etc = NULL;
  if (asprintf(&etc, "%s/etc", rootfs) < 0 || mkdir(etc, 0755) < 0)
    return -1;
  free(etc);
  write_file(rootfs, "etc/passwd",
             "root:x:0:0:root:/root:/bin/sh\n"
             "app:x:1000:1000:App:/home/app:/bin/sh\n"
             "other:x:1001:1001::/home/other:/bin/sh\n");
  write_file(rootfs, "etc/group",
             "root:x:0:\n"
             "audio:x:29:app,other\n"
             "video:x:44:other,app\n"
             "staff:x:50:other\n"
             "app:x:1000:\n"
             "other:x:1001:\n");
  return 0;
}

static int teardown(void **state)
{
  char *p = NULL;
  const char *files[] = { "etc/passwd", "etc/group", "etc", "" };
  for (size_t i = 0; i < 4; i++) {
    if (asprintf(&p, "%s/%s", rootfs, files[i]) < 0)
      return -1;
    remove(p);
    free(p);
  }
  return 0;
}

/* Checks j the way `bothy runtime create` would before running anything:
 * the spec parser, the capability sets and the seccomp compiler. */
static void assert_runtime_accepts(json_t *j)
{
  bothy_error_t err = NULL;
  struct bothy_spec *s = NULL;
  if (bothy_spec_from_json(json_deep_copy(j), &s, &err) < 0)
    fail_msg("the runtime refuses the spec: %s", err->msg);
  struct bothy_capset cs;
  if (bothy_caps_parse(&s->process.caps, &cs, &err) < 0)
    fail_msg("the runtime refuses the capabilities: %s", err->msg);
  struct bothy_seccomp_filter *f = NULL;
  if (bothy_seccomp_compile(s->seccomp, &f, &err) < 0)
    fail_msg("the runtime refuses the seccomp profile: %s", err->msg);
  bothy_seccomp_filter_free(f);
  bothy_spec_free(s);
}

static json_t *gen(const struct bothy_image_config *img, const struct bothy_run_opts *o)
{
  bothy_error_t err = NULL;
  json_t *j = NULL;
  if (bothy_container_oci_spec(img, o, "0123456789abcdef0123", rootfs, "/run/bothy/etc", &j, &err) <
      0)
    fail_msg("unexpected error: %s", err->msg);
  assert_runtime_accepts(j);
  return j;
}

static json_t *gen_opts(const struct bothy_run_opts *o)
{
  struct bothy_image_config img = { .cmd = cmd_sh };
  return gen(&img, o);
}

static char *gen_err(const struct bothy_run_opts *o, int code)
{
  struct bothy_image_config img = { .cmd = cmd_sh };
  bothy_error_t err = NULL;
  json_t *j = NULL;
  int r =
      bothy_container_oci_spec(&img, o, "0123456789abcdef0123", rootfs, "/run/bothy/etc", &j, &err);
  assert_true(r < 0);
  assert_null(j);
  assert_int_equal(err->code, code);
  char *m = strdup(err->msg);
  bothy_error_free(&err);
  return m;
}

static void assert_gen_err(const struct bothy_run_opts *o, const char *want)
{
  char *m = gen_err(o, EINVAL);
  if (strcmp(m, want) != 0)
    fail_msg("got \"%s\", want \"%s\"", m, want);
  free(m);
}

static bool json_strv_has(json_t *a, const char *s)
{
  size_t i;
  json_t *v;
  json_array_foreach (a, i, v) {
    if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
      return true;
  }
  return false;
}

static json_t *caps_of(json_t *spec)
{
  json_t *c = json_object_get(json_object_get(spec, "process"), "capabilities");
  json_t *b = json_object_get(c, "bounding");
  assert_true(json_equal(b, json_object_get(c, "effective")));
  assert_true(json_equal(b, json_object_get(c, "permitted")));
  assert_null(json_object_get(c, "ambient"));
  return b;
}

static json_t *seccomp_of(json_t *spec)
{
  return json_object_get(json_object_get(spec, "linux"), "seccomp");
}

/* Whether name is in an unconditional rule (no args) with action. */
static bool seccomp_rule(json_t *spec, const char *name, const char *action, bool with_args)
{
  size_t i;
  json_t *r;
  json_array_foreach (json_object_get(seccomp_of(spec), "syscalls"), i, r) {
    bool has_args = json_array_size(json_object_get(r, "args")) > 0;
    if (has_args == with_args && json_strv_has(json_object_get(r, "names"), name) &&
        strcmp(json_string_value(json_object_get(r, "action")), action) == 0)
      return true;
  }
  return false;
}

static bool seccomp_names(json_t *spec, const char *name)
{
  size_t i;
  json_t *r;
  json_array_foreach (json_object_get(seccomp_of(spec), "syscalls"), i, r) {
    if (json_strv_has(json_object_get(r, "names"), name))
      return true;
  }
  return false;
}

static void test_defaults(void **state)
{
  struct bothy_run_opts o = { 0 };
  json_t *j = gen_opts(&o);
  json_t *caps = caps_of(j);
  assert_int_equal(json_array_size(caps), 14);
  assert_true(json_strv_has(caps, "CAP_CHOWN"));
  assert_true(json_strv_has(caps, "CAP_AUDIT_WRITE"));
  assert_false(json_strv_has(caps, "CAP_SYS_ADMIN"));

  /* root, in no group's member list: no supplementary groups. */
  json_t *user = json_object_get(json_object_get(j, "process"), "user");
  assert_int_equal(json_integer_value(json_object_get(user, "uid")), 0);
  assert_int_equal(json_integer_value(json_object_get(user, "gid")), 0);
  assert_null(json_object_get(user, "additionalGids"));

  assert_null(json_object_get(json_object_get(json_object_get(j, "linux"), "resources"), "cpu"));

  json_t *mounts = json_object_get(j, "mounts");
  const char *want[] = { "/proc",           "/dev",          "/dev/pts",
                         "/dev/shm",        "/dev/mqueue",   "/sys",
                         "/sys/fs/cgroup",  "/etc/hostname", "/etc/hosts",
                         "/etc/resolv.conf" };
  assert_int_equal(json_array_size(mounts), ARRAY_SIZE(want));
  for (size_t i = 0; i < ARRAY_SIZE(want); i++)
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(mounts, i), "destination")), want[i]);
  assert_string_equal(json_string_value(json_object_get(json_array_get(mounts, 8), "source")),
                      "/run/bothy/etc/hosts");
  json_decref(j);
}

static void test_default_seccomp(void **state)
{
  struct bothy_run_opts o = { 0 };
  json_t *j = gen_opts(&o);
  json_t *sc = seccomp_of(j);
  assert_string_equal(json_string_value(json_object_get(sc, "defaultAction")), "SCMP_ACT_ERRNO");
  assert_int_equal(json_integer_value(json_object_get(sc, "defaultErrnoRet")), EPERM);
#if defined(__x86_64__)
  json_t *archs = json_object_get(sc, "architectures");
  assert_int_equal(json_array_size(archs), 3);
  assert_true(json_strv_has(archs, "SCMP_ARCH_X86_64"));
  assert_true(json_strv_has(archs, "SCMP_ARCH_X86"));
  assert_true(json_strv_has(archs, "SCMP_ARCH_X32"));
  assert_true(seccomp_rule(j, "arch_prctl", "SCMP_ACT_ALLOW", false));
  assert_true(seccomp_rule(j, "modify_ldt", "SCMP_ACT_ALLOW", false));
#endif
  assert_true(seccomp_rule(j, "read", "SCMP_ACT_ALLOW", false));
  assert_true(seccomp_rule(j, "write", "SCMP_ACT_ALLOW", false));
  assert_true(seccomp_rule(j, "execve", "SCMP_ACT_ALLOW", false));
  assert_true(seccomp_rule(j, "chroot", "SCMP_ACT_ALLOW", false)); /* CAP_SYS_CHROOT is default */
  /* Never allowed, whatever the capabilities. */
  assert_false(seccomp_names(j, "kexec_load"));
  assert_false(seccomp_names(j, "swapon"));
  assert_false(seccomp_names(j, "keyctl"));
  /* Only with CAP_SYS_ADMIN. */
  assert_false(seccomp_names(j, "mount"));
  assert_false(seccomp_names(j, "unshare"));
  assert_false(seccomp_names(j, "setns"));
  assert_false(seccomp_rule(j, "clone", "SCMP_ACT_ALLOW", false));
  assert_true(seccomp_rule(j, "clone", "SCMP_ACT_ALLOW", true));
  assert_true(seccomp_rule(j, "clone3", "SCMP_ACT_ERRNO", false));
  /* Other architectures' entries are left out. */
  assert_false(seccomp_names(j, "s390_runtime_instr"));
  assert_false(seccomp_names(j, "cacheflush"));
  /* Only with other capabilities. */
  assert_false(seccomp_names(j, "init_module"));
  assert_false(seccomp_names(j, "settimeofday"));
  assert_false(seccomp_names(j, "reboot"));
  /* The clone rule: docker's masked-equal on the namespace flags. */
  size_t i;
  json_t *r;
  json_array_foreach (json_object_get(sc, "syscalls"), i, r) {
    if (!json_strv_has(json_object_get(r, "names"), "clone"))
      continue;
    json_t *a = json_array_get(json_object_get(r, "args"), 0);
    assert_int_equal(json_integer_value(json_object_get(a, "index")), 0);
    assert_int_equal(json_integer_value(json_object_get(a, "value")), 0x7E020000);
    assert_int_equal(json_integer_value(json_object_get(a, "valueTwo")), 0);
    assert_string_equal(json_string_value(json_object_get(a, "op")), "SCMP_CMP_MASKED_EQ");
  }
  /* personality: only docker's list of values. */
  assert_false(seccomp_rule(j, "personality", "SCMP_ACT_ALLOW", false));
  assert_true(seccomp_rule(j, "personality", "SCMP_ACT_ALLOW", true));
  json_decref(j);

  /* --cap-add SYS_ADMIN opens the mount family and unconditional clone. */
  char *add[] = { "sys_admin", NULL };
  o.cap_add = add;
  j = gen_opts(&o);
  assert_true(seccomp_rule(j, "mount", "SCMP_ACT_ALLOW", false));
  assert_true(seccomp_rule(j, "umount2", "SCMP_ACT_ALLOW", false));
  assert_true(seccomp_rule(j, "unshare", "SCMP_ACT_ALLOW", false));
  assert_true(seccomp_rule(j, "clone", "SCMP_ACT_ALLOW", false));
  assert_false(seccomp_rule(j, "clone", "SCMP_ACT_ALLOW", true));
  assert_false(seccomp_names(j, "kexec_load"));
  json_t *clone3 = NULL;
  json_array_foreach (json_object_get(seccomp_of(j), "syscalls"), i, r) {
    if (json_strv_has(json_object_get(r, "names"), "clone3") &&
        strcmp(json_string_value(json_object_get(r, "action")), "SCMP_ACT_ERRNO") == 0)
      clone3 = r;
  }
  assert_null(clone3);
  json_decref(j);

  /* Capabilities that overlap (syslog is CAP_SYS_ADMIN's and CAP_SYSLOG's,
   * ptrace both unconditional and CAP_SYS_PTRACE's): still one valid filter. */
  char *many[] = { "ALL", NULL };
  o.cap_add = many;
  j = gen_opts(&o);
  assert_true(seccomp_rule(j, "kexec_load", "SCMP_ACT_ALLOW", false) == false);
  assert_true(seccomp_rule(j, "init_module", "SCMP_ACT_ALLOW", false));
  assert_true(seccomp_rule(j, "settimeofday", "SCMP_ACT_ALLOW", false));
  json_decref(j);

  o.cap_add = NULL;
  o.privileged_seccomp_off = true;
  j = gen_opts(&o);
  assert_null(seccomp_of(j));
  json_decref(j);
}

/* ---- the default filter, loaded in a child: what syscalls really get ---- */

struct filter_job {
  const struct bothy_seccomp_filter *f;
  bool sys_admin;
};

static void filter_child(const struct filter_job *job)
{
  bothy_error_t err = NULL;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    _exit(102);
  if (bothy_seccomp_load(job->f, &err) < 0)
    _exit(100);
  /* Allowed. */
  if (getpid() <= 0 || write(-1, "", 0) != -1 || errno != EBADF)
    _exit(1);
  /* Never allowed: kexec_load fails with the profile's EPERM. */
  errno = 0;
  if (syscall(SYS_kexec_load, 0L, 0L, 0L, 0L) != -1 || errno != EPERM)
    _exit(2);
  /* personality: the query is allowed, ADDR_NO_RANDOMIZE is not. */
  if (personality(0xffffffff) == -1)
    _exit(3);
  errno = 0;
  if (personality(ADDR_NO_RANDOMIZE) != -1 || errno != EPERM)
    _exit(4);
  /* mount(2) on a missing directory: ENOENT from the kernel when the filter
   * lets it through, EPERM from the filter otherwise. */
  errno = 0;
  long r = mount("none", "/nonexistent/bothy-test", "tmpfs", 0, NULL);
  if (r != -1 || errno != (job->sys_admin ? ENOENT : EPERM))
    _exit(5);
  /* clone3: ENOSYS from the filter without CAP_SYS_ADMIN (so libc falls back
   * to clone), the kernel's own EFAULT/EINVAL with it. */
  errno = 0;
  r = syscall(SYS_clone3, (void *) 1, 64L);
  if (r != -1 || (job->sys_admin ? errno == ENOSYS : errno != ENOSYS))
    _exit(6);
  _exit(0);
}

static void run_filter(const char *const *cap_add, bool sys_admin)
{
  struct bothy_run_opts o = { .cap_add = (char **) cap_add };
  json_t *j = gen_opts(&o);
  bothy_error_t err = NULL;
  struct bothy_spec *s = NULL;
  assert_int_equal(bothy_spec_from_json(j, &s, &err), 0);
  struct bothy_seccomp_filter *f = NULL;
  assert_int_equal(bothy_seccomp_compile(s->seccomp, &f, &err), 0);
  struct filter_job job = { f, sys_admin };
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    signal(SIGSYS, SIG_DFL);
    filter_child(&job);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_msg("child: status 0x%x (exit %d)", status, WEXITSTATUS(status));
  bothy_seccomp_filter_free(f);
  bothy_spec_free(s);
}

static void test_default_seccomp_loaded(void **state)
{
  run_filter(NULL, false);
  run_filter(OPTS("CAP_SYS_ADMIN"), true);
}

static void test_caps(void **state)
{
  struct bothy_run_opts o = { 0 };
  char *add[] = { "net_admin", "CAP_SYS_PTRACE", NULL };
  char *drop[] = { "chown", "Cap_Kill", NULL };
  o.cap_add = add;
  o.cap_drop = drop;
  json_t *j = gen_opts(&o);
  json_t *caps = caps_of(j);
  assert_int_equal(json_array_size(caps), 14);
  assert_true(json_strv_has(caps, "CAP_NET_ADMIN"));
  assert_true(json_strv_has(caps, "CAP_SYS_PTRACE"));
  assert_false(json_strv_has(caps, "CAP_CHOWN"));
  assert_false(json_strv_has(caps, "CAP_KILL"));
  assert_true(seccomp_rule(j, "kcmp", "SCMP_ACT_ALLOW", false));
  json_decref(j);

  /* Drop ALL, then add some: only those. */
  char *all[] = { "ALL", NULL };
  char *kill[] = { "kill", NULL };
  o.cap_drop = all;
  o.cap_add = kill;
  j = gen_opts(&o);
  caps = caps_of(j);
  assert_int_equal(json_array_size(caps), 1);
  assert_string_equal(json_string_value(json_array_get(caps, 0)), "CAP_KILL");
  /* Without CAP_SYS_CHROOT, no chroot(2) either. */
  assert_false(seccomp_names(j, "chroot"));
  json_decref(j);

  /* Add ALL: every capability of this kernel but the dropped ones. */
  char *sa[] = { "all", NULL };
  char *nosys[] = { "SYS_ADMIN", NULL };
  o.cap_add = sa;
  o.cap_drop = nosys;
  j = gen_opts(&o);
  caps = caps_of(j);
  char **known = bothy_caps_all_names();
  assert_int_equal(json_array_size(caps), strv_length(known) - 1);
  strv_free(known);
  assert_true(json_strv_has(caps, "CAP_SYS_MODULE"));
  assert_false(json_strv_has(caps, "CAP_SYS_ADMIN"));
  assert_false(seccomp_names(j, "mount"));
  json_decref(j);

  o.cap_drop = NULL;
  char *bad[] = { "CAP_FOO", NULL };
  o.cap_add = bad;
  assert_gen_err(&o, "unknown capability: \"CAP_FOO\"");
  char *bad2[] = { "foo", NULL };
  o.cap_add = NULL;
  o.cap_drop = bad2;
  assert_gen_err(&o, "unknown capability: \"CAP_FOO\"");
}

static void test_cpus(void **state)
{
  struct bothy_run_opts o = { .nano_cpus = 1500000000 };
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
    o.nano_cpus = 500000000;
  json_t *j = gen_opts(&o);
  json_t *cpu = json_object_get(json_object_get(json_object_get(j, "linux"), "resources"), "cpu");
  assert_int_equal(json_integer_value(json_object_get(cpu, "period")), 100000);
  assert_int_equal(json_integer_value(json_object_get(cpu, "quota")), o.nano_cpus / 10000);
  json_decref(j);

  o.nano_cpus = 1000000; /* 0.001 */
  char *m = gen_err(&o, EINVAL);
  assert_non_null(strstr(m, "range of CPUs is from 0.01 to "));
  free(m);
  o.nano_cpus = INT64_C(100000) * 1000000000;
  m = gen_err(&o, EINVAL);
  assert_non_null(strstr(m, "range of CPUs is from 0.01 to "));
  free(m);
}

static const char *dest_at(json_t *mounts, size_t i)
{
  return json_string_value(json_object_get(json_array_get(mounts, i), "destination"));
}

static json_t *mount_at(json_t *mounts, const char *dest)
{
  json_t *found = NULL;
  size_t i;
  json_t *m;
  json_array_foreach (mounts, i, m) {
    if (strcmp(json_string_value(json_object_get(m, "destination")), dest) == 0) {
      assert_null(found); /* only one */
      found = m;
    }
  }
  assert_non_null(found);
  return found;
}

static void assert_json_options(json_t *m, const char *const *want)
{
  json_t *opts = json_object_get(m, "options");
  size_t n = 0;
  while (want[n])
    n++;
  if (json_array_size(opts) != n) {
    char *s = json_dumps(opts, 0);
    fail_msg("options %s, want %zu", s, n);
  }
  for (size_t i = 0; i < n; i++)
    assert_string_equal(json_string_value(json_array_get(opts, i)), want[i]);
}

static void test_mounts(void **state)
{
  char *size[] = { "size=64m", "exec", "nocopy", NULL };
  char *prop[] = { "rshared", "z", NULL };
  const struct bothy_oci_mount ms[] = {
    { "/srv/cache", "/data/cache", "bind", NULL, true },
    { "/srv/data", "/data", "bind", prop, false },
    { NULL, "/tmp", "tmpfs", size, false },
    { "/srv/hosts", "/etc/hosts", "bind", NULL, true },
    { NULL, "/dev/shm", "tmpfs", NULL, false },
  };
  struct bothy_run_opts o = { .mounts = ms, .n_mounts = ARRAY_SIZE(ms) };
  json_t *j = gen_opts(&o);
  json_t *mounts = json_object_get(j, "mounts");
  /* The kernel filesystems, less the /dev/shm the user replaces; then by depth. */
  const char *want[] = {
    "/proc",          "/dev",       "/dev/pts", "/dev/mqueue",   "/sys",
    "/sys/fs/cgroup", "/data",      "/tmp",     "/etc/hostname", "/etc/resolv.conf",
    "/data/cache",    "/etc/hosts", "/dev/shm"
  };
  assert_int_equal(json_array_size(mounts), ARRAY_SIZE(want));
  for (size_t i = 0; i < ARRAY_SIZE(want); i++)
    if (strcmp(dest_at(mounts, i), want[i]) != 0)
      fail_msg("mount %zu: %s, want %s", i, dest_at(mounts, i), want[i]);

  json_t *hosts = mount_at(mounts, "/etc/hosts");
  assert_string_equal(json_string_value(json_object_get(hosts, "source")), "/srv/hosts");
  assert_json_options(hosts, OPTS("rbind", "rprivate", "ro"));
  json_t *data = mount_at(mounts, "/data");
  assert_string_equal(json_string_value(json_object_get(data, "type")), "bind");
  assert_json_options(data, OPTS("rbind", "rshared"));
  json_t *tmp = mount_at(mounts, "/tmp");
  assert_string_equal(json_string_value(json_object_get(tmp, "source")), "tmpfs");
  assert_json_options(tmp, OPTS("nosuid", "nodev", "rprivate", "size=64m", "exec"));
  json_t *shm = mount_at(mounts, "/dev/shm");
  assert_string_equal(json_string_value(json_object_get(shm, "type")), "tmpfs");
  assert_json_options(shm, OPTS("noexec", "nosuid", "nodev", "rprivate"));
  json_decref(j);

  /* A later size= wins, and ro from readonly. */
  char *twice[] = { "size=1m", "size=2m", NULL };
  const struct bothy_oci_mount t2[] = { { NULL, "/t", "tmpfs", twice, true } };
  o = (struct bothy_run_opts){ .mounts = t2, .n_mounts = 1 };
  j = gen_opts(&o);
  assert_json_options(mount_at(json_object_get(j, "mounts"), "/t"),
                      OPTS("noexec", "nosuid", "nodev", "rprivate", "size=2m", "ro"));
  json_decref(j);

  const struct bothy_oci_mount dup[] = { { "/a", "/x", "bind", NULL, false },
                                         { NULL, "/x", "tmpfs", NULL, false } };
  o = (struct bothy_run_opts){ .mounts = dup, .n_mounts = 2 };
  assert_gen_err(&o, "duplicate mount point \"/x\"");
  const struct bothy_oci_mount rel[] = { { "/a", "x", "bind", NULL, false } };
  o = (struct bothy_run_opts){ .mounts = rel, .n_mounts = 1 };
  assert_gen_err(&o, "invalid mount target \"x\": must be absolute");
  const struct bothy_oci_mount relsrc[] = { { "a", "/x", "bind", NULL, false } };
  o = (struct bothy_run_opts){ .mounts = relsrc, .n_mounts = 1 };
  assert_gen_err(&o, "bind mount on \"/x\": the source \"a\" is not an absolute path");
  const struct bothy_oci_mount type[] = { { "/a", "/x", "overlay", NULL, false } };
  o = (struct bothy_run_opts){ .mounts = type, .n_mounts = 1 };
  assert_gen_err(&o, "mount on \"/x\": unsupported type \"overlay\"");
}

static void test_mounts_from_parsers(void **state)
{
  /* What `bothy run -v ... --mount ... --tmpfs ...` hands over. */
  struct bothy_mount_req r[3];
  parse_ok(bothy_mount_parse_volume, "/srv:/srv/inner:ro,rslave", &r[0]);
  parse_ok(bothy_mount_parse_mount, "type=tmpfs,dst=/scratch,tmpfs-size=1g", &r[1]);
  parse_ok(bothy_mount_parse_tmpfs, "/run:mode=755", &r[2]);
  struct bothy_oci_mount ms[3];
  for (size_t i = 0; i < 3; i++)
    ms[i] = (struct bothy_oci_mount){ r[i].source, r[i].target,
                                      r[i].kind == BOTHY_MOUNT_TMPFS ? "tmpfs" : "bind",
                                      r[i].options, r[i].readonly };
  struct bothy_run_opts o = { .mounts = ms, .n_mounts = 3 };
  json_t *j = gen_opts(&o);
  json_t *mounts = json_object_get(j, "mounts");
  assert_json_options(mount_at(mounts, "/srv/inner"), OPTS("rbind", "rslave", "ro"));
  assert_json_options(mount_at(mounts, "/scratch"),
                      OPTS("noexec", "nosuid", "nodev", "rprivate", "size=1g"));
  assert_json_options(mount_at(mounts, "/run"),
                      OPTS("noexec", "nosuid", "nodev", "rprivate", "mode=755"));
  json_decref(j);
  for (size_t i = 0; i < 3; i++)
    bothy_mount_req_done(&r[i]);
}

static void test_init(void **state)
{
  char *args[] = { "echo", "hi", NULL };
  struct bothy_run_opts o = { .init_path = "/usr/bin/tini", .args = args };
  json_t *j = gen_opts(&o);
  json_t *a = json_object_get(json_object_get(j, "process"), "args");
  assert_int_equal(json_array_size(a), 4);
  assert_string_equal(json_string_value(json_array_get(a, 0)), "/dev/init");
  assert_string_equal(json_string_value(json_array_get(a, 1)), "--");
  assert_string_equal(json_string_value(json_array_get(a, 2)), "echo");
  assert_string_equal(json_string_value(json_array_get(a, 3)), "hi");
  json_t *mounts = json_object_get(j, "mounts");
  json_t *m = mount_at(mounts, "/dev/init");
  assert_string_equal(json_string_value(json_object_get(m, "source")), "/usr/bin/tini");
  assert_string_equal(json_string_value(json_object_get(m, "type")), "bind");
  assert_json_options(m, OPTS("bind", "ro", "nosuid", "nodev"));
  /* After /dev, which it lives in. */
  size_t dev = 0, init = 0;
  for (size_t i = 0; i < json_array_size(mounts); i++) {
    if (strcmp(dest_at(mounts, i), "/dev") == 0)
      dev = i;
    if (strcmp(dest_at(mounts, i), "/dev/init") == 0)
      init = i;
  }
  assert_true(init > dev);
  json_decref(j);

  o.init_path = "tini";
  assert_gen_err(&o, "the init \"tini\" is not an absolute path");
}

static json_t *load(const char *doc)
{
  json_t *j = NULL;
  bothy_error_t err = NULL;
  if (bothy_json_load_data(doc, strlen(doc), "test", &j, &err) < 0)
    fail_msg("%s", err->msg);
  return j;
}

static void test_docker_profile(void **state)
{
  json_t *p = load(
      "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":1,"
      "\"archMap\":[{\"architecture\":\"SCMP_ARCH_X86_64\",\"subArchitectures\":"
      "[\"SCMP_ARCH_X86\",\"SCMP_ARCH_X32\"]},{\"architecture\":\"SCMP_ARCH_AARCH64\","
      "\"subArchitectures\":[\"SCMP_ARCH_ARM\"]},{\"architecture\":\"SCMP_ARCH_RISCV64\","
      "\"subArchitectures\":null}],"
      "\"syscalls\":["
      "{\"names\":[\"read\",\"write\",\"exit_group\",\"execve\"],\"action\":\"SCMP_ACT_ALLOW\"},"
      "{\"name\":\"mount\",\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"caps\":"
      "[\"CAP_SYS_ADMIN\"]}},"
      "{\"names\":[\"ptrace\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"minKernel\":"
      "\"4.8\"}},"
      "{\"names\":[\"uselib\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"minKernel\":"
      "\"99.0\"}},"
      "{\"names\":[\"arch_prctl\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"arches\":"
      "[\"amd64\",\"x32\"]}},"
      "{\"names\":[\"cacheflush\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"arches\":"
      "[\"arm64\"]}},"
      "{\"names\":[\"kill\"],\"action\":\"SCMP_ACT_ALLOW\",\"excludes\":{\"caps\":"
      "[\"CAP_KILL\"]}},"
      "{\"names\":[\"clone3\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":38,\"excludes\":"
      "{\"caps\":[\"CAP_SYS_ADMIN\"]},\"comment\":\"libc falls back to clone\"},"
      "{\"names\":[\"personality\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":0,"
      "\"value\":8,\"op\":\"SCMP_CMP_EQ\"}]}]}");
  struct bothy_run_opts o = { .seccomp_json = p };
  json_t *j = gen_opts(&o);
  json_t *sc = seccomp_of(j);
  assert_string_equal(json_string_value(json_object_get(sc, "defaultAction")), "SCMP_ACT_ERRNO");
  assert_int_equal(json_integer_value(json_object_get(sc, "defaultErrnoRet")), 1);
  assert_null(json_object_get(sc, "archMap"));
#if defined(__x86_64__)
  json_t *archs = json_object_get(sc, "architectures");
  assert_int_equal(json_array_size(archs), 3);
  assert_string_equal(json_string_value(json_array_get(archs, 0)), "SCMP_ARCH_X86_64");
  assert_string_equal(json_string_value(json_array_get(archs, 1)), "SCMP_ARCH_X86");
  assert_string_equal(json_string_value(json_array_get(archs, 2)), "SCMP_ARCH_X32");
  assert_true(seccomp_names(j, "arch_prctl"));
#endif
  assert_true(seccomp_rule(j, "read", "SCMP_ACT_ALLOW", false));
  assert_true(seccomp_rule(j, "ptrace", "SCMP_ACT_ALLOW", false)); /* this kernel is >= 4.8 */
  assert_false(seccomp_names(j, "uselib"));
  assert_false(seccomp_names(j, "mount"));
  assert_false(seccomp_names(j, "cacheflush"));
  assert_false(seccomp_names(j, "kill"));
  assert_true(seccomp_rule(j, "clone3", "SCMP_ACT_ERRNO", false));
  assert_true(seccomp_rule(j, "personality", "SCMP_ACT_ALLOW", true));
  /* Only the runtime spec's fields remain. */
  size_t i;
  json_t *r;
  json_array_foreach (json_object_get(sc, "syscalls"), i, r) {
    const char *k;
    json_t *v;
    json_object_foreach (r, k, v) {
      if (strcmp(k, "names") && strcmp(k, "action") && strcmp(k, "errnoRet") && strcmp(k, "args"))
        fail_msg("syscalls[%zu]: unexpected key '%s'", i, k);
    }
  }
  json_decref(j);

  /* With CAP_SYS_ADMIN: mount in, the clone3 ENOSYS out. */
  char *add[] = { "SYS_ADMIN", NULL };
  o.cap_add = add;
  j = gen_opts(&o);
  assert_true(seccomp_rule(j, "mount", "SCMP_ACT_ALLOW", false));
  assert_false(seccomp_names(j, "clone3"));
  json_decref(j);
  json_decref(p);

  /* An OCI-format profile passes through. */
  p = load("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_X86_64\"],"
           "\"flags\":[\"SECCOMP_FILTER_FLAG_LOG\"],"
           "\"syscalls\":[{\"names\":[\"mkdir\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":13}]}");
  o = (struct bothy_run_opts){ .seccomp_json = p };
  j = gen_opts(&o);
  sc = seccomp_of(j);
  assert_string_equal(json_string_value(json_object_get(sc, "defaultAction")), "SCMP_ACT_ALLOW");
  assert_int_equal(json_array_size(json_object_get(sc, "architectures")), 1);
  assert_true(json_strv_has(json_object_get(sc, "flags"), "SECCOMP_FILTER_FLAG_LOG"));
  r = json_array_get(json_object_get(sc, "syscalls"), 0);
  assert_int_equal(json_integer_value(json_object_get(r, "errnoRet")), 13);
  json_decref(j);
  json_decref(p);

  /* unconfined wins over a profile. */
  p = load("{\"defaultAction\":\"SCMP_ACT_ALLOW\"}");
  o = (struct bothy_run_opts){ .seccomp_json = p, .privileged_seccomp_off = true };
  j = gen_opts(&o);
  assert_null(seccomp_of(j));
  json_decref(j);
  json_decref(p);
}

static void test_bad_profiles(void **state)
{
  static const struct {
    const char *doc, *want;
  } cases[] = {
    { "[]", "invalid seccomp profile: not a JSON object" },
    { "{}", "invalid seccomp profile: defaultAction is missing" },
    { "{\"defaultAction\":1}", "invalid seccomp profile: defaultAction must be a string" },
    { "{\"defaultAction\":\"SCMP_ACT_FOO\"}",
      "invalid seccomp profile: defaultAction: unknown action \"SCMP_ACT_FOO\"" },
    { "{\"defaultAction\":\"SCMP_ACT_NOTIFY\"}",
      "invalid seccomp profile: defaultAction: SCMP_ACT_NOTIFY is not supported" },
    { "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":-1}",
      "invalid seccomp profile: defaultErrnoRet must be an integer from 0 to 4294967295" },
    { "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"architectures\":[\"SCMP_ARCH_X86_64\"],"
      "\"archMap\":[]}",
      "invalid seccomp profile: both \"architectures\" and \"archMap\" are given; use one" },
    { "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"architectures\":[\"x86_64\"]}",
      "invalid seccomp profile: unknown architecture \"x86_64\"" },
    { "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"archMap\":[{\"subArchitectures\":[]}]}",
      "invalid seccomp profile: archMap[0].architecture is missing" },
    { "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":{}}",
      "invalid seccomp profile: syscalls must be an array" },
    { "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"action\":\"SCMP_ACT_ALLOW\"}]}",
      "invalid seccomp profile: syscalls[0]: no syscall names" },
    { "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"name\":\"read\",\"names\":"
      "[\"write\"],\"action\":\"SCMP_ACT_ALLOW\"}]}",
      "invalid seccomp profile: syscalls[0]: both \"name\" and \"names\" are given" },
    { "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\"]}]}",
      "invalid seccomp profile: syscalls[0].action is missing" },
    { "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\",2],"
      "\"action\":\"SCMP_ACT_ALLOW\"}]}",
      "invalid seccomp profile: syscalls[0].names must be an array of strings" },
    { "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\"],"
      "\"action\":\"SCMP_ACT_KILLL\"}]}",
      "invalid seccomp profile: syscalls[0].action: unknown action \"SCMP_ACT_KILLL\"" },
    { "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\"],"
      "\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":0,\"value\":1,\"op\":\"SCMP_CMP_ISH\"}]}"
      "]}",
      "invalid seccomp profile: syscalls[0].args[0].op: unknown operator \"SCMP_CMP_ISH\"" },
    { "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\"],"
      "\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":7,\"value\":1,\"op\":\"SCMP_CMP_EQ\"}]}"
      "]}",
      "invalid seccomp profile: syscalls[0].args[0].index must be an integer from 0 to 5" },
    { "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\"],"
      "\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"minKernel\":\"four\"}}]}",
      "invalid seccomp profile: syscalls[0].includes.minKernel: invalid kernel version \"four\" "
      "(expected \"<major>.<minor>\")" },
    { "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\"],"
      "\"action\":\"SCMP_ACT_ALLOW\",\"excludes\":{\"caps\":\"CAP_KILL\"}}]}",
      "invalid seccomp profile: syscalls[0].excludes.caps must be an array of strings" },
    { "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"listenerPath\":\"/run/x.sock\"}",
      "invalid seccomp profile: listenerPath: seccomp notification is not supported" },
  };
  for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
    json_t *p = load(cases[i].doc);
    struct bothy_run_opts o = { .seccomp_json = p };
    char *m = gen_err(&o, EINVAL);
    if (strcmp(m, cases[i].want) != 0)
      fail_msg("case %zu: got \"%s\", want \"%s\"", i, m, cases[i].want);
    free(m);
    json_decref(p);
  }
}

static void assert_user(json_t *j, json_int_t uid, json_int_t gid, const json_int_t *gids, size_t n)
{
  json_t *u = json_object_get(json_object_get(j, "process"), "user");
  assert_int_equal(json_integer_value(json_object_get(u, "uid")), uid);
  assert_int_equal(json_integer_value(json_object_get(u, "gid")), gid);
  json_t *a = json_object_get(u, "additionalGids");
  if (n == 0) {
    assert_null(a);
    return;
  }
  assert_int_equal(json_array_size(a), n);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(json_integer_value(json_array_get(a, i)), gids[i]);
}

static void test_users(void **state)
{
  static const json_int_t app_groups[] = { 29, 44 };
  struct bothy_run_opts o = { .user = "app" };
  json_t *j = gen_opts(&o);
  assert_user(j, 1000, 1000, app_groups, 2);
  json_decref(j);

  /* A uid in passwd is that user, groups included (runc's rule). */
  o.user = "1001";
  j = gen_opts(&o);
  static const json_int_t other_groups[] = { 29, 44, 50 };
  assert_user(j, 1001, 1001, other_groups, 3);
  json_decref(j);

  /* The image's User. */
  struct bothy_image_config img = { .cmd = cmd_sh, .user = "app" };
  o.user = NULL;
  j = gen(&img, &o);
  assert_user(j, 1000, 1000, app_groups, 2);
  json_decref(j);

  /* An explicit group: that one, no supplementary groups. */
  o.user = "app:staff";
  j = gen_opts(&o);
  assert_user(j, 1000, 50, NULL, 0);
  json_decref(j);
  o.user = "app:7";
  j = gen_opts(&o);
  assert_user(j, 1000, 7, NULL, 0);
  json_decref(j);

  /* A uid that is not in passwd: gid 0. */
  o.user = "4242";
  j = gen_opts(&o);
  assert_user(j, 4242, 0, NULL, 0);
  json_decref(j);
  o.user = "4242:4243";
  j = gen_opts(&o);
  assert_user(j, 4242, 4243, NULL, 0);
  json_decref(j);

  o.user = "nobody2";
  char *m = gen_err(&o, ENOENT);
  assert_non_null(strstr(m, "unable to find user nobody2: no matching entries in passwd file"));
  free(m);
  o.user = "app:nogroup";
  m = gen_err(&o, ENOENT);
  assert_non_null(strstr(m, "unable to find group nogroup: no matching entries in group file"));
  free(m);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_volume_ok),
    cmocka_unit_test(test_volume_errors),
    cmocka_unit_test(test_mount_ok),
    cmocka_unit_test(test_mount_errors),
    cmocka_unit_test(test_tmpfs),
    cmocka_unit_test(test_defaults),
    cmocka_unit_test(test_default_seccomp),
    cmocka_unit_test(test_default_seccomp_loaded),
    cmocka_unit_test(test_caps),
    cmocka_unit_test(test_cpus),
    cmocka_unit_test(test_mounts),
    cmocka_unit_test(test_mounts_from_parsers),
    cmocka_unit_test(test_init),
    cmocka_unit_test(test_docker_profile),
    cmocka_unit_test(test_bad_profiles),
    cmocka_unit_test(test_users),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
