/* SPDX-License-Identifier: GPL-2.0-or-later */
/* build/containerfile: the Containerfile parser, its expansion and scoping
 * rules, and the --target helper. The expected values are what BuildKit
 * (docker build) does with the same input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/strv.h"
#include "build/containerfile.h"

#define STRV(...) ((char *[]){ __VA_ARGS__, NULL })

static struct bothy_containerfile *parse_opts(const char *text, const struct bothy_cf_options *opts)
{
  struct bothy_containerfile *cf = NULL;
  bothy_error_t err = NULL;
  if (bothy_containerfile_parse(text, strlen(text), opts, &cf, &err) < 0)
    fail_msg("unexpected error: %s\n--- input:\n%s", err->msg, text);
  assert_null(err);
  return cf;
}

static struct bothy_containerfile *parse(const char *text)
{
  return parse_opts(text, NULL);
}

static void expect_err_opts(const char *text, const struct bothy_cf_options *opts, const char *want)
{
  struct bothy_containerfile *cf = (struct bothy_containerfile *) 0x1;
  bothy_error_t err = NULL;
  int r = bothy_containerfile_parse(text, strlen(text), opts, &cf, &err);
  if (r >= 0)
    fail_msg("parsed, expected \"%s\"\n--- input:\n%s", want, text);
  assert_int_equal(r, -EINVAL);
  assert_int_equal(err->code, EINVAL);
  if (strcmp(err->msg, want) != 0)
    fail_msg("got \"%s\", want \"%s\"", err->msg, want);
  assert_ptr_equal(cf, (struct bothy_containerfile *) 0x1); /* untouched */
  bothy_error_free(&err);
}

static void expect_err(const char *text, const char *want)
{
  expect_err_opts(text, NULL, want);
}

static void assert_strv(char *const *got, char *const *want)
{
  size_t n = strv_length(want);
  if (strv_length(got) != n) {
    for (size_t i = 0; got && got[i]; i++)
      print_message("  got[%zu] = \"%s\"\n", i, got[i]);
    fail_msg("%zu strings, want %zu", strv_length(got), n);
  }
  for (size_t i = 0; i < n; i++)
    assert_string_equal(got[i], want[i]);
}

static const struct bothy_cf_instr *instr(const struct bothy_containerfile *cf, size_t stage,
                                          size_t i)
{
  assert_true(stage < cf->n_stages);
  assert_true(i < cf->stages[stage].n_instrs);
  return &cf->stages[stage].instrs[i];
}

static void assert_kv(const struct bothy_cf_instr *in, size_t i, const char *key, const char *value)
{
  assert_true(i < in->n_kv);
  assert_string_equal(in->kv[i].key, key);
  if (value)
    assert_string_equal(in->kv[i].value, value);
  else
    assert_null(in->kv[i].value);
}

static const char *env_of(const struct bothy_cf_stage *st, const char *key)
{
  return strv_env_get(st->env, key);
}

/* ---- instructions ---- */

static void test_every_instruction(void **state)
{
  const char *text = "FROM debian:12\n"
                     "MAINTAINER Jane <jane@example.org>\n"
                     "RUN apt-get update && apt-get install -y curl\n"
                     "COPY a.txt b.txt /dst/\n"
                     "ADD https://example.org/x.tgz /opt/\n"
                     "ENV PATH=/opt/bin:/usr/bin\n"
                     "ARG VERSION=1.0\n"
                     "WORKDIR /app\n"
                     "USER app:app\n"
                     "CMD [\"serve\", \"--port\", \"80\"]\n"
                     "ENTRYPOINT [\"/bin/tini\", \"--\"]\n"
                     "LABEL org.opencontainers.image.title=\"My App\" version=$VERSION\n"
                     "EXPOSE 80/tcp 443\n"
                     "VOLUME /data /cache\n"
                     "STOPSIGNAL SIGTERM\n"
                     "HEALTHCHECK CMD curl -f http://localhost/ || exit 1\n"
                     "SHELL [\"/bin/bash\", \"-c\"]\n"
                     "ONBUILD COPY . /src\n";
  struct bothy_containerfile *cf = parse(text);
  assert_int_equal(cf->n_stages, 1);
  assert_int_equal(cf->escape, '\\');
  assert_null(cf->syntax);
  const struct bothy_cf_stage *st = &cf->stages[0];
  assert_string_equal(st->base, "debian:12");
  assert_null(st->name);
  assert_int_equal(st->base_stage, -1);
  assert_int_equal(st->line, 1);
  assert_string_equal(st->text, "FROM debian:12");
  assert_int_equal(st->n_instrs, 17);

  static const enum bothy_cf_kind kinds[] = {
    BOTHY_CF_MAINTAINER, BOTHY_CF_RUN,        BOTHY_CF_COPY,        BOTHY_CF_ADD,
    BOTHY_CF_ENV,        BOTHY_CF_ARG,        BOTHY_CF_WORKDIR,     BOTHY_CF_USER,
    BOTHY_CF_CMD,        BOTHY_CF_ENTRYPOINT, BOTHY_CF_LABEL,       BOTHY_CF_EXPOSE,
    BOTHY_CF_VOLUME,     BOTHY_CF_STOPSIGNAL, BOTHY_CF_HEALTHCHECK, BOTHY_CF_SHELL,
    BOTHY_CF_ONBUILD,
  };
  for (size_t i = 0; i < 17; i++) {
    assert_int_equal(instr(cf, 0, i)->kind, kinds[i]);
    assert_int_equal(instr(cf, 0, i)->line, i + 2);
  }
  assert_strv(instr(cf, 0, 0)->args, STRV("Jane <jane@example.org>"));
  const struct bothy_cf_instr *run = instr(cf, 0, 1);
  assert_false(run->json);
  assert_strv(run->args, STRV("apt-get update && apt-get install -y curl"));
  assert_string_equal(run->text, "RUN apt-get update && apt-get install -y curl");
  assert_strv(instr(cf, 0, 2)->args, STRV("a.txt", "b.txt", "/dst/"));
  assert_strv(instr(cf, 0, 3)->args, STRV("https://example.org/x.tgz", "/opt/"));
  assert_kv(instr(cf, 0, 4), 0, "PATH", "/opt/bin:/usr/bin");
  assert_kv(instr(cf, 0, 5), 0, "VERSION", "1.0");
  assert_strv(instr(cf, 0, 6)->args, STRV("/app"));
  assert_strv(instr(cf, 0, 7)->args, STRV("app:app"));
  assert_true(instr(cf, 0, 8)->json);
  assert_strv(instr(cf, 0, 8)->args, STRV("serve", "--port", "80"));
  assert_strv(instr(cf, 0, 9)->args, STRV("/bin/tini", "--"));
  const struct bothy_cf_instr *label = instr(cf, 0, 10);
  assert_int_equal(label->n_kv, 2);
  assert_kv(label, 0, "org.opencontainers.image.title", "My App");
  assert_kv(label, 1, "version", "1.0");
  assert_strv(instr(cf, 0, 11)->args, STRV("80/tcp", "443"));
  assert_strv(instr(cf, 0, 12)->args, STRV("/data", "/cache"));
  assert_strv(instr(cf, 0, 13)->args, STRV("SIGTERM"));
  const struct bothy_cf_instr *hc = instr(cf, 0, 14);
  assert_false(hc->health.none);
  assert_false(hc->json);
  assert_strv(hc->args, STRV("curl -f http://localhost/ || exit 1"));
  assert_true(instr(cf, 0, 15)->json);
  assert_strv(instr(cf, 0, 15)->args, STRV("/bin/bash", "-c"));
  const struct bothy_cf_instr *ob = instr(cf, 0, 16);
  assert_non_null(ob->onbuild);
  assert_int_equal(ob->onbuild->kind, BOTHY_CF_COPY);
  assert_string_equal(ob->onbuild->text, "COPY . /src");
  assert_strv(ob->onbuild->args, STRV(".", "/src"));
  assert_string_equal(env_of(st, "PATH"), "/opt/bin:/usr/bin");
  assert_string_equal(bothy_cf_kind_to_string(BOTHY_CF_HEALTHCHECK), "HEALTHCHECK");
  assert_null(bothy_cf_kind_to_string(_BOTHY_CF_KIND_MAX));
  bothy_containerfile_free(cf);
  assert_null(bothy_containerfile_free(NULL));
}

static void test_case_and_env_forms(void **state)
{
  struct bothy_containerfile *cf = parse("from alpine as Build\n"
                                         "env A 1 2  3\n"
                                         "Env B=x C=\"y z\" D='$A' E=\\$A\n"
                                         "label old style\n"
                                         "arg X Y=2\n");
  assert_string_equal(cf->stages[0].name, "build");
  assert_kv(instr(cf, 0, 0), 0, "A", "1 2  3");
  const struct bothy_cf_instr *e = instr(cf, 0, 1);
  assert_int_equal(e->n_kv, 4);
  assert_kv(e, 0, "B", "x");
  assert_kv(e, 1, "C", "y z");
  assert_kv(e, 2, "D", "$A");
  assert_kv(e, 3, "E", "$A");
  assert_kv(instr(cf, 0, 2), 0, "old", "style");
  assert_kv(instr(cf, 0, 3), 0, "X", NULL);
  assert_kv(instr(cf, 0, 3), 1, "Y", "2");
  bothy_containerfile_free(cf);
}

static void test_exec_and_shell_forms(void **state)
{
  struct bothy_containerfile *cf = parse("FROM scratch\n"
                                         "RUN [\"echo\", \"a b\"]\n"
                                         "RUN echo [\"not json\"]\n"
                                         /* Malformed JSON: the shell form, as docker. */
                                         "CMD [\"echo\", 'x']\n"
                                         "ENTRYPOINT [ \"a\" , \"\\u00e9\" ]\n"
                                         "CMD []\n"
                                         "ENTRYPOINT\n"
                                         "VOLUME [\"/a b\", \"/c\"]\n"
                                         "HEALTHCHECK --interval=5s CMD [\"true\"]\n"
                                         "RUN [ \"unterminated\"\n");
  assert_true(instr(cf, 0, 0)->json);
  assert_strv(instr(cf, 0, 0)->args, STRV("echo", "a b"));
  assert_false(instr(cf, 0, 1)->json);
  assert_strv(instr(cf, 0, 1)->args, STRV("echo [\"not json\"]"));
  assert_false(instr(cf, 0, 2)->json);
  assert_strv(instr(cf, 0, 2)->args, STRV("[\"echo\", 'x']"));
  assert_true(instr(cf, 0, 3)->json);
  assert_strv(instr(cf, 0, 3)->args, STRV("a", "\xc3\xa9"));
  assert_true(instr(cf, 0, 4)->json);
  assert_int_equal(strv_length(instr(cf, 0, 4)->args), 0);
  assert_false(instr(cf, 0, 5)->json);
  assert_int_equal(strv_length(instr(cf, 0, 5)->args), 0);
  assert_true(instr(cf, 0, 6)->json);
  assert_strv(instr(cf, 0, 6)->args, STRV("/a b", "/c"));
  assert_true(instr(cf, 0, 7)->json);
  assert_strv(instr(cf, 0, 7)->args, STRV("true"));
  assert_false(instr(cf, 0, 8)->json);
  assert_strv(instr(cf, 0, 8)->args, STRV("[ \"unterminated\""));
  bothy_containerfile_free(cf);

  expect_err("FROM scratch\nCMD [\"a\", 1]\n",
             "Containerfile:2: CMD: when using JSON array syntax, arrays must be comprised of "
             "strings only");
  expect_err("FROM scratch\nSHELL /bin/sh -c\n",
             "Containerfile:2: SHELL requires the arguments to be in JSON form");
}

/* ---- flags ---- */

static void test_flags(void **state)
{
  const char *text =
      "FROM --platform=$BUILDPLATFORM golang:1.22 AS build\n"
      "ARG UID=1000\n"
      "RUN --mount=type=cache,target=/root/.cache/go-build,sharing=locked \\\n"
      "    --mount=type=bind,source=go.sum,dst=/src/go.sum,ro \\\n"
      "    --mount=type=secret,id=token,required=true \\\n"
      "    --mount=type=tmpfs,target=/tmp,size=64m \\\n"
      "    --mount='type=bind,from=alpine,target=/x,\"source=/a,b\"' \\\n"
      "    --network=none --security=insecure go build ./...\n"
      "FROM debian\n"
      "COPY --from=build --chown=${UID}:0 --chmod=0755 --link /out/app /usr/bin/app\n"
      "ADD --link=false --checksum=sha256:abc --keep-git-dir https://x/y.git /src\n"
      "COPY --exclude=*.md --exclude=docs/ --parents a/b /c/\n"
      "HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=1.5s "
      "--start-interval=2s --retries=3 CMD true\n"
      "HEALTHCHECK NONE\n";
  struct bothy_cf_options o = { .builtin_args = STRV("BUILDPLATFORM=linux/amd64") };
  struct bothy_containerfile *cf = parse_opts(text, &o);
  assert_string_equal(cf->stages[0].platform, "linux/amd64");
  const struct bothy_cf_instr *run = instr(cf, 0, 1);
  assert_int_equal(run->line, 3);
  assert_string_equal(run->network, "none");
  assert_string_equal(run->security, "insecure");
  assert_strv(run->args, STRV("go build ./..."));
  assert_int_equal(run->n_mounts, 5);
  assert_int_equal(run->mounts[0].type, BOTHY_CF_MOUNT_CACHE);
  assert_string_equal(bothy_cf_mount_get(&run->mounts[0], "target"), "/root/.cache/go-build");
  assert_string_equal(bothy_cf_mount_get(&run->mounts[0], "sharing"), "locked");
  assert_int_equal(run->mounts[1].type, BOTHY_CF_MOUNT_BIND);
  assert_string_equal(bothy_cf_mount_get(&run->mounts[1], "source"), "go.sum");
  assert_string_equal(bothy_cf_mount_get(&run->mounts[1], "target"), "/src/go.sum");
  assert_string_equal(bothy_cf_mount_get(&run->mounts[1], "readonly"), "");
  assert_int_equal(run->mounts[2].type, BOTHY_CF_MOUNT_SECRET);
  assert_string_equal(bothy_cf_mount_get(&run->mounts[2], "id"), "token");
  assert_null(bothy_cf_mount_get(&run->mounts[2], "target"));
  assert_int_equal(run->mounts[3].type, BOTHY_CF_MOUNT_TMPFS);
  assert_string_equal(bothy_cf_mount_get(&run->mounts[3], "size"), "64m");
  assert_int_equal(run->mounts[4].type, BOTHY_CF_MOUNT_BIND);
  assert_string_equal(bothy_cf_mount_get(&run->mounts[4], "from"), "alpine");
  assert_string_equal(bothy_cf_mount_get(&run->mounts[4], "source"), "/a,b");
  assert_strv(run->run_args, STRV("UID=1000"));

  const struct bothy_cf_instr *cp = instr(cf, 1, 0);
  assert_string_equal(cp->from, "build");
  /* UID is not declared in this stage: it expands to nothing. */
  assert_string_equal(cp->chown, ":0");
  assert_string_equal(cp->chmod, "0755");
  assert_true(cp->link);
  assert_strv(cp->args, STRV("/out/app", "/usr/bin/app"));
  const struct bothy_cf_instr *add = instr(cf, 1, 1);
  assert_false(add->link);
  assert_true(add->keep_git_dir);
  assert_string_equal(add->checksum, "sha256:abc");
  const struct bothy_cf_instr *cp2 = instr(cf, 1, 2);
  assert_true(cp2->parents);
  assert_strv(cp2->exclude, STRV("*.md", "docs/"));
  const struct bothy_cf_instr *hc = instr(cf, 1, 3);
  assert_int_equal(hc->health.interval, 90LL * 1000000000);
  assert_int_equal(hc->health.timeout, 500LL * 1000000);
  assert_int_equal(hc->health.start_period, 1500LL * 1000000);
  assert_int_equal(hc->health.start_interval, 2LL * 1000000000);
  assert_int_equal(hc->health.retries, 3);
  assert_true(instr(cf, 1, 4)->health.none);
  assert_null(instr(cf, 1, 4)->args);
  bothy_containerfile_free(cf);
}

static void test_flag_errors(void **state)
{
  expect_err("FROM a\nCOPY --form=x a b\n", "Containerfile:2: COPY: unknown flag: --form");
  expect_err("FROM a\nADD --from=x a b\n", "Containerfile:2: ADD: unknown flag: --from");
  expect_err("FROM a\nWORKDIR --x=1 /a\n", "Containerfile:2: WORKDIR: unknown flag: --x");
  expect_err("FROM a\nCOPY --from=x --from=y a b\n",
             "Containerfile:2: COPY: duplicate flag specified: --from");
  expect_err("FROM a\nCOPY --from a b\n", "Containerfile:2: COPY: missing a value on flag: --from");
  expect_err("FROM a\nCOPY --link=maybe a b\n",
             "Containerfile:2: COPY: expecting boolean value for flag --link, not: maybe");
  expect_err("FROM a\nRUN --mount=type=nfs,target=/x true\n",
             "Containerfile:2: RUN: --mount: unsupported mount type \"nfs\"");
  expect_err("FROM a\nRUN --mount=type=cache true\n",
             "Containerfile:2: RUN: --mount=type=cache: cache mount needs a target");
  expect_err("FROM a\nRUN --mount=target=/x,colour=red true\n",
             "Containerfile:2: RUN: --mount: unexpected key 'colour' in 'colour=red'");
  expect_err("FROM a\nRUN --network=bridge true\n",
             "Containerfile:2: RUN: unsupported network mode \"bridge\"");
  expect_err("FROM a\nHEALTHCHECK --interval=5 CMD true\n",
             "Containerfile:2: HEALTHCHECK: invalid duration for --interval: \"5\"");
  expect_err("FROM a\nHEALTHCHECK --timeout=10us CMD true\n",
             "Containerfile:2: HEALTHCHECK: --timeout cannot be less than 1ms");
  expect_err("FROM a\nHEALTHCHECK --start-period=-1s CMD true\n",
             "Containerfile:2: HEALTHCHECK: --start-period cannot be negative");
  expect_err("FROM a\nHEALTHCHECK --retries=-1 CMD true\n",
             "Containerfile:2: HEALTHCHECK: --retries cannot be negative (-1)");
  expect_err("FROM a\nHEALTHCHECK NONE x\n",
             "Containerfile:2: HEALTHCHECK NONE takes no arguments");
  expect_err("FROM a\nHEALTHCHECK TEST true\n",
             "Containerfile:2: Unknown type \"TEST\" in HEALTHCHECK (try CMD)");
  expect_err("FROM a\nHEALTHCHECK CMD\n", "Containerfile:2: Missing command after HEALTHCHECK CMD");
}

/* ---- heredocs ---- */

static void test_heredocs(void **state)
{
  const char *text = "FROM debian\n"
                     "ARG NAME=world\n"
                     "RUN <<EOT\n"
                     "set -e\n"
                     "echo $NAME\n"
                     "EOT\n"
                     "RUN <<-EOT bash\n"
                     "\t\techo tabs\n"
                     "\tEOT\n"
                     "RUN python3 <<'EOF' > out\n"
                     "print('$NAME')\n"
                     "EOF\n"
                     "RUN cat <<A <<\"B\" 3<<C\n"
                     "a\n"
                     "A\n"
                     "b\n"
                     "B\n"
                     "c\n"
                     "C\n"
                     "COPY <<EOF <<'RAW' /etc/\n"
                     "hello $NAME\n"
                     "EOF\n"
                     "raw $NAME\n"
                     "RAW\n"
                     "COPY --chmod=0644 <<EOF /etc/empty\n"
                     "EOF\n"
                     "RUN echo done\n";
  struct bothy_containerfile *cf = parse(text);
  const struct bothy_cf_instr *r1 = instr(cf, 0, 1);
  assert_strv(r1->args, STRV("<<EOT"));
  assert_int_equal(r1->n_heredocs, 1);
  assert_string_equal(r1->heredocs[0].name, "EOT");
  /* RUN leaves expansion to the shell. */
  assert_string_equal(r1->heredocs[0].content, "set -e\necho $NAME\n");
  assert_true(r1->heredocs[0].expand);
  assert_false(r1->heredocs[0].chomp);
  assert_int_equal(r1->heredocs[0].arg, -1);

  const struct bothy_cf_instr *r2 = instr(cf, 0, 2);
  assert_true(r2->heredocs[0].chomp);
  assert_string_equal(r2->heredocs[0].content, "echo tabs\n");
  assert_strv(r2->args, STRV("<<-EOT bash"));

  const struct bothy_cf_instr *r3 = instr(cf, 0, 3);
  assert_string_equal(r3->heredocs[0].name, "EOF");
  assert_false(r3->heredocs[0].expand);
  assert_string_equal(r3->heredocs[0].content, "print('$NAME')\n");

  const struct bothy_cf_instr *r4 = instr(cf, 0, 4);
  assert_int_equal(r4->n_heredocs, 3);
  assert_string_equal(r4->heredocs[0].content, "a\n");
  assert_true(r4->heredocs[0].expand);
  assert_string_equal(r4->heredocs[1].name, "B");
  assert_false(r4->heredocs[1].expand);
  assert_string_equal(r4->heredocs[1].content, "b\n");
  assert_int_equal(r4->heredocs[2].fd, 3);
  assert_string_equal(r4->heredocs[2].content, "c\n");

  const struct bothy_cf_instr *c1 = instr(cf, 0, 5);
  assert_int_equal(c1->line, 20);
  assert_strv(c1->args, STRV("<<EOF", "<<'RAW'", "/etc/"));
  assert_int_equal(c1->n_heredocs, 2);
  assert_int_equal(c1->heredocs[0].arg, 0);
  assert_string_equal(c1->heredocs[0].content, "hello world\n");
  assert_int_equal(c1->heredocs[1].arg, 1);
  assert_string_equal(c1->heredocs[1].content, "raw $NAME\n");
  const struct bothy_cf_instr *c2 = instr(cf, 0, 6);
  assert_string_equal(c2->heredocs[0].content, "");
  assert_string_equal(c2->chmod, "0644");
  assert_int_equal(instr(cf, 0, 7)->line, 27);
  bothy_containerfile_free(cf);

  expect_err("FROM a\nRUN <<EOT\necho hi\n", "Containerfile:2: RUN: unterminated heredoc \"EOT\"");
  expect_err("FROM a\nCOPY <<A <<B /x\na\nA\nb\n",
             "Containerfile:2: COPY: unterminated heredoc \"B\"");
  /* "<<EOT" in quotes, or in another instruction, is no heredoc. */
  cf = parse("FROM a\nRUN echo \"<<EOT\"\nCMD cat <<EOT\n");
  assert_int_equal(instr(cf, 0, 0)->n_heredocs, 0);
  assert_int_equal(instr(cf, 0, 1)->n_heredocs, 0);
  bothy_containerfile_free(cf);
}

/* ---- lines, comments, directives ---- */

static void test_continuations(void **state)
{
  const char *text = "# syntax=docker/dockerfile:1\n"
                     "# a comment\n"
                     "\n"
                     "FROM alpine\n"
                     "RUN apk add \\\n"
                     "# a comment inside, skipped\n"
                     "      # an indented one too\n"
                     "\n"
                     "    curl \\  \n"
                     "    jq\n"
                     "   # comment after whitespace\n"
                     "  run\techo  indented\r\n"
                     "RUN echo \\\\\n"
                     "  next\n"
                     "CMD echo end \\";
  struct bothy_containerfile *cf = parse(text);
  assert_string_equal(cf->syntax, "docker/dockerfile:1");
  const struct bothy_cf_instr *r = instr(cf, 0, 0);
  assert_int_equal(r->line, 5);
  assert_strv(r->args, STRV("apk add     curl     jq"));
  assert_int_equal(instr(cf, 0, 1)->line, 12);
  assert_strv(instr(cf, 0, 1)->args, STRV("echo  indented"));
  /* BuildKit does not count backslashes: "\\" at the end continues too. */
  assert_strv(instr(cf, 0, 2)->args, STRV("echo \\  next"));
  assert_strv(instr(cf, 0, 3)->args, STRV("echo end"));
  bothy_containerfile_free(cf);
}

static void test_escape_directive(void **state)
{
  /* The Dockerfile reference's Windows example. */
  const char *text = "# escape=`\n"
                     "\n"
                     "FROM mcr.microsoft.com/windows/servercore\n"
                     "COPY testfile.txt c:\\\n"
                     "RUN dir c:\\ `\n"
                     "    /w\n"
                     "ENV A=x`$y B=\"q`\"q\"\n";
  struct bothy_containerfile *cf = parse(text);
  assert_int_equal(cf->escape, '`');
  assert_strv(instr(cf, 0, 0)->args, STRV("testfile.txt", "c:\\"));
  assert_strv(instr(cf, 0, 1)->args, STRV("dir c:\\     /w"));
  assert_kv(instr(cf, 0, 2), 0, "A", "x$y");
  assert_kv(instr(cf, 0, 2), 1, "B", "q\"q");
  bothy_containerfile_free(cf);

  /* After the first non-directive line they are comments. */
  cf = parse("# unknown=1\n# escape=`\nFROM a\nRUN a \\\n b\n");
  assert_int_equal(cf->escape, '\\');
  assert_strv(instr(cf, 0, 0)->args, STRV("a  b"));
  bothy_containerfile_free(cf);
  cf = parse("\n# escape=`\nFROM a\n");
  assert_int_equal(cf->escape, '\\');
  bothy_containerfile_free(cf);
  cf = parse("FROM a\n# syntax=x\n");
  assert_null(cf->syntax);
  bothy_containerfile_free(cf);
  cf = parse("\xef\xbb\xbf#  ESCAPE = `  \nFROM a\n");
  assert_int_equal(cf->escape, '`');
  bothy_containerfile_free(cf);

  expect_err("# escape=`\n# escape=\\\nFROM a\n",
             "Containerfile:2: only one escape parser directive can be used");
  expect_err("# escape=x\nFROM a\n",
             "Containerfile:1: invalid escape token 'x' does not match ` or \\");
}

/* ---- expansion ---- */

static void expand_is(const char *word, char *const *env, const char *want)
{
  char *got = NULL;
  bothy_error_t err = NULL;
  if (bothy_cf_expand(word, env, '\\', &got, &err) < 0)
    fail_msg("'%s': %s", word, err->msg);
  if (strcmp(got, want) != 0)
    fail_msg("'%s': got '%s', want '%s'", word, got, want);
  free(got);
}

static void expand_fails(const char *word, char *const *env, const char *want)
{
  char *got = (char *) 0x1;
  bothy_error_t err = NULL;
  assert_int_equal(bothy_cf_expand(word, env, '\\', &got, &err), -EINVAL);
  assert_ptr_equal(got, (char *) 0x1);
  if (strcmp(err->msg, want) != 0)
    fail_msg("'%s': got \"%s\", want \"%s\"", word, err->msg, want);
  bothy_error_free(&err);
}

static void test_expand(void **state)
{
  char **env = STRV("A=a", "EMPTY=", "SP=x  y", "PATH=/bin");
  expand_is("$A", env, "a");
  expand_is("${A}b", env, "ab");
  expand_is("$Ab", env, "");
  expand_is("$UNSET.", env, ".");
  expand_is("${UNSET:-def}", env, "def");
  expand_is("${EMPTY:-def}", env, "def");
  expand_is("${EMPTY-def}", env, "");
  expand_is("${UNSET-def}", env, "def");
  expand_is("${A:-def}", env, "a");
  expand_is("${A:+alt}", env, "alt");
  expand_is("${EMPTY:+alt}", env, "");
  expand_is("${EMPTY+alt}", env, "alt");
  expand_is("${UNSET:+alt}", env, "");
  expand_is("${UNSET:-$A/${PATH}}", env, "a//bin");
  expand_is("${UNSET:-\"x y\"}", env, "x y");
  expand_is("${A:?must be set}", env, "a");
  expand_is("\\$A", env, "$A");
  expand_is("'$A'", env, "$A");
  expand_is("\"$A\"", env, "a");
  expand_is("\"\\$A \\\" \\\\ \\n\"", env, "$A \" \\ \\n");
  expand_is("a\\ b", env, "a b");
  expand_is("$", env, "$");
  expand_is("$/x", env, "$/x");
  expand_is("$1x", env, "x");
  expand_is("trailing\\", env, "trailing");
  expand_is("$PATH:/usr/local/bin", env, "/bin:/usr/local/bin");
  expand_is("$A", NULL, "");

  expand_fails("${A", env, "syntax error: missing '}'");
  expand_fails("${A:-x", env, "syntax error: missing '}'");
  expand_fails("${}", env, "syntax error: bad substitution");
  expand_fails("${:-x}", env, "syntax error: bad substitution");
  expand_fails("${A#x}", env, "unsupported modifier (#) in substitution");
  expand_fails("${A:=x}", env, "unsupported modifier (:=) in substitution");
  expand_fails("${UNSET:?}", env, "UNSET: is not allowed to be unset");
  expand_fails("${EMPTY:?}", env, "EMPTY: is not allowed to be empty");
  expand_fails("${UNSET?need it}", env, "UNSET: need it");
  expand_fails("\"abc", env, "unexpected end of statement while looking for matching double-quote");
  expand_fails("'abc", env, "unexpected end of statement while looking for matching single-quote");

  char **words = NULL;
  bothy_error_t err = NULL;
  assert_int_equal(bothy_cf_expand_words("$SP \"$SP\" a\\ b ''", env, '\\', &words, &err), 0);
  assert_strv(words, STRV("x", "y", "x  y", "a b"));
  strv_free(words);

  /* The backtick escape. */
  char *got = NULL;
  assert_int_equal(bothy_cf_expand("`$A \\x", env, '`', &got, &err), 0);
  assert_string_equal(got, "$A \\x");
  free(got);
}

static void test_scoping(void **state)
{
  const char *text = "ARG BASE=debian\n"
                     "ARG TAG=12\n"
                     "ARG IMAGE=${BASE}:${TAG}\n"
                     "ARG BARE\n"
                     "FROM $IMAGE AS one\n"
                     /* Global ARGs are not visible until declared again. */
                     "WORKDIR /w/${TAG:-none}\n"
                     "ARG TAG\n"
                     "WORKDIR /w/${TAG:-none}\n"
                     "ARG V=1\n"
                     "ENV V=env\n"
                     "USER $V\n"
                     "ENV A=a B=b\n"
                     "ENV A=new C=$A\n"
                     "ENV PATH=/opt/bin:$PATH\n"
                     "ARG BARE\n"
                     "ARG FROMCLI=default\n"
                     "RUN make\n"
                     "FROM one AS two\n"
                     "WORKDIR /$A/$V\n"
                     "FROM scratch\n"
                     "EXPOSE ${PORTS}\n"
                     "ARG PORTS=\"80 443/udp\"\n"
                     "EXPOSE ${PORTS} 8080\n"
                     "STOPSIGNAL ${SIG:-SIGINT}\n"
                     "VOLUME $NOPE/data\n"
                     "ARG TARGETARCH\n"
                     "LABEL arch=$TARGETARCH\n";
  struct bothy_cf_options o = {
    .build_args = STRV("TAG=13", "FROMCLI=cli", "UNUSED=1", "NOEQUALS"),
    .builtin_args = STRV("TARGETARCH=arm64"),
  };
  struct bothy_containerfile *cf = parse_opts(text, &o);
  assert_int_equal(cf->n_global_args, 4);
  assert_string_equal(cf->global_args[0].value, "debian");
  assert_string_equal(cf->global_args[1].value, "13");
  assert_string_equal(cf->global_args[2].value, "debian:13");
  assert_null(cf->global_args[3].value);
  assert_string_equal(cf->stages[0].base, "debian:13");
  assert_strv(instr(cf, 0, 0)->args, STRV("/w/none"));
  assert_kv(instr(cf, 0, 1), 0, "TAG", "13");
  assert_strv(instr(cf, 0, 2)->args, STRV("/w/13"));
  assert_strv(instr(cf, 0, 5)->args, STRV("env")); /* ENV over ARG */
  assert_kv(instr(cf, 0, 7), 0, "A", "new");
  assert_kv(instr(cf, 0, 7), 1, "C", "a"); /* the A from before the line */
  /* No base image env known: PATH was unset. */
  assert_kv(instr(cf, 0, 8), 0, "PATH", "/opt/bin:");
  assert_kv(instr(cf, 0, 9), 0, "BARE", NULL);
  assert_kv(instr(cf, 0, 10), 0, "FROMCLI", "cli");
  /* RUN gets the ARGs with a value, but not V (an ENV of that name wins). */
  assert_strv(instr(cf, 0, 11)->run_args, STRV("TAG=13", "FROMCLI=cli"));
  assert_string_equal(env_of(&cf->stages[0], "A"), "new");
  assert_null(env_of(&cf->stages[0], "TAG"));

  /* FROM one: inherits its ENV (and ARGs). */
  assert_int_equal(cf->stages[1].base_stage, 0);
  assert_string_equal(cf->stages[1].base, "one");
  assert_strv(instr(cf, 1, 0)->args, STRV("/new/env"));

  assert_int_equal(cf->stages[2].base_stage, -1);
  assert_int_equal(strv_length(instr(cf, 2, 0)->args), 0);
  assert_strv(instr(cf, 2, 2)->args, STRV("80", "443/udp", "8080"));
  assert_strv(instr(cf, 2, 3)->args, STRV("SIGINT"));
  assert_strv(instr(cf, 2, 4)->args, STRV("/data"));
  assert_kv(instr(cf, 2, 6), 0, "arch", "arm64");
  assert_strv(cf->unused_build_args, STRV("UNUSED"));
  bothy_containerfile_free(cf);
}

static int fake_base_env(const char *image, const char *platform, void *userdata, char ***ret_env,
                         bothy_error_t *err)
{
  (*(int *) userdata)++;
  if (strcmp(image, "missing") == 0)
    return bothy_error_set(err, ENOENT, "pulling '%s'", image);
  *ret_env = strv_copy(STRV("PATH=/usr/sbin:/usr/bin", "HOME=/root"));
  return 0;
}

static void test_base_env(void **state)
{
  int calls = 0;
  struct bothy_cf_options o = { .base_env = fake_base_env, .userdata = &calls };
  struct bothy_containerfile *cf = parse_opts("FROM debian AS a\n"
                                              "ENV PATH=/opt/bin:$PATH\n"
                                              "WORKDIR $HOME\n"
                                              "FROM a\n"
                                              "FROM scratch\n"
                                              "WORKDIR ${HOME:-/}\n",
                                              &o);
  assert_int_equal(calls, 1);
  assert_kv(instr(cf, 0, 0), 0, "PATH", "/opt/bin:/usr/sbin:/usr/bin");
  assert_strv(instr(cf, 0, 1)->args, STRV("/root"));
  assert_string_equal(env_of(&cf->stages[1], "PATH"), "/opt/bin:/usr/sbin:/usr/bin");
  assert_strv(instr(cf, 2, 0)->args, STRV("/"));
  bothy_containerfile_free(cf);

  bothy_error_t err = NULL;
  assert_int_equal(bothy_containerfile_parse("FROM missing\n", 13, &o, &cf, &err), -ENOENT);
  assert_string_equal(err->msg,
                      "Containerfile:1: FROM: pulling 'missing': No such file or directory");
  bothy_error_free(&err);
}

/* ---- stages and --target ---- */

static void test_stages_target(void **state)
{
  const char *text = "FROM golang AS deps\n"
                     "RUN go mod download\n"
                     "FROM deps AS build\n"
                     "RUN go build\n"
                     "FROM node AS assets\n"
                     "RUN npm ci\n"
                     "FROM alpine AS unrelated\n"
                     "FROM debian AS tools\n"
                     "FROM scratch AS final\n"
                     "COPY --from=build /app /app\n"
                     "COPY --from=2 /dist /www\n"
                     "COPY --from=nginx:latest /etc/nginx /etc/nginx\n"
                     "RUN --mount=type=bind,from=Tools,target=/t /t/check\n";
  struct bothy_containerfile *cf = parse(text);
  assert_int_equal(cf->n_stages, 6);
  assert_int_equal(cf->stages[1].base_stage, 0);
  bool *needed = NULL;
  bothy_error_t err = NULL;
  assert_int_equal(bothy_containerfile_target(cf, NULL, &needed, &err), 5);
  bool want_all[] = { true, true, true, false, true, true };
  for (size_t i = 0; i < 6; i++)
    assert_int_equal(needed[i], want_all[i]);
  free(needed);
  assert_int_equal(bothy_containerfile_target(cf, "BUILD", &needed, &err), 1);
  bool want_build[] = { true, true, false, false, false, false };
  for (size_t i = 0; i < 6; i++)
    assert_int_equal(needed[i], want_build[i]);
  free(needed);
  needed = (bool *) 0x1;
  assert_int_equal(bothy_containerfile_target(cf, "nope", &needed, &err), -EINVAL);
  assert_string_equal(err->msg, "target stage \"nope\" could not be found");
  assert_ptr_equal(needed, (bool *) 0x1);
  bothy_error_free(&err);
  bothy_containerfile_free(cf);

  /* A stage may copy from a later one, as long as there is no cycle. */
  cf = parse("FROM a AS x\nCOPY --from=y /a /a\nFROM b AS y\n");
  assert_int_equal(bothy_containerfile_target(cf, "x", &needed, &err), 0);
  assert_true(needed[1]);
  free(needed);
  bothy_containerfile_free(cf);

  expect_err("FROM a AS x\nCOPY --from=y /a /a\nFROM x AS y\n",
             "Containerfile:1: circular dependency detected on stage: x");
  expect_err("FROM a AS x\nCOPY --from=x /a /a\n",
             "Containerfile:1: circular dependency detected on stage: x");
  expect_err("FROM a\nCOPY --from=3 /a /a\n", "Containerfile:2: COPY: invalid stage index \"3\"");
  expect_err("FROM a AS x\nFROM b AS X\n", "Containerfile:2: FROM: duplicate stage name \"x\"");
  expect_err("FROM a AS 1x\n",
             "Containerfile:1: FROM: invalid name for build stage: \"1x\", name can't start "
             "with a number or contain symbols");
}

/* ---- errors ---- */

static void test_errors(void **state)
{
  expect_err("FROM alpine\n\n# c\n\nRUN x\n\nFORM x\n",
             "Containerfile:7: unknown instruction: FORM");
  expect_err("FROM a\nRUN a\nCOPY onlyone\n",
             "Containerfile:3: COPY requires at least two arguments");
  expect_err("FROM a\nADD\n", "Containerfile:2: ADD requires at least two arguments");
  expect_err("", "Containerfile: file with no instructions");
  expect_err("# only a comment\n\n", "Containerfile: file with no instructions");
  expect_err("ARG A=1\n", "Containerfile: dockerfile contains no stages to build");
  expect_err("RUN x\nFROM a\n",
             "Containerfile:1: RUN: no build stage in current context (only ARG may come first)");
  expect_err("FROM\n", "Containerfile:1: FROM requires either one or three arguments");
  expect_err("FROM a b\n", "Containerfile:1: FROM requires either one or three arguments");
  expect_err("FROM a IS b\n", "Containerfile:1: FROM: expected \"AS name\", got \"IS b\"");
  expect_err("ARG X=\nFROM $X\n", "Containerfile:2: FROM: base name ($X) should not be blank");
  expect_err("FROM a\nRUN\n", "Containerfile:2: RUN requires at least one argument");
  expect_err("FROM a\nWORKDIR\n", "Containerfile:2: WORKDIR requires exactly one argument");
  expect_err("FROM a\nUSER $NOBODY\n", "Containerfile:2: USER requires exactly one argument");
  expect_err("FROM a\nENV\n", "Containerfile:2: ENV requires at least one argument");
  expect_err("FROM a\nENV A\n", "Containerfile:2: ENV must have two arguments");
  expect_err("FROM a\nENV A=1 B\n",
             "Containerfile:2: ENV: syntax error - can't find = in \"B\". Must be of the form: "
             "name=value");
  expect_err("FROM a\nLABEL =x\n", "Containerfile:2: LABEL names can not be blank");
  expect_err("FROM a\nARG\n", "Containerfile:2: ARG requires at least one argument");
  expect_err("FROM a\nARG =1\n", "Containerfile:2: ARG names can not be blank");
  expect_err("FROM a\nEXPOSE\n", "Containerfile:2: EXPOSE requires at least one argument");
  expect_err("FROM a\nVOLUME\n", "Containerfile:2: VOLUME requires at least one argument");
  expect_err("FROM a\nVOLUME [\"\"]\n",
             "Containerfile:2: VOLUME specified can not be an empty string");
  expect_err("FROM a\nSTOPSIGNAL\n", "Containerfile:2: STOPSIGNAL requires exactly one argument");
  expect_err("FROM a\nMAINTAINER\n", "Containerfile:2: MAINTAINER requires exactly one argument");
  expect_err("FROM a\nSHELL []\n", "Containerfile:2: SHELL requires at least one argument");
  expect_err("FROM a\nHEALTHCHECK\n",
             "Containerfile:2: HEALTHCHECK requires at least one argument");
  expect_err("FROM a\nONBUILD\n", "Containerfile:2: ONBUILD requires at least one argument");
  expect_err("FROM a\nONBUILD ONBUILD RUN x\n",
             "Containerfile:2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  expect_err("FROM a\nONBUILD FROM b\n",
             "Containerfile:2: FROM isn't allowed as an ONBUILD trigger");
  expect_err("FROM a\nONBUILD MAINTAINER me\n",
             "Containerfile:2: MAINTAINER isn't allowed as an ONBUILD trigger");
  expect_err("FROM a\nONBUILD FOO\n", "Containerfile:2: ONBUILD: unknown instruction: FOO");
  expect_err("FROM a\nWORKDIR ${X\n", "Containerfile:2: WORKDIR: syntax error: missing '}'");
  expect_err("FROM a\nCOPY \"a b\" /c\n",
             "Containerfile:2: COPY: unexpected end of statement while looking for matching "
             "double-quote");
  expect_err("FROM a\nENV A=${B:?required}\n", "Containerfile:2: ENV: B: required");
  struct bothy_containerfile *cf = NULL;
  bothy_error_t err = NULL;
  static const char nul[] = "FROM a\nRUN x\0y\n";
  assert_int_equal(bothy_containerfile_parse(nul, sizeof(nul) - 1, NULL, &cf, &err), -EINVAL);
  assert_string_equal(err->msg, "Containerfile: contains a NUL byte");
  assert_null(cf);
  bothy_error_free(&err);

  struct bothy_cf_options o = { .filename = "sub/Dockerfile" };
  expect_err_opts("FROM a\n\n  \\\n  FORM b\n", &o, "sub/Dockerfile:3: unknown instruction: FORM");
}

static void test_onbuild(void **state)
{
  struct bothy_containerfile *cf = parse("FROM a\n"
                                         "ARG X=1\n"
                                         "ONBUILD RUN --mount=type=cache,target=$X make\n"
                                         "ONBUILD ENV Y=$X\n"
                                         "ONBUILD ARG Z\n"
                                         "WORKDIR /$Y$Z\n");
  const struct bothy_cf_instr *o1 = instr(cf, 0, 1)->onbuild;
  assert_int_equal(o1->kind, BOTHY_CF_RUN);
  assert_string_equal(o1->text, "RUN --mount=type=cache,target=$X make");
  /* Not expanded: that is for the image built FROM this one. */
  assert_string_equal(bothy_cf_mount_get(&o1->mounts[0], "target"), "$X");
  assert_kv(instr(cf, 0, 2)->onbuild, 0, "Y", "$X");
  /* And the stage's own scope is untouched. */
  assert_strv(instr(cf, 0, 4)->args, STRV("/"));
  bothy_containerfile_free(cf);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_every_instruction),
    cmocka_unit_test(test_case_and_env_forms),
    cmocka_unit_test(test_exec_and_shell_forms),
    cmocka_unit_test(test_flags),
    cmocka_unit_test(test_flag_errors),
    cmocka_unit_test(test_heredocs),
    cmocka_unit_test(test_continuations),
    cmocka_unit_test(test_escape_directive),
    cmocka_unit_test(test_expand),
    cmocka_unit_test(test_scoping),
    cmocka_unit_test(test_base_env),
    cmocka_unit_test(test_stages_target),
    cmocka_unit_test(test_errors),
    cmocka_unit_test(test_onbuild),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
