/*
 * server/nasd.c - the coordinator daemon: sockets, signals, the main loop.
 *
 * One thread, one ROUTER socket, one poll loop: frames go to the coordinator
 * (server/coordinator.c), which decides everything; this file only moves
 * bytes, keeps time (progress line) and stops cleanly on SIGINT/SIGTERM or
 * when the budget is spent. The store is opened here and handed over.
 */
#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "proto/curve.h" /* the key layout of `nas keygen`; see server/meson.build */
#include "common/util.h"
#include "proto/proto.h"
#include "server/coordinator.h"
#include "server/experiment.h"
#include "store/store.h"

#define DEFAULT_BIND "tcp://127.0.0.1:5555"
#define MAX_FRAMES_PER_POLL 4096
/* Frames that arrive within this long of the last tick wait for the next
 * one: under load a tick then commits a batch instead of a few results, and
 * the pages every commit rewrites (the tails of tables and indexes) are
 * written once per batch. 2 ms is nothing next to a job's run time. */
#define MIN_TICK_SECONDS 0.002
/* libzmq drops peers that send more than this; between NAS_PROTO_MAX_FRAME
 * and this the frame arrives and is counted as oversize. */
#define SOCKET_MAX_MSG ((int64_t)NAS_PROTO_MAX_FRAME * 4)

static volatile sig_atomic_t stop_signal = 0;

static void on_signal(int sig) { stop_signal = sig; }

static void usage(FILE *out) {
    fprintf(out,
            "usage: nasd --config EXPERIMENT.yaml [--db results.db] [--bind ENDPOINT] [options]\n"
            "\n"
            "The gpunas coordinator: runs the experiment's search, hands jobs to nas-worker\n"
            "processes over ZeroMQ and stores every result in SQLite. Start it again on the\n"
            "same --db after a crash or a stop: it continues the same experiment.\n"
            "\n"
            "options:\n"
            "  -c, --config FILE         experiment YAML: keys in server/experiment.h,\n"
            "                            examples in configs/sim-*.yaml\n"
            "  -d, --db FILE             SQLite store (default results.db; not on NFS)\n"
            "  -b, --bind ENDPOINT       where workers connect (default %s;\n"
            "                            tcp://127.0.0.1:* picks a free port)\n"
            "      --endpoint-file FILE  write the bound endpoint there once listening\n"
            "      --keys DIR            CURVE: encrypt and authenticate with the key folder made\n"
            "                            by `nas keygen` (DIR/server.cert_secret; only workers\n"
            "                            whose public key is in DIR/allowed/ get anything)\n"
            "      --allow-remote        bind a non-loopback address without CURVE keys\n"
            "      --log-level LEVEL     debug|info|warn|error (default info)\n"
            "  -h, --help                this text\n"
            "\n"
            "It prints a progress line every progress_seconds (done/running/queued/failed,\n"
            "results per second, ETA) and exits 0 when the budget is spent, 1 on errors,\n"
            "130/143 after SIGINT/SIGTERM (the experiment can be resumed).\n",
            DEFAULT_BIND);
}

static bool is_loopback(const char *endpoint) {
    static const char *const ok[] = {"tcp://127.", "tcp://localhost:", "tcp://[::1]:", "ipc://", "inproc://", NULL};
    for (int i = 0; ok[i]; i++)
        if (strncmp(endpoint, ok[i], strlen(ok[i])) == 0) return true;
    return false;
}

typedef struct net {
    void *sock; /* the libzmq socket behind the zsock */
    int64_t send_failures;
} net;

static void free_packed(void *data, void *hint) {
    (void)hint;
    free(data);
}

static int send_frame(void *ctx, const uint8_t *peer, size_t peer_len, nas_envelope *env) {
    net *n = ctx;
    uint8_t *buf = NULL;
    size_t len = 0;
    nas_err err;
    if (nas_proto_pack(env, &buf, &len, &err)) {
        nas_error("cannot send %s: %s", nas_proto_body_name(env), err.msg);
        return err.code;
    }
    /* the packed buffer becomes the message: libzmq frees it when sent,
     * instead of copying it into a buffer of its own */
    zmq_msg_t body;
    if (zmq_msg_init_data(&body, buf, len, free_packed, NULL) != 0) {
        free(buf);
        return NAS_ENOMEM;
    }
    int rc = 0;
    if (zmq_send(n->sock, peer, peer_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_msg_send(&body, n->sock, ZMQ_DONTWAIT) < 0) {
        n->send_failures++;
        rc = NAS_EIO; /* peer gone or its queue full: it will ask again */
        zmq_msg_close(&body); /* not sent: still ours, and this frees buf */
    }
    return rc;
}

/* Reads one multi-part message; hands well-formed [peer, payload] pairs to
 * the coordinator and counts anything else as undecodable. Returns false
 * when nothing was waiting. */
static bool receive_one(void *sock, nas_coord *coord) {
    zmq_msg_t peer, body;
    zmq_msg_init(&peer);
    if (zmq_msg_recv(&peer, sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&peer);
        return false;
    }
    bool well_formed = zmq_msg_more(&peer);
    zmq_msg_init(&body);
    if (well_formed) {
        zmq_msg_recv(&body, sock, 0);
        if (zmq_msg_more(&body)) {
            well_formed = false;
            zmq_msg_t extra;
            zmq_msg_init(&extra);
            do zmq_msg_recv(&extra, sock, 0);
            while (zmq_msg_more(&extra));
            zmq_msg_close(&extra);
        }
    }
    if (well_formed)
        nas_coord_on_frame(coord, zmq_msg_data(&peer), zmq_msg_size(&peer), zmq_msg_data(&body), zmq_msg_size(&body));
    else /* an empty payload decodes as "empty frame" and is counted there */
        nas_coord_on_frame(coord, zmq_msg_data(&peer), zmq_msg_size(&peer), "", 0);
    zmq_msg_close(&body);
    zmq_msg_close(&peer);
    return true;
}

static int write_endpoint_file(const char *path, const char *endpoint, nas_err *err) {
    nas_sb tmp = {0};
    nas_sb_printf(&tmp, "%s.tmp", path);
    char *tmp_path = nas_sb_take(&tmp);
    if (!tmp_path) return nas_err_set(err, NAS_ENOMEM, "out of memory");
    FILE *f = fopen(tmp_path, "w");
    int rc = 0;
    if (!f || fprintf(f, "%s\n", endpoint) < 0 || fclose(f) != 0 || rename(tmp_path, path) != 0)
        rc = nas_err_set(err, NAS_EIO, "cannot write the endpoint file %s: %s", path, strerror(errno));
    free(tmp_path);
    return rc;
}

int main(int argc, char **argv) {
    const char *config = NULL, *db = "results.db", *bind = DEFAULT_BIND, *endpoint_file = NULL, *keys = NULL;
    bool allow_remote = false;
    int log_level = NAS_LOG_INFO;
    enum { OPT_ENDPOINT_FILE = 1000, OPT_ALLOW_REMOTE, OPT_KEYS, OPT_LOG_LEVEL };
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'}, {"db", required_argument, NULL, 'd'},
        {"bind", required_argument, NULL, 'b'},   {"endpoint-file", required_argument, NULL, OPT_ENDPOINT_FILE},
        {"allow-remote", no_argument, NULL, OPT_ALLOW_REMOTE}, {"keys", required_argument, NULL, OPT_KEYS},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "c:d:b:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c': config = optarg; break;
        case 'd': db = optarg; break;
        case 'b': bind = optarg; break;
        case OPT_ENDPOINT_FILE: endpoint_file = optarg; break;
        case OPT_ALLOW_REMOTE: allow_remote = true; break;
        case OPT_KEYS: keys = optarg; break;
        case OPT_LOG_LEVEL:
            if ((log_level = nas_log_level_parse(optarg)) < 0) {
                fprintf(stderr, "nasd: --log-level takes debug, info, warn or error, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc || !config) {
        fprintf(stderr, optind < argc ? "nasd: unexpected argument '%s'\n\n" : "nasd: --config is required\n\n",
                optind < argc ? argv[optind] : "");
        usage(stderr);
        return 2;
    }
    nas_log_setup((nas_log_level)log_level, "nasd");
    if (!keys && !allow_remote && !is_loopback(bind)) {
        fprintf(stderr,
                "nasd: %s is not a loopback address; without CURVE keys anyone who can reach it could\n"
                "send results. Use a 127.0.0.1 endpoint, or --allow-remote on a trusted network.\n",
                bind);
        return 2;
    }

    nas_err err = {0};
    nas_experiment *exp = NULL;
    nas_store *store = NULL;
    nas_coord *coord = NULL;
    zsock_t *router = NULL;
    nas_curve_server *curve = NULL;
    int status = 1;
    if (nas_experiment_load(config, &exp, &err)) {
        fprintf(stderr, "nasd: %s\n", err.msg);
        return 1;
    }
    if (nas_store_open(db, &store, &err) || nas_store_checkpoint_in_background(store, 0.1, &err)) {
        fprintf(stderr, "nasd: %s\n", err.msg);
        goto out;
    }

    zsys_handler_set(NULL); /* our own handlers below, not CZMQ's */
    zsys_set_linger(0);
    router = zsock_new(ZMQ_ROUTER);
    if (!router) {
        nas_error("cannot create the ZeroMQ socket");
        goto out;
    }
    zsock_set_router_handover(router, 1); /* a reconnecting worker takes its id back */
    zsock_set_maxmsgsize(router, (int)SOCKET_MAX_MSG);
    zsock_set_sndhwm(router, 100000);
    zsock_set_rcvhwm(router, 100000);
    zsock_set_linger(router, 1000);
    if (keys) {
        if (nas_curve_server_new(router, keys, &curve, &err)) {
            nas_error("%s", err.msg);
            goto out;
        }
        nas_info("CURVE on: only workers whose keys are in %s/allowed are accepted", keys);
    }
    if (zsock_bind(router, "%s", bind) < 0) {
        nas_error("cannot bind %s: %s (is another nasd using it?)", bind, zmq_strerror(zmq_errno()));
        goto out;
    }
    const char *endpoint = zsock_endpoint(router);
    net n = {.sock = zsock_resolve(router)};
    if (nas_coord_new(exp, store, send_frame, &n, &coord, &err)) {
        nas_error("%s", err.msg);
        goto out;
    }
    if (endpoint_file && write_endpoint_file(endpoint_file, endpoint, &err)) {
        nas_error("%s", err.msg);
        goto out;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    nas_info("experiment '%s' listening on %s (store %s, strategy %s, space %s)", exp->name, endpoint, db,
             exp->strategy_name, exp->space_name);

    double next_progress = nas_now_monotonic() + exp->progress_seconds;
    const char *why = NULL;
    double last_tick = 0;
    int frames_waiting = 0; /* read since the last tick */
    while (!stop_signal) {
        /* with frames read, wait only for what is left of the tick gap */
        double now = nas_now_monotonic();
        long timeout_ms = frames_waiting == 0 ? 50 : (long)ceil((last_tick + MIN_TICK_SECONDS - now) * 1000);
        zmq_pollitem_t item = {.socket = n.sock, .events = ZMQ_POLLIN};
        int ready = zmq_poll(&item, 1, timeout_ms > 0 ? timeout_ms : 0);
        if (ready < 0 && zmq_errno() != EINTR) {
            nas_error("poll failed: %s", zmq_strerror(zmq_errno()));
            break;
        }
        for (int i = 0; i < MAX_FRAMES_PER_POLL && receive_one(n.sock, coord); i++) frames_waiting++;
        now = nas_now_monotonic();
        if (frames_waiting > 0 && frames_waiting < MAX_FRAMES_PER_POLL && now - last_tick < MIN_TICK_SECONDS)
            continue;
        frames_waiting = 0;
        last_tick = now;
        if (nas_coord_tick(coord, &err)) {
            nas_error("stopping: the store failed, so results could no longer be kept exactly once: %s", err.msg);
            goto out;
        }
        now = nas_now_monotonic();
        if (now >= next_progress) {
            nas_sb line = {0};
            nas_coord_progress_line(coord, &line);
            nas_info("%s", line.data ? line.data : "progress: (out of memory)");
            nas_sb_free(&line);
            next_progress = now + exp->progress_seconds;
        }
        if (nas_coord_finished(coord, &why)) break;
    }
    nas_sb line = {0};
    nas_coord_progress_line(coord, &line);
    nas_info("%s", line.data ? line.data : "");
    nas_sb_free(&line);
    if (nas_coord_stop(coord, &err)) {
        nas_error("%s", err.msg);
        goto out;
    }
    nas_coord_counts counts;
    nas_coord_get_counts(coord, &counts);
    int64_t bad = 0;
    for (int k = 0; k < NAS_BAD_COUNT; k++) bad += counts.bad[k];
    if (bad > 0) {
        nas_sb b = {0};
        for (int k = 0; k < NAS_BAD_COUNT; k++)
            if (counts.bad[k]) nas_sb_printf(&b, " %s=%lld", nas_bad_kind_name((nas_bad_kind)k), (long long)counts.bad[k]);
        nas_info("bad frames dropped:%s", b.data ? b.data : "");
        nas_sb_free(&b);
    }
    if (why) {
        status = 0; /* the coordinator logged why it finished */
    } else {
        nas_info("stopped by signal %d; start nasd again with the same --db to continue", (int)stop_signal);
        status = 128 + (int)stop_signal;
    }
out:
    nas_coord_free(&coord);
    zsock_destroy(&router);
    nas_curve_server_free(&curve);
    nas_store_close(&store);
    nas_experiment_free(&exp);
    return status;
}
