/*
 * tests/test_checkpoint.c - safetensors writing and reading, validation of
 * damaged files, half-precision input, and network round trips (strict and
 * name-matched). If python3 with torch (or safetensors) is installed, a
 * written file is also read back by PyTorch; otherwise that step is skipped
 * with a message.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/train_fixtures.h"
#include "trainer/backend.h"
#include "trainer/checkpoint.h"
#include "trainer/graph.h"

static char *temp_path(void) {
    char *path = strdup("/tmp/nas_test_ckpt_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    return path;
}

static void test_save_load_roundtrip(void **state) {
    (void)state;
    char *path = temp_path();
    nas_err err = {0};
    nas_ckpt *c = nas_ckpt_new();
    float conv[2 * 3 * 3 * 3], vec[5], scalar = 42.5f;
    for (int i = 0; i < 54; i++) conv[i] = (float)i * 0.25f - 3.0f;
    for (int i = 0; i < 5; i++) vec[i] = -(float)i;
    const int64_t conv_shape[4] = {2, 3, 3, 3}, vec_shape[1] = {5}, empty_shape[2] = {0, 4};
    assert_int_equal(nas_ckpt_add(c, "stages.0.0.conv.weight", 4, conv_shape, conv, &err), 0);
    assert_int_equal(nas_ckpt_add(c, "fc.bias", 1, vec_shape, vec, &err), 0);
    assert_int_equal(nas_ckpt_add(c, "step", 0, NULL, &scalar, &err), 0);
    assert_int_equal(nas_ckpt_add(c, "empty", 2, empty_shape, NULL, &err), 0);
    assert_int_equal(nas_ckpt_add(c, "fc.bias", 1, vec_shape, vec, &err), NAS_EINVAL);
    assert_int_equal(nas_ckpt_set_meta(c, "arch", "{\"quoted\": \"yes\\n\"}", &err), 0);
    assert_int_equal(nas_ckpt_set_meta(c, "epochs_done", "1", &err), 0);
    assert_int_equal(nas_ckpt_set_meta(c, "epochs_done", "2", &err), 0); /* replaces */
    assert_int_equal(nas_ckpt_save(c, path, &err), 0);
    nas_ckpt_free(&c);

    /* The header length is 8-aligned, as the format recommends. */
    FILE *f = fopen(path, "rb");
    unsigned char len_le[8];
    assert_int_equal(fread(len_le, 1, 8, f), 8);
    fclose(f);
    assert_int_equal(len_le[0] % 8, 0);

    assert_int_equal(nas_ckpt_load(path, &c, &err), 0);
    assert_int_equal(nas_ckpt_tensor_count(c), 4);
    const nas_ckpt_tensor *t = nas_ckpt_find(c, "stages.0.0.conv.weight");
    assert_non_null(t);
    assert_int_equal(t->ndim, 4);
    assert_int_equal(t->shape[1], 3);
    assert_int_equal(t->count, 54);
    assert_memory_equal(t->data, conv, sizeof conv);
    t = nas_ckpt_find(c, "step");
    assert_int_equal(t->ndim, 0);
    assert_int_equal(t->count, 1);
    assert_float_equal(t->data[0], 42.5, 0);
    assert_int_equal(nas_ckpt_find(c, "empty")->count, 0);
    assert_string_equal(nas_ckpt_meta(c, "arch"), "{\"quoted\": \"yes\\n\"}");
    assert_string_equal(nas_ckpt_meta(c, "epochs_done"), "2");
    assert_null(nas_ckpt_meta(c, "absent"));
    nas_ckpt_free(&c);
    assert_null(c);
    unlink(path);
    free(path);
}

/* Writes a file made of an 8-byte length, the header text and data bytes. */
static void write_raw(const char *path, const char *header, uint64_t header_len_field,
                      const void *data, size_t data_len) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    unsigned char len_le[8];
    for (int i = 0; i < 8; i++) len_le[i] = (unsigned char)(header_len_field >> (8 * i));
    fwrite(len_le, 1, 8, f);
    fwrite(header, 1, strlen(header), f);
    if (data_len) fwrite(data, 1, data_len, f);
    fclose(f);
}

static void test_reads_half_precision_and_double(void **state) {
    (void)state;
    char *path = temp_path();
    /* F16 1.0 = 0x3c00, -2.5 = 0xc100, 2^-24 (smallest subnormal) = 0x0001;
     * BF16 3.0 = 0x4040; F64 0.125. */
    unsigned char data[6 + 2 + 8] = {0x00, 0x3c, 0x00, 0xc1, 0x01, 0x00, 0x40, 0x40};
    double eighth = 0.125;
    memcpy(data + 8, &eighth, 8);
    const char *header = "{\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,6]},"
                         "\"b\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[6,8]},"
                         "\"d\":{\"dtype\":\"F64\",\"shape\":[1,1],\"data_offsets\":[8,16]}}";
    write_raw(path, header, strlen(header), data, sizeof data);
    nas_ckpt *c = NULL;
    nas_err err = {0};
    if (nas_ckpt_load(path, &c, &err)) fail_msg("%s", err.msg);
    const nas_ckpt_tensor *h = nas_ckpt_find(c, "h");
    assert_float_equal(h->data[0], 1.0, 0);
    assert_float_equal(h->data[1], -2.5, 0);
    assert_float_equal(h->data[2], ldexp(1.0, -24), 0);
    assert_float_equal(nas_ckpt_find(c, "b")->data[0], 3.0, 0);
    assert_float_equal(nas_ckpt_find(c, "d")->data[0], 0.125, 0);
    nas_ckpt_free(&c);
    unlink(path);
    free(path);
}

static void expect_load_error(const char *header, uint64_t len_field, size_t data_len, int code,
                              const char *needle) {
    char *path = temp_path();
    unsigned char data[64] = {0};
    write_raw(path, header, len_field, data, data_len);
    nas_ckpt *c = NULL;
    nas_err err = {0};
    assert_int_equal(nas_ckpt_load(path, &c, &err), code);
    assert_null(c);
    if (!strstr(err.msg, needle)) fail_msg("'%s' lacks '%s'", err.msg, needle);
    unlink(path);
    free(path);
}

static void test_rejects_damaged_files(void **state) {
    (void)state;
    const char *good = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    expect_load_error(good, 1u << 20, 8, NAS_EPARSE, "does not fit");
    expect_load_error(good, strlen(good), 4, NAS_EPARSE, "outside the 4-byte data section");
    expect_load_error(good, strlen(good), 12, NAS_EPARSE, "cover 8 of the 12");
    expect_load_error("{\"a\":", 5, 0, NAS_EPARSE, "not a JSON object");
    expect_load_error("{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 54, 8,
                      NAS_EUNSUPPORTED, "dtype I64");
    expect_load_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 54, 8,
                      NAS_EPARSE, "need 12");
    expect_load_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                      107, 8, NAS_EPARSE, "overlapping");
    expect_load_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 55, 8,
                      NAS_EPARSE, "invalid shape");
    expect_load_error("{\"__metadata__\":{\"k\":1}}", 24, 0, NAS_EPARSE, "not a string");
    nas_ckpt *c = NULL;
    nas_err err = {0};
    assert_int_equal(nas_ckpt_load("/nonexistent/x.safetensors", &c, &err), NAS_ENOTFOUND);
    char *path = temp_path();
    write_raw(path, "", 0, NULL, 0);
    assert_int_equal(truncate(path, 5), 0);
    assert_int_equal(nas_ckpt_load(path, &c, &err), NAS_EPARSE);
    assert_non_null(strstr(err.msg, "too short"));
    unlink(path);
    free(path);
}

static void test_net_roundtrip_strict_and_matched(void **state) {
    (void)state;
    char *path = temp_path();
    nas_err err = {0};
    nas_backend *be = NULL;
    assert_int_equal(nas_backend_cpu_new(1, &be, &err), 0);
    nas_arch a = tiny_arch(8, 16, 16), b = tiny_arch(8, 16, 24);
    nas_net *n1 = NULL, *n2 = NULL, *other = NULL;
    assert_int_equal(nas_net_new(&a, be, 2, 1, &n1, &err), 0);
    assert_int_equal(nas_net_new(&a, be, 2, 2, &n2, &err), 0); /* other seed: other weights */
    assert_int_equal(nas_net_new(&b, be, 2, 3, &other, &err), 0);
    nas_optim *opt = NULL;
    assert_int_equal(nas_optim_new(n1, &opt, &err), 0);
    nas_ckpt *c = NULL, *back = NULL;
    assert_int_equal(nas_ckpt_from_net(n1, opt, &c, &err), 0);
    /* every parameter and running statistic, plus a momentum per trained tensor */
    int params = nas_net_param_count(n1), with_grad = 0;
    for (int i = 0; i < params; i++) with_grad += nas_net_param(n1, i)->grad != NULL;
    assert_int_equal(nas_ckpt_tensor_count(c), params + with_grad);
    assert_non_null(nas_ckpt_find(c, "fc.weight"));
    assert_non_null(nas_ckpt_find(c, "momentum.fc.weight"));
    assert_int_equal(nas_ckpt_find(c, "fc.weight")->ndim, 2);
    assert_int_equal(nas_ckpt_save(c, path, &err), 0);
    assert_int_equal(nas_ckpt_load(path, &back, &err), 0);
    int loaded = 0;
    assert_int_equal(nas_ckpt_to_net(back, n2, NULL, NAS_CKPT_STRICT, &loaded, NULL, &err), 0);
    assert_int_equal(loaded, params);
    nas_ckpt *again = NULL;
    assert_int_equal(nas_ckpt_from_net(n2, NULL, &again, &err), 0);
    for (int i = 0; i < nas_ckpt_tensor_count(again); i++) {
        const nas_ckpt_tensor *t = nas_ckpt_tensor_at(again, i);
        const nas_ckpt_tensor *want = nas_ckpt_find(c, t->name);
        assert_non_null(want);
        assert_memory_equal(t->data, want->data, sizeof(float) * t->count);
    }
    /* Strict into another architecture: refused, naming the tensor and both shapes. */
    assert_int_equal(nas_ckpt_to_net(back, other, NULL, NAS_CKPT_STRICT, NULL, NULL, &err), NAS_EINVAL);
    assert_non_null(strstr(err.msg, "stages.2.0.conv.weight"));
    assert_non_null(strstr(err.msg, "[16, 16, 1, 1]"));
    /* Matched by name: the rest loads, the stage-2 conv and BN and the fc weight are skipped. */
    int mismatched = 0;
    assert_int_equal(nas_ckpt_to_net(back, other, NULL, NAS_CKPT_MATCH_NAMES, &loaded, &mismatched, &err), 0);
    assert_int_equal(mismatched, 6); /* conv.weight, bn.{weight,bias,running_mean,running_var}, fc.weight */
    assert_int_equal(loaded, nas_net_param_count(other) - 6);
    nas_ckpt_free(&again);
    nas_ckpt_free(&back);
    nas_ckpt_free(&c);
    nas_optim_free(&opt);
    nas_net_free(&n1);
    nas_net_free(&n2);
    nas_net_free(&other);
    nas_backend_free(&be);
    unlink(path);
    free(path);
}

/* PyTorch reads what we write. Debian's python3-torch lives under /usr/bin/python3
 * (a python3 earlier on PATH may not see it); $NAS_PYTHON overrides. One interpreter
 * start: the script exits 77 when torch is missing, and the test then skips. If the
 * safetensors package is present it loads with safetensors.torch.load_file, else it
 * parses the layout as the format specifies and builds tensors with torch.frombuffer. */
static void test_pytorch_reads_it(void **state) {
    (void)state;
    const char *python = getenv("NAS_PYTHON");
    if (!python || !*python) python = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    char *path = temp_path();
    nas_err err = {0};
    nas_ckpt *c = nas_ckpt_new();
    float w[6] = {1, 2, 3, 4, 5, 6.5f}, b[3] = {-1, 0, 1};
    const int64_t ws[2] = {3, 2}, bs[1] = {3};
    assert_int_equal(nas_ckpt_add(c, "fc.weight", 2, ws, w, &err), 0);
    assert_int_equal(nas_ckpt_add(c, "fc.bias", 1, bs, b, &err), 0);
    assert_int_equal(nas_ckpt_set_meta(c, "format", "gpunas", &err), 0);
    assert_int_equal(nas_ckpt_save(c, path, &err), 0);
    nas_ckpt_free(&c);
    char script[2048];
    snprintf(script, sizeof script,
             "%s -c \"\n"
             "import json, struct, sys\n"
             "try:\n"
             "    import torch\n"
             "except ImportError:\n"
             "    sys.exit(77)\n"
             "try:\n"
             "    from safetensors.torch import load_file\n"
             "    t = load_file('%s'); how = 'safetensors.torch.load_file'\n"
             "except ImportError:\n"
             "    d = open('%s', 'rb').read(); n = struct.unpack('<Q', d[:8])[0]; h = json.loads(d[8:8 + n])\n"
             "    assert h['__metadata__']['format'] == 'gpunas'\n"
             "    t = {k: torch.frombuffer(bytearray(d[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]]),\n"
             "         dtype=torch.float32).reshape(v['shape']) for k, v in h.items() if k != '__metadata__'}\n"
             "    how = 'torch.frombuffer'\n"
             "assert t['fc.weight'].shape == (3, 2) and t['fc.weight'][2, 1].item() == 6.5\n"
             "assert t['fc.bias'].dtype == torch.float32 and t['fc.bias'].tolist() == [-1, 0, 1]\n"
             "print('PyTorch', torch.__version__, 'read it with', how)\n"
             "\"",
             python, path, path);
    int status = system(script);
    unlink(path);
    free(path);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
        print_message("SKIP: %s has no torch (apt-get install python3-torch)\n", python);
        skip();
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_save_load_roundtrip),
        cmocka_unit_test(test_reads_half_precision_and_double),
        cmocka_unit_test(test_rejects_damaged_files),
        cmocka_unit_test(test_net_roundtrip_strict_and_matched),
        cmocka_unit_test(test_pytorch_reads_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
