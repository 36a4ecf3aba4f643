/*
 * tests/fuzz_proto.c - libFuzzer target over decode + validate (+ the
 * architecture check when the frame carries one). Built with -Dfuzz=true and
 * CC=clang; `meson test --suite fuzz` runs it for a bounded time.
 */
#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nas_envelope *env = NULL;
    nas_err err;
    if (nas_proto_decode(data, size, &env, &err) == 0) {
        nas_arch arch;
        if (env->body_case == NAS__ENVELOPE__BODY_RESULT) nas_proto_check_arch(env->result->arch_json, NULL, &arch, &err);
        if (env->body_case == NAS__ENVELOPE__BODY_JOB) nas_proto_check_arch(env->job->arch_json, NULL, &arch, &err);
        nas_proto_free(&env);
    }
    return 0;
}
