/*
 * worker/nas_worker.c - nas-worker: connects to nasd and runs its jobs.
 *
 * Owns the connection and the job life cycle; the job itself runs in a
 * child process (worker/runner.c). One event loop polls the DEALER socket
 * and the child's pipe. It keeps every result or failure it sent until nasd
 * acknowledges it and sends it again after a reconnect (nasd drops copies),
 * heartbeats while working and while idle, and treats a silent nasd as gone:
 * it recreates its socket with exponential back-off and says Hello again,
 * telling nasd which job it is still running so that the lease is kept.
 */
#include <cjson/cJSON.h>
#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/curve.h" /* the key layout of `nas keygen`; see worker/meson.build */
#include "common/log.h"
#include "common/rng.h"
#include "common/util.h"
#include "proto/proto.h"
#include "worker/evaluator.h"
#include "worker/runner.h"

#define MAX_UNACKED 16
#define BACKOFF_MIN 0.1
#define BACKOFF_MAX 5.0

static volatile sig_atomic_t stop_signals = 0;

static void on_signal(int sig) {
    (void)sig;
    stop_signals++;
}

typedef struct unacked {
    int64_t job_id;
    uint8_t *frame;
    size_t len;
    double sent_at;
} unacked;

typedef struct worker {
    /* settings */
    const char *endpoint, *backend, *id, *host, *device_name;
    const char *keys, *key_name; /* CURVE: key folder and this worker's name in it */
    int gpu;
    double grace_seconds;
    const nas_evaluator_ops *ops;
    /* connection */
    zsock_t *sock;
    bool welcomed;
    double heartbeat_s, last_recv, last_heartbeat, last_hello, backoff, next_connect;
    bool ready_sent;
    /* the job */
    nas_runner *runner;
    int64_t job_id;
    int attempt;
    char *arch_json;
    double deadline_s;
    /* results waiting for their Ack */
    unacked pending[MAX_UNACKED];
    int n_pending;
    /* stopping */
    bool stopping, exit_now, nasd_stopping;
    double stop_requested_at; /* monotonic time of the first stop signal */
    double stop_deadline;  /* when a running job is handed back */
    double drain_deadline; /* when to give up waiting for acks once idle (0: not set) */
    int exit_status;
    nas_rng rng;
} worker;

static void usage(FILE *out) {
    fprintf(out,
            "usage: nas-worker --connect ENDPOINT [--backend sim|cpu|cuda] [--gpu N] [options]\n"
            "\n"
            "Connects to nasd and evaluates the jobs it hands out, each in its own child\n"
            "process (a crashing job is that job's failure, the worker keeps serving).\n"
            "Reconnects by itself with back-off when nasd restarts; run one per GPU.\n"
            "\n"
            "options:\n"
            "  -c, --connect ENDPOINT  nasd's endpoint, e.g. tcp://127.0.0.1:5555\n"
            "  -b, --backend NAME      sim (simulated results, marked sim), cpu or cuda (default sim)\n"
            "  -g, --gpu N             GPU index for the jobs (sets CUDA_VISIBLE_DEVICES)\n"
            "      --keys DIR          CURVE key folder from `nas keygen` (needs --name)\n"
            "      --name NAME         this worker's key name in DIR/workers (default worker)\n"
            "      --id ID             worker id (default HOST-PID[-gpuN]); printable, no spaces\n"
            "      --grace SECONDS     on SIGTERM, let the current job finish this long before\n"
            "                          handing it back (default 30; a second signal hands back now)\n"
            "      --log-level LEVEL   debug|info|warn|error (default info)\n"
            "  -h, --help              this text\n"
            "\n"
            "Exits 0 when nasd says the experiment is over or after SIGTERM/SIGINT, 1 when\n"
            "nasd refuses it (protocol version or backend), 2 on usage errors.\n");
}

/* ---- sending ------------------------------------------------------------ */

static int send_env(worker *w, nas_envelope *env) {
    uint8_t *buf = NULL;
    size_t len = 0;
    nas_err err;
    if (nas_proto_pack(env, &buf, &len, &err)) {
        nas_error("cannot send %s: %s", nas_proto_body_name(env), err.msg);
        return err.code;
    }
    int rc = zmq_send(zsock_resolve(w->sock), buf, len, ZMQ_DONTWAIT) < 0 ? NAS_EIO : 0;
    free(buf);
    return rc;
}

static void send_hello(worker *w) {
    Nas__Hello h = NAS__HELLO__INIT;
    h.worker_id = (char *)w->id;
    h.host = (char *)w->host;
    h.device_name = (char *)w->device_name;
    h.backend = (char *)w->backend;
    h.version = NAS_VERSION;
    h.running_job = w->runner ? w->job_id : 0;
    nas_envelope env = NAS__ENVELOPE__INIT;
    env.body_case = NAS__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    send_env(w, &env);
    w->last_hello = nas_now_monotonic();
}

static void send_heartbeat(worker *w) {
    Nas__Heartbeat hb = NAS__HEARTBEAT__INIT;
    if (w->runner) {
        hb.job_id = w->job_id;
        nas_runner_progress(w->runner, &hb.progress, &hb.loss);
        if (!(hb.progress >= 0 && hb.progress <= 1)) hb.progress = 0;
        if (!(hb.loss >= 0 && hb.loss < 1e9)) hb.loss = 0;
    }
    nas_envelope env = NAS__ENVELOPE__INIT;
    env.body_case = NAS__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    send_env(w, &env);
    w->last_heartbeat = nas_now_monotonic();
}

static void send_ready(worker *w) {
    Nas__Ready r = NAS__READY__INIT;
    r.slots = 1;
    nas_envelope env = NAS__ENVELOPE__INIT;
    env.body_case = NAS__ENVELOPE__BODY_READY;
    env.ready = &r;
    send_env(w, &env);
    w->ready_sent = true;
}

/* Packs env and keeps it until acknowledged; sends it too if send_now. */
static void send_reliably(worker *w, int64_t job_id, nas_envelope *env, bool send_now) {
    uint8_t *buf = NULL;
    size_t len = 0;
    nas_err err;
    if (nas_proto_pack(env, &buf, &len, &err)) {
        nas_error("job %lld: cannot pack its %s: %s", (long long)job_id, nas_proto_body_name(env), err.msg);
        return;
    }
    if (w->n_pending == MAX_UNACKED) { /* cannot happen: no job is taken while full */
        free(w->pending[0].frame);
        memmove(&w->pending[0], &w->pending[1], (MAX_UNACKED - 1) * sizeof w->pending[0]);
        w->n_pending--;
    }
    unacked *u = &w->pending[w->n_pending++];
    u->job_id = job_id;
    u->frame = buf;
    u->len = len;
    u->sent_at = nas_now_monotonic();
    if (send_now) zmq_send(zsock_resolve(w->sock), buf, len, ZMQ_DONTWAIT);
}

static void resend_pending(worker *w) {
    double now = nas_now_monotonic();
    for (int i = 0; i < w->n_pending; i++) {
        zmq_send(zsock_resolve(w->sock), w->pending[i].frame, w->pending[i].len, ZMQ_DONTWAIT);
        w->pending[i].sent_at = now;
    }
}

static void drop_pending(worker *w, int64_t job_id) {
    for (int i = 0; i < w->n_pending; i++) {
        if (w->pending[i].job_id != job_id) continue;
        free(w->pending[i].frame);
        memmove(&w->pending[i], &w->pending[i + 1], (size_t)(w->n_pending - i - 1) * sizeof w->pending[0]);
        w->n_pending--;
        return;
    }
}

/* ---- connection --------------------------------------------------------- */

static int connect_socket(worker *w) {
    zsock_destroy(&w->sock);
    w->sock = zsock_new(ZMQ_DEALER);
    if (!w->sock) return NAS_EIO;
    zsock_set_identity(w->sock, w->id);
    zsock_set_linger(w->sock, 0);
    zsock_set_reconnect_ivl(w->sock, 100);
    zsock_set_reconnect_ivl_max(w->sock, (int)(BACKOFF_MAX * 1000));
    zsock_set_maxmsgsize(w->sock, (int64_t)NAS_PROTO_MAX_FRAME * 2);
    if (w->keys) {
        nas_err err;
        if (nas_curve_client_setup(w->sock, w->keys, w->key_name, &err)) {
            nas_error("%s", err.msg);
            w->exit_now = true;
            w->exit_status = 2;
            return NAS_EINVAL;
        }
    }
    if (zsock_connect(w->sock, "%s", w->endpoint) < 0) {
        nas_error("cannot connect to %s: %s", w->endpoint, zmq_strerror(zmq_errno()));
        return NAS_EIO;
    }
    w->welcomed = false;
    w->ready_sent = false;
    w->last_recv = nas_now_monotonic();
    send_hello(w);
    return 0;
}

/* nasd has been silent too long: start over with a fresh socket after a back-off. */
static void reconnect_later(worker *w, const char *why) {
    double delay = w->backoff * (0.75 + 0.5 * nas_rng_uniform(&w->rng));
    nas_warn("%s; reconnecting to %s in %.1f s", why, w->endpoint, delay);
    zsock_destroy(&w->sock);
    w->welcomed = false;
    w->next_connect = nas_now_monotonic() + delay;
    w->backoff = w->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : w->backoff * 2;
}

/* ---- jobs --------------------------------------------------------------- */

/* The options object for our backend inside the experiment's evaluator section. */
static char *backend_options(const char *evaluator_json, const char *backend) {
    if (!evaluator_json || !*evaluator_json) return NULL;
    cJSON *root = cJSON_Parse(evaluator_json);
    cJSON *mine = cJSON_GetObjectItem(root, backend);
    char *out = cJSON_IsObject(mine) ? cJSON_PrintUnformatted(mine) : NULL;
    cJSON_Delete(root);
    return out;
}

static void send_failure(worker *w, int64_t job_id, int attempt, const char *reason, bool retryable, bool handed_back) {
    Nas__Failure f = NAS__FAILURE__INIT;
    f.job_id = job_id;
    f.attempt = (uint32_t)(attempt > 0 ? attempt : 1);
    char bounded[NAS_PROTO_MAX_TEXT];
    snprintf(bounded, sizeof bounded, "%s", reason && *reason ? reason : "unknown failure");
    f.reason = bounded;
    f.retryable = retryable;
    f.handed_back = handed_back;
    nas_envelope env = NAS__ENVELOPE__INIT;
    env.body_case = NAS__ENVELOPE__BODY_FAILURE;
    env.failure = &f;
    send_reliably(w, job_id, &env, true);
}

static void on_job(worker *w, const Nas__Job *job) {
    if (w->runner) {
        if (job->job_id == w->job_id) return; /* a copy of the job we run */
        send_failure(w, job->job_id, (int)job->attempt, "worker busy with another job", true, true);
        return;
    }
    if (w->stopping) {
        send_failure(w, job->job_id, (int)job->attempt, "worker is stopping", true, true);
        return;
    }
    w->ready_sent = false;
    nas_arch arch;
    nas_err err = {0};
    if (nas_proto_check_arch(job->arch_json, NULL, &arch, &err)) {
        nas_warn("job %lld refused: %s", (long long)job->job_id, err.msg);
        send_failure(w, job->job_id, (int)job->attempt, err.msg, false, false);
        return;
    }
    char *options = backend_options(job->evaluator_options_json, w->backend);
    nas_eval_job ej = {.job_id = job->job_id, .attempt = (int)job->attempt,
                       .kind = job->kind == NAS__JOB_KIND__JOB_TRAIN ? NAS_JOB_TRAIN : NAS_JOB_MEASURE,
                       .arch = &arch, .recipe_json = *job->recipe_json ? job->recipe_json : "{}",
                       .work_dir = "."};
    int rc = nas_runner_start(w->ops, options, &ej, w->gpu, &w->runner, &err);
    free(options);
    if (rc) {
        send_failure(w, job->job_id, (int)job->attempt, err.msg, true, false);
        return;
    }
    free(w->arch_json);
    w->arch_json = strdup(job->arch_json);
    w->job_id = job->job_id;
    w->attempt = (int)job->attempt;
    w->deadline_s = job->deadline_seconds;
    nas_debug("job %lld (%s, attempt %u) started", (long long)job->job_id,
              job->kind == NAS__JOB_KIND__JOB_TRAIN ? "train" : "measure", job->attempt);
}

static void finish_job(worker *w) {
    nas_eval_result res;
    bool retryable = true;
    nas_err err = {0};
    int rc = nas_runner_outcome(w->runner, &res, &retryable, &err);
    nas_runner_free(&w->runner);
    if (rc) {
        nas_warn("job %lld failed (%s): %s", (long long)w->job_id, retryable ? "retryable" : "final", err.msg);
        send_failure(w, w->job_id, w->attempt, err.msg, retryable, false);
        return;
    }
    Nas__Latency lat[NAS_MAX_LATENCY_BATCHES], *lat_ptrs[NAS_MAX_LATENCY_BATCHES];
    int n_lat = res.n_latency < 0 ? 0 : res.n_latency > NAS_MAX_LATENCY_BATCHES ? NAS_MAX_LATENCY_BATCHES : res.n_latency;
    for (int i = 0; i < n_lat; i++) {
        nas__latency__init(&lat[i]);
        res.latency[i].precision[sizeof res.latency[i].precision - 1] = '\0';
        lat[i].batch = (uint32_t)res.latency[i].batch;
        lat[i].precision = res.latency[i].precision;
        lat[i].mean_ms = res.latency[i].mean_ms;
        lat[i].p50_ms = res.latency[i].p50_ms;
        lat[i].p90_ms = res.latency[i].p90_ms;
        lat_ptrs[i] = &lat[i];
    }
    Nas__Result r = NAS__RESULT__INIT;
    r.job_id = w->job_id;
    r.attempt = (uint32_t)w->attempt;
    r.arch_json = w->arch_json;
    r.has_accuracy = res.has_accuracy;
    r.top1 = res.top1;
    r.top5 = res.top5;
    r.loss = res.loss;
    r.n_latency = (size_t)n_lat;
    r.latency = lat_ptrs;
    r.params = res.params;
    r.macs = res.macs;
    r.train_seconds = res.train_seconds;
    r.device = res.device[0] ? res.device : (char *)w->backend;
    r.simulated = res.simulated;
    r.checkpoint = res.checkpoint;
    nas_envelope env = NAS__ENVELOPE__INIT;
    env.body_case = NAS__ENVELOPE__BODY_RESULT;
    env.result = &r;
    env.protocol_version = NAS_PROTO_VERSION;
    nas_err verr;
    if (nas_proto_validate(&env, &verr)) { /* our evaluator produced something nasd would refuse */
        nas_warn("job %lld: the evaluator's result is invalid (%s)", (long long)w->job_id, verr.msg);
        send_failure(w, w->job_id, w->attempt, verr.msg, false, false);
        return;
    }
    if (res.has_accuracy)
        nas_debug("job %lld done: top1 %.4f%s", (long long)w->job_id, res.top1, res.simulated ? " (sim)" : "");
    /* Ready for the next job: say so in the result's frame (the condition of
     * the main loop's send_ready, counting this result as unacknowledged).
     * The copy kept for resending says nothing: see nas.proto, ready_slots. */
    bool ready_now = w->welcomed && !w->stopping && !w->ready_sent && w->n_pending + 1 < MAX_UNACKED / 2;
    send_reliably(w, w->job_id, &env, !ready_now);
    if (ready_now) {
        r.ready_slots = 1;
        if (send_env(w, &env) == 0) w->ready_sent = true;
    }
}

static void hand_back(worker *w, const char *why) {
    if (!w->runner) return;
    nas_runner_free(&w->runner);
    nas_info("job %lld handed back: %s", (long long)w->job_id, why);
    send_failure(w, w->job_id, w->attempt, why, true, true);
}

/* ---- receiving ---------------------------------------------------------- */

static void on_message(worker *w, const void *data, size_t len) {
    nas_envelope *env = NULL;
    nas_err err;
    if (nas_proto_decode(data, len, &env, &err)) {
        nas_warn("dropped a bad frame from nasd: %s", err.msg);
        return;
    }
    w->last_recv = nas_now_monotonic();
    switch (env->body_case) {
    case NAS__ENVELOPE__BODY_WELCOME:
        w->welcomed = true;
        w->nasd_stopping = false;
        w->backoff = BACKOFF_MIN;
        w->heartbeat_s = env->welcome->heartbeat_seconds;
        nas_info("welcomed into experiment '%s' (heartbeat %.2f s, lease %.2f s)", env->welcome->experiment,
                 env->welcome->heartbeat_seconds, env->welcome->lease_seconds);
        resend_pending(w);
        w->ready_sent = false;
        break;
    case NAS__ENVELOPE__BODY_REJECT:
        if (env->reject->code == NAS__REJECT_CODE__REJECT_UNKNOWN_WORKER) {
            if (nas_now_monotonic() - w->last_hello > 0.2) {
                nas_info("nasd does not know this worker (it restarted?): saying hello again");
                w->welcomed = false;
                send_hello(w);
            }
        } else if (env->reject->code == NAS__REJECT_CODE__REJECT_VERSION ||
                   env->reject->code == NAS__REJECT_CODE__REJECT_BACKEND) {
            nas_error("nasd refused this worker: %s", env->reject->reason);
            w->exit_now = true;
            w->exit_status = 1;
        } else {
            nas_warn("nasd refused a message: %s", env->reject->reason);
        }
        break;
    case NAS__ENVELOPE__BODY_JOB: on_job(w, env->job); break;
    case NAS__ENVELOPE__BODY_ACK:
        if (env->ack->kind != NAS__ACK_KIND__ACK_HEARTBEAT) drop_pending(w, env->ack->job_id);
        break;
    case NAS__ENVELOPE__BODY_SHUTDOWN:
        if (env->shutdown->final) {
            nas_info("nasd says the experiment is over (%s); exiting", env->shutdown->reason);
            nas_runner_free(&w->runner);
            w->exit_now = true;
        } else {
            nas_info("nasd is stopping (%s); will reconnect", env->shutdown->reason);
            w->nasd_stopping = true;
            if (w->drain_deadline > 0) w->drain_deadline = nas_now_monotonic();
        }
        break;
    default: nas_warn("nasd sent an unexpected %s; ignored", nas_proto_body_name(env)); break;
    }
    nas_proto_free(&env);
}

/* ---- main loop ---------------------------------------------------------- */

static void run(worker *w) {
    w->backoff = BACKOFF_MIN;
    w->heartbeat_s = 1.0;
    if (connect_socket(w)) {
        w->exit_status = 1;
        return;
    }
    int handled_signals = 0;
    while (!w->exit_now) {
        double now = nas_now_monotonic();
        if (stop_signals > handled_signals) {
            handled_signals = stop_signals;
            if (!w->stopping) {
                w->stopping = true;
                w->stop_requested_at = now;
                w->stop_deadline = now + w->grace_seconds;
                if (w->runner)
                    nas_info("stopping: letting job %lld finish (up to %.0f s; signal again to hand it back)",
                             (long long)w->job_id, w->grace_seconds);
                else
                    nas_info("stopping");
            } else {
                hand_back(w, "worker stopped by a second signal");
                w->stop_deadline = now;
            }
        }
        if (w->stopping && w->runner && now >= w->stop_deadline) hand_back(w, "worker is stopping");
        /* done when stopping, idle, and everything sent was acknowledged; a few
         * seconds at most (none if nasd said it is stopping too): an
         * unacknowledged job is run again after its lease, never lost */
        if (w->stopping && !w->runner) {
            if (w->drain_deadline == 0) w->drain_deadline = now + (w->nasd_stopping ? 0.5 : 5.0);
            /* A Job that nasd sent for our last Ready may still be on its way
             * (nasd leased it already): wait a moment so on_job hands it back
             * now, instead of leaving it to wait out its whole lease. */
            bool job_may_be_in_flight =
                w->ready_sent && now < w->stop_requested_at + (w->nasd_stopping ? 0.2 : 1.0);
            if ((w->n_pending == 0 && !job_may_be_in_flight) || now >= w->drain_deadline) break;
        }

        if (!w->sock) {
            if (now < w->next_connect) {
                usleep(20000);
                continue;
            }
            if (connect_socket(w)) {
                reconnect_later(w, "connect failed");
                continue;
            }
        }
        zmq_pollitem_t items[2] = {{.socket = zsock_resolve(w->sock), .events = ZMQ_POLLIN},
                                   {.fd = w->runner ? nas_runner_fd(w->runner) : -1, .events = ZMQ_POLLIN}};
        int n_items = w->runner ? 2 : 1;
        if (zmq_poll(items, n_items, 50) < 0 && zmq_errno() != EINTR) {
            nas_error("poll failed: %s", zmq_strerror(zmq_errno()));
            w->exit_status = 1;
            break;
        }
        for (int i = 0; i < 64; i++) {
            zframe_t *frame = zframe_recv_nowait(w->sock);
            if (!frame) break;
            on_message(w, zframe_data(frame), zframe_size(frame));
            zframe_destroy(&frame);
            if (w->exit_now || !w->sock) break;
        }
        if (w->exit_now) break;
        now = nas_now_monotonic();
        if (w->runner) {
            if (nas_runner_poll(w->runner)) finish_job(w);
            else if (w->deadline_s > 0 && nas_runner_elapsed(w->runner) > w->deadline_s) {
                char why[128];
                snprintf(why, sizeof why, "job exceeded its deadline of %.0f s and was killed", w->deadline_s);
                nas_runner_free(&w->runner);
                send_failure(w, w->job_id, w->attempt, why, true, false);
            }
        }
        double silence = 3 * w->heartbeat_s + 2.0;
        if (now - w->last_recv > silence) {
            reconnect_later(w, w->welcomed ? "nasd went silent" : "no answer from nasd");
            continue;
        }
        if (!w->welcomed) {
            if (now - w->last_hello > 1.0) send_hello(w);
            continue;
        }
        if (now - w->last_heartbeat >= w->heartbeat_s) send_heartbeat(w);
        for (int i = 0; i < w->n_pending; i++) /* nothing acknowledged for a while: send again */
            if (now - w->pending[i].sent_at > 2 * w->heartbeat_s + 1.0) {
                resend_pending(w);
                break;
            }
        if (!w->runner && !w->stopping && !w->ready_sent && w->n_pending < MAX_UNACKED / 2) send_ready(w);
    }
    nas_runner_free(&w->runner);
}

int main(int argc, char **argv) {
    nas_omp_passive_reexec(argv); /* job children train with OpenMP: no spinning */
    worker w = {.backend = "sim", .gpu = -1, .grace_seconds = 30};
    const char *id = NULL;
    int log_level = NAS_LOG_INFO;
    enum { OPT_ID = 1000, OPT_GRACE, OPT_LOG_LEVEL, OPT_KEYS, OPT_NAME };
    static const struct option options[] = {
        {"connect", required_argument, NULL, 'c'}, {"backend", required_argument, NULL, 'b'},
        {"gpu", required_argument, NULL, 'g'},     {"id", required_argument, NULL, OPT_ID},
        {"grace", required_argument, NULL, OPT_GRACE}, {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"keys", required_argument, NULL, OPT_KEYS}, {"name", required_argument, NULL, OPT_NAME},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    int opt;
    char *end;
    while ((opt = getopt_long(argc, argv, "c:b:g:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c': w.endpoint = optarg; break;
        case 'b': w.backend = optarg; break;
        case 'g':
            w.gpu = (int)strtol(optarg, &end, 10);
            if (*end || w.gpu < 0 || w.gpu > 1023) {
                fprintf(stderr, "nas-worker: --gpu takes a device index, not '%s'\n", optarg);
                return 2;
            }
            break;
        case OPT_ID: id = optarg; break;
        case OPT_KEYS: w.keys = optarg; break;
        case OPT_NAME: w.key_name = optarg; break;
        case OPT_GRACE:
            w.grace_seconds = strtod(optarg, &end);
            if (*end || !(w.grace_seconds >= 0 && w.grace_seconds < 1e7)) {
                fprintf(stderr, "nas-worker: --grace takes seconds, not '%s'\n", optarg);
                return 2;
            }
            break;
        case OPT_LOG_LEVEL:
            if ((log_level = nas_log_level_parse(optarg)) < 0) {
                fprintf(stderr, "nas-worker: --log-level takes debug, info, warn or error\n");
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc || !w.endpoint) {
        fprintf(stderr, "nas-worker: %s\n\n", optind < argc ? "unexpected argument" : "--connect is required");
        usage(stderr);
        return 2;
    }
    nas_log_setup((nas_log_level)log_level, "nas-worker");
    if (w.keys && !w.key_name) w.key_name = NAS_CURVE_DEFAULT_NAME;
    nas_err err;
    if (!(w.ops = nas_evaluator_find(w.backend, &err))) {
        fprintf(stderr, "nas-worker: %s\n", err.msg);
        return 2;
    }
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    for (char *p = host; *p; p++)
        if (*p <= ' ' || *p > '~') *p = '_';
    w.host = host;
    char default_id[320];
    if (!id) {
        if (w.gpu >= 0) snprintf(default_id, sizeof default_id, "%.200s-%d-gpu%d", host, (int)getpid(), w.gpu);
        else snprintf(default_id, sizeof default_id, "%.200s-%d", host, (int)getpid());
        id = default_id;
    }
    if (!*id || strlen(id) > NAS_PROTO_MAX_ID || strpbrk(id, " \t\r\n")) {
        fprintf(stderr, "nas-worker: --id must be 1 to %d printable characters without spaces\n", NAS_PROTO_MAX_ID);
        return 2;
    }
    w.id = id;
    char device[64];
    snprintf(device, sizeof device, strcmp(w.backend, "sim") == 0 ? "sim (simulated)" : "%s", w.backend);
    w.device_name = device;
    nas_rng_seed(&w.rng, (uint64_t)getpid() ^ (uint64_t)(nas_now_wall() * 1e6));

    zsys_handler_set(NULL);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    nas_info("worker %s (backend %s%s) connecting to %s", w.id, w.backend,
             strcmp(w.backend, "sim") == 0 ? ": results are SIMULATED" : "", w.endpoint);
    run(&w);
    for (int i = 0; i < w.n_pending; i++) free(w.pending[i].frame);
    if (w.n_pending > 0) nas_warn("%d result(s) were never acknowledged by nasd", w.n_pending);
    free(w.arch_json);
    zsock_destroy(&w.sock);
    return w.exit_status;
}
