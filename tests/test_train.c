/*
 * tests/test_train.c - the recipe and the training loop (trainer.h) on the
 * CPU backend: a tiny network learns the synthetic set, resume continues a
 * run exactly, train_only freezes the other stages, init_from reuses weights.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jpeglib.h>
#include <sys/stat.h>

#include "tests/train_fixtures.h"
#include "trainer/checkpoint.h"
#include "trainer/trainer.h"

static void test_recipe_defaults_and_keys(void **state) {
    (void)state;
    nas_recipe r;
    nas_err err = {0};
    assert_int_equal(nas_recipe_parse(NULL, &r, &err), 0);
    assert_string_equal(r.dataset, "fashion-mnist");
    assert_int_equal(r.epochs, 3);
    assert_true(r.nesterov);
    assert_int_equal(r.n_latency_batches, 3);
    assert_false(r.has_train_only);
    assert_int_equal(nas_recipe_parse("{\"dataset\": \"synthetic\", \"epochs\": 2, \"batch\": 16, "
                                      "\"lr\": 0.05, \"train_only\": [1, 2], \"latency_batches\": [4], "
                                      "\"precision\": \"bf16\", \"seed\": 7, \"unknown_key\": {}}",
                                      &r, &err),
                     0);
    assert_string_equal(r.dataset, "synthetic");
    assert_int_equal(r.epochs, 2);
    assert_int_equal(r.batch, 16);
    assert_float_equal(r.lr, 0.05, 0);
    assert_true(r.has_train_only);
    assert_int_equal(r.n_train_only, 2);
    assert_int_equal(r.train_only[1], 2);
    assert_int_equal(r.n_latency_batches, 1);
    assert_string_equal(r.precision, "bf16");
    assert_int_equal((int)r.seed, 7);
}

static void expect_recipe_error(const char *json, int code, const char *needle) {
    nas_recipe r;
    nas_err err = {0};
    assert_int_equal(nas_recipe_parse(json, &r, &err), code);
    if (!strstr(err.msg, needle)) fail_msg("'%s' lacks '%s'", err.msg, needle);
}

static void test_recipe_errors(void **state) {
    (void)state;
    expect_recipe_error("[1]", NAS_EPARSE, "not a JSON object");
    expect_recipe_error("{\"epochs\": 1.5}", NAS_ERANGE, "'epochs'");
    expect_recipe_error("{\"batch\": \"64\"}", NAS_EINVAL, "'batch' must be a number");
    expect_recipe_error("{\"momentum\": 1.5}", NAS_ERANGE, "'momentum'");
    expect_recipe_error("{\"precision\": \"fp8\"}", NAS_EINVAL, "fp8");
    expect_recipe_error("{\"train_only\": [99]}", NAS_ERANGE, "'train_only'[0]");
    expect_recipe_error("{\"latency_batches\": [1,2,3,4,5,6,7,8,9]}", NAS_ERANGE, "at most 8");
    expect_recipe_error("{\"hflip\": 1}", NAS_EINVAL, "true or false");
    expect_recipe_error("{\"epochs\": 2, \"warmup_epochs\": 3}", NAS_ERANGE, "warmup_epochs");
}

/* A recipe for the synthetic set, small enough for a unit test under ASan. */
static nas_recipe synthetic_recipe(int epochs) {
    nas_recipe r;
    nas_err err = {0};
    assert_int_equal(nas_recipe_parse("{\"dataset\": \"synthetic:960\", \"batch\": 32, \"lr\": 0.1, "
                                      "\"threads\": 1, \"warmup_epochs\": 0.2, \"label_smoothing\": 0}",
                                      &r, &err),
                     0);
    r.epochs = epochs;
    return r;
}

typedef struct progress_log {
    int calls, epoch_ends;
    double first_loss, last_loss, last_top1;
    int64_t last_step;
} progress_log;

static void record_progress(void *ctx, const nas_train_progress *p) {
    progress_log *log = ctx;
    if (log->calls++ == 0) log->first_loss = p->loss;
    log->last_loss = p->loss;
    log->last_top1 = p->top1;
    assert_true(p->step > log->last_step); /* steps only move forward */
    log->last_step = p->step;
    log->epoch_ends += p->epoch_end;
    assert_true(p->images_per_sec > 0);
    assert_true(p->eta_s >= 0);
}

static void test_tiny_net_learns_synthetic(void **state) {
    (void)state;
    nas_arch a = tiny_arch(8, 16, 32);
    nas_recipe r = synthetic_recipe(3);
    progress_log log = {0};
    nas_trainer_opts o = {.progress = record_progress, .progress_ctx = &log, .progress_every = 5,
                          .quiet = true};
    nas_trainer *t = NULL;
    nas_err err = {0};
    if (nas_trainer_new(&a, &r, &o, &t, &err)) fail_msg("%s", err.msg);
    nas_eval_metrics before, after;
    if (nas_trainer_evaluate(t, &before, &err)) fail_msg("%s", err.msg);
    assert_int_equal(before.images, 160);
    if (nas_trainer_fit(t, &err)) fail_msg("%s", err.msg);
    if (nas_trainer_evaluate(t, &after, &err)) fail_msg("%s", err.msg);
    print_message("synthetic: test top-1 %.3f -> %.3f, loss %.3f -> %.3f; train loss %.3f -> %.3f\n",
                  before.top1, after.top1, before.loss, after.loss, log.first_loss, log.last_loss);
    assert_int_equal(log.epoch_ends, 3);
    assert_int_equal(log.last_step, 3 * 30);
    assert_int_equal(nas_trainer_epochs_done(t), 3);
    assert_true(log.last_loss < 0.5 * log.first_loss);
    assert_true(before.top1 < 0.3);  /* 10 classes: chance is 0.1 */
    assert_true(after.top1 > 0.8);
    assert_true(after.top5 >= after.top1);
    assert_true(after.loss < before.loss);
    assert_true(nas_trainer_images_per_sec(t) > 0);
    nas_trainer_free(&t);
    assert_null(t);
}

/* Downloads every parameter of the net into one array (caller frees). */
static float *snapshot(nas_trainer *t, size_t *count) {
    nas_ckpt *c = NULL;
    nas_err err = {0};
    assert_int_equal(nas_ckpt_from_net(nas_trainer_net(t), NULL, &c, &err), 0);
    size_t total = 0;
    for (int i = 0; i < nas_ckpt_tensor_count(c); i++) total += nas_ckpt_tensor_at(c, i)->count;
    float *all = malloc(sizeof(float) * total), *p = all;
    for (int i = 0; i < nas_ckpt_tensor_count(c); i++) {
        const nas_ckpt_tensor *x = nas_ckpt_tensor_at(c, i);
        memcpy(p, x->data, sizeof(float) * x->count);
        p += x->count;
    }
    nas_ckpt_free(&c);
    *count = total;
    return all;
}

static char *temp_path(void) {
    char *path = strdup("/tmp/nas_test_train_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    return path;
}

static void test_resume_continues_exactly(void **state) {
    (void)state;
    char *path = temp_path();
    nas_arch a = tiny_arch(8, 16, 16);
    nas_err err = {0};
    nas_recipe r = synthetic_recipe(2);
    r.train_subset = 320;
    nas_trainer_opts quiet = {.quiet = true}, saving = {.quiet = true, .checkpoint_path = path};
    nas_trainer *straight = NULL, *stopped = NULL, *resumed = NULL;
    if (nas_trainer_new(&a, &r, &quiet, &straight, &err) || nas_trainer_fit(straight, &err))
        fail_msg("%s", err.msg);
    /* The same run stopped after epoch 1 (its checkpoint saved), then resumed by a
     * new trainer (fresh random weights, overwritten by the checkpoint). */
    if (nas_trainer_new(&a, &r, &saving, &stopped, &err) || nas_trainer_fit_until(stopped, 1, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(nas_trainer_epochs_done(stopped), 1);
    nas_recipe other_seed = r;
    other_seed.seed = r.seed; /* same data order; initial weights come from the checkpoint */
    if (nas_trainer_new(&a, &other_seed, &quiet, &resumed, &err) ||
        nas_trainer_resume(resumed, path, &err) || nas_trainer_fit(resumed, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(nas_trainer_epochs_done(resumed), 2);
    size_t n1, n2;
    float *want = snapshot(straight, &n1), *got = snapshot(resumed, &n2);
    assert_int_equal(n1, n2);
    double max_diff = 0;
    for (size_t i = 0; i < n1; i++) max_diff = fmax(max_diff, fabs((double)want[i] - got[i]));
    print_message("resume: max |straight - resumed| = %g over %zu values\n", max_diff, n1);
    assert_true(max_diff < 1e-5);
    /* Resuming into another architecture is refused with a reason. */
    nas_arch b = tiny_arch(8, 16, 24);
    nas_trainer *wrong = NULL;
    assert_int_equal(nas_trainer_new(&b, &r, &quiet, &wrong, &err), 0);
    assert_int_equal(nas_trainer_resume(wrong, path, &err), NAS_EINVAL);
    assert_non_null(strstr(err.msg, "different architecture"));
    nas_trainer_free(&wrong);
    free(want);
    free(got);
    nas_trainer_free(&straight);
    nas_trainer_free(&stopped);
    nas_trainer_free(&resumed);
    unlink(path);
    free(path);
}

/* Values of one named tensor of the trainer's net (caller frees). */
static float *tensor_values(nas_trainer *t, const char *name, size_t *count) {
    nas_ckpt *c = NULL;
    nas_err err = {0};
    assert_int_equal(nas_ckpt_from_net(nas_trainer_net(t), NULL, &c, &err), 0);
    const nas_ckpt_tensor *x = nas_ckpt_find(c, name);
    if (!x) fail_msg("no tensor %s", name);
    float *v = malloc(sizeof(float) * x->count);
    memcpy(v, x->data, sizeof(float) * x->count);
    *count = x->count;
    nas_ckpt_free(&c);
    return v;
}

static bool tensor_changed(nas_trainer *t, const char *name, const float *before) {
    size_t n;
    float *now = tensor_values(t, name, &n);
    bool changed = memcmp(now, before, sizeof(float) * n) != 0;
    free(now);
    return changed;
}

static void test_train_only_freezes_other_stages(void **state) {
    (void)state;
    nas_arch a = tiny_arch(8, 16, 16);
    nas_recipe r = synthetic_recipe(1);
    r.train_subset = 128;
    r.has_train_only = true;
    r.n_train_only = 1;
    r.train_only[0] = 1;
    nas_trainer_opts quiet = {.quiet = true};
    nas_trainer *t = NULL;
    nas_err err = {0};
    if (nas_trainer_new(&a, &r, &quiet, &t, &err)) fail_msg("%s", err.msg);
    static const char *const frozen[] = {"stages.0.0.conv.weight", "stages.0.0.bn.weight",
                                         "stages.0.0.bn.running_mean", "stages.2.0.conv.weight"};
    static const char *const trained[] = {"stages.1.0.conv1.weight", "stages.1.0.bn2.running_var",
                                          "fc.weight"};
    float *before_frozen[4], *before_trained[3];
    size_t n;
    for (int i = 0; i < 4; i++) before_frozen[i] = tensor_values(t, frozen[i], &n);
    for (int i = 0; i < 3; i++) before_trained[i] = tensor_values(t, trained[i], &n);
    if (nas_trainer_fit(t, &err)) fail_msg("%s", err.msg);
    for (int i = 0; i < 4; i++) {
        if (tensor_changed(t, frozen[i], before_frozen[i])) fail_msg("%s changed but is frozen", frozen[i]);
        free(before_frozen[i]);
    }
    for (int i = 0; i < 3; i++) {
        if (!tensor_changed(t, trained[i], before_trained[i])) fail_msg("%s did not train", trained[i]);
        free(before_trained[i]);
    }
    nas_trainer_free(&t);
    /* A stage index past the architecture is refused. */
    r.train_only[0] = 5;
    assert_int_equal(nas_trainer_new(&a, &r, &quiet, &t, &err), NAS_ERANGE);
    assert_non_null(strstr(err.msg, "stage 5"));
}

static void test_init_from_matches_names(void **state) {
    (void)state;
    char *path = temp_path();
    nas_arch a = tiny_arch(8, 16, 16);
    nas_recipe r = synthetic_recipe(1);
    r.train_subset = 64;
    nas_trainer_opts quiet = {.quiet = true};
    nas_trainer *source = NULL, *target = NULL;
    nas_err err = {0};
    if (nas_trainer_new(&a, &r, &quiet, &source, &err) || nas_trainer_fit(source, &err) ||
        nas_trainer_save(source, path, &err))
        fail_msg("%s", err.msg);
    /* The target's last stage is wider: stages 0-1 load, stage 2 and fc keep their init. */
    nas_arch b = tiny_arch(8, 16, 24);
    nas_recipe rb = r;
    rb.seed = 99;
    snprintf(rb.init_from, sizeof rb.init_from, "%s", path);
    if (nas_trainer_new(&b, &rb, &quiet, &target, &err)) fail_msg("%s", err.msg);
    size_t n1, n2;
    float *src = tensor_values(source, "stages.1.0.conv2.weight", &n1);
    float *dst = tensor_values(target, "stages.1.0.conv2.weight", &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(src, dst, sizeof(float) * n1);
    free(src);
    free(dst);
    src = tensor_values(source, "stages.0.0.bn.running_mean", &n1);
    dst = tensor_values(target, "stages.0.0.bn.running_mean", &n2);
    assert_memory_equal(src, dst, sizeof(float) * n1);
    free(src);
    free(dst);
    /* fc.bias has the same shape [10] in both, so it is loaded too. */
    src = tensor_values(source, "fc.bias", &n1);
    dst = tensor_values(target, "fc.bias", &n2);
    assert_memory_equal(src, dst, sizeof(float) * n1);
    free(src);
    free(dst);
    /* Tensors whose shape differs keep the target's own initialisation: equal to
     * a trainer built with the same seed and no init_from. */
    nas_recipe plain = rb;
    plain.init_from[0] = '\0';
    nas_trainer *fresh = NULL;
    if (nas_trainer_new(&b, &plain, &quiet, &fresh, &err)) fail_msg("%s", err.msg);
    static const char *const kept[] = {"stages.2.0.conv.weight", "fc.weight"};
    for (int i = 0; i < 2; i++) {
        src = tensor_values(fresh, kept[i], &n1);
        dst = tensor_values(target, kept[i], &n2);
        assert_int_equal(n1, n2);
        assert_memory_equal(src, dst, sizeof(float) * n1);
        free(src);
        free(dst);
    }
    nas_trainer_free(&fresh);
    nas_trainer_free(&target);
    /* A checkpoint of an unrelated network matches nothing: an error, not silence. */
    nas_arch c = tiny_arch(12, 20, 24);
    c.classes = 5; /* else fc.bias [10] would match */
    snprintf(rb.init_from, sizeof rb.init_from, "%s", path);
    assert_int_equal(nas_trainer_new(&c, &rb, &quiet, &target, &err), NAS_EINVAL);
    assert_non_null(strstr(err.msg, "no tensor matches"));
    nas_trainer_free(&source);
    unlink(path);
    free(path);
}

/* Writes a 24x24 JPEG of one colour plus a little noise. */
static void write_jpeg(const char *path, int r, int g, int b, unsigned seed) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = 24;
    c.image_height = 24;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE);
    jpeg_start_compress(&c, TRUE);
    unsigned char row[24 * 3];
    while (c.next_scanline < c.image_height) {
        for (int x = 0; x < 24; x++) {
            seed = seed * 1103515245u + 12345u;
            int noise = (int)((seed >> 16) % 21) - 10;
            row[3 * x] = (unsigned char)(r + noise < 0 ? 0 : r + noise > 255 ? 255 : r + noise);
            row[3 * x + 1] = (unsigned char)g;
            row[3 * x + 2] = (unsigned char)b;
        }
        JSAMPROW rows[1] = {row};
        jpeg_write_scanlines(&c, rows, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
}

/* dataset "jpeg:DIR": the trainer reads ImageNet-style folders through
 * jpeg_folder.h's loader; two colour classes are learnt quickly. */
static void test_jpeg_folders(void **state) {
    (void)state;
    char root[] = "/tmp/nas_test_jpeg_XXXXXX";
    assert_non_null(mkdtemp(root));
    static const char *const splits[] = {"train", "val"};
    static const char *const classes[] = {"red", "blue"};
    char path[256];
    for (int s = 0; s < 2; s++) {
        snprintf(path, sizeof path, "%s/%s", root, splits[s]);
        assert_int_equal(mkdir(path, 0755), 0);
        for (int k = 0; k < 2; k++) {
            snprintf(path, sizeof path, "%s/%s/%s", root, splits[s], classes[k]);
            assert_int_equal(mkdir(path, 0755), 0);
            for (int i = 0; i < (s == 0 ? 32 : 8); i++) {
                snprintf(path, sizeof path, "%s/%s/%s/%02d.jpg", root, splits[s], classes[k], i);
                write_jpeg(path, k == 0 ? 200 : 30, 60, k == 0 ? 30 : 200, (unsigned)(i + 100 * k + 1000 * s));
            }
        }
    }
    nas_arch a = tiny_arch(8, 16, 16);
    a.in_channels = 3;
    a.resolution = 16;
    nas_recipe r = synthetic_recipe(3);
    snprintf(r.dataset, sizeof r.dataset, "jpeg:%s", root);
    r.batch = 8;
    r.hflip = true;
    nas_trainer_opts quiet = {.quiet = true};
    nas_trainer *t = NULL;
    nas_err err = {0};
    nas_eval_metrics m;
    if (nas_trainer_new(&a, &r, &quiet, &t, &err) || nas_trainer_fit(t, &err) ||
        nas_trainer_evaluate(t, &m, &err))
        fail_msg("%s", err.msg);
    print_message("jpeg folders: val top-1 %.3f loss %.3f on %d images\n", m.top1, m.loss, m.images);
    assert_int_equal(m.images, 16);
    assert_true(m.top1 >= 0.9);
    nas_trainer_free(&t);
    /* A grey architecture cannot take RGB folders; subsets do not apply to them. */
    a.in_channels = 1;
    assert_int_equal(nas_trainer_new(&a, &r, &quiet, &t, &err), 0);
    assert_int_equal(nas_trainer_fit(t, &err), NAS_EINVAL);
    assert_non_null(strstr(err.msg, "in_channels: 3"));
    nas_trainer_free(&t);
    snprintf(path, sizeof path, "rm -rf '%s'", root);
    assert_int_equal(system(path), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recipe_defaults_and_keys),
        cmocka_unit_test(test_recipe_errors),
        cmocka_unit_test(test_tiny_net_learns_synthetic),
        cmocka_unit_test(test_resume_continues_exactly),
        cmocka_unit_test(test_train_only_freezes_other_stages),
        cmocka_unit_test(test_init_from_matches_names),
        cmocka_unit_test(test_jpeg_folders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
