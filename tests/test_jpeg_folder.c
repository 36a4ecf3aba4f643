/*
 * tests/test_jpeg_folder.c - JPEG folders: index, decode + crop, threaded
 * batches and the errors for broken input.
 *
 * Every JPEG is written here with libjpeg's compressor into a fresh temporary
 * folder, with colours chosen so that what comes back can be checked: solid
 * class colours (a label must match its image's colour after shuffling on
 * several threads), half-and-half images (centre crop and flip keep sides
 * where they belong), quadrants in a large image (the DCT-scaled decode path),
 * greyscale and CMYK files (both become RGB).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>

#include "trainer/data/jpeg_folder.h"

/* JPEG is lossy: solid colours come back within a few levels, edges blur. */
#define COLOUR_TOLERANCE 24

typedef struct rgb {
    uint8_t r, g, b;
} rgb;

static const rgb class_colours[3] = {{220, 30, 30}, {30, 200, 40}, {40, 50, 210}};

/* ---- writing test images ---- */

static void write_jpeg(const char *path, int width, int height, int components,
                       J_COLOR_SPACE space, const uint8_t *pixels) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)width;
    c.image_height = (JDIMENSION)height;
    c.input_components = components;
    c.in_color_space = space;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 95, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)c.next_scanline * width * components);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    assert_int_equal(fclose(f), 0);
}

/* An RGB image whose pixel (x, y) is colour_at(x, y). */
static void write_rgb(const char *path, int width, int height,
                      rgb (*colour_at)(int x, int y, int width, int height)) {
    uint8_t *pixels = malloc((size_t)width * height * 3);
    assert_non_null(pixels);
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++) {
            rgb c = colour_at(x, y, width, height);
            uint8_t *p = pixels + ((size_t)y * width + x) * 3;
            p[0] = c.r, p[1] = c.g, p[2] = c.b;
        }
    write_jpeg(path, width, height, 3, JCS_RGB, pixels);
    free(pixels);
}

static int solid_class; /* colour index used by solid() */
static rgb solid(int x, int y, int w, int h) {
    (void)x, (void)y, (void)w, (void)h;
    return class_colours[solid_class];
}
static rgb red_left_blue_right(int x, int y, int w, int h) {
    (void)y, (void)h;
    return x < w / 2 ? class_colours[0] : class_colours[2];
}
static rgb quadrants(int x, int y, int w, int h) {
    if (y < h / 2) return x < w / 2 ? class_colours[0] : class_colours[1];
    return x < w / 2 ? class_colours[2] : (rgb){240, 240, 240};
}

/* Pseudo-random texture: costly to compress, so most of the file is
 * entropy-coded scan data and a cut lands inside it. */
static rgb noise(int x, int y, int w, int h) {
    (void)w, (void)h;
    uint32_t v = ((uint32_t)x * 73856093u) ^ ((uint32_t)y * 19349663u);
    v *= 2654435761u;
    return (rgb){(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8)};
}

static void make_dir(const char *path) { assert_int_equal(mkdir(path, 0755), 0); }

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* Copies the first `fraction` of a file's bytes to dst. */
static void write_truncated_copy(const char *src, const char *dst, double fraction) {
    FILE *in = fopen(src, "rb");
    assert_non_null(in);
    uint8_t buffer[1 << 16];
    size_t n = fread(buffer, 1, sizeof buffer, in);
    fclose(in);
    assert_true(n > 100 && n < sizeof buffer);
    FILE *out = fopen(dst, "wb");
    assert_non_null(out);
    assert_int_equal(fwrite(buffer, 1, (size_t)(n * fraction), out), (size_t)(n * fraction));
    assert_int_equal(fclose(out), 0);
}

static char *temp_dir(void) {
    char *dir = strdup("/tmp/test_jpeg_folder.XXXXXX");
    assert_non_null(dir);
    assert_non_null(mkdtemp(dir));
    return dir;
}

static void remove_tree(char *dir) {
    char command[256];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    assert_int_equal(system(command), 0);
    free(dir);
}

static char *path_in(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Output pixel (x, y) of a 3 x size x size planar crop. */
static rgb crop_pixel(const uint8_t *crop, int size, int x, int y) {
    size_t plane = (size_t)size * size, at = (size_t)y * size + x;
    return (rgb){crop[at], crop[plane + at], crop[2 * plane + at]};
}

static void assert_colour_near(rgb got, rgb want) {
    if (abs(got.r - want.r) > COLOUR_TOLERANCE || abs(got.g - want.g) > COLOUR_TOLERANCE ||
        abs(got.b - want.b) > COLOUR_TOLERANCE)
        fail_msg("colour (%d,%d,%d) is not near (%d,%d,%d)", got.r, got.g, got.b, want.r, want.g,
                 want.b);
}

static void make_dir_in(const char *dir, const char *name) {
    char *p = path_in(dir, name);
    make_dir(p);
    free(p);
}

/* dir/name as a solid image of class colour `colour`. */
static void write_solid_in(const char *dir, const char *name, int colour, int width, int height) {
    char *p = path_in(dir, name);
    solid_class = colour;
    write_rgb(p, width, height, solid);
    free(p);
}

/* ---- the index ---- */

static void test_index_sorts_classes_and_ignores_other_files(void **state) {
    (void)state;
    char *dir = temp_dir();
    make_dir_in(dir, "zebra");
    make_dir_in(dir, "apple");
    make_dir_in(dir, "mango");
    make_dir_in(dir, ".cache"); /* hidden: not a class */
    write_solid_in(dir, "zebra/b.jpg", 0, 8, 8);
    write_solid_in(dir, "zebra/a.JPEG", 0, 8, 8);
    write_solid_in(dir, "apple/only.jpg", 1, 8, 8);
    write_solid_in(dir, "mango/1.Jpg", 2, 8, 8);
    write_solid_in(dir, "mango/0.jpeg", 2, 8, 8);
    write_solid_in(dir, "mango/.hidden.jpg", 2, 8, 8);
    write_solid_in(dir, ".cache/x.jpg", 2, 8, 8);
    char *text = path_in(dir, "mango/labels.txt");
    write_text(text, "not an image\n");
    free(text);
    text = path_in(dir, "README");
    write_text(text, "a file at the top is not a class\n");
    free(text);

    nas_jpeg_folder *f = NULL;
    nas_err err = {0};
    if (nas_jpeg_folder_open(dir, &f, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(nas_jpeg_folder_classes(f), 3);
    assert_string_equal(nas_jpeg_folder_class_name(f, 0), "apple");
    assert_string_equal(nas_jpeg_folder_class_name(f, 1), "mango");
    assert_string_equal(nas_jpeg_folder_class_name(f, 2), "zebra");
    assert_null(nas_jpeg_folder_class_name(f, 3));
    assert_int_equal(nas_jpeg_folder_count(f), 5);
    static const char *const expected[] = {"apple/only.jpg", "mango/0.jpeg", "mango/1.Jpg",
                                           "zebra/a.JPEG", "zebra/b.jpg"};
    static const int labels[] = {0, 1, 1, 2, 2};
    for (int i = 0; i < 5; i++) {
        char *want = path_in(dir, expected[i]);
        assert_string_equal(nas_jpeg_folder_path(f, i), want);
        assert_int_equal(nas_jpeg_folder_label(f, i), labels[i]);
        free(want);
    }
    assert_null(nas_jpeg_folder_path(f, 5));
    assert_int_equal(nas_jpeg_folder_label(f, -1), -1);
    nas_jpeg_folder_free(&f);
    assert_null(f);
    nas_jpeg_folder_free(&f); /* NULL-safe */
    remove_tree(dir);
}

static void test_index_errors_say_what_is_wrong(void **state) {
    (void)state;
    nas_jpeg_folder *f = NULL;
    nas_err err = {0};
    assert_int_equal(nas_jpeg_folder_open("/nonexistent/imagenet", &f, &err), NAS_ENOTFOUND);
    assert_non_null(strstr(err.msg, "/nonexistent/imagenet"));
    assert_null(f);

    char *dir = temp_dir();
    write_solid_in(dir, "flat.jpg", 0, 8, 8); /* images but no class folders */
    assert_int_equal(nas_jpeg_folder_open(dir, &f, &err), NAS_EINVAL);
    assert_non_null(strstr(err.msg, "no class subfolders"));

    make_dir_in(dir, "a");
    make_dir_in(dir, "b");
    write_solid_in(dir, "a/1.jpg", 0, 8, 8);
    assert_int_equal(nas_jpeg_folder_open(dir, &f, &err), NAS_EINVAL);
    assert_non_null(strstr(err.msg, "/b holds no .jpg"));
    assert_null(f);
    remove_tree(dir);
}

/* ---- decoding ---- */

static void test_eval_centre_crop_keeps_sides(void **state) {
    (void)state;
    char *dir = temp_dir();
    char *path = path_in(dir, "half.jpg");
    write_rgb(path, 64, 48, red_left_blue_right);
    enum { SIZE = 16 };
    uint8_t crop[3 * SIZE * SIZE];
    nas_jpeg_crop_opts opts = nas_jpeg_crop_defaults(SIZE, false);
    nas_err err = {0};
    if (nas_jpeg_decode_crop(path, &opts, NULL, crop, &err) != 0) fail_msg("%s", err.msg);
    for (int y = 0; y < SIZE; y++) {
        assert_colour_near(crop_pixel(crop, SIZE, 2, y), class_colours[0]);
        assert_colour_near(crop_pixel(crop, SIZE, SIZE - 3, y), class_colours[2]);
    }
    free(path);
    remove_tree(dir);
}

/* A 400 x 300 image decoded to 24 x 24 goes through libjpeg's 1/8 scaling;
 * the quadrants must still land in the right corners. */
static void test_large_image_uses_dct_scaling_and_keeps_layout(void **state) {
    (void)state;
    char *dir = temp_dir();
    char *path = path_in(dir, "big.jpg");
    write_rgb(path, 400, 300, quadrants);
    enum { SIZE = 24 };
    uint8_t crop[3 * SIZE * SIZE];
    nas_jpeg_crop_opts opts = nas_jpeg_crop_defaults(SIZE, false);
    opts.crop_fraction = 1.0; /* the centre 300 x 300 square */
    nas_err err = {0};
    if (nas_jpeg_decode_crop(path, &opts, NULL, crop, &err) != 0) fail_msg("%s", err.msg);
    assert_colour_near(crop_pixel(crop, SIZE, 3, 3), class_colours[0]);
    assert_colour_near(crop_pixel(crop, SIZE, SIZE - 4, 3), class_colours[1]);
    assert_colour_near(crop_pixel(crop, SIZE, 3, SIZE - 4), class_colours[2]);
    assert_colour_near(crop_pixel(crop, SIZE, SIZE - 4, SIZE - 4), (rgb){240, 240, 240});
    free(path);
    remove_tree(dir);
}

static void test_train_crop_is_seeded_and_flips_sometimes(void **state) {
    (void)state;
    char *dir = temp_dir();
    char *path = path_in(dir, "half.jpg");
    write_rgb(path, 40, 40, red_left_blue_right);
    enum { SIZE = 12 };
    nas_jpeg_crop_opts opts = nas_jpeg_crop_defaults(SIZE, true);
    opts.scale_min = opts.scale_max = 1.0; /* the whole image, so only the flip varies */
    opts.ratio_min = opts.ratio_max = 1.0;
    int flipped = 0, kept = 0;
    for (uint64_t seed = 1; seed <= 24; seed++) {
        uint8_t crop[3 * SIZE * SIZE], again[3 * SIZE * SIZE];
        nas_rng rng;
        nas_err err = {0};
        nas_rng_seed(&rng, seed);
        if (nas_jpeg_decode_crop(path, &opts, &rng, crop, &err) != 0) fail_msg("%s", err.msg);
        nas_rng_seed(&rng, seed);
        assert_int_equal(nas_jpeg_decode_crop(path, &opts, &rng, again, &err), 0);
        assert_memory_equal(crop, again, sizeof crop);
        rgb left = crop_pixel(crop, SIZE, 1, SIZE / 2);
        if (left.r > left.b) {
            kept++;
            assert_colour_near(crop_pixel(crop, SIZE, SIZE - 2, SIZE / 2), class_colours[2]);
        } else {
            flipped++;
            assert_colour_near(left, class_colours[2]);
            assert_colour_near(crop_pixel(crop, SIZE, SIZE - 2, SIZE / 2), class_colours[0]);
        }
    }
    assert_true(flipped >= 4);
    assert_true(kept >= 4);

    /* With the default scale range the crops differ from seed to seed. */
    opts = nas_jpeg_crop_defaults(SIZE, true);
    uint8_t first[3 * SIZE * SIZE], other[3 * SIZE * SIZE];
    nas_rng rng;
    nas_err err = {0};
    nas_rng_seed(&rng, 7);
    assert_int_equal(nas_jpeg_decode_crop(path, &opts, &rng, first, &err), 0);
    bool differs = false;
    for (uint64_t seed = 8; seed < 16 && !differs; seed++) {
        nas_rng_seed(&rng, seed);
        assert_int_equal(nas_jpeg_decode_crop(path, &opts, &rng, other, &err), 0);
        differs = memcmp(first, other, sizeof first) != 0;
    }
    assert_true(differs);
    free(path);
    remove_tree(dir);
}

static void test_greyscale_and_cmyk_become_rgb(void **state) {
    (void)state;
    char *dir = temp_dir();
    enum { W = 16, H = 16, SIZE = 8 };
    uint8_t grey[W * H], cmyk[W * H * 4];
    memset(grey, 128, sizeof grey);
    for (int i = 0; i < W * H; i++) { /* Adobe-inverted CMYK red: no cyan ink, full M and Y */
        cmyk[4 * i + 0] = 255;
        cmyk[4 * i + 1] = 0;
        cmyk[4 * i + 2] = 0;
        cmyk[4 * i + 3] = 255;
    }
    char *grey_path = path_in(dir, "grey.jpg"), *cmyk_path = path_in(dir, "cmyk.jpg");
    write_jpeg(grey_path, W, H, 1, JCS_GRAYSCALE, grey);
    write_jpeg(cmyk_path, W, H, 4, JCS_CMYK, cmyk);
    nas_jpeg_crop_opts opts = nas_jpeg_crop_defaults(SIZE, false);
    uint8_t crop[3 * SIZE * SIZE];
    nas_err err = {0};
    if (nas_jpeg_decode_crop(grey_path, &opts, NULL, crop, &err) != 0) fail_msg("%s", err.msg);
    assert_colour_near(crop_pixel(crop, SIZE, 4, 4), (rgb){128, 128, 128});
    if (nas_jpeg_decode_crop(cmyk_path, &opts, NULL, crop, &err) != 0) fail_msg("%s", err.msg);
    assert_colour_near(crop_pixel(crop, SIZE, 4, 4), (rgb){255, 0, 0});
    free(grey_path);
    free(cmyk_path);
    remove_tree(dir);
}

static void test_broken_files_fail_with_their_name(void **state) {
    (void)state;
    char *dir = temp_dir();
    char *good = path_in(dir, "good.jpg"), *cut = path_in(dir, "cut.jpg");
    char *text = path_in(dir, "text.jpg"), *missing = path_in(dir, "missing.jpg");
    write_rgb(good, 96, 96, noise);
    write_truncated_copy(good, cut, 0.6);
    write_text(text, "this is not a JPEG\n");
    nas_jpeg_crop_opts opts = nas_jpeg_crop_defaults(16, false);
    uint8_t crop[3 * 16 * 16];
    nas_err err = {0};

    assert_int_equal(nas_jpeg_decode_crop(cut, &opts, NULL, crop, &err), NAS_EPARSE);
    assert_non_null(strstr(err.msg, cut));
    assert_non_null(strstr(err.msg, "corrupt JPEG data"));

    assert_int_equal(nas_jpeg_decode_crop(text, &opts, NULL, crop, &err), NAS_EPARSE);
    assert_non_null(strstr(err.msg, "not a JPEG file"));

    assert_int_equal(nas_jpeg_decode_crop(missing, &opts, NULL, crop, &err), NAS_EIO);
    assert_non_null(strstr(err.msg, missing));

    /* A valid start marker followed by garbage is libjpeg's fatal error path. */
    write_text(text, "\xff\xd8\xff garbage after the start of image marker");
    assert_int_equal(nas_jpeg_decode_crop(text, &opts, NULL, crop, &err), NAS_EPARSE);
    assert_non_null(strstr(err.msg, "cannot decode JPEG"));

    opts.size = 0;
    assert_int_equal(nas_jpeg_decode_crop(good, &opts, NULL, crop, &err), NAS_EINVAL);
    free(good);
    free(cut);
    free(text);
    free(missing);
    remove_tree(dir);
}

/* ---- the loader ---- */

enum { LOADER_CLASSES = 3, PER_CLASS = 5, LOADER_SIZE = 12 };

/* 3 classes x 5 solid images of the class colour, of varied sizes. */
static char *make_class_folder(void) {
    char *dir = temp_dir();
    static const char *const names[LOADER_CLASSES] = {"a_red", "b_green", "c_blue"};
    for (int c = 0; c < LOADER_CLASSES; c++) {
        make_dir_in(dir, names[c]);
        for (int i = 0; i < PER_CLASS; i++) {
            char name[64];
            snprintf(name, sizeof name, "%s/%d.jpg", names[c], i);
            write_solid_in(dir, name, c, 20 + 7 * i, 30 - 3 * i);
        }
    }
    return dir;
}

/* Which class colour a normalised image shows (its centre pixel). */
static int colour_class_of(const float *image, const float *mean, const float *std) {
    size_t plane = LOADER_SIZE * LOADER_SIZE, centre = (LOADER_SIZE / 2) * LOADER_SIZE + LOADER_SIZE / 2;
    float v[3];
    for (int c = 0; c < 3; c++) v[c] = (image[c * plane + centre] * std[c] + mean[c]) * 255.0f;
    int best = -1;
    float best_distance = 1e9f;
    for (int k = 0; k < LOADER_CLASSES; k++) {
        float d = fabsf(v[0] - class_colours[k].r) + fabsf(v[1] - class_colours[k].g) +
                  fabsf(v[2] - class_colours[k].b);
        if (d < best_distance) best_distance = d, best = k;
    }
    return best;
}

static nas_jpeg_loader_opts loader_opts(void) {
    static const float mean[3] = {0.5f, 0.5f, 0.5f}, std[3] = {0.25f, 0.25f, 0.25f};
    return (nas_jpeg_loader_opts){.batch = 4, .shuffle = true, .drop_last = false,
                                  .crop = nas_jpeg_crop_defaults(LOADER_SIZE, true), .seed = 42,
                                  .mean = mean, .std = std, .threads = 3, .prefetch = 2};
}

/* Runs one epoch and returns a copy of all its images and labels. */
static int run_epoch(nas_jpeg_loader *loader, int epoch, float *images, int *labels,
                     const nas_jpeg_loader_opts *o) {
    nas_err err = {0};
    if (nas_jpeg_loader_start_epoch(loader, epoch, &err) != 0) fail_msg("%s", err.msg);
    size_t image_floats = 3 * LOADER_SIZE * LOADER_SIZE;
    int total = 0, batches = 0, rc;
    nas_batch batch;
    while ((rc = nas_jpeg_loader_next(loader, &batch, &err)) == 1) {
        assert_int_equal(batch.index, batches);
        assert_true(batch.count >= 1 && batch.count <= o->batch);
        memcpy(images + total * image_floats, batch.images, batch.count * image_floats * sizeof(float));
        memcpy(labels + total, batch.labels, (size_t)batch.count * sizeof(int));
        total += batch.count;
        batches++;
    }
    if (rc != 0) fail_msg("%s", err.msg);
    assert_int_equal(batches, nas_jpeg_loader_batches_per_epoch(loader));
    return total;
}

static void test_loader_delivers_every_image_once_with_its_label(void **state) {
    (void)state;
    char *dir = make_class_folder();
    nas_jpeg_folder *folder = NULL;
    nas_err err = {0};
    if (nas_jpeg_folder_open(dir, &folder, &err) != 0) fail_msg("%s", err.msg);
    nas_jpeg_loader_opts o = loader_opts();
    nas_jpeg_loader *loader = NULL, *twin = NULL;
    if (nas_jpeg_loader_new(folder, &o, &loader, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(nas_jpeg_loader_new(folder, &o, &twin, &err), 0);
    assert_int_equal(nas_jpeg_loader_batches_per_epoch(loader), 4); /* 15 images, batch 4 */

    enum { N = LOADER_CLASSES * PER_CLASS };
    size_t image_floats = 3 * LOADER_SIZE * LOADER_SIZE;
    float *images = malloc(N * image_floats * sizeof(float));
    float *twin_images = malloc(N * image_floats * sizeof(float));
    float *epoch1_images = malloc(N * image_floats * sizeof(float));
    int labels[N], twin_labels[N], epoch1_labels[N];
    assert_non_null(images);
    assert_non_null(twin_images);
    assert_non_null(epoch1_images);

    assert_int_equal(run_epoch(loader, 0, images, labels, &o), N);
    int per_class[LOADER_CLASSES] = {0};
    for (int i = 0; i < N; i++) {
        assert_in_range(labels[i], 0, LOADER_CLASSES - 1);
        per_class[labels[i]]++;
        assert_int_equal(colour_class_of(images + i * image_floats, o.mean, o.std), labels[i]);
    }
    for (int c = 0; c < LOADER_CLASSES; c++) assert_int_equal(per_class[c], PER_CLASS);

    /* Same seed and epoch: the same bytes, whatever the threads did. */
    assert_int_equal(run_epoch(twin, 0, twin_images, twin_labels, &o), N);
    assert_memory_equal(labels, twin_labels, sizeof labels);
    assert_memory_equal(images, twin_images, N * image_floats * sizeof(float));

    /* Another epoch: another order (15! orders; equal by chance is negligible). */
    assert_int_equal(run_epoch(loader, 1, epoch1_images, epoch1_labels, &o), N);
    assert_true(memcmp(labels, epoch1_labels, sizeof labels) != 0 ||
                memcmp(images, epoch1_images, N * image_floats * sizeof(float)) != 0);

    /* Abandoning an epoch half-way and starting another is allowed. */
    nas_batch batch;
    assert_int_equal(nas_jpeg_loader_start_epoch(loader, 2, &err), 0);
    assert_int_equal(nas_jpeg_loader_next(loader, &batch, &err), 1);
    assert_int_equal(nas_jpeg_loader_start_epoch(loader, 3, &err), 0);

    free(images);
    free(twin_images);
    free(epoch1_images);
    nas_jpeg_loader_free(&loader);
    nas_jpeg_loader_free(&twin);
    assert_null(loader);
    nas_jpeg_folder_free(&folder);
    remove_tree(dir);
}

static void test_loader_drop_last_and_eval_order(void **state) {
    (void)state;
    char *dir = make_class_folder();
    nas_jpeg_folder *folder = NULL;
    nas_err err = {0};
    assert_int_equal(nas_jpeg_folder_open(dir, &folder, &err), 0);
    nas_jpeg_loader_opts o = loader_opts();
    o.drop_last = true;
    o.shuffle = false;
    o.crop = nas_jpeg_crop_defaults(LOADER_SIZE, false);
    o.mean = o.std = NULL; /* ImageNet's */
    o.threads = 0;         /* default */
    o.prefetch = 0;
    nas_jpeg_loader *loader = NULL;
    assert_int_equal(nas_jpeg_loader_new(folder, &o, &loader, &err), 0);
    assert_int_equal(nas_jpeg_loader_batches_per_epoch(loader), 3);
    assert_int_equal(nas_jpeg_loader_start_epoch(loader, 0, &err), 0);
    nas_batch batch;
    int seen = 0;
    static const float imagenet_mean[3] = {0.485f, 0.456f, 0.406f};
    static const float imagenet_std[3] = {0.229f, 0.224f, 0.225f};
    while (nas_jpeg_loader_next(loader, &batch, &err) == 1) {
        assert_int_equal(batch.count, 4);
        for (int i = 0; i < batch.count; i++, seen++) {
            /* unshuffled: folder order, so labels 0,0,0,0,0,1,1,... */
            assert_int_equal(batch.labels[i], seen / PER_CLASS);
            assert_int_equal(colour_class_of(batch.images + (size_t)i * 3 * LOADER_SIZE * LOADER_SIZE,
                                             imagenet_mean, imagenet_std),
                             batch.labels[i]);
        }
    }
    assert_int_equal(seen, 12);
    nas_jpeg_loader_free(&loader);

    o.batch = 16; /* 15 images make no full batch */
    assert_int_equal(nas_jpeg_loader_new(folder, &o, &loader, &err), NAS_EINVAL);
    assert_null(loader);
    o.batch = 0;
    assert_int_equal(nas_jpeg_loader_new(folder, &o, &loader, &err), NAS_EINVAL);
    nas_jpeg_folder_free(&folder);
    remove_tree(dir);
}

static void test_loader_reports_the_broken_file_and_goes_on(void **state) {
    (void)state;
    char *dir = make_class_folder();
    char *good = path_in(dir, "b_green/0.jpg"), *cut = path_in(dir, "b_green/9_cut.jpg");
    write_truncated_copy(good, cut, 0.4);
    nas_jpeg_folder *folder = NULL;
    nas_err err = {0};
    assert_int_equal(nas_jpeg_folder_open(dir, &folder, &err), 0);
    nas_jpeg_loader_opts o = loader_opts();
    o.crop = nas_jpeg_crop_defaults(LOADER_SIZE, false);
    nas_jpeg_loader *loader = NULL;
    assert_int_equal(nas_jpeg_loader_new(folder, &o, &loader, &err), 0);
    assert_int_equal(nas_jpeg_loader_start_epoch(loader, 0, &err), 0);
    nas_batch batch;
    int good_batches = 0, failed_batches = 0, rc;
    for (int calls = 0; calls < 10; calls++) {
        rc = nas_jpeg_loader_next(loader, &batch, &err);
        if (rc == 0) break;
        if (rc == 1) {
            good_batches++;
        } else {
            failed_batches++;
            assert_int_equal(rc, NAS_EPARSE);
            assert_non_null(strstr(err.msg, cut));
        }
    }
    assert_int_equal(rc, 0);
    assert_int_equal(failed_batches, 1);
    assert_int_equal(good_batches, 3); /* 16 images: 4 batches, one holds the cut file */
    nas_jpeg_loader_free(&loader);
    nas_jpeg_folder_free(&folder);
    free(good);
    free(cut);
    remove_tree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index_sorts_classes_and_ignores_other_files),
        cmocka_unit_test(test_index_errors_say_what_is_wrong),
        cmocka_unit_test(test_eval_centre_crop_keeps_sides),
        cmocka_unit_test(test_large_image_uses_dct_scaling_and_keeps_layout),
        cmocka_unit_test(test_train_crop_is_seeded_and_flips_sometimes),
        cmocka_unit_test(test_greyscale_and_cmyk_become_rgb),
        cmocka_unit_test(test_broken_files_fail_with_their_name),
        cmocka_unit_test(test_loader_delivers_every_image_once_with_its_label),
        cmocka_unit_test(test_loader_drop_last_and_eval_order),
        cmocka_unit_test(test_loader_reports_the_broken_file_and_goes_on),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
