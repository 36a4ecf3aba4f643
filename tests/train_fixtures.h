/*
 * tests/train_fixtures.h - small architectures shared by the trainer tests
 * (test_train, test_checkpoint, test_latency): 28x28 grey input, 10 classes,
 * a few thousand parameters, so a CPU trains them in seconds under ASan.
 */
#ifndef NAS_TESTS_TRAIN_FIXTURES_H
#define NAS_TESTS_TRAIN_FIXTURES_H

#include "space/arch.h"

/* conv 3x3/2 (w0) -> xx 3x3/2 (w1) -> conv 1x1 (w2) -> pool -> fc. */
static inline nas_arch tiny_arch(int w0, int w1, int w2) {
    nas_arch a = {.resolution = 28, .in_channels = 1, .classes = 10, .bn_eps = 1e-5, .n_stages = 3};
    a.stages[0] = (nas_stage){.kind = NAS_BLOCK_CONV, .depth = 1, .width = w0, .stride = 2,
                              .kernel = 3, .ratio = 1.0, .act = NAS_ACT_RELU};
    a.stages[1] = (nas_stage){.kind = NAS_BLOCK_XX, .depth = 1, .width = w1, .stride = 2,
                              .kernel = 3, .ratio = 1.0, .act = NAS_ACT_RELU};
    a.stages[2] = (nas_stage){.kind = NAS_BLOCK_CONV, .depth = 1, .width = w2, .stride = 1,
                              .kernel = 1, .ratio = 1.0, .act = NAS_ACT_RELU};
    return a;
}

#endif
