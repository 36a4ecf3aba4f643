/*
 * server/coordinator.c - jobs, leases, workers, budget and results (see
 * coordinator.h for the rules).
 *
 * In memory: open jobs (queued or leased) by id, a FIFO of queued job ids
 * (stale ids are skipped when popped, so re-queueing and re-attaching never
 * search the queue), and workers by routing id. Finished jobs leave memory:
 * the store answers for them (late duplicate results are checked there).
 * Everything that changes state is written into one store transaction per
 * tick; acknowledgements and jobs wait in c->outbox until it commits, so a
 * worker never holds a lease or forgets a result the store has not kept, and
 * the Ack of a result and the next Job for that worker leave together (one
 * wake-up of libzmq's I/O thread and one TCP write instead of two).
 */
#include "server/coordinator.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <czmq.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/rng.h"
#include "search/strategy.h"

_Static_assert((int)NAS_STORE_TRAIN == (int)NAS__JOB_KIND__JOB_TRAIN, "kinds agree");
_Static_assert((int)NAS_STORE_MEASURE == (int)NAS__JOB_KIND__JOB_MEASURE, "kinds agree");

#define ASK_CHUNK 64
#define BAD_LOGS_PER_PERIOD 50
#define LEASE_SCAN_SECONDS 0.05

typedef struct job_rec {
    int64_t id;
    nas_store_kind kind;
    nas_job_state state;      /* QUEUED or LEASED while in memory */
    int attempt, max_attempts;
    nas_arch arch;
    char *arch_json, *recipe_json, *tag;
    char arch_hash[17];
    char *holder;             /* key of the worker holding the lease, NULL if none */
    double lease_deadline;    /* monotonic seconds */
    double progress;
    bool unsaved;             /* never handed out, so not in the store (see create_job) */
} job_rec;

typedef struct worker_rec {
    char *key;                /* hex of the routing id */
    uint8_t *rid;
    size_t rid_len;
    char *id, *backend, *device;
    int slots_free;
    bool in_idle;             /* its key is in c->idle (at most once, however often it says Ready) */
    double last_seen;         /* monotonic */
    double stored_seen;       /* last_seen as last written to the store's workers table */
} worker_rec;

/* A message that waits for the tick's commit: an Ack, or a Job (built from
 * the job's record when it is sent). Routing ids are at most 255 bytes
 * (ZeroMQ's limit), so they are kept inline: no allocation per message. */
typedef struct outgoing {
    int64_t job_id;
    bool is_job;
    Nas__AckKind ack_kind; /* when !is_job */
    uint8_t rid_len;
    uint8_t rid[255];
} outgoing;

struct nas_coord {
    const nas_experiment *exp;
    nas_store *store;
    nas_strategy *strategy;
    nas_coord_send_fn send;
    void *send_ctx;
    int64_t experiment_id;

    zhash_t *jobs;            /* "id" -> job_rec* (open jobs only) */
    zhash_t *workers;         /* hex rid -> worker_rec* */
    zlist_t *idle;            /* keys (owned) of workers that said Ready; stale keys are skipped */
    zhash_t *seen_hashes;     /* arch_hash+kind -> "" : never evaluate twice */
    int64_t next_job_id;      /* ids are ours to give: nasd is the store's only writer */
    int64_t *queue;           /* ring of queued job ids */
    size_t q_head, q_len, q_cap;
    outgoing *outbox;
    size_t n_out, cap_out;

    nas_coord_counts n;
    int64_t open[NAS_STORE_KIND_COUNT]; /* queued + leased per kind */
    int64_t free_slots;
    bool dispatch_needed, exhausted, finished, any_simulated;
    const char *finish_reason;
    int store_error;          /* first store failure, returned by tick */
    nas_err store_err;

    double started_mono, last_lease_scan, last_worker_scan, last_progress, last_elapsed_flush;
    double prior_elapsed;     /* running seconds of earlier nasd runs */
    int64_t last_progress_results;
    int64_t session_train_final0;   /* train_final() when this nasd started */
    double session_started_mono;    /* when this nasd started (never shifted) */
    double rate_ema;
    double best_top1;
    int bad_logs_left;
    int64_t bad_suppressed;
};

static const char *const bad_names[NAS_BAD_COUNT] = {"undecodable", "oversize", "wrong version",
                                                     "bad field", "bad architecture", "unexpected"};

const char *nas_bad_kind_name(nas_bad_kind k) { return (unsigned)k < NAS_BAD_COUNT ? bad_names[k] : "?"; }

/* ---- small helpers ------------------------------------------------------ */

static char *hex_key(const uint8_t *rid, size_t len) {
    char *s = malloc(len * 2 + 1);
    if (!s) return NULL;
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        s[2 * i] = digits[rid[i] >> 4];
        s[2 * i + 1] = digits[rid[i] & 15];
    }
    s[len * 2] = '\0';
    return s;
}

/* Decimal id (hot: several lookups per job; snprintf was 3% of nasd). */
static void job_key(int64_t id, char buf[24]) {
    assert(id >= 0);
    char tmp[24];
    int n = 0;
    uint64_t v = (uint64_t)id;
    do tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    for (int i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
}

static job_rec *job_find(nas_coord *c, int64_t id) {
    char key[24];
    job_key(id, key);
    return zhash_lookup(c->jobs, key);
}

static void job_rec_free(job_rec *j) {
    if (!j) return;
    free(j->arch_json);
    free(j->recipe_json);
    free(j->tag);
    free(j->holder);
    free(j);
}

static void worker_rec_free(worker_rec *w) {
    if (!w) return;
    free(w->key);
    free(w->rid);
    free(w->id);
    free(w->backend);
    free(w->device);
    free(w);
}

static void store_failed(nas_coord *c, const nas_err *e) {
    if (c->store_error) return;
    c->store_error = e->code ? e->code : NAS_EDB;
    c->store_err = *e;
    nas_error("store: %s", e->msg);
}

static bool ensure_tx(nas_coord *c) {
    if (c->store_error) return false;
    if (nas_store_in_transaction(c->store)) return true;
    nas_err e;
    if (nas_store_begin(c->store, &e)) {
        store_failed(c, &e);
        return false;
    }
    return true;
}

static void event(nas_coord *c, const char *level, const char *kind, int64_t job, const char *worker,
                  const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void event(nas_coord *c, const char *level, const char *kind, int64_t job, const char *worker,
                  const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    nas_log(strcmp(level, "error") == 0 ? NAS_LOG_ERROR : strcmp(level, "warn") == 0 ? NAS_LOG_WARN : NAS_LOG_INFO,
            "%s", msg);
    if (!ensure_tx(c)) return;
    nas_err e;
    if (nas_store_event(c->store, c->experiment_id, level, kind, job, worker, msg, &e)) store_failed(c, &e);
}

static void bad_frame(nas_coord *c, nas_bad_kind kind, const char *peer_key, const char *why) {
    c->n.bad[kind]++;
    if (c->bad_logs_left > 0) {
        c->bad_logs_left--;
        nas_warn("dropped a frame from peer %.32s: %s: %s", peer_key ? peer_key : "?", bad_names[kind], why);
    } else {
        c->bad_suppressed++;
    }
}

static int send_env(nas_coord *c, const uint8_t *rid, size_t rid_len, nas_envelope *env) {
    return c->send(c->send_ctx, rid, rid_len, env);
}

static void send_reject(nas_coord *c, const uint8_t *rid, size_t rid_len, Nas__RejectCode code, const char *reason) {
    Nas__Reject rej = NAS__REJECT__INIT;
    rej.code = code;
    rej.reason = (char *)reason;
    nas_envelope env = NAS__ENVELOPE__INIT;
    env.body_case = NAS__ENVELOPE__BODY_REJECT;
    env.reject = &rej;
    send_env(c, rid, rid_len, &env);
}

/* Queues a message for after the commit. Without memory it is dropped: a
 * worker resends an unacknowledged result (the copy is acknowledged then),
 * and an unsent job's lease expires and the job is re-queued. */
static void queue_out(nas_coord *c, const worker_rec *w, int64_t job_id, bool is_job, Nas__AckKind ack_kind) {
    if (c->n_out == c->cap_out) {
        size_t cap = c->cap_out ? c->cap_out * 2 : 64;
        outgoing *o = realloc(c->outbox, cap * sizeof *o);
        if (!o) return;
        c->outbox = o;
        c->cap_out = cap;
    }
    assert(w->rid_len <= sizeof c->outbox[0].rid); /* on_hello refuses longer ids */
    outgoing *o = &c->outbox[c->n_out++];
    o->job_id = job_id;
    o->is_job = is_job;
    o->ack_kind = ack_kind;
    o->rid_len = (uint8_t)w->rid_len;
    memcpy(o->rid, w->rid, w->rid_len);
}

static void queue_ack(nas_coord *c, const worker_rec *w, int64_t job_id, Nas__AckKind kind) {
    queue_out(c, w, job_id, false, kind);
}

static bool queue_push(nas_coord *c, int64_t id) {
    if (c->q_len == c->q_cap) {
        size_t cap = c->q_cap ? c->q_cap * 2 : 256;
        int64_t *q = malloc(cap * sizeof *q);
        if (!q) return false;
        for (size_t i = 0; i < c->q_len; i++) q[i] = c->queue[(c->q_head + i) % c->q_cap];
        free(c->queue);
        c->queue = q;
        c->q_cap = cap;
        c->q_head = 0;
    }
    c->queue[(c->q_head + c->q_len) % c->q_cap] = id;
    c->q_len++;
    c->dispatch_needed = true;
    return true;
}

/* Next queued job, skipping ids that finished or were leased meanwhile. */
static job_rec *queue_pop(nas_coord *c) {
    while (c->q_len > 0) {
        int64_t id = c->queue[c->q_head];
        c->q_head = (c->q_head + 1) % c->q_cap;
        c->q_len--;
        job_rec *j = job_find(c, id);
        if (j && j->state == NAS_JOB_QUEUED) return j;
    }
    return NULL;
}

static void set_state(nas_coord *c, job_rec *j, nas_job_state s) {
    if (j->state == NAS_JOB_QUEUED) c->n.queued--;
    if (j->state == NAS_JOB_LEASED) c->n.leased--;
    j->state = s;
    if (s == NAS_JOB_QUEUED) c->n.queued++;
    if (s == NAS_JOB_LEASED) c->n.leased++;
}

/* Removes a job that reached a final state from memory. */
static void job_forget(nas_coord *c, job_rec *j) {
    set_state(c, j, NAS_JOB_DONE);
    c->open[j->kind]--;
    char key[24];
    job_key(j->id, key);
    zhash_delete(c->jobs, key);
    job_rec_free(j);
}

static void seen_key(const char *hash, nas_store_kind kind, char buf[24]) {
    size_t n = strnlen(hash, 16);
    assert((unsigned)kind < 10);
    memcpy(buf, hash, n);
    buf[n] = ':';
    buf[n + 1] = (char)('0' + (int)kind);
    buf[n + 2] = '\0';
}

/* ---- strategy ----------------------------------------------------------- */

static double obs_latency(const nas_coord *c, const Nas__Latency *const *lat, size_t n) {
    const nas_experiment *e = c->exp;
    for (size_t i = 0; i < n; i++) {
        if (e->n_tiers == 0) return lat[i]->mean_ms;
        if ((int)lat[i]->batch == e->tiers[0].batch && strcmp(lat[i]->precision, e->tiers[0].precision) == 0)
            return lat[i]->mean_ms;
    }
    return -1;
}

static void tell(nas_coord *c, const job_rec *j, nas_obs_status status, double top1, double latency_ms,
                 const char *checkpoint) {
    nas_observation obs = {.arch = &j->arch, .tag = j->tag ? j->tag : "", .status = status,
                           .objective = top1, .latency_ms = latency_ms,
                           .checkpoint = checkpoint && *checkpoint ? checkpoint : NULL,
                           .arch_hash = strtoull(j->arch_hash, NULL, 16)};
    nas_err e;
    if (nas_strategy_tell(c->strategy, &obs, &e)) nas_warn("strategy %s refused a result of job %" PRId64 ": %s",
                                                           c->exp->strategy_name, j->id, e.msg);
}

/* Merges a candidate's recipe override over the experiment's recipe. */
static char *merge_recipe(const char *base_json, const char *override_json) {
    if (!override_json || !*override_json) return strdup(base_json);
    cJSON *base = cJSON_Parse(base_json), *over = cJSON_Parse(override_json);
    char *out = NULL;
    if (base && cJSON_IsObject(over)) {
        cJSON *item;
        cJSON_ArrayForEach(item, over) {
            cJSON *copy = cJSON_Duplicate(item, 1);
            if (!copy) break;
            if (cJSON_GetObjectItem(base, item->string)) cJSON_ReplaceItemInObject(base, item->string, copy);
            else cJSON_AddItemToObject(base, item->string, copy);
        }
        out = cJSON_PrintUnformatted(base);
    } else {
        out = strdup(base_json);
    }
    cJSON_Delete(base);
    cJSON_Delete(over);
    return out;
}

/* Writes the row of a job handed out for the first time, leased to w. */
static void save_job(nas_coord *c, job_rec *j, const worker_rec *w, double lease_expires_at) {
    assert(j->unsaved && j->state == NAS_JOB_LEASED && w);
    if (!ensure_tx(c)) return;
    nas_store_job row = {.id = j->id, .experiment = c->experiment_id, .kind = j->kind, .arch_json = j->arch_json,
                         .recipe_json = j->recipe_json, .tag = j->tag, .max_attempts = j->max_attempts,
                         .state = j->state, .attempt = j->attempt, .worker = w->id,
                         .lease_expires_at = lease_expires_at};
    memcpy(row.arch_hash, j->arch_hash, sizeof row.arch_hash);
    int64_t id = 0;
    nas_err e;
    if (nas_store_job_insert(c->store, &row, &id, &e)) {
        store_failed(c, &e);
        return;
    }
    j->unsaved = false;
}

/* Creates a job in memory, queued. Its row is written when lease_to first
 * hands it out, already leased: one statement instead of an insert and an
 * update, and the ~1 KB row written once. Until then it exists only in this
 * process: if nasd dies, the strategy proposes again from what the store
 * holds (no result and no leased job is lost), and a feasible measurement
 * whose train job was never handed out gets it back on resume. So the store
 * holds every job handed out at least once; `queued` there means handed back
 * or re-queued after a failure. Returns the record or NULL. */
static job_rec *create_job(nas_coord *c, nas_store_kind kind, const nas_arch *arch, const char *arch_json,
                           const char *arch_hash, const char *recipe_json, const char *tag) {
    if (!ensure_tx(c)) return NULL;
    job_rec *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->kind = kind;
    j->arch = *arch;
    j->arch_json = strdup(arch_json);
    j->recipe_json = strdup(recipe_json);
    j->tag = strdup(tag ? tag : "");
    snprintf(j->arch_hash, sizeof j->arch_hash, "%s", arch_hash);
    j->attempt = 1;
    j->max_attempts = c->exp->max_attempts;
    j->state = NAS_JOB_DONE; /* set_state below moves it to queued */
    if (!j->arch_json || !j->recipe_json || !j->tag) {
        job_rec_free(j);
        return NULL;
    }
    j->id = c->next_job_id++;
    j->unsaved = true;
    char key[24];
    job_key(j->id, key);
    zhash_insert(c->jobs, key, j);
    char sk[24];
    seen_key(j->arch_hash, kind, sk);
    zhash_insert(c->seen_hashes, sk, (void *)"");
    c->open[kind]++;
    set_state(c, j, NAS_JOB_QUEUED);
    queue_push(c, j->id);
    return j;
}

static int64_t train_final(const nas_coord *c) { return c->n.train_done + c->n.train_failed; }

/* Train jobs the budget still allows beyond those open or finished. */
static int64_t budget_left(const nas_coord *c) {
    if (c->exp->budget_evaluations <= 0) return INT64_MAX;
    return c->exp->budget_evaluations - train_final(c) - c->open[NAS_STORE_TRAIN];
}

static void fill_queue(nas_coord *c) {
    if (c->finished || c->exhausted || c->store_error) return;
    int64_t want = c->free_slots + c->exp->prefetch - c->n.queued;
    while (want > 0) {
        /* measure jobs may each turn into a train job: keep them within the budget too */
        int64_t left = budget_left(c) - (c->exp->n_tiers > 0 ? c->open[NAS_STORE_MEASURE] : 0);
        if (left <= 0) return;
        int n = (int)(want < left ? want : left);
        if (n > ASK_CHUNK) n = ASK_CHUNK;
        nas_candidate cands[ASK_CHUNK];
        int got = 0;
        nas_err e;
        if (nas_strategy_ask(c->strategy, n, cands, &got, &e)) {
            nas_error("strategy %s failed to propose: %s", c->exp->strategy_name, e.msg);
            c->exhausted = true;
            return;
        }
        if (got == 0) {
            if (nas_strategy_finished(c->strategy) || (c->n.queued == 0 && c->n.leased == 0)) c->exhausted = true;
            return;
        }
        for (int i = 0; i < got; i++) {
            nas_arch_canonicalize(&cands[i].arch);
            char *json = nas_arch_to_json(&cands[i].arch);
            char hash[17] = "", sk[24];
            /* nas_arch_hash is FNV-1a of this canonical JSON: hash it once, print it once */
            if (json) snprintf(hash, sizeof hash, "%016" PRIx64, nas_hash64(json, strlen(json)));
            nas_store_kind kind = c->exp->n_tiers > 0 ? NAS_STORE_MEASURE : NAS_STORE_TRAIN;
            seen_key(hash, kind, sk);
            char *recipe = json ? merge_recipe(c->exp->recipe_json, cands[i].recipe_json) : NULL;
            if (!json || !recipe) {
                nas_error("out of memory creating a job");
            } else if (zhash_lookup(c->seen_hashes, sk)) {
                nas_debug("strategy proposed architecture %s again; skipped", hash);
            } else if (create_job(c, kind, &cands[i].arch, json, hash, recipe, cands[i].tag)) {
                want--;
            }
            free(json);
            free(recipe);
            nas_candidate_release(&cands[i]);
        }
        if (c->store_error) return;
    }
}

/* ---- dispatch and leases ------------------------------------------------ */

static void send_job(nas_coord *c, const uint8_t *rid, size_t rid_len, const job_rec *j) {
    Nas__Job job = NAS__JOB__INIT;
    job.job_id = j->id;
    job.attempt = (uint32_t)j->attempt;
    job.kind = (Nas__JobKind)j->kind;
    job.arch_json = j->arch_json;
    job.recipe_json = j->recipe_json;
    job.evaluator_options_json = c->exp->evaluator_json;
    job.deadline_seconds = c->exp->job_timeout_seconds;
    nas_envelope env = NAS__ENVELOPE__INIT;
    env.body_case = NAS__ENVELOPE__BODY_JOB;
    env.job = &job;
    send_env(c, rid, rid_len, &env);
}

/* Sends what waited for the commit, in the order it was queued. */
static void flush_outbox(nas_coord *c) {
    for (size_t i = 0; i < c->n_out; i++) {
        const outgoing *o = &c->outbox[i];
        if (o->is_job) {
            const job_rec *j = job_find(c, o->job_id);
            /* nothing between dispatch and here changes a lease */
            assert(j && j->state == NAS_JOB_LEASED);
            if (j) send_job(c, o->rid, o->rid_len, j);
            continue;
        }
        Nas__Ack ack = NAS__ACK__INIT;
        ack.job_id = o->job_id;
        ack.kind = o->ack_kind;
        nas_envelope env = NAS__ENVELOPE__INIT;
        env.body_case = NAS__ENVELOPE__BODY_ACK;
        env.ack = &ack;
        send_env(c, o->rid, o->rid_len, &env);
    }
    c->n_out = 0;
}

static void lease_to(nas_coord *c, job_rec *j, worker_rec *w) {
    if (!ensure_tx(c)) return;
    double expires = nas_now_wall() + c->exp->lease_seconds;
    if (j->unsaved) {
        set_state(c, j, NAS_JOB_LEASED);
        save_job(c, j, w, expires);
        if (c->store_error) return;
    } else {
        nas_err e;
        if (nas_store_job_lease(c->store, j->id, w->id, j->attempt, expires, &e)) {
            store_failed(c, &e);
            return;
        }
    }
    free(j->holder);
    j->holder = strdup(w->key);
    j->lease_deadline = nas_now_monotonic() + c->exp->lease_seconds;
    j->progress = 0;
    set_state(c, j, NAS_JOB_LEASED);
}

/* Hands queued jobs to workers in the order they said Ready: O(jobs handed
 * out), not O(workers), so a thousand idle workers cost nothing per tick. */
static void dispatch(nas_coord *c) {
    if (!c->dispatch_needed || c->finished) return;
    c->dispatch_needed = false;
    while (c->free_slots > 0 && c->n.queued > 0 && zlist_size(c->idle) > 0) {
        char *key = zlist_pop(c->idle);
        worker_rec *w = zhash_lookup(c->workers, key);
        if (w) w->in_idle = false;
        while (w && w->slots_free > 0 && c->n.queued > 0) {
            job_rec *j = queue_pop(c);
            if (!j) break;
            lease_to(c, j, w);
            if (c->store_error) {
                free(key);
                return;
            }
            queue_out(c, w, j->id, true, 0);
            w->slots_free--;
            c->free_slots--;
        }
        if (w && w->slots_free > 0) { /* still has room: keep it */
            zlist_append(c->idle, key);
            w->in_idle = true;
        } else {
            free(key);
        }
    }
}

static void requeue(nas_coord *c, job_rec *j, int attempt, const char *why) {
    if (!ensure_tx(c)) return;
    nas_err e;
    if (nas_store_job_requeue(c->store, j->id, attempt, why, &e)) {
        store_failed(c, &e);
        return;
    }
    j->attempt = attempt;
    free(j->holder);
    j->holder = NULL;
    set_state(c, j, NAS_JOB_QUEUED);
    queue_push(c, j->id);
    c->n.requeued++;
}

static void fail_for_good(nas_coord *c, job_rec *j, const char *why) {
    if (!ensure_tx(c)) return;
    nas_err e;
    if (nas_store_job_finish(c->store, j->id, NAS_JOB_FAILED, why, &e)) {
        store_failed(c, &e);
        return;
    }
    if (j->kind == NAS_STORE_TRAIN) c->n.train_failed++;
    else c->n.measure_failed++;
    event(c, "warn", "job_failed", j->id, NULL, "job %" PRId64 " (%s) failed after %d attempt(s): %s", j->id,
          nas_store_kind_name(j->kind), j->attempt, why);
    tell(c, j, NAS_OBS_FAILED, 0, -1, NULL);
    job_forget(c, j);
}

static void expire_leases(nas_coord *c) {
    double now = nas_now_monotonic();
    if (now - c->last_lease_scan < LEASE_SCAN_SECONDS) return;
    c->last_lease_scan = now;
    zlist_t *expired = NULL;
    for (job_rec *j = zhash_first(c->jobs); j; j = zhash_next(c->jobs)) {
        if (j->state != NAS_JOB_LEASED || now <= j->lease_deadline) continue;
        if (!expired) expired = zlist_new();
        if (expired) zlist_append(expired, j);
    }
    if (!expired) return;
    for (job_rec *j = zlist_first(expired); j; j = zlist_next(expired)) {
        char why[256];
        snprintf(why, sizeof why, "lease expired on attempt %d (worker %.64s went silent)", j->attempt,
                 j->holder ? j->holder : "unknown since a restart");
        if (j->attempt < j->max_attempts) {
            nas_info("job %" PRId64 ": %s; re-queued", j->id, why);
            requeue(c, j, j->attempt + 1, why);
        } else {
            fail_for_good(c, j, why);
        }
    }
    zlist_destroy(&expired);
}

static void forget_silent_workers(nas_coord *c) {
    double now = nas_now_monotonic();
    if (now - c->last_worker_scan < 0.25) return;
    c->last_worker_scan = now;
    double limit = 3 * c->exp->heartbeat_seconds + 1.0;
    zlist_t *gone = NULL;
    for (worker_rec *w = zhash_first(c->workers); w; w = zhash_next(c->workers)) {
        if (now - w->last_seen <= limit) continue;
        if (!gone) gone = zlist_new();
        if (gone) zlist_append(gone, w);
    }
    if (!gone) return;
    for (worker_rec *w = zlist_first(gone); w; w = zlist_next(gone)) {
        event(c, "warn", "worker_gone", 0, w->id, "worker %s silent for %.1f s: forgotten (its jobs wait for their leases)",
              w->id, now - w->last_seen);
        if (ensure_tx(c)) {
            nas_err e;
            if (nas_store_worker_seen(c->store, w->id, NULL, NULL, NULL, NULL, "gone", &e)) store_failed(c, &e);
        }
        c->free_slots -= w->slots_free;
        c->n.workers--;
        zhash_delete(c->workers, w->key);
        worker_rec_free(w);
    }
    zlist_destroy(&gone);
}

/* Writes the live workers' last heartbeat to the store every few seconds, so
 * `nas status` and reports show when each was last heard from (a write per
 * heartbeat would cost a row update per worker per second at scale). */
static void store_worker_heartbeats(nas_coord *c) {
    double now = nas_now_monotonic();
    double period = fmin(fmax(2.0 * c->exp->heartbeat_seconds, 1.0), 10.0);
    for (worker_rec *w = zhash_first(c->workers); w; w = zhash_next(c->workers)) {
        if (w->last_seen - w->stored_seen < period || now - w->last_seen > period) continue;
        if (!ensure_tx(c)) return;
        nas_err e;
        if (nas_store_worker_seen(c->store, w->id, NULL, NULL, NULL, NULL, "connected", &e)) {
            store_failed(c, &e);
            return;
        }
        w->stored_seen = w->last_seen;
    }
}

/* ---- message handlers --------------------------------------------------- */

static void on_hello(nas_coord *c, const uint8_t *rid, size_t rid_len, const char *key, const Nas__Hello *h) {
    const char *want = c->exp->backend;
    if (strcmp(want, "any") != 0 && strcmp(want, h->backend) != 0) {
        char reason[256];
        snprintf(reason, sizeof reason, "experiment '%s' runs on backend %s, this worker offers %.64s", c->exp->name,
                 want, h->backend);
        nas_warn("refused worker %s: %s", h->worker_id, reason);
        send_reject(c, rid, rid_len, NAS__REJECT_CODE__REJECT_BACKEND, reason);
        return;
    }
    worker_rec *w = zhash_lookup(c->workers, key);
    if (!w) {
        w = calloc(1, sizeof *w);
        if (!w || !(w->key = strdup(key)) || !(w->rid = malloc(rid_len))) {
            worker_rec_free(w);
            return;
        }
        memcpy(w->rid, rid, rid_len);
        w->rid_len = rid_len;
        zhash_insert(c->workers, key, w);
        c->n.workers++;
    }
    c->free_slots -= w->slots_free;
    w->slots_free = 0; /* until it says Ready */
    free(w->id);
    free(w->backend);
    free(w->device);
    w->id = strdup(h->worker_id);
    w->backend = strdup(h->backend);
    w->device = strdup(h->device_name);
    w->last_seen = w->stored_seen = nas_now_monotonic();
    if (!w->id || !w->backend || !w->device) return;
    nas_info("worker %s joined (host %s, %s, backend %s, version %s)", w->id, h->host, h->device_name, h->backend,
             h->version);
    if (ensure_tx(c)) {
        nas_err e;
        if (nas_store_worker_seen(c->store, w->id, h->host, h->device_name, h->backend, h->version, "connected", &e))
            store_failed(c, &e);
    }
    Nas__Welcome wel = NAS__WELCOME__INIT;
    wel.experiment = (char *)c->exp->name;
    wel.heartbeat_seconds = c->exp->heartbeat_seconds;
    wel.lease_seconds = c->exp->lease_seconds;
    nas_envelope env = NAS__ENVELOPE__INIT;
    env.body_case = NAS__ENVELOPE__BODY_WELCOME;
    env.welcome = &wel;
    send_env(c, rid, rid_len, &env);

    /* Jobs this worker held but no longer runs (it restarted and lost them)
     * need not wait for their leases: re-queue them now. */
    zlist_t *lost = NULL;
    for (job_rec *j = zhash_first(c->jobs); j; j = zhash_next(c->jobs))
        if (j->state == NAS_JOB_LEASED && j->holder && strcmp(j->holder, w->key) == 0 && j->id != h->running_job) {
            if (!lost) lost = zlist_new();
            if (lost) zlist_append(lost, j);
        }
    for (job_rec *j = lost ? zlist_first(lost) : NULL; j; j = zlist_next(lost)) {
        char why[160];
        snprintf(why, sizeof why, "worker %.64s came back without it (restarted)", w->id);
        nas_info("job %" PRId64 ": %s", j->id, why);
        if (j->attempt < j->max_attempts) requeue(c, j, j->attempt + 1, why);
        else fail_for_good(c, j, why);
    }
    zlist_destroy(&lost);

    /* a worker that kept running a job across a reconnect or a nasd restart takes its lease back */
    if (h->running_job > 0) {
        job_rec *j = job_find(c, h->running_job);
        if (j && (j->state == NAS_JOB_QUEUED || !j->holder || strcmp(j->holder, w->key) == 0)) {
            nas_info("job %" PRId64 ": lease re-attached to worker %s after its reconnect", j->id, w->id);
            lease_to(c, j, w);
        }
    }
}

static void on_heartbeat(nas_coord *c, worker_rec *w, const Nas__Heartbeat *hb) {
    if (hb->job_id > 0) {
        job_rec *j = job_find(c, hb->job_id);
        if (j && j->state == NAS_JOB_LEASED && j->holder && strcmp(j->holder, w->key) == 0) {
            j->lease_deadline = nas_now_monotonic() + c->exp->lease_seconds;
            j->progress = hb->progress;
        }
    }
    Nas__Ack ack = NAS__ACK__INIT;
    ack.job_id = hb->job_id;
    ack.kind = NAS__ACK_KIND__ACK_HEARTBEAT;
    nas_envelope env = NAS__ENVELOPE__INIT;
    env.body_case = NAS__ENVELOPE__BODY_ACK;
    env.ack = &ack;
    send_env(c, w->rid, w->rid_len, &env);
}

static bool measure_feasible(const nas_coord *c, const Nas__Result *r) {
    for (int t = 0; t < c->exp->n_tiers; t++) {
        const nas_latency_tier *tier = &c->exp->tiers[t];
        for (size_t i = 0; i < r->n_latency; i++)
            if ((int)r->latency[i]->batch == tier->batch && strcmp(r->latency[i]->precision, tier->precision) == 0 &&
                r->latency[i]->mean_ms <= tier->ms)
                return true;
    }
    return false;
}

/* A result for a job no longer in memory: a late copy of a finished job is
 * acknowledged (the worker may forget it); anything else is refused. */
static void on_late_result(nas_coord *c, worker_rec *w, const Nas__Result *r) {
    nas_store_job job;
    nas_err e;
    int rc = nas_store_job_get(c->store, r->job_id, &job, &e);
    if (rc == 0 && job.experiment == c->experiment_id &&
        (job.state == NAS_JOB_DONE || job.state == NAS_JOB_FAILED || job.state == NAS_JOB_INFEASIBLE)) {
        c->n.duplicates_dropped++;
        queue_ack(c, w, r->job_id, NAS__ACK_KIND__ACK_RESULT);
        nas_debug("job %" PRId64 ": later copy of a result from %s dropped", r->job_id, w->id);
    } else {
        char why[128];
        snprintf(why, sizeof why, "result for job %" PRId64 ", which is not open in this experiment", r->job_id);
        bad_frame(c, NAS_BAD_UNEXPECTED, w->key, why);
    }
    if (rc == 0) nas_store_job_release(&job);
}

static void on_result(nas_coord *c, worker_rec *w, const Nas__Result *r) {
    job_rec *j = job_find(c, r->job_id);
    if (!j) {
        on_late_result(c, w, r);
        return;
    }
    /* Fast path: workers echo the job's canonical JSON, which was validated
     * when the job was created, so byte equality proves it is the job's
     * architecture. Anything else is parsed and checked in full. */
    nas_err e;
    if (strcmp(r->arch_json, j->arch_json) != 0) {
        nas_arch arch;
        if (nas_proto_check_arch(r->arch_json, c->exp->space, &arch, &e)) {
            bad_frame(c, NAS_BAD_ARCH, w->key, e.msg);
            return;
        }
        if (!nas_arch_equal(&arch, &j->arch)) {
            bad_frame(c, NAS_BAD_ARCH, w->key, "the result's architecture is not the job's");
            return;
        }
    }
    if (j->kind == NAS_STORE_TRAIN && !r->has_accuracy) {
        bad_frame(c, NAS_BAD_FIELD, w->key, "a train result without accuracy");
        return;
    }
    bool feasible = j->kind == NAS_STORE_TRAIN || measure_feasible(c, r);
    nas_store_result sr = {.job = j->id, .experiment = c->experiment_id, .kind = j->kind,
                           .attempt = (int)r->attempt, .worker = w->id,
                           .has_accuracy = j->kind == NAS_STORE_TRAIN && r->has_accuracy, .top1 = r->top1,
                           .top5 = r->top5, .loss = r->loss, .params = r->params, .macs = r->macs,
                           .train_seconds = r->train_seconds, .device = r->device, .simulated = r->simulated,
                           .checkpoint = r->checkpoint, .n_latency = (int)r->n_latency};
    for (size_t i = 0; i < r->n_latency; i++) {
        nas_store_latency *l = &sr.latency[i];
        l->batch = (int)r->latency[i]->batch;
        snprintf(l->precision, sizeof l->precision, "%s", r->latency[i]->precision);
        l->mean_ms = r->latency[i]->mean_ms;
        l->p50_ms = r->latency[i]->p50_ms;
        l->p90_ms = r->latency[i]->p90_ms;
    }
    if (!ensure_tx(c)) return;
    bool inserted = false;
    if (nas_store_result_insert(c->store, &sr, feasible ? NAS_JOB_DONE : NAS_JOB_INFEASIBLE, &inserted, &e)) {
        store_failed(c, &e);
        return;
    }
    c->n.results_received++;
    queue_ack(c, w, j->id, NAS__ACK_KIND__ACK_RESULT);
    if (!inserted) { /* the store already had it (a crash between commit and forgetting) */
        c->n.duplicates_dropped++;
        job_forget(c, j);
        return;
    }
    if (r->simulated) c->any_simulated = true;
    double latency = obs_latency(c, (const Nas__Latency *const *)r->latency, r->n_latency);
    if (j->kind == NAS_STORE_TRAIN) {
        c->n.train_done++;
        if (r->top1 > c->best_top1) c->best_top1 = r->top1;
        nas_debug("job %" PRId64 " done by %s: top1 %.4f latency %.3f ms%s", j->id, w->id, r->top1, latency,
                  r->simulated ? " (sim)" : "");
        tell(c, j, NAS_OBS_OK, r->top1, latency, r->checkpoint);
        job_forget(c, j);
    } else if (!feasible) {
        c->n.infeasible++;
        tell(c, j, NAS_OBS_INFEASIBLE, 0, latency, NULL);
        job_forget(c, j);
    } else {
        /* feasible: its train job, written when handed out; if nasd stops
         * before that, resume finds this measurement without a train job and
         * creates it again */
        c->n.measure_done++;
        if (budget_left(c) > 0)
            create_job(c, NAS_STORE_TRAIN, &j->arch, j->arch_json, j->arch_hash, j->recipe_json, j->tag);
        job_forget(c, j);
    }
}

static void on_failure(nas_coord *c, worker_rec *w, const Nas__Failure *f) {
    queue_ack(c, w, f->job_id, NAS__ACK_KIND__ACK_FAILURE);
    job_rec *j = job_find(c, f->job_id);
    if (!j || j->state != NAS_JOB_LEASED || !j->holder || strcmp(j->holder, w->key) != 0) {
        nas_debug("failure of job %" PRId64 " from %s ignored: it does not hold that job", f->job_id, w->id);
        return;
    }
    if (f->handed_back) {
        nas_info("job %" PRId64 " handed back by %s (%s)", j->id, w->id, f->reason);
        requeue(c, j, j->attempt, f->reason);
    } else if (f->retryable && j->attempt < j->max_attempts) {
        nas_info("job %" PRId64 " failed on %s (attempt %d): %s; re-queued", j->id, w->id, j->attempt, f->reason);
        requeue(c, j, j->attempt + 1, f->reason);
    } else {
        fail_for_good(c, j, f->reason);
    }
}

/* The worker can take `slots` jobs now (absolute, so a repeated Ready is harmless). */
static void on_ready(nas_coord *c, worker_rec *w, uint32_t slots) {
    c->free_slots += (int64_t)slots - w->slots_free;
    if (!w->in_idle && slots > 0) {
        char *idle_key = strdup(w->key);
        if (idle_key && zlist_append(c->idle, idle_key) == 0) w->in_idle = true;
        else free(idle_key);
    }
    w->slots_free = (int)slots;
    c->dispatch_needed = true;
}

void nas_coord_on_frame(nas_coord *c, const uint8_t *peer, size_t peer_len, const void *data, size_t len) {
    if (peer_len == 0 || peer_len > 255) { /* ZeroMQ routing ids are 1..255 bytes */
        bad_frame(c, NAS_BAD_FIELD, NULL, "a routing id of a length ZeroMQ never gives");
        return;
    }
    char *key = hex_key(peer, peer_len);
    if (!key) return;
    nas_envelope *env = NULL;
    nas_err e = {0};
    int rc = nas_proto_decode(data, len, &env, &e);
    if (rc) {
        nas_bad_kind kind = rc == NAS_EPARSE   ? NAS_BAD_DECODE
                            : rc == NAS_ERANGE ? (len > NAS_PROTO_MAX_FRAME ? NAS_BAD_SIZE : NAS_BAD_FIELD)
                            : strstr(e.msg, "protocol version") ? NAS_BAD_VERSION
                                                                : NAS_BAD_FIELD;
        if (strstr(e.msg, "longer than")) kind = NAS_BAD_SIZE;
        bad_frame(c, kind, key, e.msg);
        if (kind == NAS_BAD_VERSION)
            send_reject(c, peer, peer_len, NAS__REJECT_CODE__REJECT_VERSION,
                        "protocol version mismatch: run the same gpunas version as nasd");
        free(key);
        return;
    }
    if (env->body_case == NAS__ENVELOPE__BODY_HELLO) {
        on_hello(c, peer, peer_len, key, env->hello);
        goto done;
    }
    worker_rec *w = zhash_lookup(c->workers, key);
    if (!w) {
        send_reject(c, peer, peer_len, NAS__REJECT_CODE__REJECT_UNKNOWN_WORKER, "unknown worker: say hello first");
        goto done;
    }
    w->last_seen = nas_now_monotonic();
    switch (env->body_case) {
    case NAS__ENVELOPE__BODY_READY: on_ready(c, w, env->ready->slots); break;
    case NAS__ENVELOPE__BODY_HEARTBEAT: on_heartbeat(c, w, env->heartbeat); break;
    case NAS__ENVELOPE__BODY_RESULT:
        on_result(c, w, env->result);
        if (env->result->ready_slots > 0) on_ready(c, w, env->result->ready_slots); /* Ready in the same frame */
        break;
    case NAS__ENVELOPE__BODY_FAILURE: on_failure(c, w, env->failure); break;
    default: {
        char why[96];
        snprintf(why, sizeof why, "a worker must not send %s", nas_proto_body_name(env));
        bad_frame(c, NAS_BAD_UNEXPECTED, key, why);
    }
    }
done:
    nas_proto_free(&env);
    free(key);
}

/* ---- resume ------------------------------------------------------------- */

typedef struct resume_ctx {
    nas_coord *c;
    zhash_t *measured;   /* hashes of feasible measured candidates without a train job yet */
    zlist_t *measured_jobs;
    int rc;
} resume_ctx;

static int resume_job(const nas_store_replay_row *replay, void *vctx) {
    const nas_store_job *row = replay->job;
    resume_ctx *r = vctx;
    nas_coord *c = r->c;
    nas_arch arch;
    nas_err e;
    if (nas_arch_from_json(row->arch_json, &arch, &e)) {
        nas_warn("job %" PRId64 " in the store has an unreadable architecture (%s); ignored", row->id, e.msg);
        return 0;
    }
    char sk[24];
    seen_key(row->arch_hash, row->kind, sk);
    zhash_insert(c->seen_hashes, sk, (void *)"");
    job_rec tmp = {.id = row->id, .kind = row->kind, .arch = arch, .tag = row->tag};
    switch (row->state) {
    case NAS_JOB_DONE:
        if (row->kind == NAS_STORE_TRAIN) {
            if (!replay->has_result || !replay->has_accuracy) {
                nas_warn("job %" PRId64 " is done but has no accuracy in the store; not replayed", row->id);
                return 0;
            }
            c->n.train_done++;
            if (replay->simulated) c->any_simulated = true;
            if (replay->top1 > c->best_top1) c->best_top1 = replay->top1;
            zhash_delete(r->measured, row->arch_hash);
            tell(c, &tmp, NAS_OBS_OK, replay->top1, replay->latency_ms, replay->checkpoint);
        } else {
            c->n.measure_done++;
            zhash_insert(r->measured, row->arch_hash, (void *)(intptr_t)row->id);
        }
        return 0;
    case NAS_JOB_INFEASIBLE:
        c->n.infeasible++;
        tell(c, &tmp, NAS_OBS_INFEASIBLE, 0, replay->latency_ms, NULL);
        return 0;
    case NAS_JOB_FAILED:
        if (row->kind == NAS_STORE_TRAIN) c->n.train_failed++;
        else c->n.measure_failed++;
        zhash_delete(r->measured, row->arch_hash);
        tell(c, &tmp, NAS_OBS_FAILED, 0, -1, NULL);
        return 0;
    default: break;
    }
    /* queued or leased: back into memory; a lease gets a fresh term so its worker can come back */
    if (row->kind == NAS_STORE_TRAIN) zhash_delete(r->measured, row->arch_hash);
    job_rec *j = calloc(1, sizeof *j);
    if (!j) return r->rc = NAS_ENOMEM;
    j->id = row->id;
    j->kind = row->kind;
    j->arch = arch;
    j->attempt = row->attempt;
    j->max_attempts = row->max_attempts;
    j->arch_json = strdup(row->arch_json);
    j->recipe_json = strdup(row->recipe_json);
    j->tag = strdup(row->tag);
    memcpy(j->arch_hash, row->arch_hash, sizeof j->arch_hash);
    j->state = NAS_JOB_DONE;
    if (!j->arch_json || !j->recipe_json || !j->tag) {
        job_rec_free(j);
        return r->rc = NAS_ENOMEM;
    }
    char key[24];
    job_key(j->id, key);
    zhash_insert(c->jobs, key, j);
    c->open[j->kind]++;
    if (row->state == NAS_JOB_LEASED) {
        set_state(c, j, NAS_JOB_LEASED);
        j->lease_deadline = nas_now_monotonic() + c->exp->lease_seconds;
    } else {
        set_state(c, j, NAS_JOB_QUEUED);
        queue_push(c, j->id);
    }
    nas_candidate cand = {.arch = arch};
    snprintf(cand.tag, sizeof cand.tag, "%s", row->tag);
    if (nas_strategy_note_pending(c->strategy, &cand, &e))
        nas_warn("strategy refused pending job %" PRId64 ": %s", row->id, e.msg);
    return 0;
}

static int resume(nas_coord *c, nas_err *err) {
    resume_ctx r = {.c = c, .measured = zhash_new()};
    if (!r.measured) return nas_err_set(err, NAS_ENOMEM, "out of memory");
    const nas_experiment *e = c->exp;
    int rc = nas_store_replay(c->store, c->experiment_id, e->n_tiers ? e->tiers[0].batch : 0,
                              e->n_tiers ? e->tiers[0].precision : NULL, resume_job, &r, err);
    if (!rc && r.rc) rc = nas_err_set(err, r.rc, "out of memory while resuming");
    /* feasible measurements whose train job was never created (a stop right after the measure) */
    for (void *v = zhash_first(r.measured); !rc && v; v = zhash_next(r.measured)) {
        int64_t id = (int64_t)(intptr_t)v;
        if (budget_left(c) <= 0) break;
        nas_store_job row;
        if (nas_store_job_get(c->store, id, &row, err)) continue;
        nas_arch arch;
        if (nas_arch_from_json(row.arch_json, &arch, err) == 0) {
            char sk[24];
            seen_key(row.arch_hash, NAS_STORE_TRAIN, sk);
            if (!zhash_lookup(c->seen_hashes, sk))
                create_job(c, NAS_STORE_TRAIN, &arch, row.arch_json, row.arch_hash, row.recipe_json, row.tag);
        }
        nas_store_job_release(&row);
    }
    zhash_destroy(&r.measured);
    if (c->store_error) {
        *err = c->store_err;
        return c->store_error;
    }
    return rc;
}

/* ---- life cycle --------------------------------------------------------- */

int nas_coord_new(const nas_experiment *exp, nas_store *store, nas_coord_send_fn send, void *send_ctx,
                  nas_coord **out, nas_err *err) {
    *out = NULL;
    nas_coord *c = calloc(1, sizeof *c);
    if (!c) return nas_err_set(err, NAS_ENOMEM, "out of memory");
    c->exp = exp;
    c->store = store;
    c->send = send;
    c->send_ctx = send_ctx;
    c->jobs = zhash_new();
    c->workers = zhash_new();
    c->seen_hashes = zhash_new();
    c->idle = zlist_new();
    c->bad_logs_left = BAD_LOGS_PER_PERIOD;
    c->best_top1 = -1;
    c->started_mono = c->last_progress = c->last_elapsed_flush = nas_now_monotonic();
    int rc;
    if (!c->jobs || !c->workers || !c->seen_hashes || !c->idle) {
        rc = nas_err_set(err, NAS_ENOMEM, "out of memory");
        goto fail;
    }
    nas_store_experiment row = {.name = (char *)exp->name, .config_yaml = exp->config_text,
                                .space = (char *)exp->space_name, .strategy = (char *)exp->strategy_name,
                                .budget_evaluations = exp->budget_evaluations, .budget_hours = exp->budget_hours};
    bool created = false;
    if ((rc = nas_store_experiment_upsert(store, &row, &c->experiment_id, &created, err))) goto fail;
    if ((rc = nas_store_next_job_id(store, &c->next_job_id, err))) goto fail;
    nas_store_experiment stored;
    if ((rc = nas_store_experiment_find(store, exp->name, &stored, err))) goto fail;
    c->prior_elapsed = stored.elapsed_seconds;
    nas_store_experiment_release(&stored);
    nas_strategy_params params = {.space = exp->space, .seed = exp->seed, .budget = (int)exp->budget_evaluations,
                                  .cfg = exp->cfg, .options = exp->strategy_options};
    if ((rc = nas_strategy_new(exp->strategy_name, &params, &c->strategy, err))) goto fail;
    if ((rc = resume(c, err))) goto fail;
    if (!created)
        event(c, "info", "resume", 0, NULL,
              "resuming experiment '%s': %" PRId64 " trained, %" PRId64 " failed, %" PRId64 " infeasible, %" PRId64
              " queued, %" PRId64 " leased (leases wait %.1f s for their workers)",
              exp->name, c->n.train_done, c->n.train_failed, c->n.infeasible, c->n.queued, c->n.leased,
              exp->lease_seconds);
    else
        event(c, "info", "start", 0, NULL, "experiment '%s' started: space %s, strategy %s, budget %" PRId64
              " evaluations / %g hours", exp->name, exp->space_name, exp->strategy_name, exp->budget_evaluations,
              exp->budget_hours);
    if (!c->store_error && nas_store_in_transaction(store) && (rc = nas_store_commit(store, err))) goto fail;
    c->last_progress_results = c->n.train_done + c->n.measure_done + c->n.infeasible;
    c->session_train_final0 = train_final(c);
    c->session_started_mono = nas_now_monotonic();
    *out = c;
    return 0;
fail:
    if (nas_store_in_transaction(store)) nas_store_rollback(store);
    nas_coord_free(&c);
    return rc;
}

void nas_coord_free(nas_coord **cp) {
    if (!cp || !*cp) return;
    nas_coord *c = *cp;
    if (c->jobs)
        for (job_rec *j = zhash_first(c->jobs); j; j = zhash_next(c->jobs)) job_rec_free(j);
    if (c->workers)
        for (worker_rec *w = zhash_first(c->workers); w; w = zhash_next(c->workers)) worker_rec_free(w);
    zhash_destroy(&c->jobs);
    zhash_destroy(&c->workers);
    zhash_destroy(&c->seen_hashes);
    if (c->idle)
        for (char *key = zlist_pop(c->idle); key; key = zlist_pop(c->idle)) free(key);
    zlist_destroy(&c->idle);
    free(c->outbox);
    free(c->queue);
    nas_strategy_free(&c->strategy);
    free(c);
    *cp = NULL;
}

static double elapsed_total(const nas_coord *c) {
    return c->prior_elapsed + (nas_now_monotonic() - c->started_mono);
}

static void check_finished(nas_coord *c) {
    if (c->finished) return;
    const nas_experiment *e = c->exp;
    if (e->budget_evaluations > 0 && train_final(c) >= e->budget_evaluations)
        c->finish_reason = "the evaluation budget is spent";
    else if (e->budget_hours > 0 && elapsed_total(c) >= e->budget_hours * 3600)
        c->finish_reason = "the time budget is spent";
    else if (c->exhausted && c->n.queued == 0 && c->n.leased == 0)
        c->finish_reason = "the strategy has nothing more to propose";
    else if (c->n.infeasible > 100 * (e->budget_evaluations > 0 ? e->budget_evaluations : 100))
        c->finish_reason = "almost every candidate is over the latency budget: relax the latency tiers";
    if (c->finish_reason) c->finished = true;
}

int nas_coord_tick(nas_coord *c, nas_err *err) {
    if (!c->store_error) {
        expire_leases(c);
        forget_silent_workers(c);
        store_worker_heartbeats(c);
        check_finished(c);
        fill_queue(c);
        dispatch(c);
        check_finished(c);
        double now = nas_now_monotonic();
        if (now - c->last_elapsed_flush >= 1.0 && ensure_tx(c)) {
            nas_err e;
            if (nas_store_experiment_update(c->store, c->experiment_id, NULL, now - c->last_elapsed_flush, &e))
                store_failed(c, &e);
            c->prior_elapsed += now - c->last_elapsed_flush;
            c->started_mono += now - c->last_elapsed_flush;
            c->last_elapsed_flush = now;
        }
    }
    if (!c->store_error && nas_store_in_transaction(c->store)) {
        nas_err e;
        if (nas_store_commit(c->store, &e)) store_failed(c, &e);
    }
    if (c->store_error) {
        /* nothing that waited for this transaction may be acknowledged or sent */
        c->n_out = 0;
        *err = c->store_err;
        return c->store_error;
    }
    flush_outbox(c);
    return 0;
}

bool nas_coord_finished(const nas_coord *c, const char **why) {
    if (why) *why = c->finish_reason;
    return c->finished;
}

int nas_coord_stop(nas_coord *c, nas_err *err) {
    Nas__Shutdown sd = NAS__SHUTDOWN__INIT;
    sd.final = c->finished;
    sd.reason = (char *)(c->finished ? c->finish_reason : "nasd is stopping; reconnect later");
    nas_envelope env = NAS__ENVELOPE__INIT;
    env.body_case = NAS__ENVELOPE__BODY_SHUTDOWN;
    env.shutdown = &sd;
    for (worker_rec *w = zhash_first(c->workers); w; w = zhash_next(c->workers)) {
        send_env(c, w->rid, w->rid_len, &env);
        nas_err we;
        /* told to stop (or that the search is over): no longer connected */
        if (ensure_tx(c) && nas_store_worker_seen(c->store, w->id, NULL, NULL, NULL, NULL, "gone", &we))
            store_failed(c, &we);
    }
    if (c->store_error) {
        *err = c->store_err;
        return c->store_error;
    }
    /* For inspection (`nas status`, reports): a restarted nasd rebuilds the
     * strategy by replaying the store, which stays the single source of truth. */
    char *state_json = NULL;
    nas_err se;
    if (nas_strategy_save(c->strategy, &state_json, &se) == 0 && state_json && ensure_tx(c)) {
        if (nas_store_strategy_save(c->store, c->experiment_id, c->exp->strategy_name, state_json, &se))
            store_failed(c, &se);
    }
    free(state_json);
    int64_t bad = 0;
    for (int k = 0; k < NAS_BAD_COUNT; k++) bad += c->n.bad[k];
    if (bad > 0)
        event(c, "warn", "bad_frames", 0, NULL, "%" PRId64 " bad frames dropped during this run", bad);
    event(c, "info", c->finished ? "done" : "stopped", 0, NULL, "experiment '%s' %s: %s", c->exp->name,
          c->finished ? "finished" : "stopped", c->finished ? c->finish_reason : "nasd was asked to stop");
    double now = nas_now_monotonic();
    int rc = 0;
    if (ensure_tx(c) && (rc = nas_store_experiment_update(c->store, c->experiment_id,
                                                          c->finished ? "done" : "stopped",
                                                          now - c->last_elapsed_flush, err)) != 0) {
        nas_store_rollback(c->store);
        return rc;
    }
    c->last_elapsed_flush = now;
    if (nas_store_in_transaction(c->store) && (rc = nas_store_commit(c->store, err))) return rc;
    flush_outbox(c);
    return c->store_error ? (*err = c->store_err, c->store_error) : 0;
}

void nas_coord_get_counts(const nas_coord *c, nas_coord_counts *out) { *out = c->n; }

void nas_coord_progress_line(nas_coord *c, nas_sb *out) {
    double now = nas_now_monotonic();
    int64_t results = c->n.train_done + c->n.measure_done + c->n.infeasible;
    double dt = now - c->last_progress;
    if (dt > 0) {
        double rate = (double)(results - c->last_progress_results) / dt;
        c->rate_ema = c->rate_ema == 0 ? rate : 0.5 * c->rate_ema + 0.5 * rate;
    }
    c->last_progress = now;
    c->last_progress_results = results;
    int64_t bad = 0;
    for (int k = 0; k < NAS_BAD_COUNT; k++) bad += c->n.bad[k];
    nas_sb_printf(out, "progress: done %" PRId64, c->n.train_done);
    if (c->exp->budget_evaluations > 0) nas_sb_printf(out, "/%" PRId64, c->exp->budget_evaluations);
    nas_sb_printf(out, " | running %" PRId64 " | queued %" PRId64 " | failed %" PRId64, c->n.leased, c->n.queued,
                  c->n.train_failed + c->n.measure_failed);
    if (c->exp->n_tiers > 0)
        nas_sb_printf(out, " | measured %" PRId64 " (%" PRId64 " infeasible)", c->n.measure_done + c->n.infeasible,
                      c->n.infeasible);
    nas_sb_printf(out, " | %.1f results/s", c->rate_ema);
    double remaining_evals = (double)(c->exp->budget_evaluations - train_final(c));
    /* The ETA uses trained evaluations over this nasd's whole run: the short-term
     * rate above also counts measure jobs and drops to zero between slow
     * trainings, which made the ETA swing by hours on real (CPU) searches. */
    double session_seconds = now - c->session_started_mono;
    int64_t session_trains = train_final(c) - c->session_train_final0;
    double train_rate = session_seconds > 0 ? (double)session_trains / session_seconds : 0;
    if (c->exp->budget_evaluations > 0 && train_rate > 0) {
        double eta = remaining_evals / train_rate;
        nas_sb_printf(out, " | ETA %dh%02dm%02ds", (int)(eta / 3600), (int)fmod(eta / 60, 60), (int)fmod(eta, 60));
    } else if (c->exp->budget_hours > 0) {
        double eta = c->exp->budget_hours * 3600 - elapsed_total(c);
        if (eta < 0) eta = 0;
        nas_sb_printf(out, " | ETA %dh%02dm%02ds (time budget)", (int)(eta / 3600), (int)fmod(eta / 60, 60),
                      (int)fmod(eta, 60));
    } else {
        nas_sb_printf(out, " | ETA ?");
    }
    nas_sb_printf(out, " | workers %" PRId64, c->n.workers);
    if (c->best_top1 >= 0) nas_sb_printf(out, " | best top1 %.4f%s", c->best_top1, c->any_simulated ? " sim" : "");
    if (bad > 0) nas_sb_printf(out, " | bad frames %" PRId64, bad);
    if (c->bad_suppressed > 0) nas_sb_printf(out, " (%" PRId64 " not logged)", c->bad_suppressed);
    if (c->any_simulated) nas_sb_printf(out, " | results are SIMULATED (sim)");
    c->bad_logs_left = BAD_LOGS_PER_PERIOD;
    c->bad_suppressed = 0;
}
