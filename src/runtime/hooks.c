/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "runtime/hooks.h"

#include <string.h>
#include <sys/wait.h>

#include "base/log.h"
#include "base/process.h"

static const char *kind_names[_BOTHY_HOOK_MAX] = {
  [BOTHY_HOOK_PRESTART] = "prestart",
  [BOTHY_HOOK_CREATE_RUNTIME] = "createRuntime",
  [BOTHY_HOOK_CREATE_CONTAINER] = "createContainer",
  [BOTHY_HOOK_START_CONTAINER] = "startContainer",
  [BOTHY_HOOK_POSTSTART] = "poststart",
  [BOTHY_HOOK_POSTSTOP] = "poststop",
};

const char *bothy_hook_kind_name(enum bothy_hook_kind k)
{
  return (k >= 0 && k < _BOTHY_HOOK_MAX) ? kind_names[k] : "unknown";
}

int bothy_hooks_run(const struct bothy_spec *spec, enum bothy_hook_kind kind,
                    const char *state_json, bothy_error_t *err)
{
  for (size_t i = 0; i < spec->n_hooks[kind]; i++) {
    const struct bothy_hook *h = &spec->hooks[kind][i];
    struct bothy_cmd cmd = {
      .path = h->path,
      .argv = h->args,
      .env = h->env,
      .input = state_json,
      .input_len = strlen(state_json),
      .timeout_sec = h->timeout,
      .stdout_fd = -1,
      .stderr_fd = -1,
    };
    int status = 0;
    log_debug("running %s hook '%s'", kind_names[kind], h->path);
    if (bothy_cmd_run(&cmd, &status, err) < 0)
      return bothy_error_prefix(err, "%s hook #%zu", kind_names[kind], i);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        return bothy_error_set(err, 0, "%s hook #%zu: cannot run '%s'", kind_names[kind], i,
                               h->path);
      return bothy_error_set(err, 0, "%s hook #%zu '%s' failed with exit status %d",
                             kind_names[kind], i, h->path, bothy_exit_code(status));
    }
  }
  return 0;
}
