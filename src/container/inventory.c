/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "container/inventory.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "base/db.h"
#include "base/fs.h"
#include "base/strv.h"
#include "base/xalloc.h"
#include "runtime/state.h"

struct bothy_inventory {
  sqlite3 *db;
  char *path;
};

/* The tables of containers and volumes. container_volumes.volume refers to
 * volumes(name) without ON DELETE: removing a volume that a container still
 * links fails in the database itself, whatever the code above it checks.
 * Migrations are append-only: add a new string, never edit an old one. */
static const char *const migrations[] = {
  "CREATE TABLE containers ("
  "  id TEXT PRIMARY KEY NOT NULL,"
  "  name TEXT NOT NULL UNIQUE,"
  "  image TEXT,"
  "  image_id TEXT,"
  "  created TEXT NOT NULL,"
  "  state TEXT NOT NULL,"
  "  creator_pid INTEGER NOT NULL DEFAULT 0,"
  "  creator_start INTEGER NOT NULL DEFAULT 0,"
  "  user_stopped INTEGER NOT NULL DEFAULT 0,"
  "  config TEXT);"
  "CREATE INDEX containers_created ON containers (created);"
  "CREATE TABLE volumes ("
  "  name TEXT PRIMARY KEY NOT NULL,"
  "  created TEXT NOT NULL,"
  "  labels TEXT NOT NULL DEFAULT '{}',"
  "  anonymous INTEGER NOT NULL DEFAULT 0);"
  "CREATE TABLE container_volumes ("
  "  container TEXT NOT NULL REFERENCES containers (id) ON DELETE CASCADE,"
  "  volume TEXT NOT NULL REFERENCES volumes (name),"
  "  PRIMARY KEY (container, volume));"
  "CREATE INDEX container_volumes_volume ON container_volumes (volume);",
  /* Private uid/gid ranges of --userns=auto containers. */
  "CREATE TABLE userns_ranges ("
  "  container TEXT PRIMARY KEY NOT NULL REFERENCES containers (id) ON DELETE CASCADE,"
  "  start INTEGER NOT NULL UNIQUE,"
  "  size INTEGER NOT NULL);",
};

/* One connection kept for the rest of the process once closed: a command
 * opens the inventory several times (create, then start, then remove), and
 * the first connection to a WAL database in a process rebuilds the WAL index
 * from the log. Never reused across fork() (SQLite's locks belong to the
 * process that took them) nor inside a transaction. */
static struct {
  bool enabled;
  char *path;
  sqlite3 *db;
  pid_t pid;
} parked;

void bothy_inventory_reuse_connection(bool on)
{
  parked.enabled = on;
}

int bothy_inventory_open(const char *root, struct bothy_inventory **ret, bothy_error_t *err)
{
  _cleanup_free_ char *path = xasprintf("%s/bothy.db", root);
  _cleanup_db_ sqlite3 *db = NULL;
  if (parked.db && parked.pid == getpid() && streq(parked.path, path)) {
    db = TAKE_PTR(parked.db);
  } else {
    if (bothy_mkdir_p(root, 0700, err) < 0)
      return -1;
    if (bothy_db_open(path, &db, err) < 0 ||
        bothy_db_migrate(db, "inventory", migrations, ARRAY_SIZE(migrations), err) < 0)
      return -1;
  }
  struct bothy_inventory *inv = xmalloc0(sizeof(*inv));
  inv->db = TAKE_PTR(db);
  inv->path = TAKE_PTR(path);
  *ret = inv;
  return 0;
}

struct bothy_inventory *bothy_inventory_close(struct bothy_inventory *inv)
{
  if (!inv)
    return NULL;
  if (parked.enabled && !parked.db && sqlite3_get_autocommit(inv->db)) {
    free(parked.path);
    parked.path = TAKE_PTR(inv->path);
    parked.db = inv->db;
    parked.pid = getpid();
  } else {
    sqlite3_close_v2(inv->db);
  }
  free(inv->path);
  free(inv);
  return NULL;
}

sqlite3 *bothy_inventory_db(struct bothy_inventory *inv)
{
  return inv->db;
}

/* ---- names -------------------------------------------------------------- */

static bool is_name_char(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

static bool is_alnum(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* docker's [a-zA-Z0-9][a-zA-Z0-9_.-]* */
static bool name_valid(const char *name)
{
  if (!is_alnum(name[0]))
    return false;
  for (const char *p = name + 1; *p; p++)
    if (!is_name_char(*p))
      return false;
  return true;
}

static bool is_hex(const char *s, size_t min, size_t max)
{
  size_t n = 0;
  for (; s[n]; n++)
    if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
      return false;
  return n >= min && n <= max;
}

static bool state_valid(const char *state)
{
  return streq(state, "creating") || streq(state, "created") || streq(state, "removing");
}

/* A few of docker's names-generator words: enough combinations that a
 * collision is rare, and a retry settles it when one happens. */
static const char *const adjectives[] = {
  "admiring",    "adoring",   "affectionate", "agitated",      "amazing",   "angry",
  "awesome",     "beautiful", "blissful",     "bold",          "boring",    "brave",
  "busy",        "charming",  "clever",       "compassionate", "competent", "condescending",
  "confident",   "cool",      "cranky",       "crazy",         "dazzling",  "determined",
  "distracted",  "dreamy",    "eager",        "ecstatic",      "elastic",   "elated",
  "elegant",     "eloquent",  "epic",         "exciting",      "fervent",   "festive",
  "flamboyant",  "focused",   "friendly",     "frosty",        "funny",     "gallant",
  "gifted",      "goofy",     "gracious",     "great",         "happy",     "hardcore",
  "heuristic",   "hopeful",   "hungry",       "infallible",    "inspiring", "intelligent",
  "interesting", "jolly",     "jovial",       "keen",          "kind",      "laughing",
  "loving",      "lucid",     "magical",      "modest",        "musing",    "mystifying",
  "naughty",     "nervous",   "nice",         "nifty",         "nostalgic", "objective",
  "optimistic",  "peaceful",  "pedantic",     "pensive",       "practical", "priceless",
  "quirky",      "quizzical", "recursing",    "relaxed",       "reverent",  "romantic",
  "sad",         "serene",    "sharp",        "silly",         "sleepy",    "stoic",
  "strange",     "stupefied", "suspicious",   "sweet",         "tender",    "thirsty",
  "trusting",    "unruffled", "upbeat",       "vibrant",       "vigilant",  "vigorous",
  "wizardly",    "wonderful", "xenodochial",  "youthful",      "zealous",   "zen",
};

static const char *const surnames[] = {
  "agnesi",        "albattani",
  "allen",         "almeida",
  "antonelli",     "archimedes",
  "ardinghelli",   "aryabhata",
  "austin",        "babbage",
  "banach",        "bardeen",
  "bartik",        "bassi",
  "beaver",        "bell",
  "benz",          "bhabha",
  "bhaskara",      "blackburn",
  "blackwell",     "bohr",
  "booth",         "borg",
  "bose",          "bouman",
  "boyd",          "brahmagupta",
  "brattain",      "brown",
  "buck",          "burnell",
  "cannon",        "carson",
  "cartwright",    "carver",
  "cerf",          "chandrasekhar",
  "chaplygin",     "chatelet",
  "chatterjee",    "chaum",
  "chebyshev",     "clarke",
  "cohen",         "colden",
  "cori",          "cray",
  "curie",         "darwin",
  "davinci",       "dewdney",
  "dhawan",        "diffie",
  "dijkstra",      "dirac",
  "driscoll",      "dubinsky",
  "easley",        "edison",
  "einstein",      "elbakyan",
  "elgamal",       "elion",
  "ellis",         "engelbart",
  "euclid",        "euler",
  "faraday",       "feistel",
  "fermat",        "fermi",
  "feynman",       "franklin",
  "gagarin",       "galileo",
  "galois",        "ganguly",
  "gates",         "gauss",
  "germain",       "goldberg",
  "goldstine",     "goldwasser",
  "golick",        "goodall",
  "gould",         "greider",
  "grothendieck",  "haibt",
  "hamilton",      "haslett",
  "hawking",       "heisenberg",
  "hellman",       "hermann",
  "herschel",      "hertz",
  "heyrovsky",     "hodgkin",
  "hofstadter",    "hoover",
  "hopper",        "hugle",
  "hypatia",       "ishizaka",
  "jackson",       "jang",
  "jemison",       "jennings",
  "jepsen",        "johnson",
  "joliot",        "jones",
  "kalam",         "kapitsa",
  "kare",          "keldysh",
  "keller",        "kepler",
  "khayyam",       "khorana",
  "kilby",         "kirch",
  "knuth",         "kowalevski",
  "lalande",       "lamarr",
  "lamport",       "leakey",
  "leavitt",       "lederberg",
  "lehmann",       "lewin",
  "lichterman",    "liskov",
  "lovelace",      "lumiere",
  "mahavira",      "margulis",
  "matsumoto",     "maxwell",
  "mayer",         "mccarthy",
  "mcclintock",    "mclaren",
  "mclean",        "mcnulty",
  "meitner",       "mendel",
  "mendeleev",     "meninsky",
  "merkle",        "mestorf",
  "mirzakhani",    "montalcini",
  "moore",         "morse",
  "moser",         "murdock",
  "napier",        "nash",
  "neumann",       "newton",
  "nightingale",   "nobel",
  "noether",       "northcutt",
  "noyce",         "panini",
  "pare",          "pascal",
  "pasteur",       "payne",
  "perlman",       "pike",
  "poincare",      "poitras",
  "proskuriakova", "ptolemy",
  "raman",         "ramanujan",
  "rhodes",        "ride",
  "ritchie",       "robinson",
  "roentgen",      "rosalind",
  "rubin",         "saha",
  "sammet",        "sanderson",
  "satoshi",       "shamir",
  "shannon",       "shaw",
  "shirley",       "shockley",
  "shtern",        "sinoussi",
  "snyder",        "solomon",
  "spence",        "stonebraker",
  "sutherland",    "swanson",
  "swartz",        "swirles",
  "taussig",       "tesla",
  "tharp",         "thompson",
  "torvalds",      "tu",
  "turing",        "varahamihira",
  "vaughan",       "villani",
  "visvesvaraya",  "volhard",
  "wescoff",       "wilbur",
  "wiles",         "williams",
  "williamson",    "wilson",
  "wing",          "wozniak",
  "wright",        "wu",
  "yalow",         "yonath",
  "zhukovsky",
};

static uint32_t random_u32(void)
{
  uint32_t v;
  if (getrandom(&v, sizeof(v), 0) != sizeof(v))
    abort();
  return v;
}

/* "adjective_surname"; after some collisions a number is added, as docker
 * does, so that a crowded namespace still ends quickly. */
static char *random_name(unsigned attempt)
{
  for (;;) {
    const char *a = adjectives[random_u32() % ARRAY_SIZE(adjectives)];
    const char *s = surnames[random_u32() % ARRAY_SIZE(surnames)];
    /* Steve Wozniak is not boring (docker's one exception). */
    if (streq(a, "boring") && streq(s, "wozniak"))
      continue;
    if (attempt < 10)
      return xasprintf("%s_%s", a, s);
    return xasprintf("%s_%s%" PRIu32, a, s, random_u32() % 1000);
  }
}

/* ---- records ------------------------------------------------------------ */

void bothy_ctr_record_free(struct bothy_ctr_record *r)
{
  if (!r)
    return;
  free(r->id);
  free(r->name);
  free(r->image);
  free(r->image_id);
  free(r->created);
  free(r->state);
  json_decref(r->config);
  strv_free(r->volumes);
  free(r);
}

void bothy_ctr_records_free(struct bothy_ctr_record **v, size_t n)
{
  if (!v)
    return;
  for (size_t i = 0; i < n; i++)
    bothy_ctr_record_free(v[i]);
  free(v);
}

/* The columns read_record() expects. The volumes come as one string joined
 * with '/', a character no volume name can hold. */
#define RECORD_COLUMNS                                                                             \
  "c.id, c.name, c.image, c.image_id, c.created, c.state, c.creator_pid, c.creator_start, "        \
  "c.user_stopped, c.config, "                                                                     \
  "(SELECT group_concat(volume, '/') FROM container_volumes WHERE container = c.id)"

static char *column_strdup(sqlite3_stmt *st, int i)
{
  const unsigned char *s = sqlite3_column_text(st, i);
  return s ? xstrdup((const char *) s) : NULL;
}

static int read_record(sqlite3_stmt *st, struct bothy_ctr_record **ret, bothy_error_t *err)
{
  _cleanup_ctr_record_ struct bothy_ctr_record *r = xmalloc0(sizeof(*r));
  r->id = column_strdup(st, 0);
  r->name = column_strdup(st, 1);
  r->image = column_strdup(st, 2);
  r->image_id = column_strdup(st, 3);
  r->created = column_strdup(st, 4);
  r->state = column_strdup(st, 5);
  r->creator_pid = (pid_t) sqlite3_column_int64(st, 6);
  r->creator_start = (unsigned long long) sqlite3_column_int64(st, 7);
  r->user_stopped = sqlite3_column_int(st, 8) != 0;
  const char *config = (const char *) sqlite3_column_text(st, 9);
  if (config) {
    json_error_t je;
    r->config = json_loads(config, JSON_DECODE_ANY, &je);
    if (!r->config)
      return bothy_error_set(err, 0, "container %s: the stored configuration is not JSON: %s",
                             r->id, je.text);
  }
  const char *vols = (const char *) sqlite3_column_text(st, 10);
  if (vols) {
    r->volumes = xmalloc0(sizeof(char *));
    for (const char *p = vols;;) {
      const char *slash = strchr(p, '/');
      strv_push(&r->volumes, slash ? xstrndup(p, (size_t) (slash - p)) : xstrdup(p));
      if (!slash)
        break;
      p = slash + 1;
    }
  }
  *ret = TAKE_PTR(r);
  return 0;
}

static int volume_exists(sqlite3 *db, const char *name, bothy_error_t *err)
{
  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(db, "SELECT 1 FROM volumes WHERE name = ?", &st, err) < 0)
    return -1;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    return 1;
  if (rc == SQLITE_DONE)
    return 0;
  return bothy_db_error(db, err, "reading the volumes");
}

static int container_exists(sqlite3 *db, const char *id, bothy_error_t *err)
{
  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(db, "SELECT 1 FROM containers WHERE id = ?", &st, err) < 0)
    return -1;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    return 1;
  if (rc == SQLITE_DONE)
    return 0;
  return bothy_db_error(db, err, "reading the containers");
}

/* Links id to each of volumes; every volume must exist. Inside a
 * transaction, which holds the write lock: nobody removes the volume
 * between the check and the insert. */
static int link_volumes(sqlite3 *db, const char *id, char *const *volumes, bothy_error_t *err)
{
  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(db,
                       "INSERT OR IGNORE INTO container_volumes (container, volume) VALUES (?, ?)",
                       &st, err) < 0)
    return -1;
  for (size_t i = 0; volumes && volumes[i]; i++) {
    int r = volume_exists(db, volumes[i], err);
    if (r < 0)
      return -1;
    if (r == 0)
      return bothy_error_set_code(err, ENOENT, "no such volume: %s", volumes[i]);
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, volumes[i], -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
      return bothy_db_error(db, err, "linking the container to its volumes");
  }
  return 0;
}

/* The error for a name the UNIQUE constraint refused: who holds it. */
static int name_in_use(sqlite3 *db, const char *name, bothy_error_t *err)
{
  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(db, "SELECT id FROM containers WHERE name = ?", &st, err) < 0)
    return -1;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  const char *other =
      sqlite3_step(st) == SQLITE_ROW ? (const char *) sqlite3_column_text(st, 0) : "?";
  return bothy_error_set_code(
      err, EEXIST, "the container name \"%s\" is already in use by container %.12s", name, other);
}

int bothy_inventory_ctr_add(struct bothy_inventory *inv, struct bothy_ctr_record *r,
                            bothy_error_t *err)
{
  if (!r->id || !is_hex(r->id, 64, 64))
    return bothy_error_set_code(err, EINVAL,
                                "invalid container id \"%s\": 64 lowercase hex digits expected",
                                r->id ? r->id : "");
  const char *state = r->state ? r->state : "creating";
  if (!state_valid(state))
    return bothy_error_set_code(err, EINVAL, "invalid container state \"%s\"", state);
  const char *given = r->name;
  if (given && given[0] == '/')
    given++;
  if (given && !name_valid(given))
    return bothy_error_set_code(
        err, EINVAL, "invalid container name \"%s\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
        r->name);
  _cleanup_free_ char *now = r->created ? NULL : bothy_time_now_rfc3339();
  _cleanup_free_ char *config =
      r->config ? json_dumps(r->config, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
  if (r->config && !config)
    return bothy_error_set_code(err, EINVAL, "container %s: the configuration cannot be serialised",
                                r->id);

  sqlite3 *db = inv->db;
  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(db,
                       "INSERT INTO containers (id, name, image, image_id, created, state, "
                       "creator_pid, creator_start, user_stopped, config) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       &st, err) < 0)
    return -1;
  int tx = bothy_db_tx_begin(inv->db, err);
  if (tx < 0)
    return -1;
  _cleanup_free_ char *generated = NULL;
  for (unsigned attempt = 0;; attempt++) {
    sqlite3_reset(st);
    const char *name = given;
    if (!name) {
      free(generated);
      generated = random_name(attempt);
      name = generated;
    }
    sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, r->image, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, r->image_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, r->created ? r->created : now, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, state, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, r->creator_pid);
    sqlite3_bind_int64(st, 8, (sqlite3_int64) r->creator_start);
    sqlite3_bind_int(st, 9, r->user_stopped);
    sqlite3_bind_text(st, 10, config, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_DONE)
      break;
    int ext = sqlite3_extended_errcode(db);
    /* A generated name someone already has: draw another (the failed
     * statement is undone, the transaction goes on). */
    if (ext == SQLITE_CONSTRAINT_UNIQUE && !given && attempt < 100)
      continue;
    if (ext == SQLITE_CONSTRAINT_UNIQUE)
      name_in_use(db, name, err);
    else if (ext == SQLITE_CONSTRAINT_PRIMARYKEY)
      bothy_error_set_code(err, EEXIST, "a container with id %s already exists", r->id);
    else
      bothy_db_error(db, err, "adding the container");
    bothy_db_tx_rollback(inv->db, tx);
    return bothy_error_ret(err);
  }
  if (link_volumes(db, r->id, r->volumes, err) < 0) {
    bothy_db_tx_rollback(inv->db, tx);
    return bothy_error_ret(err);
  }
  if (bothy_db_tx_commit(inv->db, tx, err) < 0)
    return -1;
  if (generated)
    r->name = TAKE_PTR(generated);
  return 0;
}

int bothy_inventory_ctr_get(struct bothy_inventory *inv, const char *ref,
                            struct bothy_ctr_record **ret, bothy_error_t *err)
{
  return bothy_inventory_ctr_get_db(inv->db, ref, ret, err);
}

int bothy_inventory_ctr_get_db(sqlite3 *db, const char *ref, struct bothy_ctr_record **ret,
                               bothy_error_t *err)
{
  if (!ref || !*ref)
    return bothy_error_set_code(err, ENOENT, "no such container: %s", ref ? ref : "");
  const char *name = ref[0] == '/' ? ref + 1 : ref;
  _cleanup_free_ char *glob = is_hex(ref, 1, 64) ? xasprintf("%s*", ref) : NULL;
  /* One statement, so one snapshot: an exact id first, then an exact name,
   * then prefixes; two rows tell an ambiguous prefix. */
  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(db,
                       "SELECT " RECORD_COLUMNS " FROM containers c "
                       "WHERE c.id = ?1 OR c.name = ?2 OR c.id GLOB ?3 "
                       "ORDER BY c.id = ?1 DESC, c.name = ?2 DESC LIMIT 2",
                       &st, err) < 0)
    return -1;
  sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, glob, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_DONE)
    return bothy_error_set_code(err, ENOENT, "no such container: %s", ref);
  if (rc != SQLITE_ROW)
    return bothy_db_error(db, err, "reading the containers");
  _cleanup_ctr_record_ struct bothy_ctr_record *r = NULL;
  if (read_record(st, &r, err) < 0)
    return -1;
  if (!streq(r->id, ref) && !streq(r->name, name)) {
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
      return bothy_error_set_code(err, EINVAL, "multiple containers match \"%s\"", ref);
    if (rc != SQLITE_DONE)
      return bothy_db_error(db, err, "reading the containers");
  }
  *ret = TAKE_PTR(r);
  return 0;
}

int bothy_inventory_ctr_list(struct bothy_inventory *inv, struct bothy_ctr_record ***ret,
                             size_t *ret_n, bothy_error_t *err)
{
  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(inv->db,
                       "SELECT " RECORD_COLUMNS
                       " FROM containers c ORDER BY c.created DESC, c.rowid DESC",
                       &st, err) < 0)
    return -1;
  struct bothy_ctr_record **v = NULL;
  size_t n = 0;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    struct bothy_ctr_record *r = NULL;
    if (read_record(st, &r, err) < 0) {
      bothy_ctr_records_free(v, n);
      return -1;
    }
    v = xrealloc(v, (n + 1) * sizeof(*v));
    v[n++] = r;
  }
  if (rc != SQLITE_DONE) {
    bothy_ctr_records_free(v, n);
    return bothy_db_error(inv->db, err, "reading the containers");
  }
  *ret = v;
  *ret_n = n;
  return 0;
}

/* Runs a one-row UPDATE prepared in st; ENOENT when no row has id. */
static int update_one(struct bothy_inventory *inv, sqlite3_stmt *st, const char *id,
                      bothy_error_t *err)
{
  if (sqlite3_step(st) != SQLITE_DONE)
    return bothy_db_error(inv->db, err, "updating the container");
  if (sqlite3_changes(inv->db) == 0)
    return bothy_error_set_code(err, ENOENT, "no such container: %s", id);
  return 0;
}

int bothy_inventory_ctr_set_state(struct bothy_inventory *inv, const char *id, const char *state,
                                  pid_t creator_pid, unsigned long long creator_start,
                                  bothy_error_t *err)
{
  if (!state_valid(state))
    return bothy_error_set_code(err, EINVAL, "invalid container state \"%s\"", state ? state : "");
  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(inv->db,
                       "UPDATE containers SET state = ?, creator_pid = ?, creator_start = ? "
                       "WHERE id = ?",
                       &st, err) < 0)
    return -1;
  sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, creator_pid);
  sqlite3_bind_int64(st, 3, (sqlite3_int64) creator_start);
  sqlite3_bind_text(st, 4, id, -1, SQLITE_STATIC);
  return update_one(inv, st, id, err);
}

int bothy_inventory_ctr_set_user_stopped(struct bothy_inventory *inv, const char *id, bool stopped,
                                         bothy_error_t *err)
{
  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(inv->db, "UPDATE containers SET user_stopped = ? WHERE id = ?", &st, err) <
      0)
    return -1;
  sqlite3_bind_int(st, 1, stopped);
  sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
  return update_one(inv, st, id, err);
}

int bothy_inventory_ctr_set_config(struct bothy_inventory *inv, const char *id, json_t *config,
                                   bothy_error_t *err)
{
  _cleanup_free_ char *s = config ? json_dumps(config, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
  if (config && !s)
    return bothy_error_set_code(err, EINVAL, "container %s: the configuration cannot be serialised",
                                id);
  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(inv->db, "UPDATE containers SET config = ? WHERE id = ?", &st, err) < 0)
    return -1;
  sqlite3_bind_text(st, 1, s, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
  return update_one(inv, st, id, err);
}

int bothy_inventory_ctr_link_volume(struct bothy_inventory *inv, const char *id, const char *volume,
                                    bothy_error_t *err)
{
  int tx = bothy_db_tx_begin(inv->db, err);
  if (tx < 0)
    return -1;
  int r = container_exists(inv->db, id, err);
  if (r == 0)
    r = bothy_error_set_code(err, ENOENT, "no such container: %s", id);
  if (r > 0)
    r = link_volumes(inv->db, id, (char *const[]){ (char *) volume, NULL }, err);
  if (r < 0) {
    bothy_db_tx_rollback(inv->db, tx);
    return bothy_error_ret(err);
  }
  return bothy_db_tx_commit(inv->db, tx, err);
}

int bothy_inventory_ctr_remove(struct bothy_inventory *inv, const char *id, bothy_error_t *err)
{
  _cleanup_stmt_ sqlite3_stmt *links = NULL, *ctr = NULL;
  if (bothy_db_prepare(inv->db, "DELETE FROM container_volumes WHERE container = ?", &links, err) <
          0 ||
      bothy_db_prepare(inv->db, "DELETE FROM containers WHERE id = ?", &ctr, err) < 0)
    return -1;
  sqlite3_bind_text(links, 1, id, -1, SQLITE_STATIC);
  sqlite3_bind_text(ctr, 1, id, -1, SQLITE_STATIC);
  int tx = bothy_db_tx_begin(inv->db, err);
  if (tx < 0)
    return -1;
  if (sqlite3_step(links) != SQLITE_DONE || sqlite3_step(ctr) != SQLITE_DONE) {
    bothy_db_error(inv->db, err, "removing the container");
    bothy_db_tx_rollback(inv->db, tx);
    return -1;
  }
  if (sqlite3_changes(inv->db) == 0) {
    bothy_db_tx_rollback(inv->db, tx);
    return bothy_error_set_code(err, ENOENT, "no such container: %s", id);
  }
  return bothy_db_tx_commit(inv->db, tx, err);
}

int bothy_inventory_userns_alloc(struct bothy_inventory *inv, const char *id, uint32_t base,
                                 uint32_t size, uint32_t limit, uint32_t *ret_start,
                                 bothy_error_t *err)
{
  int tx = bothy_db_tx_begin(inv->db, err);
  if (tx < 0)
    return -1;
  /* The first free slot: ranges are all of one size, aligned on it. */
  _cleanup_stmt_ sqlite3_stmt *st = NULL, *ins = NULL;
  if (bothy_db_prepare(inv->db, "SELECT start FROM userns_ranges WHERE start >= ? ORDER BY start",
                       &st, err) < 0)
    goto fail;
  sqlite3_bind_int64(st, 1, base);
  uint64_t next = base;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    uint64_t used = (uint64_t) sqlite3_column_int64(st, 0);
    if (used > next)
      break;
    if (used == next)
      next += size;
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    bothy_db_error(inv->db, err, "reading uid ranges");
    goto fail;
  }
  if (next + size > (uint64_t) limit) {
    bothy_error_set_code(err, ENOSPC, "no free uid/gid range of %u ids left for --userns=auto",
                         size);
    goto fail;
  }
  if (bothy_db_prepare(inv->db,
                       "INSERT INTO userns_ranges (container, start, size) VALUES (?, ?, ?)", &ins,
                       err) < 0)
    goto fail;
  sqlite3_bind_text(ins, 1, id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(ins, 2, (sqlite3_int64) next);
  sqlite3_bind_int64(ins, 3, size);
  if (sqlite3_step(ins) != SQLITE_DONE) {
    bothy_db_error(inv->db, err, "recording a uid range");
    goto fail;
  }
  if (bothy_db_tx_commit(inv->db, tx, err) < 0)
    goto fail;
  *ret_start = (uint32_t) next;
  return 0;
fail:
  bothy_db_tx_rollback(inv->db, tx);
  return err && *err ? bothy_error_ret(err) : -1;
}
