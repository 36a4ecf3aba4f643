/*
 * tests/test_server_coord.c - the coordinator without sockets: frames in
 * through nas_coord_on_frame, frames out through a capturing send callback.
 * Covers exactly-once results, lease expiry and retries, failures and
 * hand-backs, the evaluation budget, measure-then-train under a latency
 * budget, resume after a crash (with a lease re-attached by Hello), bad
 * frames, and experiment YAML errors with file:line:column.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <unistd.h>

#include "server/coordinator.h"
#include "server/experiment.h"

#define MAX_SENT 512

typedef struct sent {
    char peer[32];
    nas_envelope *env;
    bool in_tx;          /* a store transaction was open when it was sent */
    char job_state[16];  /* for a Job: its row's state in the store when it was sent */
} sent;

typedef struct fixture {
    char dir[64], db[128];
    sent out[MAX_SENT];
    int n_out;
    nas_experiment *exp;
    nas_store *store;
    nas_coord *coord;
} fixture;

static int capture(void *ctx, const uint8_t *peer, size_t peer_len, nas_envelope *env) {
    fixture *f = ctx;
    assert_true(f->n_out < MAX_SENT);
    uint8_t *buf = NULL;
    size_t len = 0;
    nas_err err;
    assert_int_equal(nas_proto_pack(env, &buf, &len, &err), 0);
    sent *s = &f->out[f->n_out++];
    snprintf(s->peer, sizeof s->peer, "%.*s", (int)peer_len, (const char *)peer);
    assert_int_equal(nas_proto_decode(buf, len, &s->env, &err), 0);
    free(buf);
    s->in_tx = nas_store_in_transaction(f->store);
    s->job_state[0] = '\0';
    if (s->env->body_case == NAS__ENVELOPE__BODY_JOB) {
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_prepare_v2(nas_store_db(f->store), "SELECT state FROM jobs WHERE id = ?1", -1, &st,
                                            NULL), SQLITE_OK);
        sqlite3_bind_int64(st, 1, s->env->job->job_id);
        if (sqlite3_step(st) == SQLITE_ROW)
            snprintf(s->job_state, sizeof s->job_state, "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
    }
    return 0;
}

static void clear_sent(fixture *f) {
    for (int i = 0; i < f->n_out; i++) nas_proto_free(&f->out[i].env);
    f->n_out = 0;
}

/* The n-th message of a body kind sent to peer since the last clear, or NULL. */
static nas_envelope *sent_to(fixture *f, const char *peer, Nas__Envelope__BodyCase body, int nth) {
    for (int i = 0; i < f->n_out; i++)
        if (strcmp(f->out[i].peer, peer) == 0 && f->out[i].env->body_case == body && nth-- == 0) return f->out[i].env;
    return NULL;
}

static int count_sent(fixture *f, const char *peer, Nas__Envelope__BodyCase body) {
    int n = 0;
    for (int i = 0; i < f->n_out; i++) n += strcmp(f->out[i].peer, peer) == 0 && f->out[i].env->body_case == body;
    return n;
}

static void deliver(fixture *f, const char *peer, nas_envelope *env) {
    uint8_t *buf = NULL;
    size_t len = 0;
    nas_err err;
    assert_int_equal(nas_proto_pack(env, &buf, &len, &err), 0);
    nas_coord_on_frame(f->coord, (const uint8_t *)peer, strlen(peer), buf, len);
    free(buf);
}

static void tick(fixture *f) {
    nas_err err;
    assert_int_equal(nas_coord_tick(f->coord, &err), 0);
}

static void hello(fixture *f, const char *peer, int64_t running_job) {
    Nas__Hello h = NAS__HELLO__INIT;
    h.worker_id = (char *)peer;
    h.backend = "sim";
    h.running_job = running_job;
    nas_envelope env = NAS__ENVELOPE__INIT;
    env.body_case = NAS__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    deliver(f, peer, &env);
}

static void ready(fixture *f, const char *peer) {
    Nas__Ready r = NAS__READY__INIT;
    r.slots = 1;
    nas_envelope env = NAS__ENVELOPE__INIT;
    env.body_case = NAS__ENVELOPE__BODY_READY;
    env.ready = &r;
    deliver(f, peer, &env);
}

/* Sends a result for job with the given top1 and a batch-1 fp16 latency;
 * ready_slots > 0 asks for the next job in the same frame. */
static void result_ready(fixture *f, const char *peer, const Nas__Job *job, double top1, double latency_ms,
                         uint32_t ready_slots) {
    Nas__Latency lat = NAS__LATENCY__INIT;
    lat.batch = 1;
    lat.precision = "fp16";
    lat.mean_ms = lat.p50_ms = lat.p90_ms = latency_ms;
    Nas__Latency *lats[1] = {&lat};
    Nas__Result r = NAS__RESULT__INIT;
    r.job_id = job->job_id;
    r.attempt = job->attempt;
    r.arch_json = job->arch_json;
    r.has_accuracy = job->kind == NAS__JOB_KIND__JOB_TRAIN;
    r.top1 = top1;
    r.top5 = top1;
    r.device = "sim:test";
    r.simulated = true;
    r.n_latency = 1;
    r.latency = lats;
    r.ready_slots = ready_slots;
    nas_envelope env = NAS__ENVELOPE__INIT;
    env.body_case = NAS__ENVELOPE__BODY_RESULT;
    env.result = &r;
    deliver(f, peer, &env);
}

static void result(fixture *f, const char *peer, const Nas__Job *job, double top1, double latency_ms) {
    result_ready(f, peer, job, top1, latency_ms, 0);
}

static void failure(fixture *f, const char *peer, const Nas__Job *job, bool retryable, bool handed_back) {
    Nas__Failure fl = NAS__FAILURE__INIT;
    fl.job_id = job->job_id;
    fl.attempt = job->attempt;
    fl.reason = "test failure";
    fl.retryable = retryable;
    fl.handed_back = handed_back;
    nas_envelope env = NAS__ENVELOPE__INIT;
    env.body_case = NAS__ENVELOPE__BODY_FAILURE;
    env.failure = &fl;
    deliver(f, peer, &env);
}

/* prefetch 0 unless extra_yaml sets it, so each Ready gets exactly the oldest queued job */
static void start(fixture *f, const char *extra_yaml, int budget) {
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "name: coord-test\nspace: mini\nstrategy: {name: random, seed: 2}\nbudget: {evaluations: %d}\n"
             "max_attempts: 2\n%s%s",
             budget, extra_yaml, strstr(extra_yaml, "prefetch") ? "" : "prefetch: 0\n");
    nas_err err;
    if (!f->exp && nas_experiment_load_string(yaml, "test.yaml", &f->exp, &err)) fail_msg("%s", err.msg);
    if (!f->store && nas_store_open(f->db, &f->store, &err)) fail_msg("%s", err.msg);
    if (nas_coord_new(f->exp, f->store, capture, f, &f->coord, &err)) fail_msg("%s", err.msg);
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/nas-test-coord-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof f->db, "%s/r.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    clear_sent(f);
    nas_coord_free(&f->coord);
    nas_store_close(&f->store);
    nas_experiment_free(&f->exp);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static int64_t db_int(fixture *f, const char *sql) {
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(nas_store_db(f->store), sql, -1, &st, NULL), 0);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Takes the i-th sent message out of the capture (caller frees). */
static nas_envelope *take_job_copy(fixture *f, int i) {
    nas_envelope *env = f->out[i].env;
    f->out[i].env = NULL;
    f->out[i].peer[0] = '\0';
    return env;
}

/* Hello + Ready + tick; returns a copy of the job sent to peer (caller frees). */
static nas_envelope *take_job(fixture *f, const char *peer) {
    clear_sent(f);
    ready(f, peer);
    tick(f);
    nas_envelope *job = sent_to(f, peer, NAS__ENVELOPE__BODY_JOB, 0);
    assert_non_null(job);
    for (int i = 0; i < f->n_out; i++)
        if (f->out[i].env == job) f->out[i].env = NULL, f->out[i].peer[0] = '\0';
    return job;
}

static void test_exactly_once_and_acks(void **state) {
    fixture *f = *state;
    start(f, "", 3);
    hello(f, "w1", 0);
    assert_non_null(sent_to(f, "w1", NAS__ENVELOPE__BODY_WELCOME, 0));
    nas_envelope *job = take_job(f, "w1");
    clear_sent(f);
    result(f, "w1", job->job, 0.7, 1.0);
    result(f, "w1", job->job, 0.1, 1.0); /* resent after a reconnect: dropped */
    assert_int_equal(count_sent(f, "w1", NAS__ENVELOPE__BODY_ACK), 0); /* acks wait for the commit */
    tick(f);
    assert_int_equal(count_sent(f, "w1", NAS__ENVELOPE__BODY_ACK), 2);
    assert_int_equal(db_int(f, "SELECT count(*) FROM results"), 1);
    assert_true(db_int(f, "SELECT top1 * 10 FROM results") == 7);
    /* the stored identity is nas_arch_hash of the job's architecture */
    nas_arch arch;
    nas_err err;
    assert_int_equal(nas_arch_from_json(job->job->arch_json, &arch, &err), 0);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM jobs WHERE arch_hash = '%016llx'",
             (unsigned long long)nas_arch_hash(&arch));
    assert_int_equal(db_int(f, sql), 1);
    nas_coord_counts n;
    nas_coord_get_counts(f->coord, &n);
    assert_int_equal(n.train_done, 1);
    assert_int_equal(n.duplicates_dropped, 1);
    nas_proto_free(&job);
}

/* Jobs and Acks leave only after the tick's commit (a worker never holds a
 * lease, or forgets a result, that the store has not kept), and the Ack of a
 * result goes out right before the next Job for that worker, so both leave
 * in one write. */
static void test_sends_wait_for_commit(void **state) {
    fixture *f = *state;
    start(f, "", 10);
    hello(f, "w1", 0);
    clear_sent(f);
    ready(f, "w1");
    assert_int_equal(count_sent(f, "w1", NAS__ENVELOPE__BODY_JOB), 0); /* nothing before the tick */
    tick(f);
    assert_int_equal(f->n_out, 1);
    assert_int_equal(f->out[0].env->body_case, NAS__ENVELOPE__BODY_JOB);
    assert_false(f->out[0].in_tx);
    assert_string_equal(f->out[0].job_state, "leased");
    nas_envelope *job = take_job_copy(f, 0);
    clear_sent(f);
    result(f, "w1", job->job, 0.5, 1.0);
    ready(f, "w1");
    assert_int_equal(f->n_out, 0); /* the Ack waits for the commit too */
    tick(f);
    assert_int_equal(f->n_out, 2);
    assert_int_equal(f->out[0].env->body_case, NAS__ENVELOPE__BODY_ACK);
    assert_int_equal(f->out[0].env->ack->job_id, job->job->job_id);
    assert_int_equal(f->out[1].env->body_case, NAS__ENVELOPE__BODY_JOB);
    assert_true(f->out[1].env->job->job_id != job->job->job_id);
    for (int i = 0; i < 2; i++) assert_false(f->out[i].in_tx);
    assert_string_equal(f->out[1].job_state, "leased");
    nas_proto_free(&job);
}

/* A Result with ready_slots is a Result and a Ready: the next job comes
 * without a Ready frame, right after the Ack; without it, none comes. */
static void test_result_carries_ready(void **state) {
    fixture *f = *state;
    start(f, "", 10);
    hello(f, "w1", 0);
    nas_envelope *job = take_job(f, "w1");
    clear_sent(f);
    result(f, "w1", job->job, 0.5, 1.0);
    tick(f);
    assert_int_equal(count_sent(f, "w1", NAS__ENVELOPE__BODY_ACK), 1);
    assert_int_equal(count_sent(f, "w1", NAS__ENVELOPE__BODY_JOB), 0);
    nas_proto_free(&job);
    job = take_job(f, "w1");
    clear_sent(f);
    result_ready(f, "w1", job->job, 0.6, 1.0, 1);
    tick(f);
    assert_int_equal(f->n_out, 2);
    assert_int_equal(f->out[0].env->body_case, NAS__ENVELOPE__BODY_ACK);
    assert_int_equal(f->out[1].env->body_case, NAS__ENVELOPE__BODY_JOB);
    assert_int_equal(db_int(f, "SELECT count(*) FROM results"), 2);
    nas_proto_free(&job);
}

/* A job is written when it is first handed out, already leased to its
 * worker (one row write); prefetched jobs live in memory until then. */
static void test_new_jobs_stored_as_they_stand(void **state) {
    fixture *f = *state;
    start(f, "prefetch: 3\n", 10);
    hello(f, "w1", 0);
    clear_sent(f);
    ready(f, "w1");
    tick(f);
    assert_int_equal(count_sent(f, "w1", NAS__ENVELOPE__BODY_JOB), 1);
    assert_string_equal(f->out[0].job_state, "leased");
    assert_int_equal(db_int(f, "SELECT count(*) FROM jobs WHERE state = 'leased' AND worker = 'w1'"), 1);
    assert_int_equal(db_int(f, "SELECT count(*) FROM jobs"), 1);
    /* the next Ready gets the oldest prefetched job, written now, leased */
    int64_t first = db_int(f, "SELECT id FROM jobs");
    clear_sent(f);
    hello(f, "w2", 0);
    ready(f, "w2");
    tick(f);
    nas_envelope *job = sent_to(f, "w2", NAS__ENVELOPE__BODY_JOB, 0);
    assert_non_null(job);
    assert_int_equal(job->job->job_id, first + 1);
    assert_int_equal(db_int(f, "SELECT count(*) FROM jobs WHERE state = 'leased' AND worker = 'w2'"), 1);
    assert_int_equal(db_int(f, "SELECT count(*) FROM jobs"), 2);
}

static void test_unknown_worker_and_bad_frames(void **state) {
    fixture *f = *state;
    start(f, "", 3);
    ready(f, "stranger");
    nas_envelope *rej = sent_to(f, "stranger", NAS__ENVELOPE__BODY_REJECT, 0);
    assert_non_null(rej);
    assert_int_equal(rej->reject->code, NAS__REJECT_CODE__REJECT_UNKNOWN_WORKER);
    nas_coord_on_frame(f->coord, (const uint8_t *)"x", 1, "\xff\xff\xff", 3);
    /* routing ids ZeroMQ never gives (empty, longer than 255 bytes): counted
     * and logged, not acted on (nothing is sent back) */
    char log_path[160];
    snprintf(log_path, sizeof log_path, "%s/stderr.log", f->dir);
    fflush(stderr);
    int saved_stderr = dup(2);
    FILE *log_file = fopen(log_path, "w+");
    assert_non_null(log_file);
    dup2(fileno(log_file), 2);
    uint8_t long_id[256];
    memset(long_id, 'a', sizeof long_id);
    int sent_before = f->n_out;
    nas_coord_on_frame(f->coord, (const uint8_t *)"", 0, "\x08\x01", 2);
    nas_coord_on_frame(f->coord, long_id, sizeof long_id, "\x08\x01", 2);
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    char logged[2048] = "";
    rewind(log_file);
    size_t got = fread(logged, 1, sizeof logged - 1, log_file);
    logged[got] = '\0';
    fclose(log_file);
    assert_non_null(strstr(logged, "a routing id of a length ZeroMQ never gives"));
    assert_int_equal(f->n_out, sent_before);
    hello(f, "w1", 0);
    nas_envelope *job = take_job(f, "w1");
    /* the job's architecture with a width the space does not allow */
    nas_arch arch;
    nas_err err;
    assert_int_equal(nas_arch_from_json(job->job->arch_json, &arch, &err), 0);
    arch.stages[1].width += 1;
    char *outside = nas_arch_to_json(&arch);
    char *original = job->job->arch_json;
    job->job->arch_json = outside;
    result(f, "w1", job->job, 0.5, 1.0);
    job->job->arch_json = original;
    free(outside);
    tick(f);
    nas_coord_counts n;
    nas_coord_get_counts(f->coord, &n);
    assert_int_equal(n.bad[NAS_BAD_DECODE], 1);
    assert_int_equal(n.bad[NAS_BAD_FIELD], 2);
    assert_int_equal(n.bad[NAS_BAD_ARCH], 1);
    assert_int_equal(n.train_done, 0);
    assert_int_equal(db_int(f, "SELECT count(*) FROM results"), 0);
    nas_proto_free(&job);
}

static void test_lease_expiry_and_retries(void **state) {
    fixture *f = *state;
    start(f, "lease_seconds: 0.2\nheartbeat_seconds: 0.05\n", 1);
    hello(f, "w1", 0);
    nas_envelope *job = take_job(f, "w1");
    int64_t id = job->job->job_id;
    usleep(300 * 1000);
    tick(f);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT attempt * 10 + (state = 'queued') FROM jobs WHERE id = %lld", (long long)id);
    assert_int_equal(db_int(f, sql), 21); /* attempt 2, queued again */
    hello(f, "w2", 0);
    nas_envelope *again = take_job(f, "w2");
    assert_int_equal(again->job->job_id, id);
    assert_int_equal(again->job->attempt, 2);
    /* the old holder's late failure is ignored; the new holder's final failure fails the job */
    failure(f, "w1", job->job, true, false);
    failure(f, "w2", again->job, true, false); /* retryable, but attempt 2 of max 2 */
    tick(f);
    snprintf(sql, sizeof sql, "SELECT state = 'failed' FROM jobs WHERE id = %lld", (long long)id);
    assert_int_equal(db_int(f, sql), 1);
    const char *why = NULL;
    assert_true(nas_coord_finished(f->coord, &why)); /* budget 1: the failed train job used it */
    nas_proto_free(&job);
    nas_proto_free(&again);
}

static void test_restarted_worker_loses_its_job(void **state) {
    fixture *f = *state;
    start(f, "lease_seconds: 60\nheartbeat_seconds: 1\n", 2);
    hello(f, "w1", 0);
    nas_envelope *job = take_job(f, "w1");
    hello(f, "w1", 0); /* the same worker, restarted: it runs nothing now */
    tick(f);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT attempt * 10 + (state = 'queued') FROM jobs WHERE id = %lld",
             (long long)job->job->job_id);
    assert_int_equal(db_int(f, sql), 21); /* re-queued at once, not after 60 s */
    nas_proto_free(&job);
}

static void test_backend_refused(void **state) {
    fixture *f = *state;
    start(f, "backend: cuda\n", 2);
    hello(f, "simworker", 0); /* says backend sim */
    nas_envelope *rej = sent_to(f, "simworker", NAS__ENVELOPE__BODY_REJECT, 0);
    assert_non_null(rej);
    assert_int_equal(rej->reject->code, NAS__REJECT_CODE__REJECT_BACKEND);
    assert_null(sent_to(f, "simworker", NAS__ENVELOPE__BODY_WELCOME, 0));
    clear_sent(f);
    ready(f, "simworker"); /* still unknown: it gets nothing */
    tick(f);
    assert_null(sent_to(f, "simworker", NAS__ENVELOPE__BODY_JOB, 0));
}

static void test_time_budget(void **state) {
    fixture *f = *state;
    nas_err err;
    assert_int_equal(nas_experiment_load_string("name: timed\nspace: mini\nstrategy: {name: random}\n"
                                                "budget: {hours: 0.0001}\n",
                                                "timed.yaml", &f->exp, &err),
                     0);
    start(f, "", 0);
    hello(f, "w1", 0);
    ready(f, "w1");
    tick(f);
    assert_false(nas_coord_finished(f->coord, NULL));
    usleep(500 * 1000); /* 0.0001 h = 0.36 s */
    tick(f);
    const char *why = NULL;
    assert_true(nas_coord_finished(f->coord, &why));
    assert_non_null(strstr(why, "time budget"));
    assert_int_equal(nas_coord_stop(f->coord, &err), 0);
    assert_true(db_int(f, "SELECT elapsed_seconds * 10 FROM experiments") >= 3);
}

static void test_hand_back_keeps_attempt(void **state) {
    fixture *f = *state;
    start(f, "", 2);
    hello(f, "w1", 0);
    nas_envelope *job = take_job(f, "w1");
    failure(f, "w1", job->job, true, true);
    tick(f);
    nas_envelope *again = take_job(f, "w1");
    assert_int_equal(again->job->job_id, job->job->job_id);
    assert_int_equal(again->job->attempt, 1);
    failure(f, "w1", again->job, false, false); /* not retryable: failed at once */
    tick(f);
    assert_int_equal(db_int(f, "SELECT count(*) FROM jobs WHERE state = 'failed'"), 1);
    nas_proto_free(&job);
    nas_proto_free(&again);
}

static void test_budget_is_exact(void **state) {
    fixture *f = *state;
    start(f, "prefetch: 10\n", 5);
    hello(f, "w1", 0);
    for (int i = 0; i < 5; i++) {
        nas_envelope *job = take_job(f, "w1");
        result(f, "w1", job->job, 0.5 + i * 0.01, 1.0);
        tick(f);
        nas_proto_free(&job);
    }
    assert_true(nas_coord_finished(f->coord, NULL));
    assert_int_equal(db_int(f, "SELECT count(*) FROM jobs"), 5); /* prefetch never exceeds the budget */
    assert_int_equal(db_int(f, "SELECT count(*) FROM results"), 5);
    nas_err err;
    assert_int_equal(nas_coord_stop(f->coord, &err), 0);
    assert_int_equal(db_int(f, "SELECT count(*) FROM experiments WHERE state = 'done'"), 1);
    assert_int_equal(db_int(f, "SELECT count(*) FROM strategy_state WHERE strategy = 'random'"), 1);
}

static void test_measure_then_train(void **state) {
    fixture *f = *state;
    start(f, "latency:\n  - {ms: 2.0, batch: 1, precision: fp16}\n", 1);
    hello(f, "w1", 0);
    nas_envelope *m1 = take_job(f, "w1");
    assert_int_equal(m1->job->kind, NAS__JOB_KIND__JOB_MEASURE);
    assert_non_null(strstr(m1->job->recipe_json, "\"latency_batches\":[1]"));
    result(f, "w1", m1->job, 0, 5.0); /* over 2 ms: infeasible, not trained */
    tick(f);
    nas_envelope *m2 = take_job(f, "w1");
    assert_int_equal(m2->job->kind, NAS__JOB_KIND__JOB_MEASURE);
    result(f, "w1", m2->job, 0, 1.5); /* feasible: its train job follows */
    tick(f);
    nas_envelope *t = take_job(f, "w1");
    assert_int_equal(t->job->kind, NAS__JOB_KIND__JOB_TRAIN);
    assert_string_equal(t->job->arch_json, m2->job->arch_json);
    result(f, "w1", t->job, 0.8, 1.5);
    tick(f);
    assert_true(nas_coord_finished(f->coord, NULL));
    assert_int_equal(db_int(f, "SELECT count(*) FROM jobs WHERE state = 'infeasible'"), 1);
    assert_int_equal(db_int(f, "SELECT count(*) FROM jobs WHERE kind = 'train' AND state = 'done'"), 1);
    nas_proto_free(&m1);
    nas_proto_free(&m2);
    nas_proto_free(&t);
}

static void test_resume_after_crash(void **state) {
    fixture *f = *state;
    start(f, "lease_seconds: 5\nheartbeat_seconds: 1\n", 3);
    hello(f, "w1", 0);
    nas_envelope *j1 = take_job(f, "w1");
    result(f, "w1", j1->job, 0.6, 1.0);
    tick(f);
    nas_envelope *j2 = take_job(f, "w1");
    /* crash: the coordinator disappears without stopping; the store stays */
    nas_coord_free(&f->coord);
    clear_sent(f);
    start(f, "", 3);
    nas_coord_counts n;
    nas_coord_get_counts(f->coord, &n);
    assert_int_equal(n.train_done, 1);
    assert_int_equal(n.leased, 1); /* j2's lease waits for its worker */
    /* the worker comes back still running j2 and finishes it: accepted once */
    result(f, "w1", j2->job, 0.7, 1.0);
    assert_non_null(sent_to(f, "w1", NAS__ENVELOPE__BODY_REJECT, 0));
    hello(f, "w1", j2->job->job_id);
    result(f, "w1", j2->job, 0.7, 1.0);
    tick(f);
    assert_int_equal(db_int(f, "SELECT count(*) FROM results"), 2);
    nas_envelope *j3 = take_job(f, "w1");
    assert_true(j3->job->job_id != j1->job->job_id && j3->job->job_id != j2->job->job_id);
    assert_string_not_equal(j3->job->arch_json, j1->job->arch_json);
    nas_proto_free(&j1);
    nas_proto_free(&j2);
    nas_proto_free(&j3);
}

static void expect_config_error(const char *yaml, const char *needle) {
    nas_experiment *e = NULL;
    nas_err err = {0};
    assert_true(nas_experiment_load_string(yaml, "exp.yaml", &e, &err) < 0);
    assert_null(e);
    if (!strstr(err.msg, needle)) fail_msg("expected '%s' in: %s", needle, err.msg);
}

/* workers.last_seen follows the heartbeats (not only the Hello), and a
 * stopped nasd leaves no worker marked connected. */
static void test_worker_heartbeats_reach_store(void **state) {
    fixture *f = *state;
    start(f, "lease_seconds: 5\nheartbeat_seconds: 0.05\n", 1);
    hello(f, "w1", 0);
    tick(f);
    double joined = (double)db_int(f, "SELECT CAST(last_seen * 1000 AS INTEGER) FROM workers WHERE id = 'w1'") / 1000;
    for (int i = 0; i < 12; i++) { /* 1.2 s of traffic: more than the 1 s write period */
        usleep(100 * 1000);
        Nas__Heartbeat hb = NAS__HEARTBEAT__INIT;
        nas_envelope env = NAS__ENVELOPE__INIT;
        env.body_case = NAS__ENVELOPE__BODY_HEARTBEAT;
        env.heartbeat = &hb;
        deliver(f, "w1", &env);
        tick(f);
    }
    double seen = (double)db_int(f, "SELECT CAST(last_seen * 1000 AS INTEGER) FROM workers WHERE id = 'w1'") / 1000;
    assert_true(seen - joined >= 0.9);
    assert_int_equal(db_int(f, "SELECT count(*) FROM workers WHERE state = 'connected'"), 1);
    nas_err err;
    assert_int_equal(nas_coord_stop(f->coord, &err), 0);
    assert_int_equal(db_int(f, "SELECT count(*) FROM workers WHERE state = 'connected'"), 0);
}

/* Recipe keys the trainer understands are accepted, not refused as unknown. */
static void test_trainer_recipe_keys_accepted(void **state) {
    (void)state;
    nas_experiment *exp = NULL;
    nas_err err;
    const char *yaml = "name: x\nspace: mini\nstrategy: {name: random}\nbudget: {evaluations: 3}\n"
                       "recipe: {test_subset: 500, lr_min: 0.001, nesterov: false, crop_padding: 2, hflip: false}\n";
    if (nas_experiment_load_string(yaml, "exp.yaml", &exp, &err)) fail_msg("%s", err.msg);
    nas_experiment_free(&exp);
}

static void test_config_errors(void **state) {
    (void)state;
    const char *base = "name: x\nspace: mini\nstrategy: {name: random}\nbudget: {evaluations: 3}\n";
    char yaml[512];
    snprintf(yaml, sizeof yaml, "%sbudgett: 4\n", base);
    expect_config_error(yaml, "exp.yaml:5:1");
    snprintf(yaml, sizeof yaml, "%srecipe: {epochz: 1}\n", base);
    expect_config_error(yaml, "epochz");
    expect_config_error("name: x\nspace: mini\nstrategy: {name: random}\n", "budget");
    snprintf(yaml, sizeof yaml, "%slease_seconds: 1\nheartbeat_seconds: 1\n", base);
    expect_config_error(yaml, "twice");
    snprintf(yaml, sizeof yaml, "%slatency: [{ms: 1, precision: fp32}, {ms: 2, precision: fp16}]\n", base);
    expect_config_error(yaml, "one precision");
    snprintf(yaml, sizeof yaml, "%sevaluator: {sim: {failure_rate: 2}}\n", base);
    expect_config_error(yaml, "failure_rate");
    expect_config_error("name: x\nspace: mini\nstrategy: {name: randomm}\nbudget: {hours: 1}\n", "exp.yaml:3:18");
    expect_config_error("name: x\nspace: no-such-space\nstrategy: {name: random}\nbudget: {hours: 1}\n",
                        "exp.yaml:2:8");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exactly_once_and_acks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sends_wait_for_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_result_carries_ready, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_jobs_stored_as_they_stand, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_worker_and_bad_frames, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_expiry_and_retries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hand_back_keeps_attempt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restarted_worker_loses_its_job, setup, teardown),
        cmocka_unit_test_setup_teardown(test_time_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backend_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget_is_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_measure_then_train, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_after_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_heartbeats_reach_store, setup, teardown),
        cmocka_unit_test(test_trainer_recipe_keys_accepted),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
