/*
 * tests/fuzz_config.c - libFuzzer target over the config readers: the input is
 * parsed as YAML and read as a model preset and as a search space, and (as
 * NUL-terminated text) as an architecture JSON. Anything accepted must also
 * survive the cost model and a JSON round trip. Built with -Dfuzz=true and
 * CC=clang; `meson test --suite fuzz` runs it for a bounded time.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cfg.h"
#include "space/arch.h"
#include "space/cost.h"
#include "space/space.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(const nas_arch *a) {
    nas_cost cost;
    nas_err err;
    if (nas_cost_compute(a, 0, &cost, &err) == 0) nas_cost_release(&cost);
    char *json = nas_arch_to_json(a);
    nas_arch back;
    if (json && nas_arch_from_json(json, &back, &err) != 0) abort(); /* accepted once, accepted again */
    free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nas_err err;
    nas_cfg *cfg = NULL;
    if (nas_cfg_load_string((const char *)data, size, "fuzz.yaml", &cfg, &err) == 0) {
        nas_arch a;
        if (nas_arch_from_cfg(cfg, cfg->root, &a, &err) == 0) exercise(&a);
        nas_space *sp = NULL;
        if (nas_space_from_cfg(cfg, cfg->root, "fuzz", &sp, &err) == 0) {
            double x[NAS_SPACE_MAX_DIMS];
            for (int d = 0; d < nas_space_dims(sp); d++) x[d] = (double)d / (nas_space_dims(sp) + 1);
            nas_space_decode(sp, x, &a);
            if (nas_space_encode(sp, &a, x, &err) != 0) abort(); /* decoded points are contained */
            nas_space_free(&sp);
        }
        nas_cfg_free(&cfg);
    }
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    nas_arch a;
    if (nas_arch_from_json(text, &a, &err) == 0) exercise(&a);
    free(text);
    return 0;
}
