/*
 * bench/gpu_vs_torch/gpu_bench.c - our side of the GPU comparison with
 * PyTorch (torch_bench.py is the other side; run.sh runs both).
 *
 * Training throughput: the preset at --res, batch --batch, --precision, on
 * one synthetic batch kept on the device (as torch_bench.py does), full steps
 * of forward, loss, backward and Nesterov SGD; images/s over --steps steps
 * after --warmup steps. Inference latency: trainer/cuda/latency_cuda.c (BN
 * folded, CUDA graph, 30 timed replays, trimmed mean) at each --latency
 * batch in --latency-precision. Prints one markdown table row per figure.
 *
 * --export-pytorch FILE writes the preset as a PyTorch module (the same
 * generator as `nas export`), so the PyTorch side can time exactly this
 * network where timm has no equivalent (GPUNet).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/export_pytorch.h"
#include "common/rng.h"
#include "common/util.h"
#include "space/arch.h"
#include "trainer/cuda/cuda_backend.h"
#include "trainer/graph.h"
#include "trainer/latency.h"

typedef struct bench_opts {
    const char *model;
    int res, batch, steps, warmup;
    const char *precision, *latency_precision;
    int latency_batches[8], n_latency;
    const char *export_path;
    bool skip_train;
} bench_opts;

static int parse_batches(const char *s, bench_opts *o) {
    o->n_latency = 0;
    char *copy = strdup(s), *save = NULL;
    if (!copy) return -1;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *end;
        long v = strtol(tok, &end, 10);
        if (*end || v < 1 || v > 4096 || o->n_latency == 8) {
            free(copy);
            return -1;
        }
        o->latency_batches[o->n_latency++] = (int)v;
    }
    free(copy);
    return o->n_latency > 0 ? 0 : -1;
}

static int train_throughput(const bench_opts *o, const nas_arch *arch, nas_err *err) {
    nas_cuda_options co;
    nas_cuda_options_default(&co);
    int rc = nas_cuda_precision_parse(o->precision, &co.precision, err);
    if (rc < 0) return rc;
    nas_backend *be = NULL;
    nas_net *net = NULL;
    nas_sgd_tensor *tensors = NULL;
    float *images = NULL;
    int32_t *labels = NULL;
    int n_tensors = 0;
    if ((rc = nas_backend_cuda_new(&co, &be, err)) < 0) return rc;
    if ((rc = nas_net_new(arch, be, o->batch, 1, &net, err)) < 0) goto done;
    size_t image = (size_t)arch->in_channels * arch->resolution * arch->resolution;
    images = malloc(sizeof(float) * image * o->batch);
    labels = malloc(sizeof(int32_t) * o->batch);
    int np = nas_net_param_count(net);
    tensors = calloc((size_t)np, sizeof *tensors);
    if (!images || !labels || !tensors) {
        rc = nas_err_set(err, NAS_ENOMEM, "out of host memory");
        goto done;
    }
    nas_rng rng;
    nas_rng_seed(&rng, 1);
    for (size_t i = 0; i < image * o->batch; i++) images[i] = (float)nas_rng_normal(&rng);
    for (int i = 0; i < o->batch; i++) labels[i] = i % arch->classes;
    for (int i = 0; i < np; i++) {
        const nas_param *p = nas_net_param(net, i);
        if (!p->trainable) continue;
        nas_buf *m = NULL;
        if ((rc = be->buf_new(be, NAS_BUF_PARAM, (nas_shape){(int)p->count, 1, 1, 1}, &m, err)) < 0)
            goto done;
        tensors[n_tensors++] = (nas_sgd_tensor){p->value, p->grad, m, p->count, p->decay};
    }
    if ((rc = nas_net_set_batch(net, images, labels, o->batch, err)) < 0) goto done;
    nas_sgd_hparams hp = {.lr = 0.01f, .momentum = 0.9f, .weight_decay = 4e-5f, .nesterov = true};
    double start = 0.0;
    for (int step = 0; step < o->warmup + o->steps; step++) {
        if (step == o->warmup) {
            if ((rc = be->sync(be, err)) < 0) goto done;
            start = nas_now_monotonic();
        }
        if ((rc = nas_net_forward(net, o->batch, NAS_MODE_TRAIN, err)) < 0 ||
            (rc = nas_net_loss(net, 0.1f, true, err)) < 0 || (rc = nas_net_backward(net, err)) < 0 ||
            (rc = be->sgd_step(be, tensors, n_tensors, &hp, NULL, err)) < 0)
            goto done;
    }
    if ((rc = be->sync(be, err)) < 0) goto done;
    double seconds = nas_now_monotonic() - start;
    printf("| %s | train | %dx%d | %s | %d | %.1f images/s |\n", o->model, arch->resolution,
           arch->resolution, o->precision, o->batch, o->steps * o->batch / seconds);
done:
    for (int i = 0; i < n_tensors; i++) be->buf_free(be, &tensors[i].momentum);
    free(tensors);
    free(images);
    free(labels);
    nas_net_free(&net);
    nas_backend_free(&be);
    return rc;
}

static int latency(const bench_opts *o, const nas_arch *arch, nas_err *err) {
    nas_cuda_options co;
    nas_cuda_options_default(&co);
    int rc = nas_cuda_precision_parse(o->latency_precision, &co.precision, err);
    if (rc < 0) return rc;
    int max_batch = 1;
    for (int i = 0; i < o->n_latency; i++)
        if (o->latency_batches[i] > max_batch) max_batch = o->latency_batches[i];
    nas_backend *be = NULL;
    nas_net *net = NULL;
    if ((rc = nas_backend_cuda_new(&co, &be, err)) < 0) return rc;
    if ((rc = nas_net_new(arch, be, max_batch, 1, &net, err)) < 0) goto done;
    for (int i = 0; i < o->n_latency; i++) {
        nas_latency_summary s;
        bool graph = false;
        if ((rc = nas_cuda_latency_measure(net, o->latency_batches[i], 0, 0, &s, &graph, err)) < 0)
            goto done;
        printf("| %s | infer | %dx%d | %s | %d | %.4f ms/image (batch mean %.3f ms, p50 %.3f, "
               "p90 %.3f%s) |\n",
               o->model, arch->resolution, arch->resolution, o->latency_precision,
               o->latency_batches[i], s.mean_ms / o->latency_batches[i], s.mean_ms, s.p50_ms,
               s.p90_ms, graph ? ", CUDA graph" : ", eager: capture failed");
    }
done:
    nas_net_free(&net);
    nas_backend_free(&be);
    return rc;
}

static void usage(void) {
    fprintf(stderr,
            "usage: gpu_bench --model PRESET [--res R] [--batch B] [--precision bf16|fp16|fp32]\n"
            "                 [--steps N] [--warmup N] [--latency 1,64] [--latency-precision fp16]\n"
            "                 [--no-train] [--no-latency] [--export-pytorch FILE]\n");
}

int main(int argc, char **argv) {
    bench_opts o = {.res = 0, .batch = 256, .steps = 30, .warmup = 5, .precision = "bf16",
                    .latency_precision = "fp16", .latency_batches = {1, 64}, .n_latency = 2};
    enum { OPT_LAT_PREC = 256, OPT_EXPORT, OPT_NO_TRAIN, OPT_NO_LATENCY };
    static const struct option long_opts[] = {
        {"model", required_argument, NULL, 'm'},     {"res", required_argument, NULL, 'r'},
        {"batch", required_argument, NULL, 'b'},     {"precision", required_argument, NULL, 'p'},
        {"steps", required_argument, NULL, 's'},     {"warmup", required_argument, NULL, 'w'},
        {"latency", required_argument, NULL, 'l'},
        {"latency-precision", required_argument, NULL, OPT_LAT_PREC},
        {"export-pytorch", required_argument, NULL, OPT_EXPORT},
        {"no-train", no_argument, NULL, OPT_NO_TRAIN},
        {"no-latency", no_argument, NULL, OPT_NO_LATENCY},
        {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "m:r:b:p:s:w:l:h", long_opts, NULL)) != -1) {
        switch (c) {
        case 'm': o.model = optarg; break;
        case 'r': o.res = atoi(optarg); break;
        case 'b': o.batch = atoi(optarg); break;
        case 'p': o.precision = optarg; break;
        case 's': o.steps = atoi(optarg); break;
        case 'w': o.warmup = atoi(optarg); break;
        case 'l':
            if (parse_batches(optarg, &o) < 0) {
                fprintf(stderr, "gpu_bench: --latency takes batch sizes like 1,8,64\n");
                return 2;
            }
            break;
        case OPT_LAT_PREC: o.latency_precision = optarg; break;
        case OPT_EXPORT: o.export_path = optarg; break;
        case OPT_NO_TRAIN: o.skip_train = true; break;
        case OPT_NO_LATENCY: o.n_latency = 0; break;
        default: usage(); return c == 'h' ? 0 : 2;
        }
    }
    if (!o.model || o.batch < 1 || o.steps < 1 || o.warmup < 0 || o.res < 0) {
        usage();
        return 2;
    }
    nas_err err;
    nas_arch arch;
    if (nas_arch_load(o.model, &arch, &err) < 0) {
        fprintf(stderr, "gpu_bench: %s\n", err.msg);
        return 1;
    }
    if (o.res > 0) arch.resolution = o.res;
    if (o.export_path) {
        FILE *f = fopen(o.export_path, "w");
        if (!f || nas_export_pytorch(&arch, f, &err) < 0) {
            fprintf(stderr, "gpu_bench: cannot write %s: %s\n", o.export_path,
                    f ? err.msg : "fopen failed");
            if (f) fclose(f);
            return 1;
        }
        fclose(f);
        return 0;
    }
    if (nas_cuda_device_count() == 0) {
        fprintf(stderr, "gpu_bench: no CUDA device here; run it on a GPU machine\n");
        return 1;
    }
    int rc = 0;
    if (!o.skip_train) rc = train_throughput(&o, &arch, &err);
    if (rc == 0 && o.n_latency > 0) rc = latency(&o, &arch, &err);
    if (rc < 0) {
        fprintf(stderr, "gpu_bench: %s\n", err.msg);
        return 1;
    }
    return 0;
}
