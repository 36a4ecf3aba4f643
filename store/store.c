/*
 * store/store.c - the SQLite store (see store.h for the schema and rules).
 *
 * Owns the schema, its migrations, the writer lock and every SQL statement
 * that touches the tables; nothing else in gpunas writes SQL. Statements the
 * coordinator runs per result are prepared once and cached on the handle
 * (the hot path at thousands of results per second); rarer ones are prepared
 * per call.
 */
#include "store/store.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/util.h"
#include "store/checkpointer.h"

enum {
    ST_JOB_INSERT,
    ST_JOB_LEASE,
    ST_JOB_REQUEUE,
    ST_JOB_FINISH,
    ST_JOB_STATE,
    ST_RESULT_INSERT,
    ST_LATENCY_INSERT,
    ST_JOB_DONE,
    ST_EVENT,
    ST_COUNT
};

static const char *const cached_sql[ST_COUNT] = {
    [ST_JOB_INSERT] = "INSERT INTO jobs(id, experiment, kind, arch_json, arch_hash, recipe_json, tag, state,"
                      " attempt, max_attempts, worker, lease_expires_at, created_at, updated_at)"
                      " VALUES(?9, ?1, ?2, ?3, ?4, ?5, ?6, ?10, ?11, ?7, ?12, ?13, ?8, ?8)",
    [ST_JOB_LEASE] = "UPDATE jobs SET state = 'leased', worker = ?2, attempt = ?3,"
                     " lease_expires_at = ?4, updated_at = ?5 WHERE id = ?1 AND state IN ('queued','leased')",
    [ST_JOB_REQUEUE] = "UPDATE jobs SET state = 'queued', attempt = ?2, error = ?3,"
                       " lease_expires_at = NULL, updated_at = ?4 WHERE id = ?1 AND state IN ('queued','leased')",
    [ST_JOB_FINISH] = "UPDATE jobs SET state = ?2, error = coalesce(?3, error), lease_expires_at = NULL,"
                      " updated_at = ?4 WHERE id = ?1",
    [ST_JOB_STATE] = "SELECT experiment, kind, state FROM jobs WHERE id = ?1",
    [ST_RESULT_INSERT] = "INSERT OR IGNORE INTO results(job, experiment, kind, attempt, worker, top1, top5,"
                         " loss, params, macs, train_seconds, device, simulated, checkpoint, created_at)"
                         " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    [ST_LATENCY_INSERT] = "INSERT OR REPLACE INTO latencies(job, experiment, batch, precision, mean_ms,"
                          " p50_ms, p90_ms, top1) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_JOB_DONE] = "UPDATE jobs SET state = ?2, worker = coalesce(?3, worker), lease_expires_at = NULL,"
                    " updated_at = ?4 WHERE id = ?1",
    [ST_EVENT] = "INSERT INTO events(experiment, at, level, kind, job, worker, message)"
                 " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
};

struct nas_store {
    sqlite3 *db;
    char *path;
    bool readonly;
    bool in_tx;
    int lock_fd; /* writer lock file, -1 for readers */
    int version; /* schema version of the file (readers may see an older one) */
    sqlite3_stmt *stmt[ST_COUNT];
    nas_checkpointer *checkpointer; /* NULL: SQLite checkpoints inside COMMIT */
};

/* Migration i takes the schema from version i to i+1; append, never edit. */
static const char *const migrations[] = {
    /* 0 -> 1: the initial schema */
    "CREATE TABLE experiments("
    " id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, config_yaml TEXT NOT NULL,"
    " space TEXT NOT NULL, strategy TEXT NOT NULL,"
    " budget_evaluations INTEGER NOT NULL DEFAULT 0 CHECK(budget_evaluations >= 0),"
    " budget_hours REAL NOT NULL DEFAULT 0 CHECK(budget_hours >= 0),"
    " elapsed_seconds REAL NOT NULL DEFAULT 0,"
    " state TEXT NOT NULL CHECK(state IN ('running','done','stopped')),"
    " created_at REAL NOT NULL, updated_at REAL NOT NULL);"
    "CREATE TABLE jobs("
    " id INTEGER PRIMARY KEY, experiment INTEGER NOT NULL REFERENCES experiments(id),"
    " kind TEXT NOT NULL CHECK(kind IN ('measure','train')),"
    " arch_json TEXT NOT NULL, arch_hash TEXT NOT NULL CHECK(length(arch_hash) = 16),"
    " recipe_json TEXT NOT NULL, tag TEXT NOT NULL DEFAULT '',"
    " state TEXT NOT NULL CHECK(state IN ('queued','leased','done','failed','infeasible')),"
    " attempt INTEGER NOT NULL CHECK(attempt >= 1),"
    " max_attempts INTEGER NOT NULL CHECK(max_attempts >= 1),"
    " worker TEXT, lease_expires_at REAL, error TEXT,"
    " created_at REAL NOT NULL, updated_at REAL NOT NULL);"
    "CREATE INDEX jobs_by_state ON jobs(experiment, state, kind);"
    "CREATE INDEX jobs_by_hash ON jobs(experiment, arch_hash, kind);"
    "CREATE TABLE results("
    " job INTEGER PRIMARY KEY REFERENCES jobs(id), experiment INTEGER NOT NULL,"
    " kind TEXT NOT NULL, attempt INTEGER NOT NULL, worker TEXT,"
    " top1 REAL, top5 REAL, loss REAL, params INTEGER, macs INTEGER, train_seconds REAL,"
    " device TEXT, simulated INTEGER NOT NULL DEFAULT 0, checkpoint TEXT,"
    " created_at REAL NOT NULL);"
    "CREATE INDEX results_by_top1 ON results(experiment, kind, top1 DESC);"
    "CREATE TABLE latencies("
    " job INTEGER NOT NULL REFERENCES jobs(id), experiment INTEGER NOT NULL,"
    " batch INTEGER NOT NULL CHECK(batch >= 1), precision TEXT NOT NULL,"
    " mean_ms REAL NOT NULL, p50_ms REAL, p90_ms REAL,"
    " PRIMARY KEY(job, batch, precision)) WITHOUT ROWID;"
    "CREATE INDEX latencies_front ON latencies(experiment, batch, precision, mean_ms, job);"
    "CREATE TABLE workers("
    " id TEXT PRIMARY KEY, host TEXT, device TEXT, backend TEXT, version TEXT,"
    " last_seen REAL NOT NULL, state TEXT NOT NULL CHECK(state IN ('connected','gone')));"
    "CREATE TABLE strategy_state("
    " experiment INTEGER PRIMARY KEY REFERENCES experiments(id), strategy TEXT NOT NULL,"
    " state_json TEXT NOT NULL, updated_at REAL NOT NULL);"
    "CREATE TABLE events("
    " id INTEGER PRIMARY KEY, experiment INTEGER, at REAL NOT NULL,"
    " level TEXT NOT NULL CHECK(level IN ('info','warn','error')), kind TEXT NOT NULL,"
    " job INTEGER, worker TEXT, message TEXT NOT NULL);"
    "CREATE INDEX events_by_exp ON events(experiment, at);",
    /* 1 -> 2: latencies carry their job's top1, so the Pareto scan is one walk
     * of a covering index: joining results row by row made 1e6 points take
     * 11 s (a random page read per row), the covering walk well under 1 s. */
    "ALTER TABLE latencies ADD COLUMN top1 REAL;"
    "UPDATE latencies SET top1 = (SELECT r.top1 FROM results r WHERE r.job = latencies.job);"
    "DROP INDEX latencies_front;"
    "CREATE INDEX latencies_front ON latencies(experiment, batch, precision, mean_ms, top1 DESC);",
    /* 2 -> 3: no query looked jobs up by arch_hash (nasd keeps the duplicate
     * check in memory, rebuilt on resume), and as hashes are random every
     * new job wrote a different leaf page of this index: at 1e5 jobs about
     * one extra 4 KiB WAL frame per job, more than the job's own row. */
    "DROP INDEX IF EXISTS jobs_by_hash;",
};
_Static_assert(sizeof migrations / sizeof migrations[0] == NAS_STORE_SCHEMA_VERSION,
               "one migration per schema version");

static const char *const state_names[NAS_JOB_STATE_COUNT] = {"queued", "leased", "done", "failed",
                                                             "infeasible"};
static const char *const kind_names[NAS_STORE_KIND_COUNT] = {"measure", "train"};

const char *nas_job_state_name(nas_job_state s) {
    return (unsigned)s < NAS_JOB_STATE_COUNT ? state_names[s] : "?";
}

int nas_job_state_parse(const char *name) {
    for (int i = 0; name && i < NAS_JOB_STATE_COUNT; i++)
        if (strcmp(name, state_names[i]) == 0) return i;
    return -1;
}

const char *nas_store_kind_name(nas_store_kind k) {
    return (unsigned)k < NAS_STORE_KIND_COUNT ? kind_names[k] : "?";
}

int nas_store_kind_parse(const char *name) {
    for (int i = 0; name && i < NAS_STORE_KIND_COUNT; i++)
        if (strcmp(name, kind_names[i]) == 0) return i;
    return -1;
}

/* ---- helpers ------------------------------------------------------------ */

static int db_error(nas_store *s, nas_err *err, const char *what) {
    return nas_err_set(err, NAS_EDB, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

static int need_writer(nas_store *s, nas_err *err) {
    if (s->readonly)
        return nas_err_set(err, NAS_ESTATE, "%s is open read-only; only nasd writes the store", s->path);
    return 0;
}

static char *dup_or_null(const unsigned char *text) {
    return text ? strdup((const char *)text) : NULL;
}

static char *dup_text(const unsigned char *text) { return strdup(text ? (const char *)text : ""); }

/* A cached statement, reset and with bindings cleared, or NULL. */
static sqlite3_stmt *cached(nas_store *s, int which, nas_err *err) {
    if (!s->stmt[which]) {
        if (sqlite3_prepare_v3(s->db, cached_sql[which], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[which],
                               NULL) != SQLITE_OK) {
            db_error(s, err, "preparing a statement");
            return NULL;
        }
    }
    sqlite3_reset(s->stmt[which]);
    sqlite3_clear_bindings(s->stmt[which]);
    return s->stmt[which];
}

/* Runs a cached statement that returns no rows; returns 0 or NAS_EDB. */
static int step_done(nas_store *s, sqlite3_stmt *st, nas_err *err, const char *what) {
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return db_error(s, err, what);
    return 0;
}

static int exec_sql(nas_store *s, const char *sql, nas_err *err, const char *what) {
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        nas_err_set(err, NAS_EDB, "%s: %s: %s", s->path, what, msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return NAS_EDB;
    }
    return 0;
}

static int read_user_version(nas_store *s, int *version, nas_err *err) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return db_error(s, err, "reading the schema version");
    int rc = sqlite3_step(st);
    *version = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) return db_error(s, err, "reading the schema version");
    return 0;
}

/* Fails unless the file is empty (version 0 with no tables) or ours. */
static int check_is_ours(nas_store *s, int version, nas_err *err) {
    if (version > NAS_STORE_SCHEMA_VERSION)
        return nas_err_set(err, NAS_EDB,
                           "%s has schema version %d but this build knows up to %d; use a newer gpunas",
                           s->path, version, NAS_STORE_SCHEMA_VERSION);
    if (version == 0) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL) != SQLITE_OK)
            return db_error(s, err, "inspecting the file");
        int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
        sqlite3_finalize(st);
        if (n != 0)
            return nas_err_set(err, NAS_EDB, "%s is an SQLite file but not a gpunas store (no schema version)",
                               s->path);
    }
    return 0;
}

static int migrate(nas_store *s, nas_err *err) {
    int version = 0;
    int rc = read_user_version(s, &version, err);
    if (rc) return rc;
    if ((rc = check_is_ours(s, version, err))) return rc;
    while (version < NAS_STORE_SCHEMA_VERSION) {
        if ((rc = exec_sql(s, "BEGIN IMMEDIATE", err, "starting a migration"))) return rc;
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", version + 1);
        if ((rc = exec_sql(s, migrations[version], err, "migrating the schema")) ||
            (rc = exec_sql(s, pragma, err, "setting the schema version")) ||
            (rc = exec_sql(s, "COMMIT", err, "committing a migration"))) {
            exec_sql(s, "ROLLBACK", NULL, "rollback");
            return rc;
        }
        version++;
    }
    return 0;
}

static int take_writer_lock(nas_store *s, nas_err *err) {
    nas_sb sb = {0};
    nas_sb_printf(&sb, "%s-nasd.lock", s->path);
    char *lock_path = nas_sb_take(&sb);
    if (!lock_path) return nas_err_set(err, NAS_ENOMEM, "out of memory");
    int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        nas_err_set(err, NAS_EIO, "cannot create the lock file %s: %s", lock_path, strerror(e));
        free(lock_path);
        return NAS_EIO;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        nas_err_set(err, NAS_ESTATE,
                    "%s is in use by another nasd (lock %s is held); stop it first or use another --db",
                    s->path, lock_path);
        close(fd);
        free(lock_path);
        return NAS_ESTATE;
    }
    free(lock_path);
    s->lock_fd = fd;
    return 0;
}

static int open_common(const char *path, bool readonly, nas_store **out, nas_err *err) {
    *out = NULL;
    if (!path || !*path) return nas_err_set(err, NAS_EINVAL, "no database path given");
    if (readonly && access(path, F_OK) != 0)
        return nas_err_set(err, NAS_ENOTFOUND, "%s does not exist (nasd creates it with --db)", path);
    nas_store *s = calloc(1, sizeof *s);
    if (!s) return nas_err_set(err, NAS_ENOMEM, "out of memory");
    s->lock_fd = -1;
    s->readonly = readonly;
    s->path = strdup(path);
    if (!s->path) {
        free(s);
        return nas_err_set(err, NAS_ENOMEM, "out of memory");
    }
    int rc = 0;
    if (!readonly && (rc = take_writer_lock(s, err))) goto fail;
    int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if (sqlite3_open_v2(path, &s->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        rc = nas_err_set(err, NAS_EDB, "cannot open %s: %s", path,
                         s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 5000);
    sqlite3_extended_result_codes(s->db, 1);
    if (readonly) {
        int version = 0;
        if ((rc = read_user_version(s, &version, err))) goto fail;
        if ((rc = check_is_ours(s, version, err))) goto fail;
        if (version == 0) {
            rc = nas_err_set(err, NAS_EDB, "%s is empty: no experiment has been run into it", path);
            goto fail;
        }
        s->version = version;
    } else {
        if ((rc = exec_sql(s, "PRAGMA journal_mode = WAL", err, "enabling WAL")) ||
            (rc = exec_sql(s, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
                                 /* 32 MiB of page cache: the tails of jobs, results and their
                                  * indexes that every tick touches stay in memory */
                                 " PRAGMA cache_size = -32768", err, "setting pragmas")) ||
            (rc = migrate(s, err)))
            goto fail;
        s->version = NAS_STORE_SCHEMA_VERSION;
    }
    *out = s;
    return 0;
fail:
    nas_store_close(&s);
    return rc;
}

int nas_store_open(const char *path, nas_store **out, nas_err *err) {
    return open_common(path, false, out, err);
}

int nas_store_open_readonly(const char *path, nas_store **out, nas_err *err) {
    return open_common(path, true, out, err);
}

void nas_store_close(nas_store **store) {
    if (!store || !*store) return;
    nas_store *s = *store;
    if (s->in_tx) nas_store_rollback(s);
    /* first, so that ours is the last connection: its close checkpoints
     * everything and removes the WAL, as without the thread */
    nas_checkpointer_free(&s->checkpointer);
    for (int i = 0; i < ST_COUNT; i++) sqlite3_finalize(s->stmt[i]);
    if (s->db) sqlite3_close(s->db);
    if (s->lock_fd >= 0) close(s->lock_fd); /* releases the flock */
    free(s->path);
    free(s);
    *store = NULL;
}

/* Replaces SQLite's automatic checkpoint (itself a WAL hook) once the
 * background thread runs; store.h says why the writer still checkpoints a
 * long WAL. PASSIVE: if the thread is mid-checkpoint this returns at once. */
static int wal_restart_hook(void *ctx, sqlite3 *db, const char *schema, int pages) {
    (void)ctx;
    if (pages >= NAS_STORE_WAL_RESTART_PAGES) sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return SQLITE_OK;
}

int nas_store_checkpoint_in_background(nas_store *store, double period_s, nas_err *err) {
    int rc = need_writer(store, err);
    if (rc) return rc;
    if (store->checkpointer) return nas_err_set(err, NAS_ESTATE, "background checkpoints already run");
    if ((rc = nas_checkpointer_new(store->path, period_s, &store->checkpointer, err))) return rc;
    sqlite3_wal_hook(store->db, wal_restart_hook, NULL);
    return 0;
}

sqlite3 *nas_store_db(nas_store *store) { return store->db; }

int nas_store_schema_version(nas_store *store) {
    int version = 0;
    return read_user_version(store, &version, NULL) ? -1 : version;
}

int nas_store_begin(nas_store *store, nas_err *err) {
    int rc = need_writer(store, err);
    if (rc) return rc;
    if (store->in_tx) return nas_err_set(err, NAS_ESTATE, "a store transaction is already open");
    if ((rc = exec_sql(store, "BEGIN IMMEDIATE", err, "starting a transaction"))) return rc;
    store->in_tx = true;
    return 0;
}

int nas_store_commit(nas_store *store, nas_err *err) {
    if (!store->in_tx) return nas_err_set(err, NAS_ESTATE, "no store transaction is open");
    int rc = exec_sql(store, "COMMIT", err, "committing");
    if (rc) {
        nas_store_rollback(store);
        return rc;
    }
    store->in_tx = false;
    return 0;
}

void nas_store_rollback(nas_store *store) {
    if (!store->in_tx) return;
    exec_sql(store, "ROLLBACK", NULL, "rollback");
    store->in_tx = false;
}

bool nas_store_in_transaction(const nas_store *store) { return store->in_tx; }

/* ---- experiments -------------------------------------------------------- */

void nas_store_experiment_release(nas_store_experiment *e) {
    if (!e) return;
    free(e->name);
    free(e->config_yaml);
    free(e->space);
    free(e->strategy);
    free(e->state);
    memset(e, 0, sizeof *e);
}

int nas_store_experiment_upsert(nas_store *store, const nas_store_experiment *e, int64_t *id_out,
                                bool *created, nas_err *err) {
    int rc = need_writer(store, err);
    if (rc) return rc;
    if (!e->name || !*e->name) return nas_err_set(err, NAS_EINVAL, "an experiment needs a name");
    double now = nas_now_wall();
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store->db, "SELECT id FROM experiments WHERE name = ?1", -1, &st, NULL) != SQLITE_OK)
        return db_error(store, err, "looking up the experiment");
    sqlite3_bind_text(st, 1, e->name, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(st);
    int64_t id = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE) return db_error(store, err, "looking up the experiment");
    const char *sql = id ? "UPDATE experiments SET config_yaml = ?2, space = ?3, strategy = ?4,"
                           " budget_evaluations = ?5, budget_hours = ?6, state = 'running', updated_at = ?7"
                           " WHERE name = ?1"
                         : "INSERT INTO experiments(name, config_yaml, space, strategy, budget_evaluations,"
                           " budget_hours, state, created_at, updated_at)"
                           " VALUES(?1, ?2, ?3, ?4, ?5, ?6, 'running', ?7, ?7)";
    if (sqlite3_prepare_v2(store->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_error(store, err, "saving the experiment");
    sqlite3_bind_text(st, 1, e->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, e->config_yaml ? e->config_yaml : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, e->space ? e->space : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, e->strategy ? e->strategy : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 5, e->budget_evaluations);
    sqlite3_bind_double(st, 6, e->budget_hours);
    sqlite3_bind_double(st, 7, now);
    step = sqlite3_step(st);
    sqlite3_finalize(st);
    if (step != SQLITE_DONE) return db_error(store, err, "saving the experiment");
    if (!id) id = sqlite3_last_insert_rowid(store->db);
    if (created) *created = step == SQLITE_DONE && sql[0] == 'I';
    *id_out = id;
    return 0;
}

int nas_store_experiment_find(nas_store *store, const char *name, nas_store_experiment *out,
                              nas_err *err) {
    memset(out, 0, sizeof *out);
    const char *sql = name ? "SELECT id, name, config_yaml, space, strategy, budget_evaluations, budget_hours,"
                             " elapsed_seconds, state, created_at, updated_at FROM experiments WHERE name = ?1"
                           : "SELECT id, name, config_yaml, space, strategy, budget_evaluations, budget_hours,"
                             " elapsed_seconds, state, created_at, updated_at FROM experiments"
                             " ORDER BY id DESC LIMIT 1";
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_error(store, err, "looking up the experiment");
    if (name) sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(st);
    if (step != SQLITE_ROW) {
        sqlite3_finalize(st);
        if (step != SQLITE_DONE) return db_error(store, err, "looking up the experiment");
        if (name) return nas_err_set(err, NAS_ENOTFOUND, "%s has no experiment named '%s'", store->path, name);
        return nas_err_set(err, NAS_ENOTFOUND, "%s holds no experiment yet", store->path);
    }
    out->id = sqlite3_column_int64(st, 0);
    out->name = dup_text(sqlite3_column_text(st, 1));
    out->config_yaml = dup_text(sqlite3_column_text(st, 2));
    out->space = dup_text(sqlite3_column_text(st, 3));
    out->strategy = dup_text(sqlite3_column_text(st, 4));
    out->budget_evaluations = sqlite3_column_int64(st, 5);
    out->budget_hours = sqlite3_column_double(st, 6);
    out->elapsed_seconds = sqlite3_column_double(st, 7);
    out->state = dup_text(sqlite3_column_text(st, 8));
    out->created_at = sqlite3_column_double(st, 9);
    out->updated_at = sqlite3_column_double(st, 10);
    sqlite3_finalize(st);
    if (!out->name || !out->config_yaml || !out->space || !out->strategy || !out->state) {
        nas_store_experiment_release(out);
        return nas_err_set(err, NAS_ENOMEM, "out of memory");
    }
    return 0;
}

int nas_store_experiment_update(nas_store *store, int64_t id, const char *state,
                                double add_elapsed_seconds, nas_err *err) {
    int rc = need_writer(store, err);
    if (rc) return rc;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store->db,
                           "UPDATE experiments SET state = coalesce(?2, state),"
                           " elapsed_seconds = elapsed_seconds + ?3, updated_at = ?4 WHERE id = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(store, err, "updating the experiment");
    sqlite3_bind_int64(st, 1, id);
    if (state) sqlite3_bind_text(st, 2, state, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(st, 3, add_elapsed_seconds > 0 ? add_elapsed_seconds : 0);
    sqlite3_bind_double(st, 4, nas_now_wall());
    int step = sqlite3_step(st);
    sqlite3_finalize(st);
    if (step != SQLITE_DONE) return db_error(store, err, "updating the experiment");
    return 0;
}

/* ---- jobs --------------------------------------------------------------- */

void nas_store_job_release(nas_store_job *job) {
    if (!job) return;
    free(job->arch_json);
    free(job->recipe_json);
    free(job->tag);
    free(job->worker);
    free(job->error);
    memset(job, 0, sizeof *job);
}

int nas_store_job_insert(nas_store *store, const nas_store_job *in, int64_t *id_out, nas_err *err) {
    int rc = need_writer(store, err);
    if (rc) return rc;
    assert(in->arch_json && in->recipe_json);
    if (strlen(in->arch_hash) != 16) return nas_err_set(err, NAS_EINVAL, "arch_hash must be 16 hex digits");
    if ((unsigned)in->kind >= NAS_STORE_KIND_COUNT) return nas_err_set(err, NAS_EINVAL, "unknown job kind");
    bool leased = in->state == NAS_JOB_LEASED;
    if (in->state != NAS_JOB_QUEUED && !leased)
        return nas_err_set(err, NAS_EINVAL, "a new job is queued or leased, not state %d", (int)in->state);
    if (leased && (!in->worker || in->attempt < 1))
        return nas_err_set(err, NAS_EINVAL, "a job inserted as leased needs its worker and attempt");
    if (in->id < 0) return nas_err_set(err, NAS_EINVAL, "job ids are positive");
    sqlite3_stmt *st = cached(store, ST_JOB_INSERT, err);
    if (!st) return NAS_EDB;
    sqlite3_bind_int64(st, 1, in->experiment);
    sqlite3_bind_text(st, 2, kind_names[in->kind], -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, in->arch_json, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, in->arch_hash, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, in->recipe_json, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, in->tag ? in->tag : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 7, in->max_attempts > 0 ? in->max_attempts : 1);
    sqlite3_bind_double(st, 8, nas_now_wall());
    if (in->id > 0) sqlite3_bind_int64(st, 9, in->id); /* else NULL: SQLite picks the rowid */
    sqlite3_bind_text(st, 10, state_names[in->state], -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 11, leased ? in->attempt : 1);
    if (leased) {
        sqlite3_bind_text(st, 12, in->worker, -1, SQLITE_TRANSIENT);
        sqlite3_bind_double(st, 13, in->lease_expires_at);
    }
    if ((rc = step_done(store, st, err, "inserting a job"))) return rc;
    *id_out = sqlite3_last_insert_rowid(store->db);
    assert(in->id == 0 || *id_out == in->id);
    return 0;
}

int nas_store_next_job_id(nas_store *store, int64_t *id_out, nas_err *err) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store->db, "SELECT coalesce(max(id), 0) + 1 FROM jobs", -1, &st, NULL) != SQLITE_OK)
        return db_error(store, err, "reading the last job id");
    int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : db_error(store, err, "reading the last job id");
    if (!rc) *id_out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc;
}

/* Runs an UPDATE of one job and fails with NAS_ESTATE if no row matched. */
static int update_one(nas_store *store, sqlite3_stmt *st, int64_t id, nas_err *err, const char *what) {
    int rc = step_done(store, st, err, what);
    if (rc) return rc;
    if (sqlite3_changes(store->db) != 1)
        return nas_err_set(err, NAS_ESTATE, "%s: job %lld does not exist or is already finished", what,
                           (long long)id);
    return 0;
}

int nas_store_job_lease(nas_store *store, int64_t id, const char *worker, int attempt,
                        double lease_expires_at, nas_err *err) {
    int rc = need_writer(store, err);
    if (rc) return rc;
    sqlite3_stmt *st = cached(store, ST_JOB_LEASE, err);
    if (!st) return NAS_EDB;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, worker, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 3, attempt);
    sqlite3_bind_double(st, 4, lease_expires_at);
    sqlite3_bind_double(st, 5, nas_now_wall());
    return update_one(store, st, id, err, "leasing a job");
}

int nas_store_job_requeue(nas_store *store, int64_t id, int attempt, const char *reason,
                          nas_err *err) {
    int rc = need_writer(store, err);
    if (rc) return rc;
    sqlite3_stmt *st = cached(store, ST_JOB_REQUEUE, err);
    if (!st) return NAS_EDB;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, attempt);
    if (reason) sqlite3_bind_text(st, 3, reason, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(st, 4, nas_now_wall());
    return update_one(store, st, id, err, "re-queueing a job");
}

int nas_store_job_finish(nas_store *store, int64_t id, nas_job_state state, const char *reason,
                         nas_err *err) {
    int rc = need_writer(store, err);
    if (rc) return rc;
    if ((unsigned)state >= NAS_JOB_STATE_COUNT) return nas_err_set(err, NAS_EINVAL, "unknown job state");
    sqlite3_stmt *st = cached(store, ST_JOB_FINISH, err);
    if (!st) return NAS_EDB;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, state_names[state], -1, SQLITE_STATIC);
    if (reason) sqlite3_bind_text(st, 3, reason, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(st, 4, nas_now_wall());
    return update_one(store, st, id, err, "finishing a job");
}

#define JOB_COLUMNS                                                                                  \
    "id, experiment, kind, arch_json, arch_hash, recipe_json, tag, state, attempt, max_attempts,"   \
    " worker, lease_expires_at, error, created_at, updated_at"

static int job_from_row(sqlite3_stmt *st, nas_store_job *job) {
    memset(job, 0, sizeof *job);
    job->id = sqlite3_column_int64(st, 0);
    job->experiment = sqlite3_column_int64(st, 1);
    int kind = nas_store_kind_parse((const char *)sqlite3_column_text(st, 2));
    job->kind = kind < 0 ? NAS_STORE_TRAIN : (nas_store_kind)kind;
    job->arch_json = dup_text(sqlite3_column_text(st, 3));
    snprintf(job->arch_hash, sizeof job->arch_hash, "%s",
             sqlite3_column_text(st, 4) ? (const char *)sqlite3_column_text(st, 4) : "");
    job->recipe_json = dup_text(sqlite3_column_text(st, 5));
    job->tag = dup_text(sqlite3_column_text(st, 6));
    int state = nas_job_state_parse((const char *)sqlite3_column_text(st, 7));
    assert(state >= 0); /* the CHECK constraint guarantees a known state */
    job->state = state < 0 ? NAS_JOB_FAILED : (nas_job_state)state;
    job->attempt = sqlite3_column_int(st, 8);
    job->max_attempts = sqlite3_column_int(st, 9);
    job->worker = dup_or_null(sqlite3_column_text(st, 10));
    job->lease_expires_at = sqlite3_column_double(st, 11);
    job->error = dup_or_null(sqlite3_column_text(st, 12));
    job->created_at = sqlite3_column_double(st, 13);
    job->updated_at = sqlite3_column_double(st, 14);
    if (!job->arch_json || !job->recipe_json || !job->tag) {
        nas_store_job_release(job);
        return NAS_ENOMEM;
    }
    return 0;
}

int nas_store_job_get(nas_store *store, int64_t id, nas_store_job *out, nas_err *err) {
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store->db, "SELECT " JOB_COLUMNS " FROM jobs WHERE id = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return db_error(store, err, "reading a job");
    sqlite3_bind_int64(st, 1, id);
    int step = sqlite3_step(st);
    int rc = 0;
    if (step == SQLITE_ROW) {
        if (job_from_row(st, out)) rc = nas_err_set(err, NAS_ENOMEM, "out of memory");
    } else if (step == SQLITE_DONE) {
        rc = nas_err_set(err, NAS_ENOTFOUND, "no job %lld in %s", (long long)id, store->path);
    } else {
        rc = db_error(store, err, "reading a job");
    }
    sqlite3_finalize(st);
    return rc;
}

int nas_store_jobs_foreach(nas_store *store, int64_t experiment, int state, int kind,
                           nas_store_job_fn fn, void *ctx, nas_err *err) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store->db,
                           "SELECT " JOB_COLUMNS " FROM jobs WHERE experiment = ?1"
                           " AND (?2 IS NULL OR state = ?2) AND (?3 IS NULL OR kind = ?3) ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(store, err, "listing jobs");
    sqlite3_bind_int64(st, 1, experiment);
    if (state >= 0 && state < NAS_JOB_STATE_COUNT) sqlite3_bind_text(st, 2, state_names[state], -1, SQLITE_STATIC);
    if (kind >= 0 && kind < NAS_STORE_KIND_COUNT) sqlite3_bind_text(st, 3, kind_names[kind], -1, SQLITE_STATIC);
    int rc = 0, step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        nas_store_job job;
        if (job_from_row(st, &job)) {
            rc = nas_err_set(err, NAS_ENOMEM, "out of memory");
            break;
        }
        rc = fn(&job, ctx);
        nas_store_job_release(&job);
        if (rc) break;
    }
    if (!rc && step != SQLITE_DONE) rc = db_error(store, err, "listing jobs");
    sqlite3_finalize(st);
    return rc;
}

int nas_store_job_counts(nas_store *store, int64_t experiment,
                         int64_t counts[NAS_STORE_KIND_COUNT][NAS_JOB_STATE_COUNT], nas_err *err) {
    memset(counts, 0, sizeof(int64_t) * NAS_STORE_KIND_COUNT * NAS_JOB_STATE_COUNT);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store->db,
                           "SELECT kind, state, count(*) FROM jobs WHERE experiment = ?1 GROUP BY kind, state",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(store, err, "counting jobs");
    sqlite3_bind_int64(st, 1, experiment);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        int kind = nas_store_kind_parse((const char *)sqlite3_column_text(st, 0));
        int state = nas_job_state_parse((const char *)sqlite3_column_text(st, 1));
        if (kind >= 0 && state >= 0) counts[kind][state] = sqlite3_column_int64(st, 2);
    }
    sqlite3_finalize(st);
    if (step != SQLITE_DONE) return db_error(store, err, "counting jobs");
    return 0;
}

/* ---- results ------------------------------------------------------------ */

void nas_store_result_release(nas_store_result *r) {
    if (!r) return;
    free(r->worker);
    free(r->device);
    free(r->checkpoint);
    memset(r, 0, sizeof *r);
}

int nas_store_result_insert(nas_store *store, const nas_store_result *r, nas_job_state final_state,
                            bool *inserted, nas_err *err) {
    int rc = need_writer(store, err);
    if (rc) return rc;
    *inserted = false;
    if (final_state != NAS_JOB_DONE && final_state != NAS_JOB_INFEASIBLE)
        return nas_err_set(err, NAS_EINVAL, "a result finishes a job as done or infeasible");
    if (r->n_latency < 0 || r->n_latency > NAS_STORE_MAX_LATENCIES)
        return nas_err_set(err, NAS_ERANGE, "a result holds at most %d latencies", NAS_STORE_MAX_LATENCIES);
    int64_t experiment = r->experiment;
    int kind = (int)r->kind;
    sqlite3_stmt *st = NULL;
    if (experiment <= 0) {
        st = cached(store, ST_JOB_STATE, err);
        if (!st) return NAS_EDB;
        sqlite3_bind_int64(st, 1, r->job);
        int step = sqlite3_step(st);
        if (step != SQLITE_ROW) {
            sqlite3_reset(st);
            if (step == SQLITE_DONE)
                return nas_err_set(err, NAS_ENOTFOUND, "no job %lld for this result", (long long)r->job);
            return db_error(store, err, "reading a job");
        }
        experiment = sqlite3_column_int64(st, 0);
        kind = nas_store_kind_parse((const char *)sqlite3_column_text(st, 1));
        sqlite3_reset(st);
    }
    if (kind < 0 || kind >= NAS_STORE_KIND_COUNT) return nas_err_set(err, NAS_EINVAL, "unknown job kind %d", kind);

    bool own_tx = !store->in_tx;
    if (own_tx && (rc = nas_store_begin(store, err))) return rc;
    double now = nas_now_wall();
    st = cached(store, ST_RESULT_INSERT, err);
    if (!st) goto fail_db;
    sqlite3_bind_int64(st, 1, r->job);
    sqlite3_bind_int64(st, 2, experiment);
    sqlite3_bind_text(st, 3, kind_names[kind], -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, r->attempt);
    if (r->worker) sqlite3_bind_text(st, 5, r->worker, -1, SQLITE_TRANSIENT);
    if (r->has_accuracy) {
        sqlite3_bind_double(st, 6, r->top1);
        sqlite3_bind_double(st, 7, r->top5);
        sqlite3_bind_double(st, 8, r->loss);
    }
    sqlite3_bind_int64(st, 9, r->params);
    sqlite3_bind_int64(st, 10, r->macs);
    sqlite3_bind_double(st, 11, r->train_seconds);
    if (r->device) sqlite3_bind_text(st, 12, r->device, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 13, r->simulated ? 1 : 0);
    if (r->checkpoint && *r->checkpoint) sqlite3_bind_text(st, 14, r->checkpoint, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(st, 15, now);
    if ((rc = step_done(store, st, err, "storing a result"))) goto fail;
    if (sqlite3_changes(store->db) == 0) { /* a later copy: the first result won */
        if (own_tx) nas_store_rollback(store);
        return 0;
    }
    for (int i = 0; i < r->n_latency; i++) {
        const nas_store_latency *l = &r->latency[i];
        st = cached(store, ST_LATENCY_INSERT, err);
        if (!st) goto fail_db;
        sqlite3_bind_int64(st, 1, r->job);
        sqlite3_bind_int64(st, 2, experiment);
        sqlite3_bind_int(st, 3, l->batch);
        sqlite3_bind_text(st, 4, l->precision, -1, SQLITE_TRANSIENT);
        sqlite3_bind_double(st, 5, l->mean_ms);
        sqlite3_bind_double(st, 6, l->p50_ms);
        sqlite3_bind_double(st, 7, l->p90_ms);
        if (r->has_accuracy) sqlite3_bind_double(st, 8, r->top1);
        if ((rc = step_done(store, st, err, "storing a latency"))) goto fail;
    }
    st = cached(store, ST_JOB_DONE, err);
    if (!st) goto fail_db;
    sqlite3_bind_int64(st, 1, r->job);
    sqlite3_bind_text(st, 2, state_names[final_state], -1, SQLITE_STATIC);
    if (r->worker) sqlite3_bind_text(st, 3, r->worker, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(st, 4, now);
    if ((rc = step_done(store, st, err, "finishing a job"))) goto fail;
    if (own_tx && (rc = nas_store_commit(store, err))) return rc;
    *inserted = true;
    return 0;
fail_db:
    rc = NAS_EDB;
fail:
    if (own_tx) nas_store_rollback(store);
    return rc;
}

static int load_latencies(nas_store *store, nas_store_result *out, nas_err *err) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store->db,
                           "SELECT batch, precision, mean_ms, p50_ms, p90_ms FROM latencies WHERE job = ?1"
                           " ORDER BY precision, batch",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(store, err, "reading latencies");
    sqlite3_bind_int64(st, 1, out->job);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW && out->n_latency < NAS_STORE_MAX_LATENCIES) {
        nas_store_latency *l = &out->latency[out->n_latency++];
        l->batch = sqlite3_column_int(st, 0);
        snprintf(l->precision, sizeof l->precision, "%s",
                 sqlite3_column_text(st, 1) ? (const char *)sqlite3_column_text(st, 1) : "");
        l->mean_ms = sqlite3_column_double(st, 2);
        l->p50_ms = sqlite3_column_double(st, 3);
        l->p90_ms = sqlite3_column_double(st, 4);
    }
    sqlite3_finalize(st);
    if (step != SQLITE_DONE && step != SQLITE_ROW) return db_error(store, err, "reading latencies");
    return 0;
}

int nas_store_result_get(nas_store *store, int64_t job, nas_store_result *out, nas_err *err) {
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store->db,
                           "SELECT job, experiment, kind, attempt, worker, top1, top5, loss, params, macs,"
                           " train_seconds, device, simulated, checkpoint, created_at FROM results WHERE job = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(store, err, "reading a result");
    sqlite3_bind_int64(st, 1, job);
    int step = sqlite3_step(st);
    if (step != SQLITE_ROW) {
        sqlite3_finalize(st);
        if (step == SQLITE_DONE) return nas_err_set(err, NAS_ENOTFOUND, "job %lld has no result", (long long)job);
        return db_error(store, err, "reading a result");
    }
    out->job = sqlite3_column_int64(st, 0);
    out->experiment = sqlite3_column_int64(st, 1);
    int kind = nas_store_kind_parse((const char *)sqlite3_column_text(st, 2));
    out->kind = kind < 0 ? NAS_STORE_TRAIN : (nas_store_kind)kind;
    out->attempt = sqlite3_column_int(st, 3);
    out->worker = dup_or_null(sqlite3_column_text(st, 4));
    out->has_accuracy = sqlite3_column_type(st, 5) != SQLITE_NULL;
    out->top1 = sqlite3_column_double(st, 5);
    out->top5 = sqlite3_column_double(st, 6);
    out->loss = sqlite3_column_double(st, 7);
    out->params = sqlite3_column_int64(st, 8);
    out->macs = sqlite3_column_int64(st, 9);
    out->train_seconds = sqlite3_column_double(st, 10);
    out->device = dup_or_null(sqlite3_column_text(st, 11));
    out->simulated = sqlite3_column_int(st, 12) != 0;
    out->checkpoint = dup_or_null(sqlite3_column_text(st, 13));
    out->created_at = sqlite3_column_double(st, 14);
    sqlite3_finalize(st);
    int rc = load_latencies(store, out, err);
    if (rc) nas_store_result_release(out);
    return rc;
}

int nas_store_latency_get(nas_store *store, int64_t job, int batch, const char *precision,
                          nas_store_latency *out, nas_err *err) {
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store->db,
                           "SELECT mean_ms, p50_ms, p90_ms FROM latencies WHERE job = ?1 AND batch = ?2"
                           " AND precision = ?3",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(store, err, "reading a latency");
    sqlite3_bind_int64(st, 1, job);
    sqlite3_bind_int(st, 2, batch);
    sqlite3_bind_text(st, 3, precision, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(st);
    int rc = 0;
    if (step == SQLITE_ROW) {
        out->batch = batch;
        snprintf(out->precision, sizeof out->precision, "%s", precision);
        out->mean_ms = sqlite3_column_double(st, 0);
        out->p50_ms = sqlite3_column_double(st, 1);
        out->p90_ms = sqlite3_column_double(st, 2);
    } else if (step == SQLITE_DONE) {
        rc = nas_err_set(err, NAS_ENOTFOUND, "job %lld has no latency at batch %d %s", (long long)job, batch,
                         precision);
    } else {
        rc = db_error(store, err, "reading a latency");
    }
    sqlite3_finalize(st);
    return rc;
}

int nas_store_result_count(nas_store *store, int64_t experiment, int kind, int64_t *count,
                           nas_err *err) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store->db,
                           "SELECT count(*) FROM results WHERE experiment = ?1 AND (?2 IS NULL OR kind = ?2)",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(store, err, "counting results");
    sqlite3_bind_int64(st, 1, experiment);
    if (kind >= 0 && kind < NAS_STORE_KIND_COUNT) sqlite3_bind_text(st, 2, kind_names[kind], -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    *count = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (step != SQLITE_ROW) return db_error(store, err, "counting results");
    return 0;
}

int nas_store_front_scan(nas_store *store, int64_t experiment, int batch, const char *precision,
                         double max_latency_ms, nas_store_point_fn fn, void *ctx, nas_err *err) {
    sqlite3_stmt *st = NULL;
    /* latencies_front covers every column here and its order is the ORDER BY:
     * one sequential index walk, no table lookups, no sort. */
    const char *sql = store->version >= 2
                          ? "SELECT job, top1, mean_ms FROM latencies"
                            " WHERE experiment = ?1 AND batch = ?2 AND precision = ?3"
                            " AND (?4 <= 0 OR mean_ms <= ?4) AND top1 IS NOT NULL"
                            " ORDER BY mean_ms, top1 DESC"
                          : /* a v1 file opened read-only (nasd migrates it when it next runs) */
                            "SELECT l.job, r.top1, l.mean_ms FROM latencies l JOIN results r ON r.job = l.job"
                            " WHERE l.experiment = ?1 AND l.batch = ?2 AND l.precision = ?3"
                            " AND (?4 <= 0 OR l.mean_ms <= ?4) AND r.top1 IS NOT NULL"
                            " ORDER BY l.mean_ms, r.top1 DESC";
    if (sqlite3_prepare_v2(store->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_error(store, err, "scanning results");
    sqlite3_bind_int64(st, 1, experiment);
    sqlite3_bind_int(st, 2, batch);
    sqlite3_bind_text(st, 3, precision, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(st, 4, max_latency_ms);
    int rc = 0, step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        rc = fn(sqlite3_column_int64(st, 0), sqlite3_column_double(st, 1), sqlite3_column_double(st, 2), ctx);
        if (rc) break;
    }
    if (!rc && step != SQLITE_DONE) rc = db_error(store, err, "scanning results");
    sqlite3_finalize(st);
    return rc;
}

int nas_store_replay(nas_store *store, int64_t experiment, int batch, const char *precision,
                     nas_store_replay_fn fn, void *ctx, nas_err *err) {
    sqlite3_stmt *st = NULL;
    /* the job columns first, in job_from_row's order */
    if (sqlite3_prepare_v2(store->db,
                           "SELECT j.id, j.experiment, j.kind, j.arch_json, j.arch_hash, j.recipe_json, j.tag,"
                           " j.state, j.attempt, j.max_attempts, j.worker, j.lease_expires_at, j.error,"
                           " j.created_at, j.updated_at,"
                           " r.job IS NOT NULL, r.top1, r.simulated, r.checkpoint,"
                           " (SELECT l.mean_ms FROM latencies l WHERE l.job = j.id AND"
                           "   (?3 IS NULL OR (l.batch = ?2 AND l.precision = ?3)) ORDER BY l.precision, l.batch LIMIT 1)"
                           " FROM jobs j LEFT JOIN results r ON r.job = j.id WHERE j.experiment = ?1 ORDER BY j.id",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(store, err, "reading jobs to replay");
    sqlite3_bind_int64(st, 1, experiment);
    sqlite3_bind_int(st, 2, batch);
    if (precision) sqlite3_bind_text(st, 3, precision, -1, SQLITE_TRANSIENT);
    int rc = 0, step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        nas_store_job job;
        if (job_from_row(st, &job)) {
            rc = nas_err_set(err, NAS_ENOMEM, "out of memory");
            break;
        }
        nas_store_replay_row row = {.job = &job,
                                    .has_result = sqlite3_column_int(st, 15) != 0,
                                    .has_accuracy = sqlite3_column_type(st, 16) != SQLITE_NULL,
                                    .top1 = sqlite3_column_double(st, 16),
                                    .simulated = sqlite3_column_int(st, 17) != 0,
                                    .checkpoint = (const char *)sqlite3_column_text(st, 18),
                                    .latency_ms = sqlite3_column_type(st, 19) == SQLITE_NULL
                                                      ? -1
                                                      : sqlite3_column_double(st, 19)};
        rc = fn(&row, ctx);
        nas_store_job_release(&job);
        if (rc) break;
    }
    if (!rc && step != SQLITE_DONE) rc = db_error(store, err, "reading jobs to replay");
    sqlite3_finalize(st);
    return rc;
}

/* ---- workers, strategy state, events ------------------------------------ */

int nas_store_worker_seen(nas_store *store, const char *id, const char *host, const char *device,
                          const char *backend, const char *version, const char *state,
                          nas_err *err) {
    int rc = need_writer(store, err);
    if (rc) return rc;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store->db,
                           "INSERT INTO workers(id, host, device, backend, version, last_seen, state)"
                           " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(id) DO UPDATE SET"
                           " host = coalesce(?2, host), device = coalesce(?3, device),"
                           " backend = coalesce(?4, backend), version = coalesce(?5, version),"
                           " last_seen = ?6, state = ?7",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(store, err, "recording a worker");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    if (host) sqlite3_bind_text(st, 2, host, -1, SQLITE_TRANSIENT);
    if (device) sqlite3_bind_text(st, 3, device, -1, SQLITE_TRANSIENT);
    if (backend) sqlite3_bind_text(st, 4, backend, -1, SQLITE_TRANSIENT);
    if (version) sqlite3_bind_text(st, 5, version, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(st, 6, nas_now_wall());
    sqlite3_bind_text(st, 7, state ? state : "connected", -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(st);
    sqlite3_finalize(st);
    if (step != SQLITE_DONE) return db_error(store, err, "recording a worker");
    return 0;
}

int nas_store_strategy_save(nas_store *store, int64_t experiment, const char *strategy,
                            const char *state_json, nas_err *err) {
    int rc = need_writer(store, err);
    if (rc) return rc;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store->db,
                           "INSERT OR REPLACE INTO strategy_state(experiment, strategy, state_json, updated_at)"
                           " VALUES(?1, ?2, ?3, ?4)",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(store, err, "saving the strategy state");
    sqlite3_bind_int64(st, 1, experiment);
    sqlite3_bind_text(st, 2, strategy, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, state_json, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(st, 4, nas_now_wall());
    int step = sqlite3_step(st);
    sqlite3_finalize(st);
    if (step != SQLITE_DONE) return db_error(store, err, "saving the strategy state");
    return 0;
}

int nas_store_strategy_load(nas_store *store, int64_t experiment, char **json_out, nas_err *err) {
    *json_out = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store->db, "SELECT state_json FROM strategy_state WHERE experiment = ?1", -1, &st,
                           NULL) != SQLITE_OK)
        return db_error(store, err, "loading the strategy state");
    sqlite3_bind_int64(st, 1, experiment);
    int step = sqlite3_step(st);
    int rc = 0;
    if (step == SQLITE_ROW) {
        *json_out = dup_text(sqlite3_column_text(st, 0));
        if (!*json_out) rc = nas_err_set(err, NAS_ENOMEM, "out of memory");
    } else if (step != SQLITE_DONE) {
        rc = db_error(store, err, "loading the strategy state");
    }
    sqlite3_finalize(st);
    return rc;
}

int nas_store_event(nas_store *store, int64_t experiment, const char *level, const char *kind,
                    int64_t job, const char *worker, const char *message, nas_err *err) {
    int rc = need_writer(store, err);
    if (rc) return rc;
    sqlite3_stmt *st = cached(store, ST_EVENT, err);
    if (!st) return NAS_EDB;
    if (experiment > 0) sqlite3_bind_int64(st, 1, experiment);
    sqlite3_bind_double(st, 2, nas_now_wall());
    sqlite3_bind_text(st, 3, level, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, kind, -1, SQLITE_TRANSIENT);
    if (job > 0) sqlite3_bind_int64(st, 5, job);
    if (worker) sqlite3_bind_text(st, 6, worker, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, message ? message : "", -1, SQLITE_TRANSIENT);
    return step_done(store, st, err, "recording an event");
}
