/*
 * trainer/train.c - the training loop and the nas_trainer object
 * (trainer.h): data on first use, epochs with a warm-up + cosine schedule,
 * evaluation, checkpoints, resume, init_from, train_only and latency.
 *
 * The loop follows graph.h's contract step by step (set_batch, forward,
 * loss, backward, optimiser step) and reads the loss statistics back only at
 * progress points, because on a device backend each read is a sync.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "trainer/checkpoint.h"
#include "trainer/data/dataset.h"
#include "trainer/data/jpeg_folder.h"
#include "trainer/data/loader.h"
#include "trainer/optim.h"
#include "trainer/trainer.h"
#ifdef NAS_HAVE_CUDA
#include "trainer/cuda/cuda_backend.h"
#endif

_Static_assert(sizeof(int) == sizeof(int32_t), "loader labels are handed to the net as int32");

#define DEFAULT_PROGRESS_EVERY 20

struct nas_trainer {
    nas_arch arch;
    nas_recipe recipe;
    nas_trainer_opts opts;
    char *checkpoint_path;      /* owned copy of opts.checkpoint_path */
    nas_backend *be;
    nas_net *net;
    nas_optim *optim;
    nas_dataset *train_set, *test_set;       /* in-memory sets (IDX, CIFAR, synthetic) */
    nas_jpeg_folder *jpeg_train, *jpeg_test; /* or JPEG folders ("jpeg:DIR") */
    float mean[NAS_DATASET_MAX_CHANNELS], std[NAS_DATASET_MAX_CHANNELS];
    int epochs_done;
    double train_seconds;
    int64_t images_trained;
};

static int create_backend(const nas_trainer_opts *opts, const nas_recipe *r, nas_backend **be,
                          nas_err *err) {
    const char *name = opts && opts->backend ? opts->backend : "cpu";
    if (strcmp(name, "cpu") == 0) {
        if (strcmp(r->precision, "fp32") != 0)
            return nas_err_set(err, NAS_EINVAL,
                               "the cpu backend computes in fp32 only; precision %s needs the "
                               "cuda backend",
                               r->precision);
        return nas_backend_cpu_new(r->threads, be, err);
    }
    if (strcmp(name, "cuda") == 0) {
#ifdef NAS_HAVE_CUDA
        nas_cuda_options co;
        nas_cuda_options_default(&co);
        co.device = opts ? opts->device : 0;
        int rc = nas_cuda_precision_parse(r->precision, &co.precision, err);
        return rc ? rc : nas_backend_cuda_new(&co, be, err);
#else
        return nas_err_set(err, NAS_EUNSUPPORTED,
                           "this build has no CUDA backend (nvcc, cuBLAS or cuDNN was not found "
                           "when it was configured); use --backend cpu");
#endif
    }
    return nas_err_set(err, NAS_EINVAL, "unknown backend '%s'; use cpu or cuda", name);
}

/* Freezes every stage not listed in train_only (the classifier stays trainable). */
static int apply_train_only(nas_trainer *t, nas_err *err) {
    if (!t->recipe.has_train_only) return 0;
    for (int i = 0; i < t->recipe.n_train_only; i++)
        if (t->recipe.train_only[i] >= t->arch.n_stages)
            return nas_err_set(err, NAS_ERANGE,
                               "recipe: train_only lists stage %d but the architecture has %d "
                               "stages (0..%d)",
                               t->recipe.train_only[i], t->arch.n_stages, t->arch.n_stages - 1);
    for (int s = 0; s < t->arch.n_stages; s++) {
        bool train = false;
        for (int i = 0; i < t->recipe.n_train_only; i++) train |= t->recipe.train_only[i] == s;
        int rc = nas_net_set_trainable(t->net, s, train, err);
        if (rc) return rc;
    }
    return 0;
}

static int apply_init_from(nas_trainer *t, nas_err *err) {
    if (!t->recipe.init_from[0]) return 0;
    nas_ckpt *ckpt = NULL;
    int rc = nas_ckpt_load(t->recipe.init_from, &ckpt, err);
    if (rc) return nas_err_prefix(err, "init_from");
    int loaded = 0, mismatched = 0;
    rc = nas_ckpt_to_net(ckpt, t->net, NULL, NAS_CKPT_MATCH_NAMES, &loaded, &mismatched, err);
    nas_ckpt_free(&ckpt);
    if (rc) return nas_err_prefix(err, "init_from");
    if (!t->opts.quiet)
        nas_info("init_from %s: %d of %d tensors loaded, %d skipped for a different shape",
                 t->recipe.init_from, loaded, nas_net_param_count(t->net), mismatched);
    return 0;
}

int nas_trainer_new(const nas_arch *arch, const nas_recipe *recipe, const nas_trainer_opts *opts,
                    nas_trainer **out, nas_err *err) {
    *out = NULL;
    int rc = nas_arch_validate(arch, err);
    if (rc) return rc;
    nas_trainer *t = calloc(1, sizeof *t);
    if (!t) return nas_err_set(err, NAS_ENOMEM, "out of memory for the trainer");
    t->arch = *arch;
    t->recipe = *recipe;
    if (opts) t->opts = *opts;
    if (t->opts.progress_every <= 0) t->opts.progress_every = DEFAULT_PROGRESS_EVERY;
    if (opts && opts->checkpoint_path && !(t->checkpoint_path = strdup(opts->checkpoint_path))) {
        free(t);
        return nas_err_set(err, NAS_ENOMEM, "out of memory");
    }
    t->opts.checkpoint_path = t->checkpoint_path;
    rc = create_backend(opts, recipe, &t->be, err);
    if (!rc) rc = nas_net_new(arch, t->be, recipe->batch, recipe->seed, &t->net, err);
    if (!rc) rc = nas_optim_new(t->net, &t->optim, err);
    if (!rc) rc = apply_init_from(t, err);
    if (!rc) rc = apply_train_only(t, err);
    if (rc) {
        nas_trainer_free(&t);
        return rc;
    }
    *out = t;
    return 0;
}

void nas_trainer_free(nas_trainer **tp) {
    if (!tp || !*tp) return;
    nas_trainer *t = *tp;
    nas_optim_free(&t->optim);
    nas_net_free(&t->net);
    nas_backend_free(&t->be);
    nas_dataset_free(&t->train_set);
    nas_dataset_free(&t->test_set);
    nas_jpeg_folder_free(&t->jpeg_train);
    nas_jpeg_folder_free(&t->jpeg_test);
    free(t->checkpoint_path);
    free(t);
    *tp = NULL;
}

nas_net *nas_trainer_net(nas_trainer *t) { return t->net; }
int nas_trainer_epochs_done(const nas_trainer *t) { return t->epochs_done; }
double nas_trainer_train_seconds(const nas_trainer *t) { return t->train_seconds; }
double nas_trainer_images_per_sec(const nas_trainer *t) {
    return t->train_seconds > 0 ? (double)t->images_trained / t->train_seconds : 0;
}
const char *nas_trainer_device(const nas_trainer *t) { return t->be->device_name(t->be); }

/* ---- data ---- */

static int check_data_fits(const nas_trainer *t, const nas_dataset *ds, nas_err *err) {
    if (ds->channels != t->arch.in_channels || ds->height != t->arch.resolution ||
        ds->width != t->arch.resolution)
        return nas_err_set(err, NAS_EINVAL,
                           "%s has %d x %d x %d images but the architecture takes %d x %d x %d "
                           "(set its resolution and in_channels to match the data)",
                           ds->name, ds->channels, ds->height, ds->width, t->arch.in_channels,
                           t->arch.resolution, t->arch.resolution);
    if (ds->classes > t->arch.classes)
        return nas_err_set(err, NAS_EINVAL, "%s has %d classes but the architecture outputs %d",
                           ds->name, ds->classes, t->arch.classes);
    return 0;
}

/* "jpeg:DIR": ImageNet-style folders DIR/train/<class>/<image>.jpg and
 * DIR/val/<class>/<image>.jpg, decoded per batch (jpeg_folder.h: random-resized
 * crop for training, centre crop for evaluation, at the architecture's
 * resolution) and normalised with ImageNet's mean and std. */
static const char *jpeg_root(const nas_recipe *r) {
    return strncmp(r->dataset, "jpeg:", 5) == 0 && r->dataset[5] ? r->dataset + 5 : NULL;
}

static int open_jpeg_split(nas_trainer *t, const char *split, nas_jpeg_folder **out, nas_err *err) {
    const char *root = jpeg_root(&t->recipe);
    if (t->arch.in_channels != 3)
        return nas_err_set(err, NAS_EINVAL, "JPEG folders give RGB images; the architecture takes %d "
                           "channels (set in_channels: 3)", t->arch.in_channels);
    if (t->recipe.train_subset > 0 || t->recipe.test_subset > 0)
        return nas_err_set(err, NAS_EINVAL, "train_subset and test_subset apply to in-memory data "
                           "sets, not to JPEG folders");
    size_t cap = strlen(root) + strlen(split) + 2;
    char *dir = malloc(cap);
    if (!dir) return nas_err_set(err, NAS_ENOMEM, "out of memory");
    snprintf(dir, cap, "%s/%s", root, split);
    int rc = nas_jpeg_folder_open(dir, out, err);
    if (!rc && nas_jpeg_folder_classes(*out) > t->arch.classes)
        rc = nas_err_set(err, NAS_EINVAL, "%s has %d classes but the architecture outputs %d", dir,
                         nas_jpeg_folder_classes(*out), t->arch.classes);
    if (rc) nas_jpeg_folder_free(out);
    free(dir);
    return rc;
}

/* Loads the training set (for its statistics, even when only evaluating:
 * the test set is normalised with the training set's mean and std). */
static int ensure_data(nas_trainer *t, bool need_test, nas_err *err) {
    int rc = 0;
    if (jpeg_root(&t->recipe)) {
        if (!t->jpeg_train) rc = open_jpeg_split(t, "train", &t->jpeg_train, err);
        if (!rc && need_test && !t->jpeg_test) rc = open_jpeg_split(t, "val", &t->jpeg_test, err);
        return rc;
    }
    if (!t->train_set) {
        rc = nas_dataset_open(t->recipe.dataset, true, &t->train_set, err);
        if (rc) return rc;
        nas_dataset_truncate(t->train_set, t->recipe.train_subset);
        rc = check_data_fits(t, t->train_set, err);
        if (rc) {
            nas_dataset_free(&t->train_set);
            return rc;
        }
        nas_dataset_mean_std(t->train_set, t->mean, t->std);
    }
    if (need_test && !t->test_set) {
        rc = nas_dataset_open(t->recipe.dataset, false, &t->test_set, err);
        if (rc) return rc;
        nas_dataset_truncate(t->test_set, t->recipe.test_subset);
        rc = check_data_fits(t, t->test_set, err);
        if (rc) nas_dataset_free(&t->test_set);
    }
    return rc;
}

/* One of the two loaders behind the same four calls, so the loops below do
 * not care whether images come from memory or from JPEG files. */
typedef struct batch_source {
    nas_loader *memory;
    nas_jpeg_loader *jpeg;
} batch_source;

static int source_new(nas_trainer *t, bool train, int batch, batch_source *src, nas_err *err) {
    *src = (batch_source){0};
    const nas_recipe *r = &t->recipe;
    if (jpeg_root(r)) {
        nas_jpeg_loader_opts o = {.batch = batch, .shuffle = train, .drop_last = train,
                                  .crop = nas_jpeg_crop_defaults(t->arch.resolution, train),
                                  .seed = r->seed};
        o.crop.hflip = train && r->hflip;
        return nas_jpeg_loader_new(train ? t->jpeg_train : t->jpeg_test, &o, &src->jpeg, err);
    }
    nas_loader_opts o = {.batch = batch, .shuffle = train, .drop_last = train,
                         .crop_padding = train ? r->crop_padding : 0, .hflip = train && r->hflip,
                         .seed = r->seed, .mean = t->mean, .std = t->std};
    return nas_loader_new(train ? t->train_set : t->test_set, &o, &src->memory, err);
}

static int source_batches(const batch_source *src) {
    return src->jpeg ? nas_jpeg_loader_batches_per_epoch(src->jpeg)
                     : nas_loader_batches_per_epoch(src->memory);
}

static int source_start(batch_source *src, int epoch, nas_err *err) {
    return src->jpeg ? nas_jpeg_loader_start_epoch(src->jpeg, epoch, err)
                     : nas_loader_start_epoch(src->memory, epoch, err);
}

static int source_next(batch_source *src, nas_batch *b, nas_err *err) {
    return src->jpeg ? nas_jpeg_loader_next(src->jpeg, b, err) : nas_loader_next(src->memory, b, err);
}

static void source_free(batch_source *src) {
    nas_jpeg_loader_free(&src->jpeg);
    nas_loader_free(&src->memory);
}

static int train_images(const nas_trainer *t) {
    return t->jpeg_train ? nas_jpeg_folder_count(t->jpeg_train) : t->train_set->n;
}

static int test_images(const nas_trainer *t) {
    return t->jpeg_test ? nas_jpeg_folder_count(t->jpeg_test) : t->test_set->n;
}

/* ---- training ---- */

static void report(nas_trainer *t, nas_train_progress *p, const nas_loss_stats *s, double start,
                   int64_t first_step) {
    if (!t->opts.progress) return;
    p->loss = s->count > 0 ? s->loss_sum / s->count : 0;
    p->top1 = s->count > 0 ? s->top1 / s->count : 0;
    p->elapsed_s = nas_now_monotonic() - start;
    int64_t done = p->step - first_step;
    p->images_per_sec = p->elapsed_s > 0 ? (double)done * t->recipe.batch / p->elapsed_s : 0;
    p->eta_s = done > 0 ? p->elapsed_s / (double)done * (double)(p->total_steps - p->step) : 0;
    t->opts.progress(t->opts.progress_ctx, p);
}

static int train_step(nas_trainer *t, const nas_batch *b, const nas_sgd_hparams *hp, nas_err *err) {
    int rc = nas_net_set_batch(t->net, b->images, (const int32_t *)b->labels, b->count, err);
    if (!rc) rc = nas_net_forward(t->net, b->count, NAS_MODE_TRAIN, err);
    if (!rc) rc = nas_net_loss(t->net, (float)t->recipe.label_smoothing, true, err);
    if (!rc) rc = nas_net_backward(t->net, err);
    if (!rc) rc = nas_optim_step(t->optim, hp, NULL, err);
    return rc;
}

int nas_trainer_fit(nas_trainer *t, nas_err *err) {
    return nas_trainer_fit_until(t, t->recipe.epochs, err);
}

int nas_trainer_fit_until(nas_trainer *t, int until, nas_err *err) {
    if (until > t->recipe.epochs) until = t->recipe.epochs;
    if (until <= t->epochs_done) return 0;
    int rc = ensure_data(t, false, err);
    if (rc) return rc;
    const nas_recipe *r = &t->recipe;
    if (train_images(t) < r->batch)
        return nas_err_set(err, NAS_EINVAL, "the training set has %d images, fewer than one batch of %d",
                           train_images(t), r->batch);
    batch_source loader;
    rc = source_new(t, true, r->batch, &loader, err);
    if (rc) return rc;
    int steps_per_epoch = source_batches(&loader);
    nas_lr_schedule schedule = {
        .base_lr = r->lr, .min_lr = r->lr_min,
        .warmup_steps = (int64_t)llround(r->warmup_epochs * steps_per_epoch),
        .total_steps = (int64_t)steps_per_epoch * r->epochs};
    nas_sgd_hparams hp = {.momentum = (float)r->momentum, .weight_decay = (float)r->weight_decay,
                          .nesterov = r->nesterov};
    nas_train_progress p = {.epochs = r->epochs, .steps_per_epoch = steps_per_epoch,
                            .total_steps = schedule.total_steps};
    int64_t first_step = (int64_t)t->epochs_done * steps_per_epoch;
    double start = nas_now_monotonic();
    nas_loss_stats stats = {0};
    for (int epoch = t->epochs_done; epoch < until && !rc; epoch++) {
        rc = source_start(&loader, epoch, err);
        if (!rc) rc = nas_net_reset_stats(t->net, err);
        nas_batch b;
        int step_in_epoch = 0, got = 0;
        while (!rc && (got = source_next(&loader, &b, err)) == 1) {
            int64_t step = (int64_t)epoch * steps_per_epoch + step_in_epoch;
            hp.lr = (float)nas_lr_at(&schedule, step);
            rc = train_step(t, &b, &hp, err);
            if (rc) break;
            t->images_trained += b.count;
            step_in_epoch++;
            bool epoch_end = step_in_epoch == steps_per_epoch;
            if (epoch_end || step_in_epoch % t->opts.progress_every == 0) {
                rc = nas_net_read_stats(t->net, &stats, err);
                if (rc) break;
                if (!isfinite(stats.loss_sum))
                    rc = nas_err_set(err, NAS_ERANGE,
                                     "training diverged: the loss is not finite at epoch %d step "
                                     "%d (lower lr, now %g)",
                                     epoch + 1, step_in_epoch, r->lr);
                p.epoch = epoch;
                p.step_in_epoch = step_in_epoch;
                p.step = step + 1;
                p.lr = hp.lr;
                p.epoch_end = epoch_end;
                if (!rc) report(t, &p, &stats, start, first_step);
            }
        }
        if (got < 0) rc = got;
        if (rc) break;
        t->epochs_done = epoch + 1;
        if (t->checkpoint_path) rc = nas_trainer_save(t, t->checkpoint_path, err);
    }
    t->train_seconds += nas_now_monotonic() - start;
    source_free(&loader);
    return rc;
}

int nas_trainer_evaluate(nas_trainer *t, nas_eval_metrics *out, nas_err *err) {
    int rc = ensure_data(t, true, err);
    if (rc) return rc;
    int batch = nas_net_max_batch(t->net);
    if (batch > test_images(t)) batch = test_images(t);
    batch_source loader;
    rc = source_new(t, false, batch, &loader, err);
    if (!rc) rc = source_start(&loader, 0, err);
    if (!rc) rc = nas_net_reset_stats(t->net, err);
    nas_batch b;
    int got = 0;
    while (!rc && (got = source_next(&loader, &b, err)) == 1) {
        rc = nas_net_set_batch(t->net, b.images, (const int32_t *)b.labels, b.count, err);
        if (!rc) rc = nas_net_forward(t->net, b.count, NAS_MODE_EVAL, err);
        if (!rc) rc = nas_net_loss(t->net, 0.0f, false, err);
    }
    if (got < 0) rc = got;
    nas_loss_stats s = {0};
    if (!rc) rc = nas_net_read_stats(t->net, &s, err);
    if (!rc) rc = nas_net_reset_stats(t->net, err);
    source_free(&loader);
    if (rc) return nas_err_prefix(err, "evaluating on the test split of %s", t->recipe.dataset);
    out->images = (int)s.count;
    out->top1 = s.count > 0 ? s.top1 / s.count : 0;
    out->top5 = s.count > 0 ? s.top5 / s.count : 0;
    out->loss = s.count > 0 ? s.loss_sum / s.count : 0;
    return 0;
}

/* ---- checkpoints ---- */

static int set_meta_number_list(nas_ckpt *c, const char *key, const float *v, int n, nas_err *err) {
    char buf[256];
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used < sizeof buf; i++)
        used += (size_t)snprintf(buf + used, sizeof buf - used, i ? ",%.9g" : "%.9g", (double)v[i]);
    return nas_ckpt_set_meta(c, key, buf, err);
}

int nas_trainer_save(nas_trainer *t, const char *path, nas_err *err) {
    nas_ckpt *c = NULL;
    int rc = nas_ckpt_from_net(t->net, t->optim, &c, err);
    if (rc) return rc;
    char *arch_json = nas_arch_to_json(&t->arch);
    char number[32];
    snprintf(number, sizeof number, "%d", t->epochs_done);
    if (!arch_json) rc = nas_err_set(err, NAS_ENOMEM, "out of memory");
    if (!rc) rc = nas_ckpt_set_meta(c, "format", "gpunas", err);
    if (!rc) rc = nas_ckpt_set_meta(c, "arch", arch_json, err);
    if (!rc) rc = nas_ckpt_set_meta(c, "epochs_done", number, err);
    if (!rc) rc = nas_ckpt_set_meta(c, "dataset", t->recipe.dataset, err);
    if (!rc && t->train_set) {
        rc = set_meta_number_list(c, "input_mean", t->mean, t->train_set->channels, err);
        if (!rc) rc = set_meta_number_list(c, "input_std", t->std, t->train_set->channels, err);
    }
    if (!rc) rc = nas_ckpt_save(c, path, err);
    free(arch_json);
    nas_ckpt_free(&c);
    return rc;
}

int nas_trainer_resume(nas_trainer *t, const char *path, nas_err *err) {
    nas_ckpt *c = NULL;
    int rc = nas_ckpt_load(path, &c, err);
    if (rc) return rc;
    const char *format = nas_ckpt_meta(c, "format");
    const char *arch_json = nas_ckpt_meta(c, "arch");
    const char *epochs = nas_ckpt_meta(c, "epochs_done");
    nas_arch saved;
    if (!format || strcmp(format, "gpunas") != 0 || !arch_json || !epochs) {
        rc = nas_err_set(err, NAS_EINVAL,
                         "%s was not written by gpunas training (no format/arch/epochs_done "
                         "metadata); to start from its weights use init_from",
                         path);
    } else if (nas_arch_from_json(arch_json, &saved, err) != 0) {
        rc = nas_err_prefix(err, "%s: architecture in the metadata", path);
    } else if (!nas_arch_equal(&saved, &t->arch)) {
        rc = nas_err_set(err, NAS_EINVAL,
                         "%s was saved for a different architecture; resume needs the same one "
                         "(use init_from to reuse matching layers)",
                         path);
    }
    char *end = NULL;
    long done = rc ? 0 : strtol(epochs, &end, 10);
    if (!rc && (!end || *end || done < 0 || done > 100000))
        rc = nas_err_set(err, NAS_EPARSE, "%s: epochs_done '%s' is not a count", path, epochs);
    if (!rc) rc = nas_ckpt_to_net(c, t->net, t->optim, NAS_CKPT_STRICT, NULL, NULL, err);
    nas_ckpt_free(&c);
    if (rc) return rc;
    t->epochs_done = (int)done;
    if (!t->opts.quiet)
        nas_info("resumed %s after epoch %d of %d", path, t->epochs_done, t->recipe.epochs);
    return 0;
}

/* ---- latency ---- */

/* The backend's own timing: CUDA graphs and events on the GPU, the
 * monotonic clock around sync on the CPU; both summarised alike. */
static int measure(nas_net *net, int batch, nas_latency_summary *out, nas_err *err) {
#ifdef NAS_HAVE_CUDA
    if (nas_backend_is_cuda(nas_net_backend(net))) {
        bool used_graph = false;
        return nas_cuda_latency_measure(net, batch, 0, 0, out, &used_graph, err);
    }
#endif
    return nas_latency_measure(net, batch, 0, 0, out, err);
}

int nas_trainer_latency(nas_trainer *t, int batch, nas_latency_summary *out, nas_err *err) {
    if (batch <= nas_net_max_batch(t->net)) return measure(t->net, batch, out, err);
    /* A network built for the larger batch, with this one's weights. */
    nas_net *big = NULL;
    nas_ckpt *c = NULL;
    int rc = nas_net_new(&t->arch, t->be, batch, t->recipe.seed, &big, err);
    if (!rc) rc = nas_ckpt_from_net(t->net, NULL, &c, err);
    if (!rc) rc = nas_ckpt_to_net(c, big, NULL, NAS_CKPT_STRICT, NULL, NULL, err);
    if (!rc) rc = measure(big, batch, out, err);
    nas_ckpt_free(&c);
    nas_net_free(&big);
    return rc;
}
