/*
 * tests/test_cfg.c - config loading errors: the malformed-config corpus under
 * tests/data/configs/ and the common/cfg tree and getters.
 *
 * Every corpus file has one row in the expectations table below: which loader
 * reads it (model presets or search spaces, by folder), the error code, and a
 * fragment of the message that includes file:line:column where YAML has one.
 * A file in the corpus without a row, or a row without a file, fails the test,
 * so the table and the folder cannot drift apart. Run under ASan/UBSan, this is
 * also the no-crash check for hostile input.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/cfg.h"
#include "space/arch.h"
#include "space/space.h"

#ifndef NAS_TEST_DATA_DIR
#error "NAS_TEST_DATA_DIR must point at tests/data (set by space/meson.build)"
#endif

typedef struct expectation {
    const char *file; /* relative to tests/data/configs */
    int code;
    const char *fragment;
} expectation;

static const expectation expectations[] = {
    /* YAML syntax */
    {"models/unclosed_flow.yaml", NAS_EPARSE, "unclosed_flow.yaml:3:1: invalid YAML: did not find expected ',' or '}'"},
    {"models/tab_indent.yaml", NAS_EPARSE, "tab_indent.yaml:3:1: invalid YAML: found character that cannot start any token"},
    {"models/bad_escape.yaml", NAS_EPARSE, "bad_escape.yaml:4:18: invalid YAML"},
    {"models/invalid_utf8.yaml", NAS_EPARSE, "invalid_utf8.yaml:1:1: invalid YAML: invalid leading UTF-8 octet"},
    {"models/two_documents.yaml", NAS_EPARSE, "two_documents.yaml:4:1: more than one YAML document"},
    {"models/duplicate_key.yaml", NAS_EPARSE, "duplicate_key.yaml:8:5: duplicate key 'depth' (first given at line 6)"},
    {"models/anchor.yaml", NAS_EPARSE, "anchor.yaml:3:5: YAML anchors are not supported"},
    {"models/undefined_alias.yaml", NAS_EPARSE, "undefined_alias.yaml:3:5: YAML aliases are not supported"},
    {"models/complex_key.yaml", NAS_EPARSE, "complex_key.yaml:4:8: mapping keys must be plain scalars"},
    {"models/deep_nesting.yaml", NAS_EPARSE, "deep_nesting.yaml:2:73: nesting deeper than 64 levels"},
    {"models/empty.yaml", NAS_EINVAL, "empty.yaml: empty file; expected a model"},
    {"models/only_comment.yaml", NAS_EINVAL, "only_comment.yaml: empty file"},
    /* structure and types */
    {"models/root_is_list.yaml", NAS_EINVAL, "root_is_list.yaml:1:1: model: expected a mapping, found a list"},
    {"models/stages_not_list.yaml", NAS_EINVAL, "stages_not_list.yaml:3:3: model stages: expected a list, found a mapping"},
    {"models/stage_not_map.yaml", NAS_EINVAL, "stage_not_map.yaml:4:5: stage 1: expected a mapping, found a list"},
    {"models/width_not_int.yaml", NAS_EINVAL, "width_not_int.yaml:5:35: stage 0 width: expected an integer, found 'wide'"},
    {"models/width_quoted.yaml", NAS_EINVAL, "width_quoted.yaml:5:35: stage 0 width: expected an integer, found '8'"},
    {"models/huge_number.yaml", NAS_EINVAL, "huge_number.yaml:1:13: model resolution: expected an integer"},
    {"models/se_not_bool.yaml", NAS_EINVAL, "se_not_bool.yaml:5:73: stage 0 se: expected true or false, found 'maybe'"},
    {"models/unknown_kind.yaml", NAS_EINVAL, "unknown_kind.yaml:5:12: stage 0 kind: unknown value 'resnet' (expected one of: conv, xx, bl, dw, fused_irb, irb)"},
    {"models/unknown_act.yaml", NAS_EINVAL, "unknown_act.yaml:5:65: stage 0 act: unknown value 'gelu'"},
    {"models/unknown_stage_key.yaml", NAS_EINVAL, "unknown_stage_key.yaml:7:5: stage 0: unknown key 'widht'"},
    {"models/unknown_top_key.yaml", NAS_EINVAL, "unknown_top_key.yaml:2:1: model: unknown key 'colour'"},
    {"models/nested_unknown.yaml", NAS_EINVAL, "nested_unknown.yaml:4:68: stage 1: unknown key 'extra'"},
    {"models/missing_width.yaml", NAS_EINVAL, "missing_width.yaml:5:5: stage 0 (conv): missing required key 'width'"},
    {"models/missing_stages.yaml", NAS_EINVAL, "missing_stages.yaml:1:1: model: missing required key 'stages'"},
    {"models/missing_resolution.yaml", NAS_EINVAL, "missing_resolution.yaml:1:1: model: missing required key 'resolution'"},
    /* values */
    {"models/even_kernel.yaml", NAS_EINVAL, "even_kernel.yaml:6:56: stage 1 (xx): kernel 4 must be odd"},
    {"models/stride_out_of_range.yaml", NAS_ERANGE, "stride_out_of_range.yaml:5:46: stage 0 stride: 3 is out of range [1, 2]"},
    {"models/negative_depth.yaml", NAS_ERANGE, "negative_depth.yaml:5:25: stage 0 depth: -1 is out of range [0, 64]"},
    {"models/ratio_zero.yaml", NAS_ERANGE, "ratio_zero.yaml:4:67: stage 1 ratio: 0 is out of range"},
    {"models/bn_eps_out_of_range.yaml", NAS_ERANGE, "bn_eps_out_of_range.yaml:2:9: bn_eps: 2 is out of range"},
    {"models/se_on_conv.yaml", NAS_EINVAL, "se_on_conv.yaml:5:64: stage 0 (conv): squeeze-excite exists only in fused_irb and irb stages"},
    {"models/timm_on_irb.yaml", NAS_EINVAL, "timm_on_irb.yaml:6:75: stage 1 (irb): pad 'timm'"},
    {"models/ratio_on_conv.yaml", NAS_EINVAL, "ratio_on_conv.yaml:5:67: stage 0 (conv): ratio 4 does not apply to conv stages"},
    {"models/all_absent.yaml", NAS_EINVAL, "all_absent.yaml:5:3: every stage has depth 0"},
    {"models/resolution_too_small.yaml", NAS_ERANGE, "resolution_too_small.yaml:4:5: stage 1 (fused_irb): the 2x2 input is too small for kernel 5 stride 2"},
    /* JSON architectures */
    {"models/malformed.json", NAS_EPARSE, "malformed.json:2:54: malformed JSON"},
    {"models/unknown_key.json", NAS_EINVAL, "unknown_key.json: stage 0: unknown key 'groups'"},
    {"models/even_kernel.json", NAS_EINVAL, "even_kernel.json: stage 0 (conv): kernel 6 must be odd"},
    /* search spaces */
    {"spaces/empty.yaml", NAS_EINVAL, "empty.yaml: empty file; expected a search space"},
    {"spaces/unclosed_flow.yaml", NAS_EPARSE, "unclosed_flow.yaml:4:1: invalid YAML"},
    {"spaces/tab_indent.yaml", NAS_EPARSE, "tab_indent.yaml:4:1: invalid YAML: found a tab character that violates indentation"},
    {"spaces/duplicate_key.yaml", NAS_EPARSE, "duplicate_key.yaml:2:1: duplicate key 'resolution'"},
    {"spaces/unknown_top_key.yaml", NAS_EINVAL, "unknown_top_key.yaml:2:1: space: unknown key 'search'"},
    {"spaces/missing_resolution.yaml", NAS_EINVAL, "missing_resolution.yaml:1:1: space: missing required key 'resolution'"},
    {"spaces/missing_kernel.yaml", NAS_EINVAL, "missing_kernel.yaml:6:5: stage 1: missing required key 'kernel'"},
    {"spaces/no_stages.yaml", NAS_ERANGE, "no_stages.yaml:2:9: space stages: 0 given"},
    {"spaces/empty_list.yaml", NAS_EINVAL, "empty_list.yaml:6:56: stage 1 kernel: empty list"},
    {"spaces/nested_list.yaml", NAS_EINVAL, "nested_list.yaml:6:57: stage 1 kernel: list items must be single values"},
    {"spaces/duplicate_value.yaml", NAS_EINVAL, "duplicate_value.yaml:6:42: stage 1 width: '16' is listed twice"},
    {"spaces/range_off_step.yaml", NAS_EINVAL, "range_off_step.yaml:6:33: stage 1 width: max 30 is not min 16 plus a whole number of steps of 8"},
    {"spaces/range_min_gt_max.yaml", NAS_EINVAL, "range_min_gt_max.yaml:6:33: stage 1 width: min 32 is larger than max 16"},
    {"spaces/range_missing_max.yaml", NAS_EINVAL, "range_missing_max.yaml:6:33: stage 1 width: range lacks 'max'"},
    {"spaces/range_unknown_key.yaml", NAS_EINVAL, "range_unknown_key.yaml:6:52: stage 1 width: unknown key 'stp' (allowed: min, max, step)"},
    {"spaces/range_on_enum.yaml", NAS_EINVAL, "range_on_enum.yaml:6:64: stage 1 act: a {min, max, step} range needs numbers"},
    {"spaces/huge_range.yaml", NAS_ERANGE, "huge_range.yaml:6:33: stage 1 width: the range has 16000 values (max 1024)"},
    {"spaces/width_too_big.yaml", NAS_ERANGE, "width_too_big.yaml:6:48: stage 1 width: 20000 is out of range [1, 16384]"},
    {"spaces/even_kernel_list.yaml", NAS_EINVAL, "even_kernel_list.yaml:6:60: stage 1 kernel: 4 is even"},
    {"spaces/even_kernel_range.yaml", NAS_EINVAL, "even_kernel_range.yaml:6:56: stage 1 kernel: the range includes the even kernel 4"},
    {"spaces/unknown_kind_in_list.yaml", NAS_EINVAL, "unknown_kind_in_list.yaml:6:17: stage 1 kind: unknown value 'vgg'"},
    {"spaces/conv_mixed.yaml", NAS_EINVAL, "conv_mixed.yaml:6:12: stage 1 kind: conv cannot be mixed with other kinds"},
    {"spaces/se_on_bl.yaml", NAS_EINVAL, "se_on_bl.yaml:6:75: stage 1 se: squeeze-excite exists only in fused_irb and irb stages"},
    {"spaces/timm_on_dw.yaml", NAS_EINVAL, "timm_on_dw.yaml:6:74: stage 1 pad: 'timm' applies only to fused_irb stages"},
    {"spaces/all_absent_corner.yaml", NAS_EINVAL, "all_absent_corner.yaml:1:1: the space contains invalid architectures, e.g. the point with every first value: every stage has depth 0"},
    {"spaces/too_small_corner.yaml", NAS_EINVAL, "too_small_corner.yaml:1:1: the space contains invalid architectures"},
};
#define N_EXPECTATIONS (sizeof expectations / sizeof expectations[0])

static int load_corpus_file(const char *rel, nas_err *err) {
    char path[1024];
    snprintf(path, sizeof path, "%s/configs/%s", NAS_TEST_DATA_DIR, rel);
    if (strncmp(rel, "spaces/", 7) == 0) {
        nas_space *sp = NULL;
        int rc = nas_space_load(path, &sp, err);
        if (rc == 0) nas_space_free(&sp);
        assert_null(sp);
        return rc;
    }
    nas_arch a;
    return nas_arch_load(path, &a, err);
}

static void test_corpus_messages(void **state) {
    (void)state;
    assert_true(N_EXPECTATIONS >= 20);
    int failures = 0;
    for (size_t i = 0; i < N_EXPECTATIONS; i++) {
        const expectation *e = &expectations[i];
        nas_err err;
        memset(&err, 0, sizeof err);
        int rc = load_corpus_file(e->file, &err);
        if (rc != e->code || !strstr(err.msg, e->fragment)) {
            fprintf(stderr, "%s:\n  want %s \"%s\"\n  got  %s \"%s\"\n", e->file, nas_err_name(e->code),
                    e->fragment, nas_err_name(rc), rc ? err.msg : "(loaded)");
            failures++;
        }
        /* The message names the file so a user knows which one to fix. */
        if (rc && !strstr(err.msg, strrchr(e->file, '/') + 1)) failures++;
    }
    assert_int_equal(failures, 0);
}

/* Every file in the corpus has a row, so nothing is silently untested. */
static void test_corpus_is_covered(void **state) {
    (void)state;
    const char *folders[] = {"models", "spaces"};
    int files = 0;
    for (size_t f = 0; f < 2; f++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/configs/%s", NAS_TEST_DATA_DIR, folders[f]);
        DIR *d = opendir(dir);
        assert_non_null(d);
        for (struct dirent *ent; (ent = readdir(d));) {
            if (ent->d_name[0] == '.') continue;
            char rel[512];
            snprintf(rel, sizeof rel, "%s/%s", folders[f], ent->d_name);
            bool found = false;
            for (size_t i = 0; i < N_EXPECTATIONS; i++)
                if (strcmp(expectations[i].file, rel) == 0) found = true;
            if (!found) fail_msg("%s has no row in the expectations table", rel);
            files++;
        }
        closedir(d);
    }
    assert_int_equal(files, (int)N_EXPECTATIONS);
}

/* The shipped configs themselves load cleanly. */
static void test_shipped_configs_load(void **state) {
    (void)state;
    const char *models[] = {"genet-light", "genet-normal", "genet-large", "gpunet-0", "gpunet-1", "gpunet-2"};
    const char *spaces[] = {"genet", "gpunet", "mini"};
    nas_err err;
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        nas_arch a;
        if (nas_arch_load(models[i], &a, &err)) fail_msg("%s", err.msg);
    }
    for (size_t i = 0; i < sizeof spaces / sizeof spaces[0]; i++) {
        nas_space *sp = NULL;
        if (nas_space_load(spaces[i], &sp, &err)) fail_msg("%s", err.msg);
        nas_space_free(&sp);
    }
}

/* ---- common/cfg directly --------------------------------------------- */

static nas_cfg *parse(const char *text) {
    nas_cfg *cfg = NULL;
    nas_err err;
    int rc = nas_cfg_load_string(text, strlen(text), "test.yaml", &cfg, &err);
    if (rc) fail_msg("%s", err.msg);
    return cfg;
}

static void test_cfg_tree_positions(void **state) {
    (void)state;
    nas_cfg *cfg = parse("a: 1\nlist:\n  - x\n  - 'y'\nmap: {k: v}\n");
    const nas_cfg_node *root = cfg->root;
    assert_int_equal(root->type, NAS_CFG_MAP);
    assert_int_equal(root->n, 3);
    assert_string_equal(root->keys[1], "list");
    assert_int_equal(root->key_lines[1], 2);
    const nas_cfg_node *list = nas_cfg_get(root, "list");
    assert_int_equal(list->type, NAS_CFG_SEQ);
    assert_int_equal(list->n, 2);
    assert_int_equal(list->items[1]->line, 4);
    assert_int_equal(list->items[1]->column, 5);
    assert_false(list->items[0]->quoted);
    assert_true(list->items[1]->quoted);
    assert_null(nas_cfg_get(root, "absent"));
    assert_null(nas_cfg_get(list, "x")); /* not a map */
    nas_cfg_free(&cfg);
    assert_null(cfg);
    nas_cfg_free(&cfg); /* freeing twice through the handle is harmless */
}

static void test_cfg_getters(void **state) {
    (void)state;
    nas_cfg *cfg = parse("n: 12\nf: 0.5\nb: yes\ns: \"7\"\ne: swish\nbig: 1e400\n");
    const nas_cfg_node *r = cfg->root;
    nas_err err;
    long n;
    double f;
    bool b;
    const char *s;
    int e;
    assert_int_equal(nas_cfg_get_int(cfg, r, "n", true, 0, 0, 100, &n, &err), 0);
    assert_int_equal(n, 12);
    assert_int_equal(nas_cfg_get_int(cfg, r, "n", true, 0, 0, 10, &n, &err), NAS_ERANGE);
    assert_non_null(strstr(err.msg, "test.yaml:1:4: n: 12 is out of range [0, 10]"));
    assert_int_equal(nas_cfg_get_int(cfg, r, "missing", false, 5, 0, 10, &n, &err), 0);
    assert_int_equal(n, 5);
    assert_int_equal(nas_cfg_get_int(cfg, r, "missing", true, 5, 0, 10, &n, &err), NAS_EINVAL);
    assert_non_null(strstr(err.msg, "missing required key 'missing'"));
    assert_int_equal(nas_cfg_get_int(cfg, r, "f", true, 0, 0, 10, &n, &err), NAS_EINVAL);
    assert_int_equal(nas_cfg_get_int(cfg, r, "s", true, 0, 0, 10, &n, &err), NAS_EINVAL);
    assert_non_null(strstr(err.msg, "expected an integer, found '7'")); /* quoted: a string */
    assert_int_equal(nas_cfg_get_double(cfg, r, "f", true, 0, 0, 1, &f, &err), 0);
    assert_true(f == 0.5);
    assert_int_equal(nas_cfg_get_double(cfg, r, "big", true, 0, 0, 1, &f, &err), NAS_EINVAL);
    assert_int_equal(nas_cfg_get_bool(cfg, r, "b", true, false, &b, &err), 0);
    assert_true(b);
    assert_int_equal(nas_cfg_get_bool(cfg, r, "n", true, false, &b, &err), NAS_EINVAL);
    assert_int_equal(nas_cfg_get_string(cfg, r, "s", true, NULL, &s, &err), 0);
    assert_string_equal(s, "7");
    static const char *const acts[] = {"relu", "swish", NULL};
    assert_int_equal(nas_cfg_get_enum(cfg, r, "e", true, acts, 0, &e, &err), 0);
    assert_int_equal(e, 1);
    assert_int_equal(nas_cfg_get_enum(cfg, r, "s", true, acts, 0, &e, &err), NAS_EINVAL);
    assert_non_null(strstr(err.msg, "unknown value '7' (expected one of: relu, swish)"));
    static const char *const allowed[] = {"n", "f", "b", "s", "e", NULL};
    assert_int_equal(nas_cfg_check_keys(cfg, r, allowed, "top", &err), NAS_EINVAL);
    assert_non_null(strstr(err.msg, "test.yaml:6:1: top: unknown key 'big'"));
    assert_int_equal(nas_cfg_expect(cfg, nas_cfg_get(r, "n"), NAS_CFG_SEQ, "n", &err), NAS_EINVAL);
    assert_non_null(strstr(err.msg, "n: expected a list, found a scalar value"));
    nas_cfg_free(&cfg);
}

static void test_cfg_load_errors(void **state) {
    (void)state;
    nas_cfg *cfg = NULL;
    nas_err err;
    assert_int_equal(nas_cfg_load_file("/nonexistent/dir/x.yaml", &cfg, &err), NAS_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent/dir/x.yaml: cannot open"));
    assert_null(cfg);
    const char *tab = "a:\n\tb: 1\n";
    assert_int_equal(nas_cfg_load_string(tab, strlen(tab), "t.yaml", &cfg, &err), NAS_EPARSE);
    assert_non_null(strstr(err.msg, "t.yaml:2:"));
    assert_non_null(strstr(err.msg, "YAML indents with spaces only"));
    /* A parse error that is not about tabs carries no tab hint. */
    const char *unclosed = "a: [1, 2\n";
    assert_int_equal(nas_cfg_load_string(unclosed, strlen(unclosed), "u.yaml", &cfg, &err), NAS_EPARSE);
    assert_null(strstr(err.msg, "tab"));
    /* Text need not be NUL-terminated: only len bytes are read. */
    const char text[] = {'k', ':', ' ', '1', 'x'};
    assert_int_equal(nas_cfg_load_string(text, 4, "n.yaml", &cfg, &err), 0);
    assert_string_equal(nas_cfg_get(cfg->root, "k")->scalar, "1");
    nas_cfg_free(&cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus_messages),    cmocka_unit_test(test_corpus_is_covered),
        cmocka_unit_test(test_shipped_configs_load), cmocka_unit_test(test_cfg_tree_positions),
        cmocka_unit_test(test_cfg_getters),        cmocka_unit_test(test_cfg_load_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
