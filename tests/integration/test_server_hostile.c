/*
 * tests/integration/test_server_hostile.c - a live nasd keeps serving real
 * workers while an intruder sends random bytes, truncated and oversize
 * frames, multi-part messages, wrong protocol versions and results with
 * invalid architectures. Each is dropped, logged and counted (by kind), and
 * the experiment still ends with its budget and no result from the intruder.
 */
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "harness.h"
#include "proto/proto.h"

static void send_bytes(zsock_t *s, const void *data, size_t len) {
    H_CHECK(zmq_send(zsock_resolve(s), data, len, 0) == (int)len, "send failed");
}

static void send_env(zsock_t *s, nas_envelope *env, unsigned version) {
    env->protocol_version = version;
    size_t n = nas__envelope__get_packed_size(env);
    uint8_t *buf = malloc(n);
    nas__envelope__pack(env, buf);
    send_bytes(s, buf, n);
    free(buf);
}

/* Waits for a Job from nasd (ignoring everything else). */
static nas_envelope *wait_job(zsock_t *s, double timeout) {
    double end = h_now() + timeout;
    while (h_now() < end) {
        zsock_set_rcvtimeo(s, 100);
        zframe_t *f = zframe_recv(s);
        if (!f) continue;
        nas_envelope *env = NULL;
        nas_err err;
        int rc = nas_proto_decode(zframe_data(f), zframe_size(f), &env, &err);
        zframe_destroy(&f);
        if (rc == 0 && env->body_case == NAS__ENVELOPE__BODY_JOB) return env;
        nas_proto_free(&env);
    }
    return NULL;
}

static void send_result(zsock_t *s, const Nas__Job *job, const char *arch_json) {
    Nas__Result r = NAS__RESULT__INIT;
    r.job_id = job->job_id;
    r.attempt = job->attempt;
    r.arch_json = (char *)arch_json;
    r.has_accuracy = true;
    r.top1 = 0.99;
    r.top5 = 0.999;
    r.loss = 0.01;
    r.device = "forged";
    nas_envelope env = NAS__ENVELOPE__INIT;
    env.body_case = NAS__ENVELOPE__BODY_RESULT;
    env.result = &r;
    send_env(s, &env, NAS_PROTO_VERSION);
}

int main(int argc, char **argv) {
    h_env env;
    h_init(&env, argc, argv, "hostile", 150);
    h_write_config(&env,
                   "name: hostile\n"
                   "space: genet\n"
                   "strategy: {name: random, seed: 13}\n"
                   "budget: {evaluations: 40}\n"
                   "lease_seconds: 1.5\n"
                   "heartbeat_seconds: 0.25\n"
                   "progress_seconds: 1\n"
                   "evaluator: {sim: {delay_seconds: 0.1}}\n");
    pid_t nasd = h_start_nasd(&env, NULL, "nasd.log");
    char endpoint[256];
    snprintf(endpoint, sizeof endpoint, "%s", h_wait_endpoint(&env, 20));
    zsys_handler_set(NULL);
    zsock_t *intruder = zsock_new(ZMQ_DEALER);
    zsock_set_identity(intruder, "intruder");
    zsock_set_linger(intruder, 0);
    H_CHECK(zsock_connect(intruder, "%s", endpoint) == 0, "cannot connect");

    /* 1. become a worker and take a job, then answer it with bad architectures */
    Nas__Hello hello = NAS__HELLO__INIT;
    hello.worker_id = "intruder";
    hello.backend = "sim";
    nas_envelope henv = NAS__ENVELOPE__INIT;
    henv.body_case = NAS__ENVELOPE__BODY_HELLO;
    henv.hello = &hello;
    send_env(intruder, &henv, NAS_PROTO_VERSION);
    Nas__Ready ready = NAS__READY__INIT;
    ready.slots = 1;
    nas_envelope renv = NAS__ENVELOPE__INIT;
    renv.body_case = NAS__ENVELOPE__BODY_READY;
    renv.ready = &ready;
    send_env(intruder, &renv, NAS_PROTO_VERSION);
    nas_envelope *job = wait_job(intruder, 20);
    H_CHECK(job != NULL, "the intruder got no job");

    pid_t workers[2];
    workers[0] = h_start_worker(&env, endpoint, "honest-a", "a.log");
    workers[1] = h_start_worker(&env, endpoint, "honest-b", "b.log");

    nas_arch arch;
    nas_err err;
    H_CHECK(nas_arch_from_json(job->job->arch_json, &arch, &err) == 0, "job arch: %s", err.msg);
    for (int s = 0; s < arch.n_stages; s++)
        if (arch.stages[s].depth > 0) {
            arch.stages[s].width += 1; /* valid network, but not in the space */
            break;
        }
    char *outside = nas_arch_to_json(&arch);
    send_result(intruder, job->job, outside);
    free(outside);
    send_result(intruder, job->job, "{\"resolution\": -1}");
    send_result(intruder, job->job, "this is not json");

    /* 2. a storm of garbage while the honest workers run */
    nas_rng rng;
    nas_rng_seed(&rng, 99);
    uint8_t buf[600];
    uint8_t *packed = NULL;
    size_t packed_len = 0;
    H_CHECK(nas_proto_pack(&henv, &packed, &packed_len, &err) == 0, "pack");
    for (int round = 0; round < 30; round++) {
        size_t len = 1 + nas_rng_below(&rng, sizeof buf);
        for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)nas_rng_u64(&rng);
        send_bytes(intruder, buf, len);                                      /* random bytes */
        send_bytes(intruder, packed, 1 + nas_rng_below(&rng, packed_len - 1)); /* truncated */
        send_env(intruder, &renv, 99);                                       /* wrong version */
        Nas__Heartbeat hb = NAS__HEARTBEAT__INIT;                            /* out of range */
        hb.job_id = 1;
        hb.progress = 2.0;
        nas_envelope hbenv = NAS__ENVELOPE__INIT;
        hbenv.body_case = NAS__ENVELOPE__BODY_HEARTBEAT;
        hbenv.heartbeat = &hb;
        send_env(intruder, &hbenv, NAS_PROTO_VERSION);
        zmq_send(zsock_resolve(intruder), "a", 1, ZMQ_SNDMORE);              /* multi-part */
        zmq_send(zsock_resolve(intruder), "b", 1, 0);
        if (round % 10 == 0) {
            size_t big = (size_t)NAS_PROTO_MAX_FRAME * 2; /* oversize */
            uint8_t *huge = calloc(big, 1);
            send_bytes(intruder, huge, big);
            free(huge);
        }
        zclock_sleep(30);
    }
    free(packed);
    nas_proto_free(&job);

    int status = -1;
    H_CHECK(h_wait(nasd, 120, &status), "nasd did not finish under attack");
    H_CHECK(status == 0, "nasd exited with %d", status);
    for (int i = 0; i < 2; i++) H_CHECK(h_wait(workers[i], 20, &status) && status == 0, "worker %d did not exit", i);
    zsock_destroy(&intruder);

    H_CHECK(h_db_int(&env, "SELECT count(*) FROM results") == 40, "budget of 40 not met");
    H_CHECK(h_db_int(&env, "SELECT count(*) FROM results WHERE worker = 'intruder' OR device = 'forged'") == 0,
            "a forged result was stored");
    const char *kinds[] = {"undecodable=", "oversize=", "wrong version=", "bad architecture=", "bad field="};
    for (int i = 0; i < 5; i++)
        H_CHECK(h_log_contains(&env, "nasd.log", kinds[i]), "no count of %s in nasd's summary", kinds[i]);
    H_CHECK(h_log_contains(&env, "nasd.log", "outside the space"), "the out-of-space result was not logged");
    H_CHECK(h_db_int(&env, "SELECT count(*) FROM events WHERE kind = 'bad_frames'") >= 1, "no bad_frames event");
    h_pass(&env);
}
