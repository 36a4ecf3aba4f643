/*
 * tests/test_optim.c - learning-rate schedule, the SGD reference update and
 * the CPU backend's sgd_step against it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "trainer/backend.h"
#include "trainer/optim.h"

static void test_schedule_warmup_then_cosine(void **state) {
    (void)state;
    nas_lr_schedule s = {.base_lr = 0.4, .min_lr = 0.0, .warmup_steps = 4, .total_steps = 104};
    /* warm-up: 0.1, 0.2, 0.3, 0.4 */
    for (int i = 0; i < 4; i++) assert_float_equal(nas_lr_at(&s, i), 0.1 * (i + 1), 1e-12);
    /* cosine over the 100 steps after warm-up: starts at the peak, half way at
     * (base + min) / 2, a quarter of the way at base * (1 + cos(pi/4)) / 2. */
    assert_float_equal(nas_lr_at(&s, 4), 0.4, 1e-12);
    assert_float_equal(nas_lr_at(&s, 54), 0.2, 1e-12);
    assert_float_equal(nas_lr_at(&s, 29), 0.2 * (1 + cos(M_PI / 4)), 1e-12);
    for (int i = 5; i < 104; i++) assert_true(nas_lr_at(&s, i) < nas_lr_at(&s, i - 1));
    assert_true(nas_lr_at(&s, 103) > 0);
    assert_float_equal(nas_lr_at(&s, 104), 0.0, 0);
    s.min_lr = 0.01;
    s.warmup_steps = 0;
    assert_float_equal(nas_lr_at(&s, 0), 0.4, 1e-12);
    assert_float_equal(nas_lr_at(&s, 52), 0.205, 1e-12);
    assert_float_equal(nas_lr_at(&s, 1000), 0.01, 0);
}

static void test_sgd_reference_by_hand(void **state) {
    (void)state;
    /* Constant gradient 1, lr 0.1, momentum 0.9, no decay.
     * Nesterov: m1 = 1, step = g + 0.9 m1 = 1.9; m2 = 1.9, step = 1 + 1.71 = 2.71.
     * Heavy ball: steps are m1 = 1 then m2 = 1.9. */
    nas_sgd_hparams hp = {.lr = 0.1f, .momentum = 0.9f, .weight_decay = 0.0f, .nesterov = true};
    float w = 1.0f, g = 1.0f, m = 0.0f;
    nas_sgd_update_f32(&w, &g, &m, 1, &hp, true);
    assert_float_equal(w, 1.0 - 0.19, 1e-6);
    nas_sgd_update_f32(&w, &g, &m, 1, &hp, true);
    assert_float_equal(w, 1.0 - 0.19 - 0.271, 1e-6);
    hp.nesterov = false;
    w = 1.0f;
    m = 0.0f;
    nas_sgd_update_f32(&w, &g, &m, 1, &hp, true);
    nas_sgd_update_f32(&w, &g, &m, 1, &hp, true);
    assert_float_equal(w, 1.0 - 0.1 - 0.19, 1e-6);
    /* Weight decay 0.5 adds 0.5 * w to the gradient, only where decay applies. */
    nas_sgd_hparams plain = {.lr = 0.1f, .momentum = 0.0f, .weight_decay = 0.5f};
    float decayed = 2.0f, bias = 2.0f, zero = 0.0f;
    nas_sgd_update_f32(&decayed, &zero, NULL, 1, &plain, true);
    nas_sgd_update_f32(&bias, &zero, NULL, 1, &plain, false);
    assert_float_equal(decayed, 2.0 - 0.1 * 0.5 * 2.0, 1e-6);
    assert_float_equal(bias, 2.0, 0);
}

static void test_sgd_minimises_a_quadratic(void **state) {
    (void)state;
    /* f(x) = sum a_i (x_i - c_i)^2 / 2 with curvatures 1..10: Nesterov SGD with the
     * cosine schedule reaches the minimum from far away. */
    enum { N = 10 };
    float x[N], grad[N], m[N] = {0}, c[N];
    for (int i = 0; i < N; i++) {
        x[i] = 5.0f;
        c[i] = (float)i - 4.5f;
    }
    nas_lr_schedule s = {.base_lr = 0.05, .warmup_steps = 10, .total_steps = 400};
    nas_sgd_hparams hp = {.momentum = 0.9f, .nesterov = true};
    for (int step = 0; step < 400; step++) {
        for (int i = 0; i < N; i++) grad[i] = (float)(i + 1) * (x[i] - c[i]);
        hp.lr = (float)nas_lr_at(&s, step);
        nas_sgd_update_f32(x, grad, m, N, &hp, true);
    }
    for (int i = 0; i < N; i++) assert_float_equal(x[i], c[i], 1e-3);
}

static void test_cpu_backend_sgd_matches_reference(void **state) {
    (void)state;
    nas_err err = {0};
    nas_backend *be = NULL;
    assert_int_equal(nas_backend_cpu_new(1, &be, &err), 0);
    enum { N = 37 };
    float w[N], g[N], m[N] = {0}, wb[N], gb[N], out_w[N], out_m[N];
    for (int i = 0; i < N; i++) {
        w[i] = wb[i] = sinf((float)i);
        g[i] = gb[i] = cosf(0.7f * (float)i);
    }
    nas_buf *bw = NULL, *bg = NULL, *bm = NULL, *cw = NULL, *cg = NULL;
    nas_shape shape = {N, 1, 1, 1};
    assert_int_equal(be->buf_new(be, NAS_BUF_PARAM, shape, &bw, &err), 0);
    assert_int_equal(be->buf_new(be, NAS_BUF_PARAM, shape, &bg, &err), 0);
    assert_int_equal(be->buf_new(be, NAS_BUF_PARAM, shape, &bm, &err), 0);
    assert_int_equal(be->buf_new(be, NAS_BUF_PARAM, shape, &cw, &err), 0);
    assert_int_equal(be->buf_new(be, NAS_BUF_PARAM, shape, &cg, &err), 0);
    assert_int_equal(be->upload(be, bw, w, N, &err), 0);
    assert_int_equal(be->upload(be, bg, g, N, &err), 0);
    assert_int_equal(be->fill(be, bm, 0.0f, N, &err), 0);
    assert_int_equal(be->upload(be, cw, wb, N, &err), 0);
    assert_int_equal(be->upload(be, cg, gb, N, &err), 0);
    nas_sgd_hparams hp = {.lr = 0.05f, .momentum = 0.9f, .weight_decay = 0.01f, .nesterov = true};
    /* two tensors: one with decay and momentum, one (a "bias") without decay or momentum */
    nas_sgd_tensor tensors[2] = {{.param = bw, .grad = bg, .momentum = bm, .count = N, .decay = true},
                                 {.param = cw, .grad = cg, .momentum = NULL, .count = N, .decay = false}};
    nas_sgd_hparams no_momentum = hp;
    no_momentum.momentum = 0.0f;
    for (int step = 0; step < 3; step++) {
        assert_int_equal(be->sgd_step(be, tensors, 1, &hp, NULL, &err), 0);
        assert_int_equal(be->sgd_step(be, tensors + 1, 1, &no_momentum, NULL, &err), 0);
        nas_sgd_update_f32(w, g, m, N, &hp, true);
        nas_sgd_update_f32(wb, gb, NULL, N, &no_momentum, false);
    }
    assert_int_equal(be->download(be, bw, out_w, N, &err), 0);
    assert_int_equal(be->download(be, bm, out_m, N, &err), 0);
    for (int i = 0; i < N; i++) {
        assert_float_equal(out_w[i], w[i], 1e-6);
        assert_float_equal(out_m[i], m[i], 1e-6);
    }
    assert_int_equal(be->download(be, cw, out_w, N, &err), 0);
    for (int i = 0; i < N; i++) assert_float_equal(out_w[i], wb[i], 1e-6);
    be->buf_free(be, &bw);
    be->buf_free(be, &bg);
    be->buf_free(be, &bm);
    be->buf_free(be, &cw);
    be->buf_free(be, &cg);
    nas_backend_free(&be);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedule_warmup_then_cosine),
        cmocka_unit_test(test_sgd_reference_by_hand),
        cmocka_unit_test(test_sgd_minimises_a_quadratic),
        cmocka_unit_test(test_cpu_backend_sgd_matches_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
