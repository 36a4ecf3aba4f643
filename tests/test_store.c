/*
 * tests/test_store.c - the SQLite store: schema, exactly-once results,
 * job life cycle, read-only access, the writer lock and the Pareto scan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"

typedef struct {
    char dir[64];
    char path[128];
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/nas-test-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/results.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static int64_t make_experiment(nas_store *s, const char *name) {
    nas_store_experiment e = {.name = (char *)name, .config_yaml = "name: x\n", .space = "tiny",
                              .strategy = "random", .budget_evaluations = 10};
    int64_t id = 0;
    bool created = false;
    nas_err err;
    assert_int_equal(nas_store_experiment_upsert(s, &e, &id, &created, &err), 0);
    assert_true(id > 0);
    return id;
}

static int64_t make_job(nas_store *s, int64_t exp, nas_store_kind kind, const char *hash) {
    nas_store_job j = {.experiment = exp, .kind = kind, .arch_json = "{\"a\":1}", .recipe_json = "{}",
                       .tag = "", .max_attempts = 3};
    snprintf(j.arch_hash, sizeof j.arch_hash, "%s", hash);
    int64_t id = 0;
    nas_err err;
    assert_int_equal(nas_store_job_insert(s, &j, &id, &err), 0);
    return id;
}

static void test_schema_and_version(void **state) {
    fixture *f = *state;
    nas_store *s = NULL;
    nas_err err;
    assert_int_equal(nas_store_open(f->path, &s, &err), 0);
    assert_int_equal(nas_store_schema_version(s), NAS_STORE_SCHEMA_VERSION);
    int64_t a = make_experiment(s, "exp-a");
    bool created = true;
    int64_t again = 0;
    nas_store_experiment e = {.name = "exp-a", .config_yaml = "name: x\n", .space = "tiny", .strategy = "random"};
    assert_int_equal(nas_store_experiment_upsert(s, &e, &again, &created, &err), 0);
    assert_false(created);
    assert_int_equal(a, again);
    nas_store_close(&s);
    assert_null(s);

    /* a newer schema is refused by readers and writers */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(nas_store_open_readonly(f->path, &s, &err), NAS_EDB);
    assert_non_null(strstr(err.msg, "newer"));
    assert_int_equal(nas_store_open(f->path, &s, &err), NAS_EDB);
}

static void test_not_a_store(void **state) {
    fixture *f = *state;
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    nas_store *s = NULL;
    nas_err err;
    assert_int_equal(nas_store_open(f->path, &s, &err), NAS_EDB);
    assert_non_null(strstr(err.msg, "not a gpunas store"));
    char missing[160];
    snprintf(missing, sizeof missing, "%s/none.db", f->dir);
    assert_int_equal(nas_store_open_readonly(missing, &s, &err), NAS_ENOTFOUND);
}

static void test_writer_lock(void **state) {
    fixture *f = *state;
    nas_store *w = NULL, *w2 = NULL, *r = NULL;
    nas_err err;
    assert_int_equal(nas_store_open(f->path, &w, &err), 0);
    assert_int_equal(nas_store_open(f->path, &w2, &err), NAS_ESTATE);
    assert_non_null(strstr(err.msg, "another nasd"));
    /* readers are welcome while the writer runs, and cannot write */
    make_experiment(w, "e");
    assert_int_equal(nas_store_open_readonly(f->path, &r, &err), 0);
    nas_store_experiment e;
    assert_int_equal(nas_store_experiment_find(r, NULL, &e, &err), 0);
    assert_string_equal(e.name, "e");
    nas_store_experiment_release(&e);
    assert_int_equal(nas_store_event(r, 1, "info", "x", 0, NULL, "m", &err), NAS_ESTATE);
    nas_store_close(&r);
    nas_store_close(&w);
    assert_int_equal(nas_store_open(f->path, &w2, &err), 0); /* lock released on close */
    nas_store_close(&w2);
}

static void test_job_life_cycle(void **state) {
    fixture *f = *state;
    nas_store *s = NULL;
    nas_err err;
    assert_int_equal(nas_store_open(f->path, &s, &err), 0);
    int64_t exp = make_experiment(s, "e");
    int64_t id = make_job(s, exp, NAS_STORE_TRAIN, "00000000000000aa");
    assert_int_equal(nas_store_job_lease(s, id, "w1", 1, 123.0, &err), 0);
    assert_int_equal(nas_store_job_requeue(s, id, 2, "lease expired", &err), 0);
    assert_int_equal(nas_store_job_lease(s, id, "w2", 2, 456.0, &err), 0);
    nas_store_job j;
    assert_int_equal(nas_store_job_get(s, id, &j, &err), 0);
    assert_int_equal(j.state, NAS_JOB_LEASED);
    assert_int_equal(j.attempt, 2);
    assert_string_equal(j.worker, "w2");
    assert_string_equal(j.error, "lease expired");
    assert_true(j.lease_expires_at == 456.0);
    nas_store_job_release(&j);
    assert_int_equal(nas_store_job_finish(s, id, NAS_JOB_FAILED, "crashed", &err), 0);
    /* a finished job cannot be leased again */
    assert_int_equal(nas_store_job_lease(s, id, "w3", 3, 1.0, &err), NAS_ESTATE);
    int64_t counts[NAS_STORE_KIND_COUNT][NAS_JOB_STATE_COUNT];
    assert_int_equal(nas_store_job_counts(s, exp, counts, &err), 0);
    assert_int_equal(counts[NAS_STORE_TRAIN][NAS_JOB_FAILED], 1);
    assert_int_equal(counts[NAS_STORE_TRAIN][NAS_JOB_QUEUED], 0);
    nas_store_close(&s);
}

/* A job can be written already leased, under an id the caller chose (how
 * nasd writes a job it hands out in the tick that created it). */
static void test_job_insert_leased_with_id(void **state) {
    fixture *f = *state;
    nas_store *s = NULL;
    nas_err err;
    assert_int_equal(nas_store_open(f->path, &s, &err), 0);
    int64_t exp = make_experiment(s, "e"), next = 0;
    assert_int_equal(nas_store_next_job_id(s, &next, &err), 0);
    assert_int_equal(next, 1);
    int64_t first = make_job(s, exp, NAS_STORE_TRAIN, "00000000000000a1");
    assert_int_equal(nas_store_next_job_id(s, &next, &err), 0);
    assert_int_equal(next, first + 1);
    nas_store_job in = {.id = 40, .experiment = exp, .kind = NAS_STORE_MEASURE, .arch_json = "{\"a\":2}",
                        .recipe_json = "{}", .tag = "t", .max_attempts = 3, .state = NAS_JOB_LEASED,
                        .attempt = 2, .worker = "w7", .lease_expires_at = 99.5};
    snprintf(in.arch_hash, sizeof in.arch_hash, "00000000000000a2");
    int64_t id = 0;
    assert_int_equal(nas_store_job_insert(s, &in, &id, &err), 0);
    assert_int_equal(id, 40);
    nas_store_job j;
    assert_int_equal(nas_store_job_get(s, 40, &j, &err), 0);
    assert_int_equal(j.state, NAS_JOB_LEASED);
    assert_int_equal(j.kind, NAS_STORE_MEASURE);
    assert_int_equal(j.attempt, 2);
    assert_string_equal(j.worker, "w7");
    assert_true(j.lease_expires_at == 99.5);
    nas_store_job_release(&j);
    assert_int_equal(nas_store_next_job_id(s, &next, &err), 0);
    assert_int_equal(next, 41);
    /* the id is taken now; a leased job needs its worker; new jobs are never finished */
    assert_int_equal(nas_store_job_insert(s, &in, &id, &err), NAS_EDB);
    in.id = 0;
    in.worker = NULL;
    assert_int_equal(nas_store_job_insert(s, &in, &id, &err), NAS_EINVAL);
    assert_non_null(strstr(err.msg, "needs its worker and attempt"));
    in.state = NAS_JOB_DONE;
    assert_int_equal(nas_store_job_insert(s, &in, &id, &err), NAS_EINVAL);
    assert_non_null(strstr(err.msg, "a new job is queued or leased"));
    in.state = NAS_JOB_QUEUED;
    in.id = -5;
    assert_int_equal(nas_store_job_insert(s, &in, &id, &err), NAS_EINVAL);
    assert_non_null(strstr(err.msg, "job ids are positive"));
    nas_store_close(&s);
}

static void test_result_exactly_once(void **state) {
    fixture *f = *state;
    nas_store *s = NULL;
    nas_err err;
    assert_int_equal(nas_store_open(f->path, &s, &err), 0);
    int64_t exp = make_experiment(s, "e");
    int64_t id = make_job(s, exp, NAS_STORE_TRAIN, "00000000000000bb");
    assert_int_equal(nas_store_job_lease(s, id, "w1", 1, 1.0, &err), 0);
    nas_store_result r = {.job = id, .attempt = 1, .worker = "w1", .has_accuracy = true, .top1 = 0.75,
                          .top5 = 0.9, .loss = 0.8, .params = 1000, .macs = 2000, .device = "sim",
                          .simulated = true, .n_latency = 2};
    r.latency[0] = (nas_store_latency){.batch = 1, .precision = "fp16", .mean_ms = 1.5, .p50_ms = 1.4, .p90_ms = 1.7};
    r.latency[1] = (nas_store_latency){.batch = 64, .precision = "fp16", .mean_ms = 9.0, .p50_ms = 9, .p90_ms = 10};
    bool inserted = false;
    assert_int_equal(nas_store_result_insert(s, &r, NAS_JOB_DONE, &inserted, &err), 0);
    assert_true(inserted);
    /* a second copy (resent after a reconnect, or from an older attempt) is dropped */
    nas_store_result copy = r;
    copy.top1 = 0.1;
    copy.worker = "w2";
    assert_int_equal(nas_store_result_insert(s, &copy, NAS_JOB_DONE, &inserted, &err), 0);
    assert_false(inserted);
    nas_store_result got;
    assert_int_equal(nas_store_result_get(s, id, &got, &err), 0);
    assert_true(got.top1 == 0.75);
    assert_string_equal(got.worker, "w1");
    assert_true(got.simulated);
    assert_int_equal(got.n_latency, 2);
    assert_int_equal(got.latency[1].batch, 64);
    nas_store_result_release(&got);
    int64_t n = 0;
    assert_int_equal(nas_store_result_count(s, exp, NAS_STORE_TRAIN, &n, &err), 0);
    assert_int_equal(n, 1);
    nas_store_job j;
    assert_int_equal(nas_store_job_get(s, id, &j, &err), 0);
    assert_int_equal(j.state, NAS_JOB_DONE);
    nas_store_job_release(&j);
    /* unknown job */
    r.job = 9999;
    assert_int_equal(nas_store_result_insert(s, &r, NAS_JOB_DONE, &inserted, &err), NAS_ENOTFOUND);
    /* a caller that vouches for experiment and kind skips the lookup; the
     * foreign key still refuses a job that does not exist */
    r.experiment = exp;
    r.kind = (nas_store_kind)7;
    assert_int_equal(nas_store_result_insert(s, &r, NAS_JOB_DONE, &inserted, &err), NAS_EINVAL);
    assert_non_null(strstr(err.msg, "unknown job kind 7"));
    r.kind = NAS_STORE_TRAIN;
    assert_int_equal(nas_store_result_insert(s, &r, NAS_JOB_DONE, &inserted, &err), NAS_EDB);
    assert_false(inserted);
    int64_t id3 = make_job(s, exp, NAS_STORE_TRAIN, "00000000000000cd");
    r.job = id3;
    assert_int_equal(nas_store_result_insert(s, &r, NAS_JOB_DONE, &inserted, &err), 0);
    assert_true(inserted);
    assert_int_equal(nas_store_result_get(s, id3, &got, &err), 0);
    assert_int_equal(got.experiment, exp);
    assert_int_equal(got.kind, NAS_STORE_TRAIN);
    nas_store_result_release(&got);
    r.experiment = 0;

    /* inside an explicit transaction, a rollback loses the result */
    int64_t id2 = make_job(s, exp, NAS_STORE_MEASURE, "00000000000000cc");
    nas_store_result m = {.job = id2, .attempt = 1, .device = "sim", .simulated = true};
    assert_int_equal(nas_store_begin(s, &err), 0);
    assert_int_equal(nas_store_begin(s, &err), NAS_ESTATE);
    assert_int_equal(nas_store_result_insert(s, &m, NAS_JOB_INFEASIBLE, &inserted, &err), 0);
    nas_store_rollback(s);
    assert_int_equal(nas_store_result_get(s, id2, &got, &err), NAS_ENOTFOUND);
    assert_int_equal(nas_store_result_insert(s, &m, NAS_JOB_INFEASIBLE, &inserted, &err), 0);
    assert_int_equal(nas_store_job_get(s, id2, &j, &err), 0);
    assert_int_equal(j.state, NAS_JOB_INFEASIBLE);
    nas_store_job_release(&j);
    assert_int_equal(nas_store_result_get(s, id2, &got, &err), 0);
    assert_false(got.has_accuracy);
    nas_store_result_release(&got);
    nas_store_close(&s);
}

typedef struct {
    int n_points, n_front;
    double best, last_latency;
    bool ordered;
} front_ctx;

static int on_point(int64_t job, double top1, double latency_ms, void *ctx) {
    front_ctx *c = ctx;
    (void)job;
    if (latency_ms < c->last_latency) c->ordered = false;
    c->last_latency = latency_ms;
    c->n_points++;
    if (top1 > c->best) {
        c->best = top1;
        c->n_front++;
    }
    return 0;
}

static void test_front_scan(void **state) {
    fixture *f = *state;
    nas_store *s = NULL;
    nas_err err;
    assert_int_equal(nas_store_open(f->path, &s, &err), 0);
    int64_t exp = make_experiment(s, "e");
    /* (latency, top1): the front is (1, .5) (2, .7) (4, .9); (3, .6) and (5, .8) are dominated */
    const double lat[] = {3, 1, 5, 2, 4};
    const double acc[] = {.6, .5, .8, .7, .9};
    assert_int_equal(nas_store_begin(s, &err), 0);
    for (int i = 0; i < 5; i++) {
        char hash[17];
        snprintf(hash, sizeof hash, "%016x", i + 1);
        int64_t id = make_job(s, exp, NAS_STORE_TRAIN, hash);
        nas_store_result r = {.job = id, .attempt = 1, .has_accuracy = true, .top1 = acc[i], .n_latency = 1};
        r.latency[0] = (nas_store_latency){.batch = 1, .precision = "fp16", .mean_ms = lat[i]};
        bool inserted;
        assert_int_equal(nas_store_result_insert(s, &r, NAS_JOB_DONE, &inserted, &err), 0);
    }
    assert_int_equal(nas_store_commit(s, &err), 0);
    front_ctx c = {.best = -1, .ordered = true};
    assert_int_equal(nas_store_front_scan(s, exp, 1, "fp16", 0, on_point, &c, &err), 0);
    assert_int_equal(c.n_points, 5);
    assert_int_equal(c.n_front, 3);
    assert_true(c.ordered);
    front_ctx limited = {.best = -1, .ordered = true};
    assert_int_equal(nas_store_front_scan(s, exp, 1, "fp16", 3.5, on_point, &limited, &err), 0);
    assert_int_equal(limited.n_points, 3);
    /* the scan is one walk of a covering index: no sort, no table lookups */
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(nas_store_db(s),
                                        "EXPLAIN QUERY PLAN SELECT job, top1, mean_ms FROM latencies"
                                        " WHERE experiment = 1 AND batch = 1 AND precision = 'fp16'"
                                        " AND (0 <= 0 OR mean_ms <= 0) AND top1 IS NOT NULL"
                                        " ORDER BY mean_ms, top1 DESC",
                                        -1, &st, NULL),
                     SQLITE_OK);
    int plan_rows = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *detail = (const char *)sqlite3_column_text(st, 3);
        assert_null(strstr(detail, "TEMP B-TREE"));
        assert_non_null(strstr(detail, "COVERING INDEX latencies_front"));
        plan_rows++;
    }
    assert_int_equal(plan_rows, 1);
    sqlite3_finalize(st);
    /* a measure job's latency (no accuracy) is not a point */
    int64_t m = make_job(s, exp, NAS_STORE_MEASURE, "00000000000000ff");
    nas_store_result mr = {.job = m, .attempt = 1, .n_latency = 1};
    mr.latency[0] = (nas_store_latency){.batch = 1, .precision = "fp16", .mean_ms = 0.1};
    bool ins;
    assert_int_equal(nas_store_result_insert(s, &mr, NAS_JOB_DONE, &ins, &err), 0);
    front_ctx again = {.best = -1, .ordered = true};
    assert_int_equal(nas_store_front_scan(s, exp, 1, "fp16", 0, on_point, &again, &err), 0);
    assert_int_equal(again.n_points, 5);
    nas_store_close(&s);
}

typedef struct replay_ctx {
    int rows, with_result;
    double top1, latency;
    int64_t last_id;
    bool ordered;
} replay_ctx;

static int on_replay(const nas_store_replay_row *row, void *vctx) {
    replay_ctx *c = vctx;
    if (row->job->id <= c->last_id) c->ordered = false;
    c->last_id = row->job->id;
    c->rows++;
    if (row->has_result) {
        c->with_result++;
        c->top1 = row->top1;
        c->latency = row->latency_ms;
    }
    return 0;
}

static void test_replay(void **state) {
    fixture *f = *state;
    nas_store *s = NULL;
    nas_err err;
    assert_int_equal(nas_store_open(f->path, &s, &err), 0);
    int64_t exp = make_experiment(s, "e");
    int64_t done = make_job(s, exp, NAS_STORE_TRAIN, "0000000000000001");
    make_job(s, exp, NAS_STORE_TRAIN, "0000000000000002"); /* still queued */
    nas_store_result r = {.job = done, .attempt = 1, .has_accuracy = true, .top1 = 0.75, .simulated = true,
                          .n_latency = 2};
    r.latency[0] = (nas_store_latency){.batch = 1, .precision = "fp16", .mean_ms = 1.5};
    r.latency[1] = (nas_store_latency){.batch = 64, .precision = "fp16", .mean_ms = 20.0};
    bool inserted;
    assert_int_equal(nas_store_result_insert(s, &r, NAS_JOB_DONE, &inserted, &err), 0);
    replay_ctx c = {.ordered = true};
    assert_int_equal(nas_store_replay(s, exp, 64, "fp16", on_replay, &c, &err), 0);
    assert_int_equal(c.rows, 2);
    assert_int_equal(c.with_result, 1);
    assert_true(c.top1 == 0.75 && c.latency == 20.0 && c.ordered);
    replay_ctx first = {.ordered = true};
    assert_int_equal(nas_store_replay(s, exp, 0, NULL, on_replay, &first, &err), 0);
    assert_true(first.latency == 1.5); /* no tier: the first latency */
    replay_ctx none = {.ordered = true};
    assert_int_equal(nas_store_replay(s, exp, 8, "fp16", on_replay, &none, &err), 0);
    assert_true(none.latency < 0); /* not measured at batch 8 */
    nas_store_close(&s);
}

/* A file written by schema v1 (before latencies.top1) is read as it is by
 * readers and migrated by the next writer. */
static void test_migration_from_v1(void **state) {
    fixture *f = *state;
    nas_store *s = NULL;
    nas_err err;
    assert_int_equal(nas_store_open(f->path, &s, &err), 0);
    int64_t exp = make_experiment(s, "e");
    int64_t id = make_job(s, exp, NAS_STORE_TRAIN, "0000000000000abc");
    nas_store_result r = {.job = id, .attempt = 1, .has_accuracy = true, .top1 = 0.625, .n_latency = 1};
    r.latency[0] = (nas_store_latency){.batch = 1, .precision = "fp16", .mean_ms = 2.0};
    bool inserted;
    assert_int_equal(nas_store_result_insert(s, &r, NAS_JOB_DONE, &inserted, &err), 0);
    nas_store_close(&s);
    /* turn it back into what v1 wrote */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "DROP INDEX latencies_front; ALTER TABLE latencies DROP COLUMN top1;"
                                  "CREATE INDEX latencies_front ON latencies(experiment, batch, precision, mean_ms, job);"
                                  "PRAGMA user_version = 1;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    front_ctx c = {.best = -1, .ordered = true};
    assert_int_equal(nas_store_open_readonly(f->path, &s, &err), 0);
    assert_int_equal(nas_store_schema_version(s), 1);
    assert_int_equal(nas_store_front_scan(s, exp, 1, "fp16", 0, on_point, &c, &err), 0);
    assert_int_equal(c.n_points, 1);
    nas_store_close(&s);
    assert_int_equal(nas_store_open(f->path, &s, &err), 0);
    assert_int_equal(nas_store_schema_version(s), NAS_STORE_SCHEMA_VERSION);
    front_ctx c2 = {.best = -1, .ordered = true};
    assert_int_equal(nas_store_front_scan(s, exp, 1, "fp16", 0, on_point, &c2, &err), 0);
    assert_int_equal(c2.n_points, 1);
    assert_true(c2.best == 0.625); /* the migration copied top1 */
    nas_store_close(&s);
}

/* v2 -> v3 drops jobs_by_hash (nothing read it; every insert wrote a
 * random leaf page of it) and keeps the jobs. */
static void test_migration_from_v2(void **state) {
    fixture *f = *state;
    nas_store *s = NULL;
    nas_err err;
    assert_int_equal(nas_store_open(f->path, &s, &err), 0);
    int64_t exp = make_experiment(s, "e");
    make_job(s, exp, NAS_STORE_TRAIN, "0000000000000abd");
    nas_store_close(&s);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE INDEX jobs_by_hash ON jobs(experiment, arch_hash, kind);"
                                  "PRAGMA user_version = 2;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(nas_store_open(f->path, &s, &err), 0);
    assert_int_equal(nas_store_schema_version(s), 3);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(nas_store_db(s),
                                        "SELECT (SELECT count(*) FROM sqlite_schema WHERE name = 'jobs_by_hash'),"
                                        " (SELECT count(*) FROM jobs)", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 0);
    assert_int_equal(sqlite3_column_int(q, 1), 1);
    sqlite3_finalize(q);
    nas_store_close(&s);
}

static void test_strategy_state_and_workers(void **state) {
    fixture *f = *state;
    nas_store *s = NULL;
    nas_err err;
    assert_int_equal(nas_store_open(f->path, &s, &err), 0);
    int64_t exp = make_experiment(s, "e");
    char *json = (char *)"x";
    assert_int_equal(nas_store_strategy_load(s, exp, &json, &err), 0);
    assert_null(json);
    assert_int_equal(nas_store_strategy_save(s, exp, "random", "{\"n\":1}", &err), 0);
    assert_int_equal(nas_store_strategy_save(s, exp, "random", "{\"n\":2}", &err), 0);
    assert_int_equal(nas_store_strategy_load(s, exp, &json, &err), 0);
    assert_string_equal(json, "{\"n\":2}");
    free(json);
    assert_int_equal(nas_store_worker_seen(s, "w1", "host", "sim", "sim", "0.1", "connected", &err), 0);
    assert_int_equal(nas_store_worker_seen(s, "w1", NULL, NULL, NULL, NULL, "gone", &err), 0);
    assert_int_equal(nas_store_experiment_update(s, exp, "done", 12.5, &err), 0);
    nas_store_experiment e;
    assert_int_equal(nas_store_experiment_find(s, "e", &e, &err), 0);
    assert_string_equal(e.state, "done");
    assert_true(e.elapsed_seconds == 12.5);
    nas_store_experiment_release(&e);
    assert_int_equal(nas_store_experiment_find(s, "nope", &e, &err), NAS_ENOTFOUND);
    nas_store_close(&s);
}

/* The WAL's last frame and how far checkpoints copied it, read from the
 * wal-index header in DB-shm (SQLite's documented file format: mxFrame is
 * the u32 at byte 16, nBackfill the u32 at byte 96, native byte order). */
static void wal_progress(const char *path, uint32_t *mx_frame, uint32_t *backfilled) {
    char shm[160];
    snprintf(shm, sizeof shm, "%s-shm", path);
    FILE *fp = fopen(shm, "rb");
    assert_non_null(fp);
    uint8_t hdr[100];
    assert_int_equal(fread(hdr, 1, sizeof hdr, fp), sizeof hdr);
    fclose(fp);
    memcpy(mx_frame, hdr + 16, 4);
    memcpy(backfilled, hdr + 96, 4);
}

/* Writes 200 commits of 20 jobs with 2 KiB architectures (about 5000 WAL
 * frames), 2 ms apart, then waits up to 2 s for checkpoints to catch up;
 * returns the WAL's frames and how many were copied into the database. */
static void write_and_wait(const char *path, bool background, uint32_t *mx_frame, uint32_t *backfilled) {
    nas_store *s = NULL;
    nas_err err;
    assert_int_equal(nas_store_open(path, &s, &err), 0);
    if (background) {
        assert_int_equal(nas_store_checkpoint_in_background(s, 0.005, &err), 0);
        /* once is enough: a second start is refused */
        assert_int_equal(nas_store_checkpoint_in_background(s, 0.005, &err), NAS_ESTATE);
    } else {
        /* SQLite's own checkpoint in COMMIT (what the thread replaces) off,
         * so that the WAL shows what nobody copies */
        sqlite3_wal_autocheckpoint(nas_store_db(s), 0);
    }
    int64_t exp = make_experiment(s, "wal");
    char arch[2048];
    memset(arch, 'x', sizeof arch);
    memcpy(arch, "{\"pad\":\"", 8);
    memcpy(arch + sizeof arch - 3, "\"}", 3);
    for (int c = 0; c < 200; c++) {
        assert_int_equal(nas_store_begin(s, &err), 0);
        for (int i = 0; i < 20; i++) {
            nas_store_job j = {.experiment = exp, .kind = NAS_STORE_TRAIN, .arch_json = arch, .recipe_json = "{}",
                               .tag = "", .max_attempts = 1};
            snprintf(j.arch_hash, sizeof j.arch_hash, "%016x", c * 20 + i);
            int64_t id = 0;
            assert_int_equal(nas_store_job_insert(s, &j, &id, &err), 0);
        }
        assert_int_equal(nas_store_commit(s, &err), 0);
        nanosleep(&(struct timespec){.tv_nsec = 2000000}, NULL);
    }
    for (int wait = 0; wait < 200; wait++) {
        wal_progress(path, mx_frame, backfilled);
        if (*backfilled == *mx_frame) break;
        nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
    }
    nas_store_close(&s);
    /* the last close copied everything back and removed the WAL */
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", path);
    assert_int_not_equal(access(wal, F_OK), 0);
    assert_int_equal(nas_store_open_readonly(path, &s, &err), 0);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(nas_store_db(s), "SELECT count(*) FROM jobs", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 200 * 20);
    sqlite3_finalize(q);
    nas_store_close(&s);
}

/* With background checkpoints, what the writer commits is copied into the
 * database without the writer checkpointing: after a short wait every frame
 * is copied. Without them (and SQLite's own turned off) nothing is. */
static void test_background_checkpoints(void **state) {
    fixture *f = *state;
    char other[160];
    snprintf(other, sizeof other, "%s/no-checkpoints.db", f->dir);
    uint32_t mx = 0, copied = 0;
    write_and_wait(other, false, &mx, &copied);
    assert_true(mx > 4000);
    assert_int_equal(copied, 0);
    write_and_wait(f->path, true, &mx, &copied);
    assert_true(mx > 0);
    assert_int_equal(copied, mx);
    nas_store *ro = NULL;
    nas_err err;
    assert_int_equal(nas_store_open_readonly(f->path, &ro, &err), 0);
    assert_int_equal(nas_store_checkpoint_in_background(ro, 0.01, &err), NAS_ESTATE);
    nas_store_close(&ro);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_schema_and_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_background_checkpoints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_life_cycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_insert_leased_with_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_result_exactly_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_front_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_from_v1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_from_v2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_strategy_state_and_workers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
