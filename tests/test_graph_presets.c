/*
 * tests/test_graph_presets.c - every shipped preset (genet-light/normal/
 * large, gpunet-0/1/2) builds at its own resolution, runs a training forward,
 * the loss and a backward pass on the CPU with batch 2, and its trainable
 * parameter count equals the cost model's (which reproduces the published
 * figures). One test, since together they take tens of seconds.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/rng.h"
#include "space/cost.h"
#include "trainer/graph.h"

#define BATCH 2

static void check_rc(int rc, const nas_err *err, const char *what)
{
    if (rc != 0)
        fail_msg("%s failed: %s", what, err->msg);
}

static void run_preset(nas_backend *be, const char *name)
{
    nas_err err;
    nas_arch a;
    check_rc(nas_arch_load(name, &a, &err), &err, name);
    nas_cost cost;
    check_rc(nas_cost_compute(&a, 0, &cost, &err), &err, "cost");
    nas_net *net = NULL;
    check_rc(nas_net_new(&a, be, BATCH, 1, &net, &err), &err, name);
    if (nas_net_trainable_count(net) != cost.params)
        fail_msg("%s: the graph trains %lld parameters, the cost model counts %lld", name,
                 (long long)nas_net_trainable_count(net), (long long)cost.params);

    size_t count = (size_t)BATCH * a.in_channels * a.resolution * a.resolution;
    float *images = malloc(count * sizeof(float));
    assert_non_null(images);
    nas_rng rng;
    nas_rng_seed(&rng, 5);
    for (size_t i = 0; i < count; i++)
        images[i] = (float)nas_rng_normal(&rng);
    int32_t labels[BATCH] = {7, a.classes - 1};
    check_rc(nas_net_set_batch(net, images, labels, BATCH, &err), &err, "set_batch");
    check_rc(nas_net_forward(net, BATCH, NAS_MODE_TRAIN, &err), &err, "forward");
    check_rc(nas_net_loss(net, 0.1f, true, &err), &err, "loss");
    check_rc(nas_net_backward(net, &err), &err, "backward");
    nas_loss_stats st;
    check_rc(nas_net_read_stats(net, &st, &err), &err, "stats");
    double loss = st.loss_sum / st.count;
    /* freshly initialised: close to log(classes), certainly finite */
    if (!(isfinite(loss) && loss > 0.5 * log(a.classes) && loss < 3.0 * log(a.classes)))
        fail_msg("%s: implausible initial loss %g (log(classes) = %g)", name, loss,
                 log(a.classes));
    /* the gradient reached the first layer */
    const nas_param *first = nas_net_param(net, 0);
    float *g = malloc(first->count * sizeof(float));
    assert_non_null(g);
    check_rc(be->download(be, first->grad, g, first->count, &err), &err, "download");
    double norm = 0;
    for (size_t i = 0; i < first->count; i++)
        norm += (double)g[i] * g[i];
    if (!(isfinite(norm) && norm > 0))
        fail_msg("%s: gradient of %s has norm %g", name, first->name, norm);
    printf("%-13s res %3d  params %9lld  loss %.3f  |grad %s| %.3g\n", name, a.resolution,
           (long long)cost.params, loss, first->name, sqrt(norm));
    free(g);
    free(images);
    nas_cost_release(&cost);
    nas_net_free(&net);
}

static void test_presets(void **state)
{
    nas_backend *be = *state;
    const char *presets[] = {"genet-light", "genet-normal", "genet-large",
                             "gpunet-0",    "gpunet-1",     "gpunet-2"};
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        run_preset(be, presets[i]);
}

static int setup(void **state)
{
    nas_err err;
    nas_backend *be = NULL;
    if (nas_backend_cpu_new(2, &be, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    *state = be;
    return 0;
}

static int teardown(void **state)
{
    nas_backend *be = *state;
    nas_backend_free(&be);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_presets)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
