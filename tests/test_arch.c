/*
 * tests/test_arch.c - the architecture IR: names, width rules, validation
 * messages, canonical form, canonical JSON (round trip, key order, format
 * stability), hash identity and the preset loader.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "common/rng.h"
#include "space/arch.h"

static const char *const presets[] = {"genet-light", "genet-normal", "genet-large",
                                      "gpunet-0",    "gpunet-1",     "gpunet-2"};
#define N_PRESETS (sizeof presets / sizeof presets[0])

static nas_arch load_preset(const char *name) {
    nas_arch a;
    nas_err err;
    int rc = nas_arch_load(name, &a, &err);
    if (rc) fprintf(stderr, "%s: %s\n", name, err.msg);
    assert_int_equal(rc, 0);
    return a;
}

/* A small valid architecture built in code (not from a file). */
static nas_arch tiny_arch(void) {
    nas_arch a = {.resolution = 32, .in_channels = 3, .classes = 10, .bn_eps = 1e-5,
                  .dropout = 0.0, .n_stages = 3};
    a.stages[0] = (nas_stage){NAS_BLOCK_CONV, 1, 16, 2, 3, 1.0, NAS_ACT_RELU, false, NAS_PAD_SAME};
    a.stages[1] = (nas_stage){NAS_BLOCK_IRB, 2, 24, 2, 5, 4.0, NAS_ACT_SWISH, true, NAS_PAD_SAME};
    a.stages[2] = (nas_stage){NAS_BLOCK_CONV, 1, 64, 1, 1, 1.0, NAS_ACT_RELU, false, NAS_PAD_SAME};
    return a;
}

static void test_names_round_trip(void **state) {
    (void)state;
    for (int k = 0; k < NAS_BLOCK_COUNT; k++)
        assert_int_equal(nas_block_kind_parse(nas_block_kind_name((nas_block_kind)k)), k);
    for (int k = 0; k < NAS_ACT_COUNT; k++) assert_int_equal(nas_act_parse(nas_act_name((nas_act)k)), k);
    for (int k = 0; k < NAS_PAD_COUNT; k++) assert_int_equal(nas_pad_parse(nas_pad_name((nas_pad)k)), k);
    assert_string_equal(nas_block_kind_name(NAS_BLOCK_FUSED_IRB), "fused_irb");
    assert_int_equal(nas_block_kind_parse("resnet"), -1);
    assert_int_equal(nas_block_kind_parse("IRB"), -1); /* names are case-sensitive */
    assert_int_equal(nas_act_parse("silu"), -1);
    assert_int_equal(nas_pad_parse(NULL), -1);
}

static void test_make_divisible(void **state) {
    (void)state;
    /* timm: max(8, int(v + 4) // 8 * 8), +8 if below 0.9 v. */
    assert_int_equal(nas_make_divisible(160.0, 8), 160);
    assert_int_equal(nas_make_divisible(100.0, 8), 104); /* int(104)//8*8 */
    assert_int_equal(nas_make_divisible(99.0, 8), 96);   /* int(103)//8*8 = 96 >= 89.1 */
    assert_int_equal(nas_make_divisible(27.0, 8), 32);   /* 24 < 24.3 -> +8 */
    assert_int_equal(nas_make_divisible(10.0, 8), 16);   /* 8 < 9 -> +8 */
    assert_int_equal(nas_make_divisible(3.0, 8), 8);     /* floor at the divisor */
    assert_int_equal(nas_make_divisible(48.0, 16), 48);
}

static void test_mid_and_se_widths(void **state) {
    (void)state;
    nas_stage bl = {NAS_BLOCK_BL, 7, 384, 2, 3, 0.25, NAS_ACT_RELU, false, NAS_PAD_SAME};
    assert_int_equal(nas_stage_mid_width(&bl, 48), 96); /* relative to the OUTPUT width */
    bl.width = 10; /* 2.5: Python rounds half to even */
    assert_int_equal(nas_stage_mid_width(&bl, 48), 2);
    bl.width = 14; /* 3.5 -> 4 */
    assert_int_equal(nas_stage_mid_width(&bl, 48), 4);
    nas_stage dw = {NAS_BLOCK_DW, 2, 560, 2, 3, 3.0, NAS_ACT_RELU, false, NAS_PAD_SAME};
    assert_int_equal(nas_stage_mid_width(&dw, 384), 1680);
    nas_stage irb = {NAS_BLOCK_IRB, 2, 704, 2, 3, 5.0, NAS_ACT_RELU, true, NAS_PAD_SAME};
    assert_int_equal(nas_stage_mid_width(&irb, 256), 1280); /* relative to the INPUT width */
    assert_int_equal(nas_stage_mid_width(&irb, 704), 3520);
    assert_int_equal(nas_stage_se_width(&irb, 1280), 64);
    assert_int_equal(nas_stage_se_width(&irb, 3520), 176);
    irb.se = false;
    assert_int_equal(nas_stage_se_width(&irb, 1280), 0);
}

static void test_padding_and_shortcuts(void **state) {
    (void)state;
    nas_stage fused = {NAS_BLOCK_FUSED_IRB, 2, 32, 2, 3, 5.0, NAS_ACT_RELU, false, NAS_PAD_TIMM};
    assert_int_equal(nas_stage_padding(&fused, 2), 0);
    assert_int_equal(nas_stage_padding(&fused, 1), 1);
    assert_int_equal(nas_conv_out_size(160, 3, 2, 0), 79);
    fused.pad = NAS_PAD_SAME;
    fused.kernel = 5;
    assert_int_equal(nas_stage_padding(&fused, 2), 2);
    assert_int_equal(nas_conv_out_size(160, 5, 2, 2), 80);
    assert_int_equal(nas_conv_out_size(2, 3, 2, 0), 0);

    nas_stage xx = {NAS_BLOCK_XX, 1, 48, 2, 3, 1.0, NAS_ACT_RELU, false, NAS_PAD_SAME};
    assert_int_equal(nas_layer_shortcut(&xx, 48, 1), NAS_SHORTCUT_IDENTITY);
    assert_int_equal(nas_layer_shortcut(&xx, 13, 1), NAS_SHORTCUT_PROJECTION);
    assert_int_equal(nas_layer_shortcut(&xx, 48, 2), NAS_SHORTCUT_PROJECTION);
    nas_stage irb = {NAS_BLOCK_IRB, 1, 48, 1, 3, 4.0, NAS_ACT_RELU, false, NAS_PAD_SAME};
    assert_int_equal(nas_layer_shortcut(&irb, 48, 1), NAS_SHORTCUT_IDENTITY);
    assert_int_equal(nas_layer_shortcut(&irb, 32, 1), NAS_SHORTCUT_NONE);
    nas_stage conv = {NAS_BLOCK_CONV, 2, 32, 1, 3, 1.0, NAS_ACT_RELU, false, NAS_PAD_SAME};
    assert_int_equal(nas_layer_shortcut(&conv, 32, 1), NAS_SHORTCUT_NONE); /* GPUNet: no skip */
}

typedef struct bad_case {
    const char *why;
    void (*mutate)(nas_arch *a);
    const char *expect; /* fragment of the error message */
} bad_case;

static void m_even_kernel(nas_arch *a) { a->stages[1].kernel = 4; }
static void m_stride3(nas_arch *a) { a->stages[1].stride = 3; }
static void m_width0(nas_arch *a) { a->stages[2].width = 0; }
static void m_depth_big(nas_arch *a) { a->stages[1].depth = NAS_ARCH_MAX_DEPTH + 1; }
static void m_se_on_conv(nas_arch *a) { a->stages[0].se = true; }
static void m_timm_on_irb(nas_arch *a) { a->stages[1].pad = NAS_PAD_TIMM; }
static void m_conv_ratio(nas_arch *a) { a->stages[2].ratio = 2.0; }
static void m_ratio_zero(nas_arch *a) { a->stages[1].ratio = 0.0; }
static void m_bad_kind(nas_arch *a) { a->stages[1].kind = (nas_block_kind)17; }
static void m_bad_act(nas_arch *a) { a->stages[1].act = (nas_act)9; }
static void m_all_absent(nas_arch *a) {
    for (int i = 0; i < a->n_stages; i++) a->stages[i].depth = 0;
}
static void m_no_stages(nas_arch *a) { a->n_stages = 0; }
static void m_resolution0(nas_arch *a) { a->resolution = 0; }
static void m_classes0(nas_arch *a) { a->classes = 0; }
static void m_bn_eps(nas_arch *a) { a->bn_eps = 0.0; }
static void m_dropout(nas_arch *a) { a->dropout = 1.0; }
static void m_se_zero(nas_arch *a) {
    a->in_channels = 1;
    a->stages[0] = (nas_stage){NAS_BLOCK_IRB, 1, 8, 1, 3, 16.0, NAS_ACT_RELU, true, NAS_PAD_SAME};
}
static void m_too_small(nas_arch *a) {
    a->resolution = 2;
    a->stages[1] = (nas_stage){NAS_BLOCK_FUSED_IRB, 1, 24, 2, 3, 4.0, NAS_ACT_RELU, false, NAS_PAD_TIMM};
}

static void test_validate_errors(void **state) {
    (void)state;
    const bad_case cases[] = {
        {"even kernel", m_even_kernel, "stage 1 (irb): kernel 4 must be odd"},
        {"stride 3", m_stride3, "stage 1 (irb): stride 3 must be 1 or 2"},
        {"width 0", m_width0, "stage 2 (conv): width 0 is outside [1, 16384]"},
        {"depth > max", m_depth_big, "stage 1 (irb): depth 65 is outside [0, 64]"},
        {"SE on conv", m_se_on_conv, "stage 0 (conv): squeeze-excite exists only"},
        {"timm on irb", m_timm_on_irb, "stage 1 (irb): pad 'timm'"},
        {"ratio on conv", m_conv_ratio, "stage 2 (conv): ratio 2 does not apply"},
        {"ratio 0", m_ratio_zero, "stage 1 (irb): ratio 0 is outside (0, 16]"},
        {"unknown kind", m_bad_kind, "stage 1: kind 17 is not one of"},
        {"unknown act", m_bad_act, "stage 1 (irb): act 9 is not relu or swish"},
        {"all absent", m_all_absent, "at least one stage must be present"},
        {"no stages", m_no_stages, "1 to 24 stages, not 0"},
        {"resolution 0", m_resolution0, "resolution 0 is outside [1, 1024]"},
        {"classes 0", m_classes0, "classes 0 is outside"},
        {"bn_eps 0", m_bn_eps, "bn_eps 0 must be in (0, 1)"},
        {"dropout 1", m_dropout, "dropout 1 must be in [0, 1)"},
        {"SE rounds to 0", m_se_zero, "stage 0 (irb): squeeze-excite of 16 channels"},
        {"input too small", m_too_small, "stage 1 (fused_irb): the 1x1 input is too small"},
    };
    nas_arch good = tiny_arch();
    nas_err err;
    assert_int_equal(nas_arch_validate(&good, &err), 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nas_arch a = tiny_arch();
        cases[i].mutate(&a);
        int rc = nas_arch_validate(&a, &err);
        if (rc == 0 || !strstr(err.msg, cases[i].expect))
            fail_msg("%s: expected an error containing \"%s\", got rc %d \"%s\"", cases[i].why,
                     cases[i].expect, rc, rc ? err.msg : "");
        assert_true(rc < 0);
        assert_int_equal(err.code, rc);
    }
}

static void test_canonicalize_absent_stage(void **state) {
    (void)state;
    nas_arch a = load_preset("gpunet-0");
    nas_arch b = a;
    /* Stage 5 is absent in gpunet-0: whatever its other fields say, it is the same network. */
    assert_int_equal(a.stages[5].depth, 0);
    b.stages[5] = (nas_stage){NAS_BLOCK_IRB, 0, 999, 2, 7, 3.5, NAS_ACT_SWISH, true, NAS_PAD_TIMM};
    nas_err err;
    assert_int_equal(nas_arch_validate(&b, &err), 0);
    assert_true(nas_arch_equal(&a, &b));
    assert_true(nas_arch_hash(&a) == nas_arch_hash(&b));
    nas_arch_canonicalize(&b);
    assert_int_equal(b.stages[5].width, 0);
    assert_int_equal(b.stages[5].kernel, 1);
    assert_false(b.stages[5].se);
    /* A present stage is never changed by canonicalisation. */
    assert_int_equal(b.stages[6].width, 704);
    assert_true(b.stages[6].se);
}

static void test_json_round_trip_presets(void **state) {
    (void)state;
    for (size_t i = 0; i < N_PRESETS; i++) {
        nas_arch a = load_preset(presets[i]), b;
        char *json = nas_arch_to_json(&a);
        assert_non_null(json);
        nas_err err;
        int rc = nas_arch_from_json(json, &b, &err);
        if (rc) fail_msg("%s: %s", presets[i], err.msg);
        assert_true(nas_arch_equal(&a, &b));
        char *again = nas_arch_to_json(&b);
        assert_string_equal(json, again);
        assert_true(nas_arch_hash(&a) == nas_arch_hash(&b));
        assert_int_equal(nas_arch_total_stride(&a), 32);
        free(json);
        free(again);
    }
}

static void test_json_format_is_stable(void **state) {
    (void)state;
    /* The canonical text is the identity stored in databases: its exact form
     * (key order, number formatting) must not drift between versions. */
    nas_arch a = tiny_arch();
    char *json = nas_arch_to_json(&a);
    const char *expected =
        "{\"resolution\":32,\"in_channels\":3,\"classes\":10,\"bn_eps\":1e-05,\"dropout\":0,"
        "\"stages\":["
        "{\"kind\":\"conv\",\"depth\":1,\"width\":16,\"stride\":2,\"kernel\":3,\"ratio\":1,"
        "\"act\":\"relu\",\"se\":false,\"pad\":\"same\"},"
        "{\"kind\":\"irb\",\"depth\":2,\"width\":24,\"stride\":2,\"kernel\":5,\"ratio\":4,"
        "\"act\":\"swish\",\"se\":true,\"pad\":\"same\"},"
        "{\"kind\":\"conv\",\"depth\":1,\"width\":64,\"stride\":1,\"kernel\":1,\"ratio\":1,"
        "\"act\":\"relu\",\"se\":false,\"pad\":\"same\"}]}";
    assert_string_equal(json, expected);
    assert_true(nas_arch_hash(&a) == nas_hash64(expected, strlen(expected)));
    free(json);
}


/* The canonical text is written by hand for speed (it is hashed on every
 * proposal); cJSON's printer is the reference it must equal byte for byte,
 * including numbers that need 17 significant digits. */
static char *json_by_cjson(const nas_arch *in) {
    nas_arch c = *in;
    nas_arch_canonicalize(&c);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "resolution", c.resolution);
    cJSON_AddNumberToObject(root, "in_channels", c.in_channels);
    cJSON_AddNumberToObject(root, "classes", c.classes);
    cJSON_AddNumberToObject(root, "bn_eps", c.bn_eps);
    cJSON_AddNumberToObject(root, "dropout", c.dropout);
    cJSON *stages = cJSON_AddArrayToObject(root, "stages");
    for (int i = 0; i < c.n_stages; i++) {
        const nas_stage *s = &c.stages[i];
        cJSON *st = cJSON_CreateObject();
        cJSON_AddItemToArray(stages, st);
        cJSON_AddStringToObject(st, "kind", nas_block_kind_name(s->kind));
        cJSON_AddNumberToObject(st, "depth", s->depth);
        cJSON_AddNumberToObject(st, "width", s->width);
        cJSON_AddNumberToObject(st, "stride", s->stride);
        cJSON_AddNumberToObject(st, "kernel", s->kernel);
        cJSON_AddNumberToObject(st, "ratio", s->ratio);
        cJSON_AddStringToObject(st, "act", nas_act_name(s->act));
        cJSON_AddBoolToObject(st, "se", s->se);
        cJSON_AddStringToObject(st, "pad", nas_pad_name(s->pad));
    }
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}

static void test_json_writer_matches_cjson(void **state) {
    (void)state;
    static const char *presets[] = {"genet-light", "genet-large", "gpunet-0", "gpunet-2"};
    nas_rng rng;
    nas_rng_seed(&rng, 7);
    for (int trial = 0; trial < 400; trial++) {
        nas_arch a;
        nas_err err = {0};
        assert_int_equal(nas_arch_load(presets[trial % 4], &a, &err), 0);
        /* Awkward doubles: thirds, tiny eps, values needing %1.17g. */
        a.bn_eps = 1e-5 + nas_rng_uniform(&rng) * 1e-3;
        a.dropout = (double)(trial % 10) / 3.0 * 0.1;
        for (int i = 0; i < a.n_stages; i++)
            if (a.stages[i].kind != NAS_BLOCK_CONV && a.stages[i].depth > 0)
                a.stages[i].ratio = 0.25 + nas_rng_uniform(&rng) * 8.0;
        char *mine = nas_arch_to_json(&a), *ref = json_by_cjson(&a);
        assert_non_null(mine);
        assert_non_null(ref);
        assert_string_equal(mine, ref);
        assert_true(nas_arch_hash(&a) == nas_hash64(ref, strlen(ref)));
        free(mine);
        free(ref);
    }
}

static void test_hash_distinguishes_every_field(void **state) {
    (void)state;
    nas_arch base = tiny_arch();
    uint64_t h0 = nas_arch_hash(&base);
    assert_true(h0 == nas_arch_hash(&base));
    nas_arch v[12];
    for (int i = 0; i < 12; i++) v[i] = base;
    v[0].resolution = 64;
    v[1].classes = 100;
    v[2].bn_eps = 1e-3;
    v[3].dropout = 0.2;
    v[4].stages[1].kind = NAS_BLOCK_FUSED_IRB;
    v[5].stages[1].depth = 3;
    v[6].stages[1].width = 32;
    v[7].stages[1].stride = 1;
    v[8].stages[1].kernel = 3;
    v[9].stages[1].ratio = 6.0;
    v[10].stages[1].act = NAS_ACT_RELU;
    v[11].stages[1].se = false;
    for (int i = 0; i < 12; i++) {
        nas_err err;
        assert_int_equal(nas_arch_validate(&v[i], &err), 0);
        assert_false(nas_arch_equal(&base, &v[i]));
        if (nas_arch_hash(&v[i]) == h0) fail_msg("variant %d hashes like the base", i);
    }
}

static void test_from_json_errors(void **state) {
    (void)state;
    struct {
        const char *json, *expect;
    } cases[] = {
        {"{\"resolution\":32,\n \"stages\":[{\"kind\":\"conv\",}]}", "line 2 column"},
        {"[1,2]", "expected a JSON object"},
        {"{\"resolution\":32,\"colour\":1,\"stages\":[]}", "unknown key 'colour'"},
        {"{\"stages\":[{\"kind\":\"conv\",\"depth\":1,\"width\":8,\"stride\":1,\"kernel\":3}]}",
         "missing required key 'resolution'"},
        {"{\"resolution\":32,\"resolution\":64,\"stages\":[]}", "duplicate key 'resolution'"},
        {"{\"resolution\":\"32\",\"stages\":[]}", "'resolution' must be an integer"},
        {"{\"resolution\":32.5,\"stages\":[]}", "'resolution' must be an integer"},
        {"{\"resolution\":32,\"stages\":[]}", "0 stages given"},
        {"{\"resolution\":32,\"stages\":{}}", "'stages' must be a list"},
        {"{\"resolution\":32,\"stages\":[{\"kind\":\"conv\",\"depth\":1,\"stride\":1,\"kernel\":3}]}",
         "stage 0: missing required key 'width'"},
        {"{\"resolution\":32,\"stages\":[{\"kind\":\"vgg\",\"depth\":1}]}",
         "stage 0: 'kind' must be one of: conv, xx, bl, dw, fused_irb, irb"},
        {"{\"resolution\":32,\"stages\":[{\"kind\":\"conv\",\"depth\":1,\"width\":8,\"stride\":1,"
         "\"kernel\":3,\"se\":1}]}",
         "stage 0: 'se' must be true or false"},
        {"{\"resolution\":32,\"stages\":[{\"kind\":\"conv\",\"depth\":1,\"width\":8,\"stride\":1,"
         "\"kernel\":2}]}",
         "stage 0 (conv): kernel 2 must be odd"},
        {"{\"resolution\":32,\"stages\":[{\"kind\":\"conv\",\"depth\":1,\"width\":8,\"stride\":1,"
         "\"kernel\":3,\"depthh\":1}]}",
         "stage 0: unknown key 'depthh'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nas_arch a;
        nas_err err;
        int rc = nas_arch_from_json(cases[i].json, &a, &err);
        if (rc == 0 || !strstr(err.msg, cases[i].expect))
            fail_msg("case %zu: expected \"%s\", got rc %d \"%s\"", i, cases[i].expect, rc,
                     rc ? err.msg : "");
    }
    /* Optional keys take the documented defaults; absent stages need only kind and depth. */
    nas_arch a;
    nas_err err;
    assert_int_equal(nas_arch_from_json("{\"resolution\":28,\"stages\":[{\"kind\":\"conv\","
                                        "\"depth\":1,\"width\":8,\"stride\":2,\"kernel\":3},"
                                        "{\"kind\":\"irb\",\"depth\":0}]}",
                                        &a, &err),
                     0);
    assert_int_equal(a.in_channels, 3);
    assert_int_equal(a.classes, 1000);
    assert_int_equal(a.n_stages, 2);
    assert_int_equal(a.stages[0].act, NAS_ACT_RELU);
    assert_int_equal(a.stages[1].depth, 0);
}

static void test_load_json_file_and_missing(void **state) {
    (void)state;
    nas_arch a = load_preset("gpunet-1"), b;
    char path[] = "/tmp/nas_test_arch_XXXXXX.json";
    int fd = mkstemps(path, 5);
    assert_true(fd >= 0);
    char *json = nas_arch_to_json(&a);
    assert_true(write(fd, json, strlen(json)) == (ssize_t)strlen(json));
    close(fd);
    nas_err err;
    assert_int_equal(nas_arch_load(path, &b, &err), 0);
    assert_true(nas_arch_equal(&a, &b));
    /* A damaged file names itself and the position. */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"resolution\": 32,\n  \"stages\": [oops]}", f);
    fclose(f);
    assert_int_equal(nas_arch_load(path, &b, &err), NAS_EPARSE);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, ":2:"));
    unlink(path);
    free(json);
    assert_int_equal(nas_arch_load("no-such-preset", &b, &err), NAS_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no-such-preset"));
}

static void test_presets_structure(void **state) {
    (void)state;
    /* Spot checks of the presets against shared/reference/models.md. */
    nas_arch l = load_preset("genet-light");
    assert_int_equal(l.resolution, 192);
    assert_int_equal(l.n_stages, 7);
    assert_int_equal(l.stages[0].width, 13);
    assert_int_equal(l.stages[3].kind, NAS_BLOCK_BL);
    assert_int_equal(l.stages[3].depth, 7);
    assert_int_equal(l.stages[6].width, 1920);
    assert_true(l.bn_eps == 1e-5);
    assert_true(l.dropout == 0.0);
    nas_arch g = load_preset("gpunet-2");
    assert_int_equal(g.resolution, 384);
    assert_int_equal(g.stages[0].act, NAS_ACT_SWISH);
    assert_int_equal(g.stages[2].kind, NAS_BLOCK_FUSED_IRB);
    assert_int_equal(g.stages[2].pad, NAS_PAD_TIMM);
    assert_true(g.stages[2].se);
    assert_int_equal(g.stages[7].width, 832);
    assert_int_equal(g.stages[8].width, 1280);
    assert_true(g.bn_eps == 1e-3);
    assert_true(g.dropout == 0.2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_round_trip),
        cmocka_unit_test(test_make_divisible),
        cmocka_unit_test(test_mid_and_se_widths),
        cmocka_unit_test(test_padding_and_shortcuts),
        cmocka_unit_test(test_validate_errors),
        cmocka_unit_test(test_canonicalize_absent_stage),
        cmocka_unit_test(test_json_round_trip_presets),
        cmocka_unit_test(test_json_format_is_stable),
        cmocka_unit_test(test_json_writer_matches_cjson),
        cmocka_unit_test(test_hash_distinguishes_every_field),
        cmocka_unit_test(test_from_json_errors),
        cmocka_unit_test(test_load_json_file_and_missing),
        cmocka_unit_test(test_presets_structure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
