/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* linux.seccomp: compiling the spec's profile to a BPF program, and loading it.
 *
 * The work is split in two, as crun does, so that a bad profile fails `create`
 * before anything on the host changes:
 *
 *   bothy_seccomp_compile()  runs in the runtime process, before the container
 *                            is cloned. It checks every name in the profile,
 *                            builds the filter with libseccomp and exports the
 *                            BPF program (kernel support for the actions and
 *                            flags used is checked here too).
 *   bothy_seccomp_load()     runs in the container's init, right before
 *                            execve(). It is a single seccomp(2) call on the
 *                            program compiled earlier (inherited across the
 *                            clone): no allocation, no file access, no
 *                            libseccomp.
 *
 * How the profile is read (runtime-spec config-linux.md, and runc's choices
 * where the spec is silent):
 *  - actions: SCMP_ACT_KILL (= KILL_THREAD), KILL_THREAD, KILL_PROCESS, TRAP,
 *    ERRNO, TRACE, ALLOW, LOG. errnoRet / defaultErrnoRet (EPERM when absent,
 *    as runc) apply to ERRNO (0..4095) and TRACE (0..65535, the value a tracer
 *    reads); given with any other action they are an error (crun).
 *    SCMP_ACT_NOTIFY and listenerPath are rejected: bothy runs notify-free
 *    profiles.
 *  - architectures: "SCMP_ARCH_X86_64" etc. are added to the filter; the
 *    native one is always there. A name the spec lists but this libseccomp
 *    does not support is ignored with a warning (syscalls of that ABI then
 *    meet the bad-architecture action, which kills); any other name is an
 *    error.
 *  - flags: SECCOMP_FILTER_FLAG_TSYNC, _LOG, _SPEC_ALLOW are passed to
 *    seccomp(2); _WAIT_KILLABLE_RECV only concerns notification and is
 *    ignored; anything else is an error.
 *  - a syscall name that libseccomp does not know is skipped (profiles list
 *    syscalls that this kernel or architecture may not have, as runc).
 *  - a rule whose action equals the default action is skipped (libseccomp
 *    refuses it, and it changes nothing).
 *  - args: conditions on different argument indices form one rule (all must
 *    match). If two or more conditions name the SAME index, which libseccomp
 *    refuses in one rule, every condition of the entry becomes a rule of its
 *    own, so that ANY of them matching triggers the action: that is what runc
 *    and crun do, and profiles written for them (docker's among them) expect
 *    it. SCMP_CMP_MASKED_EQ takes value as the mask and valueTwo as the datum:
 *    (arg & value) == valueTwo.
 *
 * Error messages name the place in the spec and the value, e.g.
 * "linux.seccomp.syscalls[3].action: unknown action 'SCMP_ACT_FOO'". */
#include <stdbool.h>
#include "base/error.h"
#include "runtime/spec.h"

/* An exported BPF program and the seccomp(2) flags to load it with. Opaque;
 * owned by whoever compiled it; plain memory, so a child cloned without
 * CLONE_VM owns its own copy. */
struct bothy_seccomp_filter;

/* Compiles s. s == NULL (no linux.seccomp in the spec) yields *ret = NULL and
 * success; bothy_seccomp_load(NULL) then does nothing. On failure *ret is not
 * written and the error names the offending entry. */
int bothy_seccomp_compile(const struct bothy_seccomp *s, struct bothy_seccomp_filter **ret,
                          bothy_error_t *err);

/* The same, with the compiled program kept in cache_dir (created 0700 if
 * missing; NULL: no cache). Compiling docker's ~350-name profile for three
 * architectures takes 15-20 ms, longer than the rest of a container's start;
 * the cache holds the exported BPF program with the exact profile, libseccomp
 * version and kernel it was made for, so a hit is a byte-exact match and
 * anything else compiles anew. A cache that cannot be read or written is
 * ignored. */
int bothy_seccomp_compile_cached(const struct bothy_seccomp *s, const char *cache_dir,
                                 struct bothy_seccomp_filter **ret, bothy_error_t *err);

/* Installs f in the calling process (and, with SECCOMP_FILTER_FLAG_TSYNC, all
 * its threads). It cannot be undone.
 *
 * The kernel accepts a filter only from a thread that has no_new_privs set or
 * CAP_SYS_ADMIN in its effective set (in its user namespace). Hence the order
 * in the container's init, which is runc's and crun's:
 *
 *   process.noNewPrivileges true:  ... setresuid, bothy_caps_apply(),
 *       prctl(PR_SET_NO_NEW_PRIVS), bothy_seccomp_load(), execve().
 *       Load as late as possible, so the filter only has to allow execve (and
 *       works for a non-root user without any capability).
 *   process.noNewPrivileges false: bothy_seccomp_load() while still holding
 *       CAP_SYS_ADMIN, i.e. before setresuid and bothy_caps_apply(); the
 *       syscalls made after it (setgroups, setresuid, capset, prctl, chdir,
 *       close, execve...) must then be allowed by the profile. The common
 *       profiles allow them; one that does not fails the container, which is
 *       what the profile asked for.
 *
 * Errors: EACCES when neither condition holds (the message says so); EINVAL
 * if the kernel rejects the program or a flag; code 0 when TSYNC could not
 * synchronise another thread (bothy has none). f == NULL: no-op. */
int bothy_seccomp_load(const struct bothy_seccomp_filter *f, bothy_error_t *err);

/* The number of BPF instructions (for debug output and tests). */
size_t bothy_seccomp_filter_size(const struct bothy_seccomp_filter *f);

/* NULL-safe; returns NULL. */
struct bothy_seccomp_filter *bothy_seccomp_filter_free(struct bothy_seccomp_filter *f);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct bothy_seccomp_filter *, bothy_seccomp_filter_free)
#define _cleanup_seccomp_filter_ _cleanup_(bothy_seccomp_filter_freep)

/* For `features` (runtime-spec features.md, linux.seccomp): NULL-terminated
 * static lists of the names bothy_seccomp_compile() accepts. */
extern const char *const bothy_seccomp_known_actions[];   /* "SCMP_ACT_..." */
extern const char *const bothy_seccomp_known_operators[]; /* "SCMP_CMP_..." */
extern const char *const bothy_seccomp_known_flags[];     /* "SECCOMP_FILTER_FLAG_..." */
/* Whether the running kernel (and libseccomp) can use a known flag. */
bool bothy_seccomp_flag_supported(const char *flag);
/* The "SCMP_ARCH_..." names this libseccomp supports; caller frees (strv). */
char **bothy_seccomp_archs(void);
