/*
 * tests/test_cuda_host.c - the CUDA backend's host-side logic, which runs
 * without a GPU: status-code mapping and messages, the conv algorithm cache,
 * the dynamic loss-scale state machine, fp16/bf16 conversions and the
 * NCHW/NHWC index math.
 */
#include <math.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <cublas_api.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include "trainer/cuda/algo_cache.h"
#include "trainer/cuda/half.h"
#include "trainer/cuda/layout.h"
#include "trainer/cuda/loss_scale.h"
#include "trainer/cuda/status.h"

/* ---- status ---- */

static int call_that_fails(nas_err *err) {
    NAS_CUDA_TRY(cudaErrorMemoryAllocation, err);
    return 0;
}

static int call_that_succeeds(nas_err *err) {
    NAS_CUBLAS_TRY(CUBLAS_STATUS_SUCCESS, err);
    return 7;
}

static void test_status_mapping(void **state) {
    (void)state;
    assert_int_equal(nas_cu_status_code(NAS_CU_LIB_CUDA, cudaSuccess), NAS_OK);
    assert_int_equal(nas_cu_status_code(NAS_CU_LIB_CUDA, cudaErrorMemoryAllocation), NAS_EOOM_DEVICE);
    assert_int_equal(nas_cu_status_code(NAS_CU_LIB_CUDA, cudaErrorLaunchFailure), NAS_EDEVICE);
    assert_int_equal(nas_cu_status_code(NAS_CU_LIB_CUDA, cudaErrorNoDevice), NAS_EUNSUPPORTED);
    assert_int_equal(nas_cu_status_code(NAS_CU_LIB_CUDNN, CUDNN_STATUS_SUCCESS), NAS_OK);
    assert_int_equal(nas_cu_status_code(NAS_CU_LIB_CUDNN,
                                        CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED),
                     NAS_EOOM_DEVICE);
    assert_int_equal(nas_cu_status_code(NAS_CU_LIB_CUDNN, CUDNN_STATUS_BAD_PARAM), NAS_EDEVICE);
    assert_int_equal(nas_cu_status_code(NAS_CU_LIB_CUBLAS, CUBLAS_STATUS_ALLOC_FAILED),
                     NAS_EOOM_DEVICE);
    assert_int_equal(nas_cu_status_code(NAS_CU_LIB_CUBLAS, CUBLAS_STATUS_EXECUTION_FAILED),
                     NAS_EDEVICE);
}

static void test_status_message_names_call(void **state) {
    (void)state;
    nas_err err;
    nas_err_clear(&err);
    assert_int_equal(call_that_fails(&err), NAS_EOOM_DEVICE);
    assert_int_equal(err.code, NAS_EOOM_DEVICE);
    assert_non_null(strstr(err.msg, "cudaErrorMemoryAllocation failed at"));
    assert_non_null(strstr(err.msg, "test_cuda_host.c"));
    assert_non_null(strstr(err.msg, "out of GPU memory"));
    nas_err_clear(&err);
    assert_int_equal(call_that_succeeds(&err), 7);
    assert_int_equal(err.code, NAS_OK);
}

static void test_format_bytes(void **state) {
    (void)state;
    char buf[32];
    nas_cu_format_bytes(512, buf, sizeof buf);
    assert_string_equal(buf, "512 B");
    nas_cu_format_bytes((size_t)3 << 29, buf, sizeof buf);
    assert_string_equal(buf, "1.50 GiB");
    nas_cu_format_bytes((size_t)12 << 20, buf, sizeof buf);
    assert_string_equal(buf, "12.0 MiB");
}

/* ---- conv algorithm cache ---- */

static nas_conv_key key_for(int i) {
    return (nas_conv_key){.batch = 1 + i % 7, .c_in = 16 + i, .height = 32, .width = 32,
                          .c_out = 32, .kernel_h = 3, .kernel_w = 3, .stride = 1 + i % 2,
                          .pad = 1, .groups = 1, .dtype = 2, .dir = (nas_conv_dir)(i % 3)};
}

static void test_algo_cache_put_get_grow(void **state) {
    (void)state;
    nas_conv_algo_cache *cache = nas_conv_algo_cache_new();
    assert_non_null(cache);
    nas_err err;
    nas_conv_key k0 = key_for(0);
    nas_conv_algo got;
    assert_false(nas_conv_algo_cache_get(cache, &k0, &got));
    /* Enough entries to force several rehashes past the initial 64 slots. */
    for (int i = 0; i < 500; i++) {
        nas_conv_key k = key_for(i);
        nas_conv_algo a = {.algo = i % 8, .workspace_bytes = (size_t)i * 1000, .time_ms = 0.5f};
        assert_int_equal(nas_conv_algo_cache_put(cache, &k, &a, &err), 0);
    }
    assert_int_equal(nas_conv_algo_cache_count(cache), 500);
    for (int i = 0; i < 500; i++) {
        nas_conv_key k = key_for(i);
        assert_true(nas_conv_algo_cache_get(cache, &k, &got));
        assert_int_equal(got.algo, i % 8);
        assert_int_equal(got.workspace_bytes, (size_t)i * 1000);
    }
    assert_int_equal(nas_conv_algo_cache_max_workspace(cache), 499000);
    /* A key differing in one field only (direction) is a different entry. */
    nas_conv_key other = key_for(3);
    other.groups = 2;
    assert_false(nas_conv_algo_cache_get(cache, &other, &got));
    /* Replacing keeps the count. */
    nas_conv_algo replacement = {.algo = 42, .workspace_bytes = 1};
    assert_int_equal(nas_conv_algo_cache_put(cache, &k0, &replacement, &err), 0);
    assert_int_equal(nas_conv_algo_cache_count(cache), 500);
    assert_true(nas_conv_algo_cache_get(cache, &k0, &got));
    assert_int_equal(got.algo, 42);
    nas_conv_algo_cache_free(&cache);
    assert_null(cache);
    nas_conv_algo_cache_free(&cache); /* NULL-safe */
}

/* ---- loss scaler ---- */

static void test_loss_scaler_policy(void **state) {
    (void)state;
    nas_loss_scaler s;
    nas_loss_scaler_init(&s, true);
    assert_true(s.scale == 65536.0f);
    /* An overflow skips the step and halves the scale. */
    assert_false(nas_loss_scaler_update(&s, true));
    assert_true(s.scale == 32768.0f);
    assert_int_equal(s.skipped_steps, 1);
    /* growth_interval clean steps double it, and the count restarts. */
    s.growth_interval = 3;
    assert_true(nas_loss_scaler_update(&s, false));
    assert_true(nas_loss_scaler_update(&s, false));
    assert_true(s.scale == 32768.0f);
    assert_true(nas_loss_scaler_update(&s, false));
    assert_true(s.scale == 65536.0f);
    /* An overflow in the middle of a clean run resets the run. */
    assert_true(nas_loss_scaler_update(&s, false));
    assert_false(nas_loss_scaler_update(&s, true));
    assert_true(s.scale == 32768.0f);
    assert_int_equal(s.clean_steps, 0);
    /* Bounded below by min_scale and above by max_scale. */
    for (int i = 0; i < 40; i++) nas_loss_scaler_update(&s, true);
    assert_true(s.scale == s.min_scale);
    s.growth_interval = 1;
    for (int i = 0; i < 40; i++) nas_loss_scaler_update(&s, false);
    assert_true(s.scale == s.max_scale);
    assert_true(fabsf(nas_loss_scaler_inverse(&s) * s.scale - 1.0f) < 1e-7f);
}

static void test_loss_scaler_disabled(void **state) {
    (void)state;
    nas_loss_scaler s;
    nas_loss_scaler_init(&s, false);
    assert_true(s.scale == 1.0f);
    assert_true(nas_loss_scaler_update(&s, true)); /* bf16/fp32: never skips */
    assert_true(s.scale == 1.0f);
    assert_int_equal(s.skipped_steps, 0);
}

/* ---- half / bfloat16 ---- */

static void test_f16_known_values(void **state) {
    (void)state;
    assert_int_equal(nas_f32_to_f16(1.0f), 0x3c00);
    assert_int_equal(nas_f32_to_f16(-2.0f), 0xc000);
    assert_int_equal(nas_f32_to_f16(65504.0f), 0x7bff);     /* largest finite */
    assert_int_equal(nas_f32_to_f16(65520.0f), 0x7c00);     /* rounds up to inf */
    assert_int_equal(nas_f32_to_f16(1e6f), 0x7c00);
    assert_int_equal(nas_f32_to_f16(5.9604645e-8f), 0x0001); /* smallest subnormal 2^-24 */
    assert_int_equal(nas_f32_to_f16(2.9802322e-8f), 0x0000); /* 2^-25: tie goes to even (0) */
    assert_int_equal(nas_f32_to_f16(6.1035156e-5f), 0x0400); /* smallest normal 2^-14 */
    /* 1 + 2^-11 is exactly halfway between 1 and the next fp16: ties to even. */
    assert_int_equal(nas_f32_to_f16(1.0f + 0.00048828125f), 0x3c00);
    assert_int_equal(nas_f32_to_f16(1.0f + 3 * 0.00048828125f), 0x3c02);
    assert_true(isnan(nas_f16_to_f32(nas_f32_to_f16(NAN))));
    assert_true(isinf(nas_f16_to_f32(0x7c00)));
    assert_true(nas_f16_to_f32(0x0001) == 5.9604645e-8f);
    assert_true(nas_f16_to_f32(0x3555) == 0.33325195f);
    assert_true(nas_f16_to_f32(0x8000) == 0.0f && signbit(nas_f16_to_f32(0x8000)));
}

static void test_f16_round_trip_all_finite(void **state) {
    (void)state;
    /* Every finite fp16 value survives f16 -> f32 -> f16 exactly. */
    for (uint32_t h = 0; h < 0x10000u; h++) {
        if ((h & 0x7c00u) == 0x7c00u) continue;
        float f = nas_f16_to_f32((uint16_t)h);
        assert_int_equal(nas_f32_to_f16(f), h);
    }
}

static void test_bf16(void **state) {
    (void)state;
    assert_int_equal(nas_f32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(nas_f32_to_bf16(-1.0f), 0xbf80);
    /* 1 + 2^-8 is halfway between bf16 1.0 and 1.0078125: ties to even. */
    assert_int_equal(nas_f32_to_bf16(1.00390625f), 0x3f80);
    assert_int_equal(nas_f32_to_bf16(1.01171875f), 0x3f82);
    assert_true(nas_bf16_to_f32(0x4049) == 3.140625f);
    assert_true(isnan(nas_bf16_to_f32(nas_f32_to_bf16(NAN))));
    assert_true(isinf(nas_bf16_to_f32(nas_f32_to_bf16(INFINITY))));
    float in[3] = {0.1f, -7.5f, 1e30f}, mid[3];
    uint16_t bits[3];
    nas_f32_to_bf16_array(in, bits, 3);
    nas_bf16_to_f32_array(bits, mid, 3);
    for (int i = 0; i < 3; i++) assert_true(fabsf(mid[i] - in[i]) <= fabsf(in[i]) / 256.0f);
}

/* ---- layout ---- */

static void test_layout_round_trip(void **state) {
    (void)state;
    enum { N = 2, C = 3, H = 4, W = 5, COUNT = N * C * H * W };
    float nchw[COUNT], nhwc[COUNT], back[COUNT];
    for (int i = 0; i < COUNT; i++) nchw[i] = (float)i;
    nas_nchw_to_nhwc(nchw, nhwc, N, C, H, W);
    /* Channel is the fastest index in NHWC. */
    assert_true(nhwc[0] == nchw[nas_nchw_offset(0, 0, 0, 0, C, H, W)]);
    assert_true(nhwc[1] == nchw[nas_nchw_offset(0, 1, 0, 0, C, H, W)]);
    assert_true(nhwc[C] == nchw[nas_nchw_offset(0, 0, 0, 1, C, H, W)]);
    assert_true(nhwc[nas_nhwc_offset(1, 2, 3, 4, C, H, W)] == nchw[COUNT - 1]);
    assert_int_equal(nas_nhwc_offset(1, 2, 3, 4, C, H, W), COUNT - 1);
    nas_nhwc_to_nchw(nhwc, back, N, C, H, W);
    assert_memory_equal(back, nchw, sizeof nchw);
}

/* The kernels' index helpers against the plain offset functions. */
static void test_kernel_index_helpers(void **state) {
    (void)state;
    enum { N = 2, C = 3, H = 4, W = 5, HW = H * W, COUNT = N * C * HW };
    bool seen[COUNT] = {false};
    for (size_t n = 0; n < N; n++)
        for (size_t c = 0; c < C; c++)
            for (size_t h = 0; h < H; h++)
                for (size_t w = 0; w < W; w++) {
                    size_t nhwc = nas_nhwc_offset(n, c, h, w, C, H, W);
                    size_t nchw = nas_nchw_offset(n, c, h, w, C, H, W);
                    assert_int_equal(nas_nhwc_index_to_nchw(nhwc, C, HW), nchw);
                    assert_int_equal(nas_nchw_index_to_nhwc(nchw, C, HW), nhwc);
                    assert_int_equal(nas_nhwc_index_to_nc(nhwc, C, HW), n * C + c);
                    assert_false(seen[nhwc]); /* a permutation */
                    seen[nhwc] = true;
                }
}

static void test_reduce_chunks(void **state) {
    (void)state;
    /* Shapes from a 28x28 batch of 2 up to genet-normal's stem at batch 256. */
    const int shapes[][3] = {{1, 2 * 28 * 28, 13}, {1, 256 * 96 * 96, 32}, {1, 256 * 6 * 6, 2560},
                             {256, 36, 640},        {64, 1, 1000},          {1, 1, 16384},
                             {1, 7, 3}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        int groups = shapes[k][0], rows = shapes[k][1], c = shapes[k][2];
        int chunks = nas_reduce_chunks(groups, rows, c, 1024);
        assert_true(chunks >= 1 && chunks <= 65535);
        int rows_per_chunk = (rows + chunks - 1) / chunks;
        /* Every row lands in exactly one chunk, no chunk is empty. */
        assert_true((long)chunks * rows_per_chunk >= rows);
        assert_true((long)(chunks - 1) * rows_per_chunk < rows);
        /* Never more than one chunk per 8 rows (one per thread row). */
        assert_true(chunks <= (rows + 7) / 8 || chunks == 1);
    }
    /* A big tensor gets enough blocks to fill a GPU. */
    int chunks = nas_reduce_chunks(1, 256 * 96 * 96, 32, 1024);
    assert_int_equal(chunks, 1024);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_mapping),
        cmocka_unit_test(test_status_message_names_call),
        cmocka_unit_test(test_format_bytes),
        cmocka_unit_test(test_algo_cache_put_get_grow),
        cmocka_unit_test(test_loss_scaler_policy),
        cmocka_unit_test(test_loss_scaler_disabled),
        cmocka_unit_test(test_f16_known_values),
        cmocka_unit_test(test_f16_round_trip_all_finite),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_layout_round_trip),
        cmocka_unit_test(test_kernel_index_helpers),
        cmocka_unit_test(test_reduce_chunks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
