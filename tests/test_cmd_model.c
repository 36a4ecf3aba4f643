/*
 * tests/test_cmd_model.c - `nas model info|list` end to end, in process: the
 * command's stdout/stderr are redirected to temporary files and checked (the
 * table's totals with thousands separators, the JSON document, exit codes and
 * the messages of usage errors).
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "cli/commands.h"
#include "common/util.h"

typedef struct captured {
    int rc;
    char *out, *err; /* malloc'd */
} captured;

static char *slurp_fd(int fd) {
    lseek(fd, 0, SEEK_SET);
    nas_sb sb = {0};
    char buf[4096];
    ssize_t got;
    while ((got = read(fd, buf, sizeof buf)) > 0) nas_sb_appendn(&sb, buf, (size_t)got);
    return nas_sb_take(&sb);
}

/* Runs nas_cmd_model with argv (NULL-terminated) and captures its output. */
static captured run_model(const char *const *args) {
    char *argv[16];
    int argc = 0;
    for (; args[argc]; argc++) argv[argc] = (char *)args[argc];
    argv[argc] = NULL;
    char out_path[] = "/tmp/nas_test_out_XXXXXX", err_path[] = "/tmp/nas_test_err_XXXXXX";
    int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path);
    assert_true(out_fd >= 0 && err_fd >= 0);
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    captured c;
    c.rc = nas_cmd_model(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    c.out = slurp_fd(out_fd);
    c.err = slurp_fd(err_fd);
    close(out_fd);
    close(err_fd);
    unlink(out_path);
    unlink(err_path);
    return c;
}

static void captured_free(captured *c) {
    free(c->out);
    free(c->err);
}

static void test_info_genet_large(void **state) {
    (void)state;
    captured c = run_model((const char *[]){"model", "info", "genet-large", NULL});
    assert_int_equal(c.rc, 0);
    assert_non_null(strstr(c.out, "Total params: 31,078,280"));
    assert_non_null(strstr(c.out, "Total MACs: 4.5570 G"));
    assert_non_null(strstr(c.out, "stages.2.1.conv2"));      /* per-layer rows */
    assert_non_null(strstr(c.out, "3x256x256      -> 32x128x128")); /* the stem */
    assert_non_null(strstr(c.out, "Activation memory:"));
    captured_free(&c);
}

static void test_info_resolution_and_blocks(void **state) {
    (void)state;
    captured c = run_model((const char *[]){"model", "info", "gpunet-0", "--resolution", "224",
                                            "--blocks", NULL});
    assert_int_equal(c.rc, 0);
    assert_non_null(strstr(c.out, "input 3x224x224"));
    assert_non_null(strstr(c.out, "Total params: 11,885,432")); /* resolution does not change params */
    assert_non_null(strstr(c.out, "stages.6.1 "));
    assert_null(strstr(c.out, "conv_dw")); /* one row per block */
    captured_free(&c);
}

static void test_info_json(void **state) {
    (void)state;
    captured c = run_model((const char *[]){"model", "info", "gpunet-0", "--json", NULL});
    assert_int_equal(c.rc, 0);
    cJSON *doc = cJSON_Parse(c.out);
    assert_non_null(doc);
    assert_true(cJSON_GetObjectItem(doc, "params")->valuedouble == 11885432.0);
    assert_true(cJSON_GetObjectItem(doc, "macs")->valuedouble == 3254209280.0);
    cJSON *layers = cJSON_GetObjectItem(doc, "layers");
    assert_true(cJSON_GetArraySize(layers) > 10);
    double sum = 0;
    for (cJSON *l = layers->child; l; l = l->next) sum += cJSON_GetObjectItem(l, "params")->valuedouble;
    assert_true(sum == 11885432.0);
    cJSON *arch = cJSON_GetObjectItem(doc, "arch");
    assert_int_equal(cJSON_GetObjectItem(arch, "resolution")->valueint, 320);
    assert_int_equal((int)strlen(cJSON_GetObjectItem(doc, "hash")->valuestring), 16);
    cJSON_Delete(doc);
    captured_free(&c);
}

static void test_list(void **state) {
    (void)state;
    captured c = run_model((const char *[]){"model", "list", NULL});
    assert_int_equal(c.rc, 0);
    const char *names[] = {"genet-light", "genet-normal", "genet-large", "gpunet-0", "gpunet-1", "gpunet-2"};
    for (size_t i = 0; i < 6; i++) assert_non_null(strstr(c.out, names[i]));
    assert_non_null(strstr(c.out, "8,173,761"));
    captured_free(&c);
}

static void test_usage_errors(void **state) {
    (void)state;
    struct {
        const char *args[6];
        int rc;
        const char *err;
    } cases[] = {
        {{"model", NULL}, 2, "usage: nas model info"},
        {{"model", "info", NULL}, 2, "which model?"},
        {{"model", "info", "genet-light", "--resolution", "0", NULL}, 2, "--resolution needs an integer in [1, 1024]"},
        {{"model", "info", "genet-light", "--resolution", NULL}, 2, "got '(nothing)'"},
        {{"model", "info", "genet-light", "--frob", NULL}, 2, "unknown option '--frob'"},
        {{"model", "info", "a", "b", NULL}, 2, "one model at a time"},
        {{"model", "info", "no-such-model", NULL}, 1, "'no-such-model' is neither a file nor a name"},
        {{"model", "info", "gpunet-0", "--resolution", "8", NULL}, 1, "too small"},
        {{"model", "wat", NULL}, 2, "unknown subcommand 'wat'"},
        {{"model", "list", "extra", NULL}, 2, "unexpected argument 'extra'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        captured c = run_model(cases[i].args);
        if (c.rc != cases[i].rc || !strstr(c.err, cases[i].err))
            fail_msg("case %zu: want rc %d and \"%s\", got rc %d and \"%s\"", i, cases[i].rc,
                     cases[i].err, c.rc, c.err);
        captured_free(&c);
    }
    captured h = run_model((const char *[]){"model", "--help", NULL});
    assert_int_equal(h.rc, 0);
    assert_non_null(strstr(h.out, "--resolution R"));
    captured_free(&h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_info_genet_large), cmocka_unit_test(test_info_resolution_and_blocks),
        cmocka_unit_test(test_info_json),        cmocka_unit_test(test_list),
        cmocka_unit_test(test_usage_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
