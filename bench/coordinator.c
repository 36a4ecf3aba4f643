/*
 * bench/coordinator.c - how many results per second one nasd sustains.
 *
 * usage: coordinator --nasd PATH [--workers 64,256,1024] [--procs 4]
 *                    [--seconds 5] [--warmup 2] [--space genet] [--keep DIR] [--curve]
 *
 * For each worker count M it starts a fresh nasd (sim backend, random
 * strategy, a budget it cannot reach, a fresh store in a temporary folder),
 * then forks --procs processes that together open M DEALER sockets, each a
 * fake worker speaking the real protocol (proto/): Hello, Ready(1), and for
 * every Job an immediate Result marked simulated (so nothing in the store can
 * be mistaken for a measurement) that asks for the next job in the same frame
 * (Result.ready_slots = 1, as nas-worker sends it). What is measured is
 * therefore the coordinator alone: decode + validate (the architecture is
 * parsed and checked against the space), the strategy's ask/tell, the SQLite
 * transaction, the acknowledgement and the next job.
 *
 * Reported per M, over --seconds after --warmup seconds:
 *   results/s   Acks of results received by all fake workers per second
 *   p50, p99    job round trip: from the Ready that asked for a job to the Ack
 *               of its result (Ready -> Job -> Result -> commit -> Ack)
 *   RSS/worker  (nasd RSS in the middle of the window - its RSS before any
 *               worker connected) / M; includes the per-worker socket buffers
 *               of libzmq and the coordinator's per-worker and per-job state
 *   nasd CPU    CPU time nasd used in the window (all its threads) / window
 *   per CPU-s   results / nasd CPU seconds: what one fully available core
 *               would sustain, a figure that does not depend on how busy a
 *               shared machine was (the 1-minute load average is printed too)
 *   fake workers CPU  what the fake-worker processes used, as a share of one
 *               core over their whole run: CPU that nasd could not have
 * --curve runs nasd with --keys (keys made by cli/curve.c, as `nas keygen`
 * makes them; all fake workers share one allowed key pair) to show what
 * CURVE encryption and authentication cost.
 * The fake workers share the machine with nasd, so on a small machine they
 * take CPU that nasd could use: the figures are a lower bound for nasd.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include <czmq.h>

#include "proto/curve.h"
#include "common/util.h"
#include "proto/proto.h"

#define HIST_BUCKETS 1200 /* log-spaced, 2% wide, from 1 us: covers up to ~2e10 us */
#define HIST_GROWTH 1.02
#define MAX_OUTSTANDING 4 /* per socket: one job running, a few results awaiting Ack */

typedef struct worker_report {
    int64_t acked_in_window;
    int64_t results_sent;
    int64_t rejects;
    int64_t hist[HIST_BUCKETS];
} worker_report;

typedef struct bench_options {
    bool curve;
    const char *nasd, *space, *keep_dir;
    int procs;
    double seconds, warmup;
    int n_counts;
    int counts[16];
} bench_options;

static int hist_bucket(double seconds) {
    double us = seconds * 1e6;
    if (us < 1) return 0;
    int b = (int)(log(us) / log(HIST_GROWTH)) + 1;
    return b >= HIST_BUCKETS ? HIST_BUCKETS - 1 : b;
}

static double hist_quantile(const int64_t *hist, double q) {
    int64_t total = 0;
    for (int i = 0; i < HIST_BUCKETS; i++) total += hist[i];
    if (total == 0) return NAN;
    int64_t rank = (int64_t)ceil(q * (double)total), seen = 0;
    for (int i = 0; i < HIST_BUCKETS; i++) {
        seen += hist[i];
        if (seen >= rank) return (i == 0 ? 1.0 : pow(HIST_GROWTH, i)) * 1e-6; /* upper edge, seconds */
    }
    return NAN;
}

/* ---- one fake worker socket ------------------------------------------------ */

typedef struct fake_worker {
    void *sock;
    double ready_sent_at; /* when the Ready that the next Job answers was sent */
    int64_t job_ids[MAX_OUTSTANDING];
    double job_asked_at[MAX_OUTSTANDING];
} fake_worker;

static int send_env(void *sock, nas_envelope *env) {
    uint8_t *buf = NULL;
    size_t len = 0;
    nas_err err;
    if (nas_proto_pack(env, &buf, &len, &err)) {
        fprintf(stderr, "coordinator bench: cannot pack: %s\n", err.msg);
        return -1;
    }
    int rc = zmq_send(sock, buf, len, 0) < 0 ? -1 : 0;
    free(buf);
    return rc;
}

static int send_hello(fake_worker *w, const char *id) {
    Nas__Hello hello = NAS__HELLO__INIT;
    hello.worker_id = (char *)id;
    hello.host = "bench";
    hello.device_name = "bench-sim (no device)";
    hello.backend = "sim";
    hello.version = NAS_VERSION;
    nas_envelope env = NAS__ENVELOPE__INIT;
    env.body_case = NAS__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    return send_env(w->sock, &env);
}

static int send_ready(fake_worker *w) {
    Nas__Ready ready = NAS__READY__INIT;
    ready.slots = 1;
    nas_envelope env = NAS__ENVELOPE__INIT;
    env.body_case = NAS__ENVELOPE__BODY_READY;
    env.ready = &ready;
    w->ready_sent_at = nas_now_monotonic();
    return send_env(w->sock, &env);
}

/* Answers a Job at once with a simulated Result (fixed, valid values) that
 * also asks for the next job (ready_slots, as nas-worker does). */
static int send_result(fake_worker *w, const Nas__Job *job) {
    Nas__Latency latency = NAS__LATENCY__INIT;
    latency.batch = 1;
    latency.precision = "fp16";
    latency.mean_ms = latency.p50_ms = 1.0 + (double)(job->job_id % 1000) / 100.0;
    latency.p90_ms = latency.mean_ms * 1.1;
    Nas__Latency *latencies[1] = {&latency};
    Nas__Result result = NAS__RESULT__INIT;
    result.job_id = job->job_id;
    result.attempt = job->attempt;
    result.arch_json = job->arch_json;
    result.has_accuracy = job->kind == NAS__JOB_KIND__JOB_TRAIN;
    result.top1 = 0.5 + (double)(job->job_id % 4001) / 10000.0;
    result.top5 = fmin(1.0, result.top1 + 0.1);
    result.loss = 1.0;
    result.n_latency = 1;
    result.latency = latencies;
    result.device = "bench-sim";
    result.simulated = true;
    result.ready_slots = 1;
    w->ready_sent_at = nas_now_monotonic();
    nas_envelope env = NAS__ENVELOPE__INIT;
    env.body_case = NAS__ENVELOPE__BODY_RESULT;
    env.result = &result;
    return send_env(w->sock, &env);
}

static void remember_job(fake_worker *w, int64_t job_id, double asked_at) {
    int slot = 0;
    for (int i = 0; i < MAX_OUTSTANDING; i++) {
        if (w->job_ids[i] == 0) {
            slot = i;
            break;
        }
        if (w->job_asked_at[i] < w->job_asked_at[slot]) slot = i; /* oldest goes if full */
    }
    w->job_ids[slot] = job_id;
    w->job_asked_at[slot] = asked_at;
}

/* Round trip of an acknowledged job, or a negative value if unknown. */
static double take_job(fake_worker *w, int64_t job_id, double now) {
    for (int i = 0; i < MAX_OUTSTANDING; i++)
        if (w->job_ids[i] == job_id) {
            w->job_ids[i] = 0;
            return now - w->job_asked_at[i];
        }
    return -1;
}

/* One fake-worker process: n sockets, until end_at (monotonic seconds). */
static int run_workers(const char *endpoint, const char *keys_dir, int proc, int n, double window_start,
                       double window_end, int report_fd) {
    zcert_t *client = NULL, *server = NULL;
    if (keys_dir) { /* every fake worker uses the one allowed key pair */
        nas_sb path = {0};
        nas_sb_printf(&path, "%s/%s/bench.cert_secret", keys_dir, NAS_CURVE_WORKERS_DIR);
        client = path.data ? zcert_load(path.data) : NULL;
        nas_sb_free(&path);
        nas_sb_printf(&path, "%s/%s", keys_dir, NAS_CURVE_SERVER_CERT);
        server = path.data ? zcert_load(path.data) : NULL;
        nas_sb_free(&path);
        if (!client || !server) {
            fprintf(stderr, "coordinator bench: cannot load the CURVE keys in %s\n", keys_dir);
            return 1;
        }
    }
    void *ctx = zmq_ctx_new();
    zmq_ctx_set(ctx, ZMQ_MAX_SOCKETS, n + 64);
    fake_worker *workers = calloc((size_t)n, sizeof *workers);
    worker_report *report = calloc(1, sizeof *report);
    int ep = epoll_create1(0);
    if (!ctx || !workers || !report || ep < 0) return 1;
    for (int i = 0; i < n; i++) {
        char id[64];
        snprintf(id, sizeof id, "bench-%d-%d", proc, i);
        workers[i].sock = zmq_socket(ctx, ZMQ_DEALER);
        int linger = 0, hwm = 10000;
        zmq_setsockopt(workers[i].sock, ZMQ_LINGER, &linger, sizeof linger);
        zmq_setsockopt(workers[i].sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
        zmq_setsockopt(workers[i].sock, ZMQ_ROUTING_ID, id, strlen(id));
        if (client) {
            zcert_apply(client, workers[i].sock);
            zmq_setsockopt(workers[i].sock, ZMQ_CURVE_SERVERKEY, zcert_public_txt(server), 40);
        }
        if (zmq_connect(workers[i].sock, endpoint) != 0 || send_hello(&workers[i], id) != 0) {
            fprintf(stderr, "coordinator bench: worker %s cannot connect to %s\n", id, endpoint);
            return 1;
        }
        /* Each socket's ZMQ_FD goes into one epoll set, so a wake-up costs
         * O(sockets with news). zmq_poll over all n sockets looked at every
         * one (a getpid() system call each, libzmq's fork check) per wake-up,
         * and that made the fake workers, not nasd, the bottleneck. */
        int fd = -1;
        size_t fd_len = sizeof fd;
        if (zmq_getsockopt(workers[i].sock, ZMQ_FD, &fd, &fd_len) != 0 ||
            epoll_ctl(ep, EPOLL_CTL_ADD, fd, &(struct epoll_event){.events = EPOLLIN, .data.u32 = (uint32_t)i}) != 0) {
            fprintf(stderr, "coordinator bench: cannot watch worker %s: %s\n", id, strerror(errno));
            return 1;
        }
    }
    uint8_t buf[1 << 16];
    struct epoll_event ready_events[256];
    bool scan_all = true; /* at first, and after a quiet wait: look at every socket */
    for (;;) {
        double now = nas_now_monotonic();
        if (now >= window_end) break;
        int n_ready = scan_all ? n : epoll_wait(ep, ready_events, 256, (int)fmax(1, fmin(100, (window_end - now) * 1000)));
        if (n_ready < 0 && errno != EINTR) break;
        bool was_scan = scan_all;
        scan_all = n_ready == 0;
        for (int k = 0; k < n_ready; k++) {
            fake_worker *w = &workers[was_scan ? k : (int)ready_events[k].data.u32];
            for (;;) { /* ZMQ_FD is edge-like: drain until EAGAIN, which also leaves it armed again
                        * (asking ZMQ_EVENTS per message cost two system calls each) */
                int len = zmq_recv(w->sock, buf, sizeof buf, ZMQ_DONTWAIT);
                if (len < 0) break;
                if ((size_t)len > sizeof buf) continue; /* truncated: never from nasd (jobs are small) */
                nas_envelope *env = NULL;
                nas_err err;
                if (nas_proto_decode(buf, (size_t)len, &env, &err)) {
                    fprintf(stderr, "coordinator bench: undecodable frame: %s\n", err.msg);
                    continue;
                }
                double at = nas_now_monotonic();
                switch (env->body_case) {
                case NAS__ENVELOPE__BODY_WELCOME: send_ready(w); break;
                case NAS__ENVELOPE__BODY_JOB:
                    remember_job(w, env->job->job_id, w->ready_sent_at);
                    if (send_result(w, env->job) == 0) report->results_sent++;
                    break;
                case NAS__ENVELOPE__BODY_ACK:
                    if (env->ack->kind == NAS__ACK_KIND__ACK_RESULT) {
                        double rtt = take_job(w, env->ack->job_id, at);
                        if (at >= window_start && at < window_end) {
                            report->acked_in_window++;
                            if (rtt >= 0) report->hist[hist_bucket(rtt)]++;
                        }
                    }
                    break;
                case NAS__ENVELOPE__BODY_REJECT: report->rejects++; break;
                default: break;
                }
                nas_proto_free(&env);
            }
        }
    }
    close(ep);
    ssize_t wrote = write(report_fd, report, sizeof *report);
    for (int i = 0; i < n; i++) zmq_close(workers[i].sock);
    zmq_ctx_term(ctx);
    zcert_destroy(&client);
    zcert_destroy(&server);
    free(workers);
    free(report);
    return wrote == (ssize_t)sizeof *report ? 0 : 1;
}

/* ---- nasd ------------------------------------------------------------------ */

static long rss_kib(pid_t pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
    if (f) fclose(f);
    return kib;
}

/* CPU seconds (user + system, all threads) nasd has used so far. */
static double cpu_seconds(pid_t pid) {
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return NAN;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields after the ")" that ends the command name: state is field 3,
     * utime and stime are fields 14 and 15. */
    const char *p = strrchr(buf, ')');
    unsigned long long utime = 0, stime = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) return NAN;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static pid_t start_nasd(const bench_options *o, const char *dir, const char *keys_dir, char *endpoint, size_t cap) {
    char config[512], db[512], endpoint_file[512], log[512];
    snprintf(config, sizeof config, "%s/bench.yaml", dir);
    snprintf(db, sizeof db, "%s/results.db", dir);
    snprintf(endpoint_file, sizeof endpoint_file, "%s/endpoint", dir);
    snprintf(log, sizeof log, "%s/nasd.log", dir);
    FILE *f = fopen(config, "w");
    if (!f) return -1;
    /* prefetch 1024: the queue never runs dry between ticks at any M here.
     * block 4096: Latin hypercube blocks of a fixed size (the default, one
     * block of the whole budget, would be 1e8 points). */
    fprintf(f,
            "name: bench-coordinator\nspace: %s\nstrategy: {name: random, seed: 1, options: {block: 4096}}\n"
            "budget: {evaluations: 100000000}\nbackend: sim\nprefetch: 1024\n"
            "lease_seconds: 600\nheartbeat_seconds: 60\nprogress_seconds: 3600\n",
            o->space);
    fclose(f);
    unlink(endpoint_file);
    pid_t pid = fork();
    if (pid == 0) {
        FILE *out = freopen(log, "w", stderr);
        (void)out;
        if (keys_dir)
            execl(o->nasd, o->nasd, "--config", config, "--db", db, "--bind", "tcp://127.0.0.1:*", "--endpoint-file",
                  endpoint_file, "--log-level", "warn", "--keys", keys_dir, (char *)NULL);
        else
            execl(o->nasd, o->nasd, "--config", config, "--db", db, "--bind", "tcp://127.0.0.1:*", "--endpoint-file",
                  endpoint_file, "--log-level", "warn", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 300; i++) { /* up to 30 s: building the strategy may take a moment */
        f = fopen(endpoint_file, "r");
        if (f) {
            bool ok = fgets(endpoint, (int)cap, f) != NULL;
            fclose(f);
            if (ok) {
                endpoint[strcspn(endpoint, "\n")] = '\0';
                return pid;
            }
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "coordinator bench: nasd exited early; see %s\n", log);
            return -1;
        }
        usleep(100000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static int bench_one(const bench_options *o, int workers, const char *dir) {
    char endpoint[256], keys_dir[600];
    snprintf(keys_dir, sizeof keys_dir, "%s/keys", dir);
    if (o->curve) {
        nas_err err = {0};
        bool server_created = false;
        if (nas_curve_keygen(keys_dir, "bench", &server_created, &err) != 0) {
            fprintf(stderr, "coordinator bench: %s\n", err.msg);
            return 1;
        }
    }
    pid_t nasd = start_nasd(o, dir, o->curve ? keys_dir : NULL, endpoint, sizeof endpoint);
    if (nasd < 0) return 1;
    usleep(300000);
    long rss_before = rss_kib(nasd);
    int procs = o->procs < workers ? o->procs : workers;
    int fds[64][2];
    pid_t children[64];
    /* Connecting M sockets takes a moment; everyone measures the same window. */
    double run_started = nas_now_monotonic();
    double window_start = run_started + 1.0 + workers / 1000.0 + o->warmup;
    double window_end = window_start + o->seconds;
    for (int p = 0; p < procs; p++) {
        int n = workers / procs + (p < workers % procs ? 1 : 0);
        if (pipe(fds[p]) != 0) return 1;
        children[p] = fork();
        if (children[p] == 0) {
            close(fds[p][0]);
            _exit(run_workers(endpoint, o->curve ? keys_dir : NULL, p, n, window_start, window_end, fds[p][1]));
        }
        close(fds[p][1]);
    }
    while (nas_now_monotonic() < window_start) usleep(5000);
    double cpu_start = cpu_seconds(nasd);
    double mid = window_start + o->seconds / 2;
    while (nas_now_monotonic() < mid) usleep(20000);
    long rss_during = rss_kib(nasd);
    while (nas_now_monotonic() < window_end) usleep(5000);
    double cpu_used = cpu_seconds(nasd) - cpu_start;
    double load[1] = {0};
    getloadavg(load, 1);
    worker_report total = {0};
    int failures = 0;
    double workers_cpu = 0; /* CPU seconds of the fake-worker processes (whole run) */
    for (int p = 0; p < procs; p++) {
        worker_report r;
        ssize_t got = read(fds[p][0], &r, sizeof r);
        close(fds[p][0]);
        int status = 0;
        struct rusage usage;
        if (wait4(children[p], &status, 0, &usage) == children[p])
            workers_cpu += (double)usage.ru_utime.tv_sec + usage.ru_utime.tv_usec * 1e-6 +
                           (double)usage.ru_stime.tv_sec + usage.ru_stime.tv_usec * 1e-6;
        if (got != (ssize_t)sizeof r || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            failures++;
            continue;
        }
        total.acked_in_window += r.acked_in_window;
        total.results_sent += r.results_sent;
        total.rejects += r.rejects;
        for (int i = 0; i < HIST_BUCKETS; i++) total.hist[i] += r.hist[i];
    }
    kill(nasd, SIGTERM);
    int status = 0;
    waitpid(nasd, &status, 0);
    double rate = (double)total.acked_in_window / o->seconds;
    double run_seconds = window_end - run_started;
    printf("| %5d | %5d | %10.0f | %8.2f | %8.2f | %8.1f | %5.0f%% | %8.0f | %5.0f%% | %5.1f | %s |\n", workers, procs,
           rate, hist_quantile(total.hist, 0.50) * 1e3, hist_quantile(total.hist, 0.99) * 1e3,
           (double)(rss_during - rss_before) / workers, 100 * cpu_used / o->seconds,
           cpu_used > 0 ? (double)total.acked_in_window / cpu_used : NAN, 100 * workers_cpu / run_seconds, load[0],
           failures ? "worker process failed" : total.rejects ? "rejects seen" : "ok");
    fflush(stdout);
    return failures ? 1 : 0;
}

static int parse_counts(const char *text, bench_options *o) {
    o->n_counts = 0;
    for (const char *p = text; *p;) {
        char *end = NULL;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 100000 || o->n_counts == 16 || (*end != ',' && *end != '\0')) return -1;
        o->counts[o->n_counts++] = (int)v;
        p = *end ? end + 1 : end;
    }
    return o->n_counts > 0 ? 0 : -1;
}

static void usage(FILE *out) {
    fprintf(out, "usage: coordinator --nasd PATH [--workers 64,256,1024] [--procs 4] [--seconds 5]\n"
                 "                   [--warmup 2] [--space genet] [--keep DIR] [--curve]\n");
}

int main(int argc, char **argv) {
    bench_options o = {.space = "genet", .procs = 4, .seconds = 5, .warmup = 2};
    parse_counts("64,256,1024", &o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--curve") == 0) {
            o.curve = true;
            continue;
        }
        if (!v) {
            usage(stderr);
            return 2;
        }
        if (strcmp(a, "--nasd") == 0) o.nasd = v;
        else if (strcmp(a, "--workers") == 0 && parse_counts(v, &o) == 0) {
        } else if (strcmp(a, "--procs") == 0) o.procs = atoi(v);
        else if (strcmp(a, "--seconds") == 0) o.seconds = atof(v);
        else if (strcmp(a, "--warmup") == 0) o.warmup = atof(v);
        else if (strcmp(a, "--space") == 0) o.space = v;
        else if (strcmp(a, "--keep") == 0) o.keep_dir = v;
        else {
            usage(stderr);
            return 2;
        }
        i++;
    }
    if (!o.nasd || o.procs < 1 || o.procs > 64 || !(o.seconds > 0) || o.warmup < 0) {
        usage(stderr);
        return 2;
    }
    /* nasd holds a socket (and libzmq a few descriptors) per worker. */
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    signal(SIGPIPE, SIG_IGN);
    printf("coordinator bench: nasd %s, space %s, %d fake-worker processes, %.0f s window after %.0f s warm-up%s\n\n",
           o.nasd, o.space, o.procs, o.seconds, o.warmup, o.curve ? ", CURVE on" : "");
    printf("| workers | procs | results/s | p50 ms | p99 ms | nasd RSS KiB/worker | nasd CPU | results per nasd CPU-s "
           "| fake workers CPU | load avg | status |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
    int failed = 0;
    for (int i = 0; i < o.n_counts; i++) {
        char dir[512];
        if (o.keep_dir) snprintf(dir, sizeof dir, "%s/m%d", o.keep_dir, o.counts[i]);
        else snprintf(dir, sizeof dir, "/tmp/nas-bench-coord-XXXXXX");
        if (o.keep_dir ? (mkdir(o.keep_dir, 0755), mkdir(dir, 0755), 0) : (mkdtemp(dir) == NULL)) {
            fprintf(stderr, "coordinator bench: cannot create %s\n", dir);
            return 1;
        }
        failed += bench_one(&o, o.counts[i], dir);
        if (!o.keep_dir) {
            char cmd[600];
            snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
            if (system(cmd) != 0) fprintf(stderr, "coordinator bench: could not remove %s\n", dir);
        }
    }
    return failed ? 1 : 0;
}
