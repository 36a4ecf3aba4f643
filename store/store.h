/*
 * store/store.h - the SQLite store: every experiment, job, result and event.
 *
 * One file per experiment set (results.db). The coordinator (nasd) is the
 * only writer: it opens the store with nas_store_open, which takes an
 * exclusive advisory lock (DB + "-nasd.lock") so that two coordinators can
 * never write the same file. Every reader (the `nas` query commands, reports,
 * benches) opens it with nas_store_open_readonly and may do so at any time
 * while nasd runs: the database is in WAL mode, so readers see the last
 * committed transaction and never block the writer. Never put the file on
 * NFS (WAL needs shared memory that NFS does not provide).
 *
 * Durability: synchronous=NORMAL in WAL mode survives a killed process
 * (kill -9) but not a power cut; nasd acknowledges a result to its worker only
 * after the transaction that holds it has committed, so an acknowledged
 * result is never lost by a coordinator crash.
 *
 * Schema (PRAGMA user_version = NAS_STORE_SCHEMA_VERSION; nas_store_open
 * applies forward migrations in order, readers refuse a newer file and read
 * an older one only after nasd migrated it; v1 -> v2 added latencies.top1, v2 -> v3 dropped
 * the index jobs_by_hash):
 *
 *   experiments(id INTEGER PRIMARY KEY, name TEXT UNIQUE, config_yaml TEXT,
 *               space TEXT, strategy TEXT, budget_evaluations INTEGER (0 = none),
 *               budget_hours REAL (0 = none), elapsed_seconds REAL (running time
 *               summed over restarts), state TEXT 'running'|'done'|'stopped',
 *               created_at REAL, updated_at REAL)
 *   jobs(id INTEGER PRIMARY KEY, experiment INTEGER, kind TEXT 'measure'|'train',
 *        arch_json TEXT (canonical), arch_hash TEXT (16 hex digits of
 *        nas_arch_hash), recipe_json TEXT (the merged recipe sent to the worker),
 *        tag TEXT, state TEXT 'queued'|'leased'|'done'|'failed'|'infeasible'
 *        (nasd writes a job when it first hands it out, so 'queued' here is a
 *        job waiting for another attempt),
 *        attempt INTEGER (1-based, the attempt now or last running),
 *        max_attempts INTEGER, worker TEXT (last lease holder or NULL),
 *        lease_expires_at REAL (wall seconds, NULL unless leased),
 *        error TEXT (last failure reason), created_at REAL, updated_at REAL)
 *     A candidate architecture under a latency budget gets a `measure` job
 *     first; if it is within the budget it gets a `train` job with the same
 *     arch_hash, otherwise the measure job's state becomes 'infeasible'.
 *   results(job INTEGER PRIMARY KEY (= jobs.id, so one result per job),
 *           experiment INTEGER, kind TEXT, attempt INTEGER, worker TEXT,
 *           top1 REAL, top5 REAL, loss REAL (NULL for measure jobs),
 *           params INTEGER, macs INTEGER, train_seconds REAL, device TEXT,
 *           simulated INTEGER (1 = produced by the sim evaluator: show `sim`),
 *           checkpoint TEXT, created_at REAL)
 *   latencies(job INTEGER, experiment INTEGER, batch INTEGER, precision TEXT,
 *             mean_ms REAL, p50_ms REAL, p90_ms REAL,
 *             top1 REAL (v2: a copy of the job's results.top1, NULL for measure jobs),
 *             PRIMARY KEY(job, batch, precision)) WITHOUT ROWID
 *   workers(id TEXT PRIMARY KEY, host TEXT, device TEXT, backend TEXT,
 *           version TEXT, last_seen REAL, state TEXT 'connected'|'gone')
 *   strategy_state(experiment INTEGER PRIMARY KEY, strategy TEXT, state_json TEXT,
 *                  updated_at REAL)
 *   events(id INTEGER PRIMARY KEY, experiment INTEGER, at REAL, level TEXT
 *          'info'|'warn'|'error', kind TEXT, job INTEGER, worker TEXT, message TEXT)
 *
 * Indexes (what the queries touch):
 *   jobs_by_state    ON jobs(experiment, state, kind)       status, jobs --state, resume
 *   results_by_top1  ON results(experiment, kind, top1 DESC) best-so-far
 *   latencies_front  ON latencies(experiment, batch, precision, mean_ms, top1 DESC)
 *                    pareto: covers (job, top1, mean_ms), so the front is one
 *                    sequential index walk with no table lookups (v2)
 *   events_by_exp    ON events(experiment, at)
 *
 * Example read queries (sqlite3 -readonly results.db):
 *   -- counts by state
 *   SELECT kind, state, count(*) FROM jobs WHERE experiment = 1 GROUP BY kind, state;
 *   -- Pareto front at batch 1: scan by latency, keep rows that beat every
 *   -- faster one (nas_store_front_scan does this scan)
 *   SELECT job, mean_ms, top1 FROM latencies
 *    WHERE experiment = 1 AND batch = 1 AND precision = 'fp16'
 *      AND top1 IS NOT NULL ORDER BY mean_ms, top1 DESC;
 *   -- best 10
 *   SELECT job, top1, device, simulated FROM results
 *    WHERE experiment = 1 AND kind = 'train' ORDER BY top1 DESC LIMIT 10;
 *
 * Ownership: strings in structs filled by the store (_get, _foreach) are
 * malloc'd and released with the matching _release function; strings in
 * structs passed in (_insert) are borrowed.
 */
#ifndef NAS_STORE_STORE_H
#define NAS_STORE_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

#define NAS_STORE_SCHEMA_VERSION 3
#define NAS_STORE_MAX_LATENCIES 8

typedef struct nas_store nas_store;
typedef struct sqlite3 sqlite3;

typedef enum {
    NAS_JOB_QUEUED = 0,
    NAS_JOB_LEASED,
    NAS_JOB_DONE,
    NAS_JOB_FAILED,
    NAS_JOB_INFEASIBLE,
    NAS_JOB_STATE_COUNT
} nas_job_state;

/* The kind of a job as stored; the values equal worker/evaluator.h's
 * NAS_JOB_MEASURE / NAS_JOB_TRAIN. */
typedef enum { NAS_STORE_MEASURE = 0, NAS_STORE_TRAIN = 1, NAS_STORE_KIND_COUNT } nas_store_kind;

/* "queued", "leased", "done", "failed", "infeasible"; parse returns -1 if unknown. */
const char *nas_job_state_name(nas_job_state s);
int nas_job_state_parse(const char *name);
/* "measure", "train"; parse returns -1 if unknown. */
const char *nas_store_kind_name(nas_store_kind k);
int nas_store_kind_parse(const char *name);

/* ---- opening ------------------------------------------------------------ */

/* Opens (creating if needed) the store for writing: WAL mode, foreign keys,
 * busy timeout, migrations up to NAS_STORE_SCHEMA_VERSION. Fails with
 * NAS_ESTATE if another process holds the writer lock, NAS_EDB if the file
 * is newer than this build or not a gpunas store. */
int nas_store_open(const char *path, nas_store **out, nas_err *err);

/* Opens an existing store read-only (for `nas` queries; safe while nasd
 * writes). Fails with NAS_ENOTFOUND if the file does not exist and NAS_EDB if
 * it is not a gpunas store or its schema is newer than this build. Every
 * writer function below fails with NAS_ESTATE on a read-only store. */
int nas_store_open_readonly(const char *path, nas_store **out, nas_err *err);

void nas_store_close(nas_store **store);

/* For a long-lived writer (nasd): WAL checkpoints move from inside COMMIT to
 * a thread with its own connection (store/checkpointer.c says why), run every
 * period_s seconds. Once the WAL holds NAS_STORE_WAL_RESTART_PAGES the writer
 * checkpoints too, after its commit: the thread has copied nearly all of it,
 * so this copies little, but it is what lets the next transaction start the
 * WAL again from its beginning (SQLite restarts the WAL only when a write
 * transaction begins with every frame copied, and a busy writer rarely
 * begins in the short gap after the thread caught up). It also bounds the
 * WAL if the thread cannot keep up. Fails with NAS_ESTATE on a read-only
 * store or if already started; the thread stops in nas_store_close. */
#define NAS_STORE_WAL_RESTART_PAGES 4096
int nas_store_checkpoint_in_background(nas_store *store, double period_s, nas_err *err);

/* The underlying connection, for read queries of your own (prepare, step,
 * finalize). Do not write through it and do not close it. */
sqlite3 *nas_store_db(nas_store *store);

/* The schema version of the file (PRAGMA user_version). */
int nas_store_schema_version(nas_store *store);

/* Explicit transactions (the coordinator batches results into one). Calls
 * do not nest: begin inside a transaction fails with NAS_ESTATE. */
int nas_store_begin(nas_store *store, nas_err *err);
int nas_store_commit(nas_store *store, nas_err *err);
void nas_store_rollback(nas_store *store);
bool nas_store_in_transaction(const nas_store *store);

/* ---- experiments -------------------------------------------------------- */

typedef struct nas_store_experiment {
    int64_t id;
    char *name, *config_yaml, *space, *strategy, *state;
    int64_t budget_evaluations; /* 0 = no limit */
    double budget_hours;        /* 0 = no limit */
    double elapsed_seconds;     /* running time summed over every nasd run */
    double created_at, updated_at;
} nas_store_experiment;

void nas_store_experiment_release(nas_store_experiment *e);

/* Creates the experiment called e->name or, if it exists, updates its
 * config_yaml/space/strategy/budgets and sets it 'running' again (resume).
 * *created tells which happened; *id_out is its id. */
int nas_store_experiment_upsert(nas_store *store, const nas_store_experiment *e, int64_t *id_out,
                                bool *created, nas_err *err);

/* Finds an experiment by name, or the most recently created one if name is
 * NULL. NAS_ENOTFOUND if none. Release *out with nas_store_experiment_release. */
int nas_store_experiment_find(nas_store *store, const char *name, nas_store_experiment *out,
                              nas_err *err);

/* Sets state ('running'|'done'|'stopped') and adds elapsed running seconds. */
int nas_store_experiment_update(nas_store *store, int64_t id, const char *state,
                                double add_elapsed_seconds, nas_err *err);

/* ---- jobs --------------------------------------------------------------- */

typedef struct nas_store_job {
    int64_t id, experiment;
    nas_store_kind kind;
    char *arch_json;
    char arch_hash[17];
    char *recipe_json, *tag;
    nas_job_state state;
    int attempt, max_attempts;
    char *worker;            /* NULL if never leased */
    double lease_expires_at; /* 0 unless leased */
    char *error;             /* NULL if none */
    double created_at, updated_at;
} nas_store_job;

void nas_store_job_release(nas_store_job *job);

/* Inserts a job, queued at attempt 1, or (in->state NAS_JOB_LEASED) already
 * leased to in->worker at in->attempt until in->lease_expires_at: nasd
 * writes a job it hands out in the same tick as it created it once, instead
 * of an insert and an update. in->id 0: the store picks the id; > 0: that id,
 * which must be unused (nasd takes ids from nas_store_next_job_id, being the
 * only writer). Other fields of in that describe progress are ignored. */
int nas_store_job_insert(nas_store *store, const nas_store_job *in, int64_t *id_out, nas_err *err);

/* The smallest id above every job in the store (1 for an empty store). */
int nas_store_next_job_id(nas_store *store, int64_t *id_out, nas_err *err);

/* queued -> leased by worker until lease_expires_at (wall seconds), at attempt.
 * Lease extensions by heartbeats are kept in nasd's memory only: after a
 * restart every leased job gets a fresh lease anyway. */
int nas_store_job_lease(nas_store *store, int64_t id, const char *worker, int attempt,
                        double lease_expires_at, nas_err *err);

/* leased -> queued at a new attempt number, recording why (expired lease,
 * retryable failure, handed back). */
int nas_store_job_requeue(nas_store *store, int64_t id, int attempt, const char *reason,
                          nas_err *err);

/* Sets a final state (failed or infeasible) with an optional reason. */
int nas_store_job_finish(nas_store *store, int64_t id, nas_job_state state, const char *reason,
                         nas_err *err);

/* One job by id; NAS_ENOTFOUND if absent. */
int nas_store_job_get(nas_store *store, int64_t id, nas_store_job *out, nas_err *err);

/* Calls fn for every job of the experiment in id order, optionally only in
 * one state (state < 0: all) and one kind (kind < 0: all). fn returning
 * non-zero stops the walk and that value is returned. The job passed to fn is
 * valid only during the call. */
typedef int (*nas_store_job_fn)(const nas_store_job *job, void *ctx);
int nas_store_jobs_foreach(nas_store *store, int64_t experiment, int state, int kind,
                           nas_store_job_fn fn, void *ctx, nas_err *err);

/* Number of jobs per kind and state. */
int nas_store_job_counts(nas_store *store, int64_t experiment,
                         int64_t counts[NAS_STORE_KIND_COUNT][NAS_JOB_STATE_COUNT], nas_err *err);

/* ---- results ------------------------------------------------------------ */

typedef struct nas_store_latency {
    int batch;
    char precision[8];
    double mean_ms, p50_ms, p90_ms;
} nas_store_latency;

typedef struct nas_store_result {
    int64_t job, experiment;
    nas_store_kind kind;
    int attempt;
    char *worker;
    bool has_accuracy;       /* false for measure jobs: top1/top5/loss are NULL */
    double top1, top5, loss;
    int64_t params, macs;
    double train_seconds;
    char *device;
    bool simulated;          /* true: produced by the sim evaluator */
    char *checkpoint;        /* "" or NULL if none */
    double created_at;
    int n_latency;
    nas_store_latency latency[NAS_STORE_MAX_LATENCIES];
} nas_store_result;

void nas_store_result_release(nas_store_result *r);

/* Stores the first result of a job and marks the job done (or, with
 * final_state NAS_JOB_INFEASIBLE, infeasible: a measure job over the latency
 * budget). If the job already has a result, nothing changes and *inserted is
 * false: later copies of a result are dropped (exactly-once). r->created_at
 * is the clock's. r->experiment 0: experiment and kind are read from the
 * job (NAS_ENOTFOUND if it does not exist); > 0: the caller vouches that
 * r->experiment and r->kind are the job's (nasd holds every open job in
 * memory, and saves a lookup per result). */
int nas_store_result_insert(nas_store *store, const nas_store_result *r, nas_job_state final_state,
                            bool *inserted, nas_err *err);

/* The result of a job with its latencies; NAS_ENOTFOUND if none. */
int nas_store_result_get(nas_store *store, int64_t job, nas_store_result *out, nas_err *err);

/* Latency of one job at (batch, precision); NAS_ENOTFOUND if not measured. */
int nas_store_latency_get(nas_store *store, int64_t job, int batch, const char *precision,
                          nas_store_latency *out, nas_err *err);

/* Number of distinct results of the experiment of one kind (kind < 0: all). */
int nas_store_result_count(nas_store *store, int64_t experiment, int kind, int64_t *count,
                           nas_err *err);

/* The Pareto scan: calls fn(job, top1, latency_ms) for every trained result
 * of the experiment that has a latency at (batch, precision) no greater than
 * max_latency_ms (<= 0: no limit), in increasing latency order (ties: higher
 * top1 first). A point is on the front (latency minimised, top1 maximised)
 * exactly when its top1 is greater than every top1 seen before it, so the
 * caller builds the front in one pass without sorting; all points are seen
 * too (for scatter plots). One sequential walk of the covering index
 * latencies_front: O(n), about a second for 1e6 points on a 2-core VM. */
typedef int (*nas_store_point_fn)(int64_t job, double top1, double latency_ms, void *ctx);
int nas_store_front_scan(nas_store *store, int64_t experiment, int batch, const char *precision,
                         double max_latency_ms, nas_store_point_fn fn, void *ctx, nas_err *err);

/* What a restarting coordinator replays: every job of the experiment in id
 * order with its result, in one query (a sequential walk of jobs and of
 * results by rowid, plus a primary-key probe of latencies per job). */
typedef struct nas_store_replay_row {
    const nas_store_job *job;
    bool has_result;
    bool has_accuracy;       /* the result has top1 (a train job) */
    double top1;
    bool simulated;
    double latency_ms;       /* at (batch, precision), or the job's first latency when
                              * precision is NULL; < 0 when there is none */
    const char *checkpoint;  /* NULL if none */
} nas_store_replay_row;

typedef int (*nas_store_replay_fn)(const nas_store_replay_row *row, void *ctx);

/* Calls fn for every job of the experiment (valid only during the call); fn
 * returning non-zero stops the walk and that value is returned. */
int nas_store_replay(nas_store *store, int64_t experiment, int batch, const char *precision,
                     nas_store_replay_fn fn, void *ctx, nas_err *err);

/* ---- workers, strategy state, events ------------------------------------ */

/* Records a worker (by its id) as connected now, or updates it. */
int nas_store_worker_seen(nas_store *store, const char *id, const char *host, const char *device,
                          const char *backend, const char *version, const char *state,
                          nas_err *err);

/* Saves / loads the strategy's JSON state for an experiment. load gives
 * *json_out = NULL (and returns 0) if none was saved; free it with free(). */
int nas_store_strategy_save(nas_store *store, int64_t experiment, const char *strategy,
                            const char *state_json, nas_err *err);
int nas_store_strategy_load(nas_store *store, int64_t experiment, char **json_out, nas_err *err);

/* Appends an event (level "info"|"warn"|"error"; job 0 and worker NULL when
 * not about one). */
int nas_store_event(nas_store *store, int64_t experiment, const char *level, const char *kind,
                    int64_t job, const char *worker, const char *message, nas_err *err);

#endif
