/*
 * tests/test_common.c - common/: error buffers, the string builder, file
 * reading, config lookup, the random generator and the FNV hash.
 * (common/cfg.c is tested in test_cfg.c together with the config corpus.)
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/log.h"
#include "common/rng.h"
#include "common/util.h"

static void test_error_buffer(void **state) {
    (void)state;
    nas_err err;
    assert_int_equal(nas_err_set(&err, NAS_ERANGE, "width %d too big", 99), NAS_ERANGE);
    assert_int_equal(err.code, NAS_ERANGE);
    assert_string_equal(err.msg, "width 99 too big");
    assert_int_equal(nas_err_prefix(&err, "stage %d", 3), NAS_ERANGE);
    assert_string_equal(err.msg, "stage 3: width 99 too big");
    assert_int_equal(nas_err_set(NULL, NAS_EIO, "ignored"), NAS_EIO); /* err may be NULL */
    /* User input longer than the buffer truncates, never overflows. */
    char *huge = malloc(5000);
    memset(huge, 'x', 4999);
    huge[4999] = '\0';
    nas_err_set(&err, NAS_EINVAL, "bad value '%s'", huge);
    assert_int_equal(strlen(err.msg), NAS_ERR_MSG_MAX - 1);
    nas_err_prefix(&err, "%s", huge);
    assert_int_equal(strlen(err.msg), NAS_ERR_MSG_MAX - 1);
    free(huge);
    nas_err_clear(&err);
    assert_int_equal(err.code, NAS_OK);
    assert_string_equal(err.msg, "");
    assert_string_equal(nas_err_name(NAS_EPARSE), "EPARSE");
    assert_string_equal(nas_err_name(NAS_ENOTFOUND), "ENOTFOUND");
}

static void test_string_builder(void **state) {
    (void)state;
    nas_sb sb = {0};
    char *empty = nas_sb_take(&sb);
    assert_non_null(empty);
    assert_string_equal(empty, "");
    free(empty);
    for (int i = 0; i < 1000; i++) nas_sb_printf(&sb, "%d,", i % 10);
    nas_sb_append(&sb, "end");
    nas_sb_appendn(&sb, "XYZ", 1);
    assert_int_equal(sb.len, 2000 + 3 + 1);
    assert_false(sb.failed);
    char *s = nas_sb_take(&sb);
    assert_memory_equal(s, "0,1,2,", 6);
    assert_string_equal(s + 2000, "endX");
    assert_null(sb.data); /* take resets the builder */
    assert_int_equal(sb.len, 0);
    free(s);
    nas_sb_append(&sb, "abc");
    nas_sb_free(&sb);
    assert_null(sb.data);
}

static void test_read_file(void **state) {
    (void)state;
    char path[] = "/tmp/nas_test_common_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "hello\nworld", 11), 11);
    close(fd);
    char *text = NULL;
    size_t len = 0;
    nas_err err;
    assert_int_equal(nas_read_file(path, 1024, &text, &len, &err), 0);
    assert_int_equal(len, 11);
    assert_string_equal(text, "hello\nworld");
    free(text);
    assert_int_equal(nas_read_file(path, 5, &text, &len, &err), NAS_EINVAL);
    assert_null(text);
    assert_non_null(strstr(err.msg, "larger than 5 bytes"));
    unlink(path);
    assert_int_equal(nas_read_file(path, 1024, &text, &len, &err), NAS_EIO);
    assert_non_null(strstr(err.msg, "cannot open"));
}

static void test_config_resolve(void **state) {
    (void)state;
    char *path = NULL;
    nas_err err;
    /* A preset name resolves under the config dir; a path is taken as is. */
    assert_int_equal(nas_config_resolve("genet-light", "models", &path, &err), 0);
    assert_non_null(strstr(path, "/models/genet-light.yaml"));
    char *again = NULL;
    assert_int_equal(nas_config_resolve(path, "spaces", &again, &err), 0);
    assert_string_equal(again, path);
    free(again);
    free(path);
    assert_int_equal(nas_config_resolve("nothing-here", "models", &path, &err), NAS_ENOTFOUND);
    assert_null(path);
    assert_non_null(strstr(err.msg, "'nothing-here' is neither a file nor a name"));
    /* A name with a slash is never looked up as a preset. */
    assert_int_equal(nas_config_resolve("../genet-light", "models", &path, &err), NAS_ENOTFOUND);
    /* NAS_CONFIG_DIR overrides the compiled-in folder. */
    setenv("NAS_CONFIG_DIR", "/nonexistent-config-dir", 1);
    assert_string_equal(nas_config_dir(), "/nonexistent-config-dir");
    assert_int_equal(nas_config_resolve("genet-light", "models", &path, &err), NAS_ENOTFOUND);
    assert_non_null(strstr(err.msg, "/nonexistent-config-dir/models/"));
    unsetenv("NAS_CONFIG_DIR");
    assert_int_equal(nas_config_resolve("genet-light", "models", &path, &err), 0);
    free(path);
}

static void test_rng(void **state) {
    (void)state;
    nas_rng a, b;
    nas_rng_seed(&a, 2026);
    nas_rng_seed(&b, 2026);
    for (int i = 0; i < 100; i++) assert_true(nas_rng_u64(&a) == nas_rng_u64(&b));
    nas_rng_seed(&b, 2027);
    assert_false(nas_rng_u64(&a) == nas_rng_u64(&b));
    /* Uniform in [0, 1) with the right mean; below(n) covers [0, n) evenly. */
    double sum = 0, sq = 0;
    int counts[7] = {0};
    const int n = 70000;
    for (int i = 0; i < n; i++) {
        double u = nas_rng_uniform(&a);
        assert_true(u >= 0.0 && u < 1.0);
        sum += u;
        uint64_t k = nas_rng_below(&a, 7);
        assert_true(k < 7);
        counts[k]++;
        double z = nas_rng_normal(&a);
        sq += z * z;
    }
    assert_true(fabs(sum / n - 0.5) < 0.01);
    assert_true(fabs(sq / n - 1.0) < 0.03);
    for (int k = 0; k < 7; k++) assert_true(abs(counts[k] - n / 7) < n / 7 / 10);
    /* A shuffle is a permutation. */
    int v[50], seen[50] = {0};
    for (int i = 0; i < 50; i++) v[i] = i;
    nas_rng_shuffle_int(&a, v, 50);
    int moved = 0;
    for (int i = 0; i < 50; i++) {
        seen[v[i]]++;
        moved += v[i] != i;
    }
    for (int i = 0; i < 50; i++) assert_int_equal(seen[i], 1);
    assert_true(moved > 0);
}

static void test_hash64(void **state) {
    (void)state;
    /* FNV-1a 64 reference vectors: the architecture identity depends on them. */
    assert_true(nas_hash64("", 0) == 0xcbf29ce484222325ULL);
    assert_true(nas_hash64("a", 1) == 0xaf63dc4c8601ec8cULL);
    assert_true(nas_hash64("foobar", 6) == 0x85944171f73967e8ULL);
    assert_false(nas_mix64(1) == nas_mix64(2));
}

static void test_log_level_parse(void **state) {
    (void)state;
    assert_int_equal(nas_log_level_parse("debug"), NAS_LOG_DEBUG);
    assert_int_equal(nas_log_level_parse("WARN"), NAS_LOG_WARN);
    assert_int_equal(nas_log_level_parse("verbose"), -1);
    assert_int_equal(nas_log_level_parse(NULL), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_buffer), cmocka_unit_test(test_string_builder),
        cmocka_unit_test(test_read_file),    cmocka_unit_test(test_config_resolve),
        cmocka_unit_test(test_rng),          cmocka_unit_test(test_hash64),
        cmocka_unit_test(test_log_level_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
