/*
 * tests/test_proto.c - wire protocol: round trips, every validation rule, and
 * a bounded deterministic storm of random and mutated frames through
 * decode+validate (the in-suite counterpart of the libFuzzer target).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "proto/proto.h"

/* Packs env, decodes it back; returns the decode code (out is freed). */
static int roundtrip(nas_envelope *env, nas_err *err) {
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = nas_proto_pack(env, &buf, &len, err);
    if (rc) return rc;
    nas_envelope *back = NULL;
    rc = nas_proto_decode(buf, len, &back, err);
    free(buf);
    nas_proto_free(&back);
    return rc;
}

static void test_hello_roundtrip(void **state) {
    (void)state;
    Nas__Hello hello = NAS__HELLO__INIT;
    hello.worker_id = "node1:gpu0:123";
    hello.host = "node1";
    hello.device_name = "NVIDIA H100 80GB HBM3";
    hello.backend = "cuda";
    hello.version = "0.1.0";
    hello.running_job = 42;
    nas_envelope env = NAS__ENVELOPE__INIT;
    env.body_case = NAS__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    uint8_t *buf = NULL;
    size_t len = 0;
    nas_err err;
    assert_int_equal(nas_proto_pack(&env, &buf, &len, &err), 0);
    nas_envelope *back = NULL;
    assert_int_equal(nas_proto_decode(buf, len, &back, &err), 0);
    assert_int_equal(back->protocol_version, NAS_PROTO_VERSION);
    assert_int_equal(back->body_case, NAS__ENVELOPE__BODY_HELLO);
    assert_string_equal(back->hello->worker_id, "node1:gpu0:123");
    assert_int_equal(back->hello->running_job, 42);
    assert_string_equal(nas_proto_body_name(back), "hello");
    nas_proto_free(&back);
    assert_null(back);
    free(buf);

    hello.worker_id = "has space";
    assert_int_equal(roundtrip(&env, &err), NAS_EPROTO);
    hello.worker_id = "";
    assert_int_equal(roundtrip(&env, &err), NAS_EPROTO);
    char long_id[NAS_PROTO_MAX_ID + 2];
    memset(long_id, 'a', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    hello.worker_id = long_id;
    assert_int_equal(roundtrip(&env, &err), NAS_ERANGE);
    hello.worker_id = "w";
    hello.device_name = "bad\x01name";
    assert_int_equal(roundtrip(&env, &err), NAS_EPROTO);
    assert_non_null(strstr(err.msg, "control character"));
}

static void test_wrong_version_and_no_body(void **state) {
    (void)state;
    Nas__Ready ready = NAS__READY__INIT;
    ready.slots = 1;
    nas_envelope env = NAS__ENVELOPE__INIT;
    env.body_case = NAS__ENVELOPE__BODY_READY;
    env.ready = &ready;
    /* pack forces the current version, so build the bytes of version 99 by hand */
    env.protocol_version = 99;
    size_t n = nas__envelope__get_packed_size(&env);
    uint8_t *buf = malloc(n);
    nas__envelope__pack(&env, buf);
    nas_envelope *back = NULL;
    nas_err err;
    assert_int_equal(nas_proto_decode(buf, n, &back, &err), NAS_EPROTO);
    assert_non_null(strstr(err.msg, "protocol version 99"));
    assert_null(back);
    free(buf);

    nas_envelope empty = NAS__ENVELOPE__INIT;
    assert_int_equal(roundtrip(&empty, &err), NAS_EPROTO);
    ready.slots = NAS_PROTO_MAX_SLOTS + 1;
    assert_int_equal(roundtrip(&env, &err), NAS_ERANGE);
}

static void test_frame_limits(void **state) {
    (void)state;
    nas_envelope *back = NULL;
    nas_err err;
    assert_int_equal(nas_proto_decode("", 0, &back, &err), NAS_EPARSE);
    uint8_t *big = calloc(NAS_PROTO_MAX_FRAME + 1, 1);
    assert_int_equal(nas_proto_decode(big, NAS_PROTO_MAX_FRAME + 1, &back, &err), NAS_ERANGE);
    free(big);
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    assert_int_equal(nas_proto_decode(junk, sizeof junk, &back, &err), NAS_EPARSE);
    assert_null(back);
}

static void test_result_rules(void **state) {
    (void)state;
    Nas__Latency lat = NAS__LATENCY__INIT;
    lat.batch = 1;
    lat.precision = "fp16";
    lat.mean_ms = 1.0;
    lat.p50_ms = 0.9;
    lat.p90_ms = 1.2;
    Nas__Latency *lats[NAS_PROTO_MAX_LATENCIES + 1];
    for (int i = 0; i <= NAS_PROTO_MAX_LATENCIES; i++) lats[i] = &lat;
    Nas__Result r = NAS__RESULT__INIT;
    r.job_id = 7;
    r.attempt = 1;
    r.arch_json = "{}";
    r.has_accuracy = true;
    r.top1 = 0.7;
    r.top5 = 0.9;
    r.loss = 1.0;
    r.device = "sim";
    r.simulated = true;
    r.n_latency = 1;
    r.latency = lats;
    nas_envelope env = NAS__ENVELOPE__INIT;
    env.body_case = NAS__ENVELOPE__BODY_RESULT;
    env.result = &r;
    nas_err err;
    assert_int_equal(roundtrip(&env, &err), 0);

    r.top1 = NAN;
    assert_int_equal(roundtrip(&env, &err), NAS_ERANGE);
    r.top1 = 1.5;
    assert_int_equal(roundtrip(&env, &err), NAS_ERANGE);
    r.top1 = 0.95; /* above top5 */
    assert_int_equal(roundtrip(&env, &err), NAS_ERANGE);
    r.top1 = 0.7;
    r.n_latency = NAS_PROTO_MAX_LATENCIES + 1;
    assert_int_equal(roundtrip(&env, &err), NAS_ERANGE);
    r.n_latency = 1;
    lat.precision = "int4";
    assert_int_equal(roundtrip(&env, &err), NAS_EPROTO);
    lat.precision = "fp16";
    lat.batch = 0;
    assert_int_equal(roundtrip(&env, &err), NAS_ERANGE);
    lat.batch = 1;
    r.attempt = 0;
    assert_int_equal(roundtrip(&env, &err), NAS_ERANGE);
    r.attempt = 1;
    r.job_id = -3;
    assert_int_equal(roundtrip(&env, &err), NAS_ERANGE);
    r.job_id = 7;
    r.ready_slots = 1; /* a Ready in the result's frame */
    assert_int_equal(roundtrip(&env, &err), 0);
    r.ready_slots = NAS_PROTO_MAX_SLOTS + 1;
    assert_int_equal(roundtrip(&env, &err), NAS_ERANGE);
    assert_non_null(strstr(err.msg, "result.ready_slots"));
    r.ready_slots = 0;
    r.job_id = 7;
    r.params = -1;
    assert_int_equal(roundtrip(&env, &err), NAS_ERANGE);
    r.params = 0;
    r.arch_json = "";
    assert_int_equal(roundtrip(&env, &err), NAS_EPROTO);
}

static void test_job_heartbeat_ack_rules(void **state) {
    (void)state;
    nas_err err;
    Nas__Job job = NAS__JOB__INIT;
    job.job_id = 1;
    job.attempt = 1;
    job.kind = NAS__JOB_KIND__JOB_TRAIN;
    job.arch_json = "{}";
    nas_envelope env = NAS__ENVELOPE__INIT;
    env.body_case = NAS__ENVELOPE__BODY_JOB;
    env.job = &job;
    assert_int_equal(roundtrip(&env, &err), 0);
    job.kind = (Nas__JobKind)7;
    assert_int_equal(roundtrip(&env, &err), NAS_EPROTO);
    job.kind = NAS__JOB_KIND__JOB_MEASURE;
    job.deadline_seconds = -1;
    assert_int_equal(roundtrip(&env, &err), NAS_ERANGE);

    Nas__Heartbeat hb = NAS__HEARTBEAT__INIT;
    hb.job_id = 0; /* idle heartbeats are allowed */
    hb.progress = 0.5;
    env.body_case = NAS__ENVELOPE__BODY_HEARTBEAT;
    env.job = NULL;
    env.heartbeat = &hb;
    assert_int_equal(roundtrip(&env, &err), 0);
    hb.progress = 1.01;
    assert_int_equal(roundtrip(&env, &err), NAS_ERANGE);
    hb.progress = INFINITY;
    assert_int_equal(roundtrip(&env, &err), NAS_ERANGE);

    Nas__Ack ack = NAS__ACK__INIT;
    ack.job_id = 3;
    ack.kind = (Nas__AckKind)9;
    env.body_case = NAS__ENVELOPE__BODY_ACK;
    env.heartbeat = NULL;
    env.ack = &ack;
    assert_int_equal(roundtrip(&env, &err), NAS_EPROTO);

    Nas__Failure f = NAS__FAILURE__INIT;
    f.job_id = 3;
    f.attempt = 2;
    f.reason = "";
    env.body_case = NAS__ENVELOPE__BODY_FAILURE;
    env.ack = NULL;
    env.failure = &f;
    assert_int_equal(roundtrip(&env, &err), NAS_EPROTO); /* a failure must say why */
    f.reason = "segfault";
    assert_int_equal(roundtrip(&env, &err), 0);
}

static void test_check_arch(void **state) {
    (void)state;
    nas_arch a;
    nas_err err;
    assert_int_equal(nas_proto_check_arch("", NULL, &a, &err), NAS_EPROTO);
    assert_true(nas_proto_check_arch("{\"resolution\": -5}", NULL, &a, &err) < 0);
    assert_non_null(strstr(err.msg, "invalid architecture"));
    assert_true(nas_proto_check_arch("not json at all", NULL, &a, &err) < 0);
    /* a real architecture survives the JSON round trip */
    nas_arch preset;
    assert_int_equal(nas_arch_load("genet-light", &preset, &err), 0);
    char *json = nas_arch_to_json(&preset);
    assert_non_null(json);
    assert_int_equal(nas_proto_check_arch(json, NULL, &a, &err), 0);
    assert_true(nas_arch_equal(&a, &preset));
    free(json);
}

/* A valid frame of each of a few kinds, to mutate. */
static size_t seed_frame(int which, uint8_t **out) {
    nas_envelope env = NAS__ENVELOPE__INIT;
    Nas__Hello hello = NAS__HELLO__INIT;
    Nas__Heartbeat hb = NAS__HEARTBEAT__INIT;
    Nas__Latency lat = NAS__LATENCY__INIT;
    Nas__Latency *lats[1] = {&lat};
    Nas__Result r = NAS__RESULT__INIT;
    switch (which % 3) {
    case 0:
        hello.worker_id = "w1";
        hello.backend = "sim";
        env.body_case = NAS__ENVELOPE__BODY_HELLO;
        env.hello = &hello;
        break;
    case 1:
        hb.job_id = 5;
        hb.progress = 0.25;
        env.body_case = NAS__ENVELOPE__BODY_HEARTBEAT;
        env.heartbeat = &hb;
        break;
    default:
        lat.batch = 8;
        lat.precision = "fp32";
        r.job_id = 9;
        r.attempt = 1;
        r.arch_json = "{\"resolution\":32}";
        r.device = "sim";
        r.n_latency = 1;
        r.latency = lats;
        env.body_case = NAS__ENVELOPE__BODY_RESULT;
        env.result = &r;
        break;
    }
    size_t len = 0;
    nas_err err;
    assert_int_equal(nas_proto_pack(&env, out, &len, &err), 0);
    return len;
}

/* Decodes n random and n mutated frames: nothing may crash or leak (ASan
 * checks), every accepted frame must validate again, and the rejects must
 * carry a message. Seeded, so a failure reproduces. */
static void test_random_frames(void **state) {
    (void)state;
    nas_rng rng;
    nas_rng_seed(&rng, 20261123);
    uint8_t buf[512];
    int accepted = 0, rejected = 0;
    for (int i = 0; i < 20000; i++) {
        size_t len;
        if (i % 2 == 0) {
            len = (size_t)nas_rng_below(&rng, sizeof buf) + 1;
            for (size_t j = 0; j < len; j++) buf[j] = (uint8_t)nas_rng_u64(&rng);
        } else {
            uint8_t *seed = NULL;
            len = seed_frame(i / 2, &seed);
            assert_true(len <= sizeof buf);
            memcpy(buf, seed, len);
            free(seed);
            int flips = 1 + (int)nas_rng_below(&rng, 4);
            for (int k = 0; k < flips; k++) buf[nas_rng_below(&rng, len)] ^= (uint8_t)(1u << nas_rng_below(&rng, 8));
            if (nas_rng_below(&rng, 4) == 0) len = (size_t)nas_rng_below(&rng, len) + 1; /* truncate */
        }
        nas_envelope *env = NULL;
        nas_err err = {0};
        int rc = nas_proto_decode(buf, len, &env, &err);
        if (rc == 0) {
            assert_non_null(env);
            assert_int_equal(nas_proto_validate(env, &err), 0);
            accepted++;
        } else {
            assert_null(env);
            assert_true(err.msg[0] != '\0');
            rejected++;
        }
        nas_proto_free(&env);
    }
    /* both paths were exercised */
    assert_true(accepted > 0);
    assert_true(rejected > 10000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello_roundtrip),       cmocka_unit_test(test_wrong_version_and_no_body),
        cmocka_unit_test(test_frame_limits),          cmocka_unit_test(test_result_rules),
        cmocka_unit_test(test_job_heartbeat_ack_rules), cmocka_unit_test(test_check_arch),
        cmocka_unit_test(test_random_frames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
