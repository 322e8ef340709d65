/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "runtime/hooks.h"

#include <string.h>
#include <sys/wait.h>

#include "base/log.h"
#include "base/process.h"

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
    log_debug("running %s hook '%s'", bothy_hook_kind_name(kind), h->path);
    if (bothy_cmd_run(&cmd, &status, err) < 0)
      return bothy_error_prefix(err, "%s hook #%zu", bothy_hook_kind_name(kind), i);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        return bothy_error_set(err, 0, "%s hook #%zu: cannot run '%s'", bothy_hook_kind_name(kind),
                               i, h->path);
      return bothy_error_set(err, 0, "%s hook #%zu '%s' failed with exit status %d",
                             bothy_hook_kind_name(kind), i, h->path, bothy_exit_code(status));
    }
  }
  return 0;
}
