/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The configuration `spec` writes: runc's defaults, so that a bundle made
 * with one runtime works with the other. */
#include <unistd.h>

#include "base/json.h"
#include "runtime/spec.h"

static const char default_spec[] =
    "{"
    "\"ociVersion\": \"1.2.0\","
    "\"process\": {"
    "  \"terminal\": true,"
    "  \"user\": {\"uid\": 0, \"gid\": 0},"
    "  \"args\": [\"sh\"],"
    "  \"env\": [\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\", "
    "\"TERM=xterm\"],"
    "  \"cwd\": \"/\","
    "  \"capabilities\": {"
    "    \"bounding\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"],"
    "    \"effective\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"],"
    "    \"permitted\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"],"
    "    \"ambient\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"]"
    "  },"
    "  \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": 1024, \"soft\": 1024}],"
    "  \"noNewPrivileges\": true"
    "},"
    "\"root\": {\"path\": \"rootfs\", \"readonly\": true},"
    "\"hostname\": \"bothy\","
    "\"mounts\": ["
    "  {\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"},"
    "  {\"destination\": \"/dev\", \"type\": \"tmpfs\", \"source\": \"tmpfs\","
    "   \"options\": [\"nosuid\", \"strictatime\", \"mode=755\", \"size=65536k\"]},"
    "  {\"destination\": \"/dev/pts\", \"type\": \"devpts\", \"source\": \"devpts\","
    "   \"options\": [\"nosuid\", \"noexec\", \"newinstance\", \"ptmxmode=0666\", \"mode=0620\", "
    "\"gid=5\"]},"
    "  {\"destination\": \"/dev/shm\", \"type\": \"tmpfs\", \"source\": \"shm\","
    "   \"options\": [\"nosuid\", \"noexec\", \"nodev\", \"mode=1777\", \"size=65536k\"]},"
    "  {\"destination\": \"/dev/mqueue\", \"type\": \"mqueue\", \"source\": \"mqueue\","
    "   \"options\": [\"nosuid\", \"noexec\", \"nodev\"]},"
    "  {\"destination\": \"/sys\", \"type\": \"sysfs\", \"source\": \"sysfs\","
    "   \"options\": [\"nosuid\", \"noexec\", \"nodev\", \"ro\"]},"
    "  {\"destination\": \"/sys/fs/cgroup\", \"type\": \"cgroup\", \"source\": \"cgroup\","
    "   \"options\": [\"nosuid\", \"noexec\", \"nodev\", \"relatime\", \"ro\"]}"
    "],"
    "\"linux\": {"
    "  \"resources\": {\"devices\": [{\"allow\": false, \"access\": \"rwm\"}]},"
    "  \"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"network\"}, {\"type\": \"ipc\"},"
    "                  {\"type\": \"uts\"}, {\"type\": \"mount\"}, {\"type\": \"cgroup\"}],"
    "  \"maskedPaths\": [\"/proc/acpi\", \"/proc/asound\", \"/proc/kcore\", \"/proc/keys\","
    "    \"/proc/latency_stats\", \"/proc/timer_list\", \"/proc/timer_stats\","
    "    \"/proc/sched_debug\", \"/sys/firmware\", \"/proc/scsi\"],"
    "  \"readonlyPaths\": [\"/proc/bus\", \"/proc/fs\", \"/proc/irq\", \"/proc/sys\","
    "    \"/proc/sysrq-trigger\"]"
    "}"
    "}";

/* As runc's ToRootless: a user namespace mapping the caller, no network or
 * cgroup namespace, /sys bound from the host, no cgroup mount or resources. */
static void make_rootless(json_t *spec)
{
  json_t *lx = json_object_get(spec, "linux");
  json_object_del(lx, "resources");
  json_t *nss = json_array();
  const char *keep[] = { "pid", "ipc", "uts", "mount", "user" };
  for (size_t i = 0; i < ARRAY_SIZE(keep); i++)
    json_array_append_new(nss, json_pack("{s:s}", "type", keep[i]));
  json_object_set_new(lx, "namespaces", nss);
  json_object_set_new(lx, "uidMappings",
                      json_pack("[{s:i, s:i, s:i}]", "containerID", 0, "hostID",
                                (json_int_t) geteuid(), "size", 1));
  json_object_set_new(lx, "gidMappings",
                      json_pack("[{s:i, s:i, s:i}]", "containerID", 0, "hostID",
                                (json_int_t) getegid(), "size", 1));
  json_t *mounts = json_object_get(spec, "mounts");
  json_t *out = json_array();
  size_t i;
  json_t *m;
  json_array_foreach (mounts, i, m) {
    const char *dst = json_string_value(json_object_get(m, "destination"));
    if (streq(dst, "/sys/fs/cgroup"))
      continue;
    if (streq(dst, "/sys")) {
      json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:[s,s,s,s,s]}", "destination", "/sys",
                                           "type", "none", "source", "/sys", "options", "rbind",
                                           "nosuid", "noexec", "nodev", "ro"));
      continue;
    }
    if (streq(dst, "/dev/pts")) {
      json_t *opts = json_object_get(m, "options");
      json_t *nopts = json_array();
      size_t j;
      json_t *o;
      json_array_foreach (opts, j, o)
        if (!streq(json_string_value(o), "gid=5"))
          json_array_append(nopts, o);
      json_object_set_new(m, "options", nopts);
    }
    json_array_append(out, m);
  }
  json_object_set_new(spec, "mounts", out);
}

json_t *bothy_spec_default(bool rootless)
{
  json_t *spec = json_loads(default_spec, 0, NULL);
  if (spec && rootless)
    make_rootless(spec);
  return spec;
}
