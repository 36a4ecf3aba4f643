/*
 * proto/proto.c - decode, validate and pack Envelopes (see proto.h).
 *
 * Validation is one function per body, each checking every field the
 * daemons read. The rules are deliberately strict (printable ids, finite
 * numbers, bounded sizes): a message that fails is dropped whole, counted and
 * logged by the caller, so no partial or odd value ever reaches the scheduler
 * or the store.
 */
#include "proto/proto.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Checks a string field: not NULL, at most max bytes, no control characters
 * (so it is safe to log and to store), and non-empty when required. */
static int check_text(const char *s, size_t max, bool required, const char *what, nas_err *err) {
    if (!s) return nas_err_set(err, NAS_EPROTO, "%s is missing", what);
    size_t n = strnlen(s, max + 1);
    if (n > max) return nas_err_set(err, NAS_ERANGE, "%s is longer than %zu bytes", what, max);
    if (required && n == 0) return nas_err_set(err, NAS_EPROTO, "%s is empty", what);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
            return nas_err_set(err, NAS_EPROTO, "%s holds control character 0x%02x at byte %zu", what, c, i);
        if (c == 0x7f) return nas_err_set(err, NAS_EPROTO, "%s holds a DEL character at byte %zu", what, i);
    }
    return 0;
}

/* Ids (worker id, host, backend, version): printable ASCII without spaces. */
static int check_id(const char *s, bool required, const char *what, nas_err *err) {
    int rc = check_text(s, NAS_PROTO_MAX_ID, required, what, err);
    if (rc) return rc;
    for (const char *p = s; *p; p++)
        if (*p <= ' ' || *p > '~')
            return nas_err_set(err, NAS_EPROTO, "%s must be printable ASCII without spaces", what);
    return 0;
}

static int check_real(double v, double lo, double hi, const char *what, nas_err *err) {
    if (!isfinite(v)) return nas_err_set(err, NAS_ERANGE, "%s is not a finite number", what);
    if (v < lo || v > hi) return nas_err_set(err, NAS_ERANGE, "%s = %g is outside [%g, %g]", what, v, lo, hi);
    return 0;
}

static int check_job_id(int64_t id, bool allow_zero, const char *what, nas_err *err) {
    if (id < 0 || (!allow_zero && id == 0))
        return nas_err_set(err, NAS_ERANGE, "%s = %lld is not a job id", what, (long long)id);
    return 0;
}

static int check_attempt(uint32_t attempt, nas_err *err) {
    if (attempt < 1 || attempt > NAS_PROTO_MAX_ATTEMPT)
        return nas_err_set(err, NAS_ERANGE, "attempt %u is outside [1, %d]", attempt, NAS_PROTO_MAX_ATTEMPT);
    return 0;
}

static int validate_hello(const Nas__Hello *m, nas_err *err) {
    int rc;
    if ((rc = check_id(m->worker_id, true, "hello.worker_id", err)) ||
        (rc = check_id(m->host, false, "hello.host", err)) ||
        (rc = check_text(m->device_name, NAS_PROTO_MAX_TEXT, false, "hello.device_name", err)) ||
        (rc = check_id(m->backend, true, "hello.backend", err)) ||
        (rc = check_id(m->version, false, "hello.version", err)) ||
        (rc = check_job_id(m->running_job, true, "hello.running_job", err)))
        return rc;
    return 0;
}

static int validate_welcome(const Nas__Welcome *m, nas_err *err) {
    int rc;
    if ((rc = check_text(m->experiment, NAS_PROTO_MAX_TEXT, true, "welcome.experiment", err)) ||
        (rc = check_real(m->heartbeat_seconds, 0.01, 3600, "welcome.heartbeat_seconds", err)) ||
        (rc = check_real(m->lease_seconds, 0.05, 86400, "welcome.lease_seconds", err)))
        return rc;
    return 0;
}

static int validate_reject(const Nas__Reject *m, nas_err *err) {
    if (m->code < NAS__REJECT_CODE__REJECT_UNSPECIFIED || m->code > NAS__REJECT_CODE__REJECT_BAD_MESSAGE)
        return nas_err_set(err, NAS_EPROTO, "reject.code %d is unknown", (int)m->code);
    return check_text(m->reason, NAS_PROTO_MAX_TEXT, false, "reject.reason", err);
}

static int validate_ready(const Nas__Ready *m, nas_err *err) {
    if (m->slots > NAS_PROTO_MAX_SLOTS)
        return nas_err_set(err, NAS_ERANGE, "ready.slots = %u is more than %d", m->slots, NAS_PROTO_MAX_SLOTS);
    return 0;
}

static int validate_job(const Nas__Job *m, nas_err *err) {
    int rc;
    if (m->kind != NAS__JOB_KIND__JOB_MEASURE && m->kind != NAS__JOB_KIND__JOB_TRAIN)
        return nas_err_set(err, NAS_EPROTO, "job.kind %d is unknown", (int)m->kind);
    if ((rc = check_job_id(m->job_id, false, "job.job_id", err)) || (rc = check_attempt(m->attempt, err)) ||
        (rc = check_text(m->arch_json, NAS_PROTO_MAX_JSON, true, "job.arch_json", err)) ||
        (rc = check_text(m->recipe_json, NAS_PROTO_MAX_JSON, false, "job.recipe_json", err)) ||
        (rc = check_text(m->evaluator_options_json, NAS_PROTO_MAX_JSON, false, "job.evaluator_options_json",
                         err)) ||
        (rc = check_real(m->deadline_seconds, 0, 30 * 86400.0, "job.deadline_seconds", err)))
        return rc;
    return 0;
}

static int validate_heartbeat(const Nas__Heartbeat *m, nas_err *err) {
    int rc;
    if ((rc = check_job_id(m->job_id, true, "heartbeat.job_id", err)) ||
        (rc = check_real(m->progress, 0, 1, "heartbeat.progress", err)) ||
        (rc = check_real(m->loss, 0, 1e9, "heartbeat.loss", err)))
        return rc;
    return 0;
}

static int validate_latency(const Nas__Latency *l, size_t i, nas_err *err) {
    char what[64];
    if (!l) return nas_err_set(err, NAS_EPROTO, "result.latency[%zu] is missing", i);
    if (l->batch < 1 || l->batch > NAS_PROTO_MAX_BATCH)
        return nas_err_set(err, NAS_ERANGE, "result.latency[%zu].batch = %u is outside [1, %d]", i, l->batch,
                           NAS_PROTO_MAX_BATCH);
    if (!l->precision || (strcmp(l->precision, "fp32") != 0 && strcmp(l->precision, "fp16") != 0 &&
                          strcmp(l->precision, "bf16") != 0))
        return nas_err_set(err, NAS_EPROTO, "result.latency[%zu].precision must be fp32, fp16 or bf16", i);
    int rc;
    snprintf(what, sizeof what, "result.latency[%zu].mean_ms", i);
    if ((rc = check_real(l->mean_ms, 0, 1e7, what, err))) return rc;
    snprintf(what, sizeof what, "result.latency[%zu].p50_ms", i);
    if ((rc = check_real(l->p50_ms, 0, 1e7, what, err))) return rc;
    snprintf(what, sizeof what, "result.latency[%zu].p90_ms", i);
    return check_real(l->p90_ms, 0, 1e7, what, err);
}

static int validate_result(const Nas__Result *m, nas_err *err) {
    int rc;
    if ((rc = check_job_id(m->job_id, false, "result.job_id", err)) || (rc = check_attempt(m->attempt, err)) ||
        (rc = check_text(m->arch_json, NAS_PROTO_MAX_JSON, true, "result.arch_json", err)) ||
        (rc = check_text(m->device, NAS_PROTO_MAX_TEXT, true, "result.device", err)) ||
        (rc = check_text(m->checkpoint, NAS_PROTO_MAX_TEXT, false, "result.checkpoint", err)) ||
        (rc = check_real(m->train_seconds, 0, 1e8, "result.train_seconds", err)))
        return rc;
    if (m->has_accuracy) {
        if ((rc = check_real(m->top1, 0, 1, "result.top1", err)) ||
            (rc = check_real(m->top5, 0, 1, "result.top5", err)) ||
            (rc = check_real(m->loss, 0, 1e9, "result.loss", err)))
            return rc;
        if (m->top5 + 1e-12 < m->top1)
            return nas_err_set(err, NAS_ERANGE, "result.top5 (%g) is below top1 (%g)", m->top5, m->top1);
    }
    if (m->params < 0 || m->macs < 0) return nas_err_set(err, NAS_ERANGE, "result.params/macs are negative");
    if (m->ready_slots > NAS_PROTO_MAX_SLOTS)
        return nas_err_set(err, NAS_ERANGE, "result.ready_slots = %u is more than %d", m->ready_slots,
                           NAS_PROTO_MAX_SLOTS);
    if (m->n_latency > NAS_PROTO_MAX_LATENCIES)
        return nas_err_set(err, NAS_ERANGE, "result has %zu latencies, at most %d allowed", m->n_latency,
                           NAS_PROTO_MAX_LATENCIES);
    for (size_t i = 0; i < m->n_latency; i++)
        if ((rc = validate_latency(m->latency[i], i, err))) return rc;
    return 0;
}

static int validate_failure(const Nas__Failure *m, nas_err *err) {
    int rc;
    if ((rc = check_job_id(m->job_id, false, "failure.job_id", err)) || (rc = check_attempt(m->attempt, err)) ||
        (rc = check_text(m->reason, NAS_PROTO_MAX_TEXT, true, "failure.reason", err)))
        return rc;
    return 0;
}

static int validate_ack(const Nas__Ack *m, nas_err *err) {
    if (m->kind != NAS__ACK_KIND__ACK_RESULT && m->kind != NAS__ACK_KIND__ACK_FAILURE &&
        m->kind != NAS__ACK_KIND__ACK_HEARTBEAT)
        return nas_err_set(err, NAS_EPROTO, "ack.kind %d is unknown", (int)m->kind);
    return check_job_id(m->job_id, true, "ack.job_id", err);
}

static int validate_shutdown(const Nas__Shutdown *m, nas_err *err) {
    return check_text(m->reason, NAS_PROTO_MAX_TEXT, false, "shutdown.reason", err);
}

int nas_proto_validate(const nas_envelope *env, nas_err *err) {
    if (env->protocol_version != NAS_PROTO_VERSION)
        return nas_err_set(err, NAS_EPROTO, "protocol version %u, this build speaks %u", env->protocol_version,
                           NAS_PROTO_VERSION);
#define BODY(field, fn)                                                                                      \
    if (!env->field) return nas_err_set(err, NAS_EPROTO, "envelope body " #field " is missing");            \
    return fn(env->field, err)
    switch (env->body_case) {
    case NAS__ENVELOPE__BODY_HELLO: BODY(hello, validate_hello);
    case NAS__ENVELOPE__BODY_WELCOME: BODY(welcome, validate_welcome);
    case NAS__ENVELOPE__BODY_REJECT: BODY(reject, validate_reject);
    case NAS__ENVELOPE__BODY_READY: BODY(ready, validate_ready);
    case NAS__ENVELOPE__BODY_JOB: BODY(job, validate_job);
    case NAS__ENVELOPE__BODY_HEARTBEAT: BODY(heartbeat, validate_heartbeat);
    case NAS__ENVELOPE__BODY_RESULT: BODY(result, validate_result);
    case NAS__ENVELOPE__BODY_FAILURE: BODY(failure, validate_failure);
    case NAS__ENVELOPE__BODY_ACK: BODY(ack, validate_ack);
    case NAS__ENVELOPE__BODY_SHUTDOWN: BODY(shutdown, validate_shutdown);
    default: return nas_err_set(err, NAS_EPROTO, "envelope has no known body (case %d)", (int)env->body_case);
    }
#undef BODY
}

int nas_proto_decode(const void *data, size_t len, nas_envelope **out, nas_err *err) {
    *out = NULL;
    if (len > NAS_PROTO_MAX_FRAME)
        return nas_err_set(err, NAS_ERANGE, "frame of %zu bytes is larger than the %u byte limit", len,
                           NAS_PROTO_MAX_FRAME);
    if (len == 0) return nas_err_set(err, NAS_EPARSE, "empty frame");
    nas_envelope *env = nas__envelope__unpack(NULL, len, data);
    if (!env) return nas_err_set(err, NAS_EPARSE, "frame of %zu bytes is not a protobuf Envelope", len);
    int rc = nas_proto_validate(env, err);
    if (rc) {
        nas__envelope__free_unpacked(env, NULL);
        return rc;
    }
    *out = env;
    return 0;
}

void nas_proto_free(nas_envelope **env) {
    if (!env || !*env) return;
    nas__envelope__free_unpacked(*env, NULL);
    *env = NULL;
}

int nas_proto_pack(nas_envelope *env, uint8_t **out, size_t *len, nas_err *err) {
    *out = NULL;
    *len = 0;
    env->protocol_version = NAS_PROTO_VERSION;
    size_t n = nas__envelope__get_packed_size(env);
    if (n > NAS_PROTO_MAX_FRAME)
        return nas_err_set(err, NAS_ERANGE, "message of %zu bytes is larger than the %u byte frame limit", n,
                           NAS_PROTO_MAX_FRAME);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) return nas_err_set(err, NAS_ENOMEM, "out of memory packing a %zu byte message", n);
    size_t written = nas__envelope__pack(env, buf);
    if (written != n) {
        free(buf);
        return nas_err_set(err, NAS_EPROTO, "packing wrote %zu of %zu bytes", written, n);
    }
    *out = buf;
    *len = n;
    return 0;
}

const char *nas_proto_body_name(const nas_envelope *env) {
    switch (env ? env->body_case : NAS__ENVELOPE__BODY__NOT_SET) {
    case NAS__ENVELOPE__BODY_HELLO: return "hello";
    case NAS__ENVELOPE__BODY_WELCOME: return "welcome";
    case NAS__ENVELOPE__BODY_REJECT: return "reject";
    case NAS__ENVELOPE__BODY_READY: return "ready";
    case NAS__ENVELOPE__BODY_JOB: return "job";
    case NAS__ENVELOPE__BODY_HEARTBEAT: return "heartbeat";
    case NAS__ENVELOPE__BODY_RESULT: return "result";
    case NAS__ENVELOPE__BODY_FAILURE: return "failure";
    case NAS__ENVELOPE__BODY_ACK: return "ack";
    case NAS__ENVELOPE__BODY_SHUTDOWN: return "shutdown";
    default: return "none";
    }
}

int nas_proto_check_arch(const char *json, const nas_space *space, nas_arch *out, nas_err *err) {
    if (!json || !*json) return nas_err_set(err, NAS_EPROTO, "architecture JSON is empty");
    int rc = nas_arch_from_json(json, out, err);
    if (rc) {
        nas_err_prefix(err, "invalid architecture");
        return rc;
    }
    if (space && (rc = nas_space_contains(space, out, err))) {
        nas_err_prefix(err, "architecture outside the space '%s'", nas_space_name(space));
        return rc;
    }
    return 0;
}
