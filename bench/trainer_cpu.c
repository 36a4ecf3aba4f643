/*
 * bench/trainer_cpu.c - training throughput of the CPU backend against
 * PyTorch on the same network, batch and thread count.
 *
 * Trains the architecture (a preset name or file; default the mini-space
 * network mini-fmnist on 28x28 Fashion-MNIST-sized input) for --steps SGD
 * steps (Nesterov momentum, weight decay) on a fixed synthetic batch after
 * --warmup untimed steps, and reports images/s. Then it writes the
 * architecture as JSON and runs bench/trainer_cpu_torch.py, which builds the
 * same network in PyTorch (same block structure and parameter count, checked)
 * and times the same loop; finally it prints both figures and the ratio.
 * Besides wall-clock images/s both sides print images per CPU-second of the
 * process, which a machine shared with other jobs distorts much less.
 *
 * PyTorch: Debian's python3-torch (`apt-get install python3-torch`), run with
 * /usr/bin/python3 unless NAS_PYTHON names another interpreter. Use a release
 * build without sanitizers:
 *   meson setup build-rel --buildtype=release -Dtests=false
 *   ninja -C build-rel bench/trainer_cpu && build-rel/bench/trainer_cpu --threads 2
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/rng.h"
#include "space/arch.h"
#include "trainer/graph.h"

typedef struct bench_opts {
    const char *model;
    int batch, threads, steps, warmup;
    bool skip_torch;
} bench_opts;

static double clock_s(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s [--model PRESET|FILE] [--batch B] [--threads T] [--steps S] [--warmup W]"
            " [--no-torch]\n  defaults: --model mini-fmnist --batch 128 --threads 2 --steps 40"
            " --warmup 5\n",
            prog);
    return 2;
}

static int parse(int argc, char **argv, bench_opts *o)
{
    *o = (bench_opts){"mini-fmnist", 128, 2, 40, 5, false};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--no-torch") == 0) {
            o->skip_torch = true;
            continue;
        }
        if (!v)
            return usage(argv[0]);
        if (strcmp(a, "--model") == 0)
            o->model = v;
        else if (strcmp(a, "--batch") == 0)
            o->batch = atoi(v);
        else if (strcmp(a, "--threads") == 0)
            o->threads = atoi(v);
        else if (strcmp(a, "--steps") == 0)
            o->steps = atoi(v);
        else if (strcmp(a, "--warmup") == 0)
            o->warmup = atoi(v);
        else
            return usage(argv[0]);
        i++;
    }
    if (o->batch < 1 || o->threads < 1 || o->steps < 1 || o->warmup < 0)
        return usage(argv[0]);
    return 0;
}

/* One training step; returns 0 or the error code. */
static int train_step(nas_net *net, const nas_backend *be, nas_sgd_tensor *t, int n_t, int batch,
                      nas_err *err)
{
    int rc;
    nas_sgd_hparams hp = {.lr = 0.01f, .momentum = 0.9f, .weight_decay = 5e-5f, .nesterov = true};
    if ((rc = nas_net_forward(net, batch, NAS_MODE_TRAIN, err)) < 0 ||
        (rc = nas_net_loss(net, 0.1f, true, err)) < 0 || (rc = nas_net_backward(net, err)) < 0)
        return rc;
    return be->sgd_step(be, t, n_t, &hp, NULL, err);
}

/* Runs the PyTorch side; returns its images/s or -1. */
static double run_torch(const nas_arch *a, const bench_opts *o, int64_t params)
{
    char *json = nas_arch_to_json(a);
    if (!json)
        return -1;
    char path[] = "/tmp/nas_trainer_cpu_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        free(json);
        return -1;
    }
    FILE *f = fdopen(fd, "w");
    fputs(json, f);
    fclose(f);
    free(json);
    const char *python = getenv("NAS_PYTHON") ? getenv("NAS_PYTHON") : "/usr/bin/python3";
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s %s/bench/trainer_cpu_torch.py --arch %s --batch %d --threads %d --steps %d "
             "--warmup %d --expect-params %lld",
             python, NAS_SOURCE_DIR, path, o->batch, o->threads, o->steps, o->warmup,
             (long long)params);
    FILE *p = popen(cmd, "r");
    double ips = -1;
    if (p) {
        char line[512];
        while (fgets(line, sizeof line, p)) {
            fputs(line, stdout);
            double v, ms, per_cpu;
            if (sscanf(line, "torch images/s: %lf (%lf ms/step) images per CPU-second: %lf", &v,
                       &ms, &per_cpu) >= 1)
                ips = v;
        }
        if (pclose(p) != 0)
            ips = -1;
    }
    unlink(path);
    return ips;
}

int main(int argc, char **argv)
{
    bench_opts o;
    int rc = parse(argc, argv, &o);
    if (rc)
        return rc;
    nas_err err;
    nas_arch arch;
    nas_backend *be = NULL;
    nas_net *net = NULL;
    if (nas_arch_load(o.model, &arch, &err) < 0 || nas_backend_cpu_new(o.threads, &be, &err) < 0 ||
        nas_net_new(&arch, be, o.batch, 1, &net, &err) < 0) {
        fprintf(stderr, "trainer_cpu: %s\n", err.msg);
        nas_backend_free(&be);
        return 1;
    }
    /* a fixed synthetic batch (the data pipeline is not what is measured) */
    size_t image = (size_t)arch.in_channels * arch.resolution * arch.resolution;
    float *images = malloc((size_t)o.batch * image * sizeof(float));
    int32_t *labels = malloc((size_t)o.batch * sizeof(int32_t));
    int np = nas_net_param_count(net), n_t = 0;
    nas_sgd_tensor *t = calloc((size_t)np, sizeof(*t));
    nas_buf **momentum = calloc((size_t)np, sizeof(*momentum));
    if (!images || !labels || !t || !momentum) {
        fprintf(stderr, "trainer_cpu: out of memory\n");
        return 1;
    }
    nas_rng rng;
    nas_rng_seed(&rng, 1);
    for (size_t i = 0; i < (size_t)o.batch * image; i++)
        images[i] = (float)nas_rng_normal(&rng);
    for (int i = 0; i < o.batch; i++)
        labels[i] = (int32_t)nas_rng_below(&rng, (uint64_t)arch.classes);
    for (int i = 0; i < np; i++) {
        const nas_param *p = nas_net_param(net, i);
        if (!p->trainable)
            continue;
        nas_shape s = {(int)p->count, 1, 1, 1};
        if (be->buf_new(be, NAS_BUF_PARAM, s, &momentum[i], &err) < 0) {
            fprintf(stderr, "trainer_cpu: %s\n", err.msg);
            return 1;
        }
        t[n_t++] = (nas_sgd_tensor){p->value, p->grad, momentum[i], p->count, p->decay};
    }
    rc = nas_net_set_batch(net, images, labels, o.batch, &err);
    for (int s = 0; rc == 0 && s < o.warmup; s++)
        rc = train_step(net, be, t, n_t, o.batch, &err);
    double start = clock_s(CLOCK_MONOTONIC), cpu_start = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    for (int s = 0; rc == 0 && s < o.steps; s++) {
        /* the upload is part of a real step */
        rc = nas_net_set_batch(net, images, labels, o.batch, &err);
        if (rc == 0)
            rc = train_step(net, be, t, n_t, o.batch, &err);
    }
    double elapsed = clock_s(CLOCK_MONOTONIC) - start;
    double cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu_start;
    if (rc < 0) {
        fprintf(stderr, "trainer_cpu: %s\n", err.msg);
        return 1;
    }
    double ours = (double)o.steps * o.batch / elapsed;
    int64_t params = nas_net_trainable_count(net);
    printf("model %s: %lld parameters, %dx%d input, batch %d, %d threads, %d timed steps\n",
           o.model, (long long)params, arch.resolution, arch.resolution, o.batch, o.threads,
           o.steps);
    printf("gpunas images/s: %.1f  (%.2f ms/step)  images per CPU-second: %.1f\n", ours,
           1e3 * elapsed / o.steps, (double)o.steps * o.batch / cpu);
    fflush(stdout);
    if (!o.skip_torch) {
        double theirs = run_torch(&arch, &o, params);
        if (theirs > 0)
            printf("ratio gpunas/torch: %.2f\n", ours / theirs);
        else
            printf("torch: not run (see the message above; needs python3-torch)\n");
    }
    for (int i = 0; i < np; i++)
        be->buf_free(be, &momentum[i]);
    free(momentum);
    free(t);
    free(images);
    free(labels);
    nas_net_free(&net);
    nas_backend_free(&be);
    return 0;
}
