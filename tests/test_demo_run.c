/*
 * tests/test_demo_run.c - the demo (configs/demo.yaml, scripts/demo.sh) scaled
 * down but real: `nas run` with two cpu workers trains LA-MCTS-BO candidates of
 * the `mini` space on Fashion-MNIST images and times them on this CPU, then
 * `nas pareto` prints the front and writes its SVG.
 *
 * What is checked in the store afterwards: the budget of 4 trained candidates
 * was met by distinct architectures; nothing is marked simulated and every
 * result names a cpu device; every trained candidate learned (top-1 at least
 * twice chance, the best well above it) and has a batch-1 fp32 latency; every
 * candidate was measured before it was trained.
 *
 * Bounded for ASan on 2 shared cores: 3,000 real training images of which the
 * recipe uses 2,000 (train_subset), 1 epoch, and the first 2,000 test images,
 * copied from the installed data set into the test's folder as IDX files; the
 * widest candidates (slowest to train) are cut by the largest latency tier.
 * argv: nasd, nas-worker, nas. Exits 77 (skipped) without Fashion-MNIST.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "harness.h"

#define TRAIN_IMAGES 3000
#define TEST_IMAGES 2000
#define RUN_DEADLINE_SECONDS 240

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Copies the first n items of the IDX file src (raw or gzipped) into dst
 * (raw), rewriting the item count of its header. */
static bool copy_idx_prefix(const char *src, const char *dst, uint32_t n) {
    gzFile in = gzopen(src, "rb");
    if (!in) return false;
    unsigned char header[16];
    bool ok = gzread(in, header, 4) == 4 && header[0] == 0 && header[1] == 0 && header[2] == 0x08;
    int ndims = ok ? header[3] : 0;
    ok = ok && ndims >= 1 && ndims <= 3 && gzread(in, header + 4, 4 * ndims) == 4 * ndims;
    size_t item_bytes = 1;
    for (int d = 1; ok && d < ndims; d++) item_bytes *= be32(header + 4 + 4 * d);
    ok = ok && be32(header + 4) >= n;
    FILE *out = ok ? fopen(dst, "wb") : NULL;
    if (out) {
        header[4] = (unsigned char)(n >> 24);
        header[5] = (unsigned char)(n >> 16);
        header[6] = (unsigned char)(n >> 8);
        header[7] = (unsigned char)n;
        ok = fwrite(header, 1, 4 + 4 * (size_t)ndims, out) == 4 + 4 * (size_t)ndims;
        unsigned char buf[1 << 16];
        size_t left = item_bytes * n;
        while (ok && left > 0) {
            unsigned chunk = (unsigned)(left < sizeof buf ? left : sizeof buf);
            ok = gzread(in, buf, chunk) == (int)chunk && fwrite(buf, 1, chunk, out) == chunk;
            left -= chunk;
        }
        ok = fclose(out) == 0 && ok;
    } else {
        ok = false;
    }
    gzclose(in);
    return ok;
}

/* The installed Fashion-MNIST folder ($NAS_DATA_DIR or Debian's), as the trainer finds it. */
static void source_dir(char *out, size_t cap) {
    const char *base = getenv("NAS_DATA_DIR");
    snprintf(out, cap, "%s/fashion-mnist", base && *base ? base : "/usr/share/datasets");
}

/* Writes the reduced data set into DIR/fmnist (data_dir). */
static void write_data(h_env *env, const char *src_dir, char *data_dir, size_t cap) {
    static const struct {
        const char *stem;
        uint32_t n;
    } files[] = {{"train-images-idx3-ubyte", TRAIN_IMAGES},
                 {"train-labels-idx1-ubyte", TRAIN_IMAGES},
                 {"t10k-images-idx3-ubyte", TEST_IMAGES},
                 {"t10k-labels-idx1-ubyte", TEST_IMAGES}};
    snprintf(data_dir, cap, "%s/fmnist", env->dir);
    H_CHECK(mkdir(data_dir, 0755) == 0, "mkdir %s: %s", data_dir, strerror(errno));
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char src[512], dst[512];
        snprintf(src, sizeof src, "%s/%s.gz", src_dir, files[i].stem);
        snprintf(dst, sizeof dst, "%s/%s", data_dir, files[i].stem);
        H_CHECK(copy_idx_prefix(src, dst, files[i].n), "cannot copy the first %u items of %s", files[i].n, src);
    }
}

int main(int argc, char **argv) {
    h_env env;
    h_init(&env, argc, argv, "demo", RUN_DEADLINE_SECONDS + 40);
    H_CHECK(argc >= 4, "usage: test_demo_run NASD WORKER NAS");
    const char *nas = argv[3];
    char src_dir[256], src_probe[320], data_dir[256];
    source_dir(src_dir, sizeof src_dir);
    snprintf(src_probe, sizeof src_probe, "%s/train-images-idx3-ubyte.gz", src_dir);
    if (access(src_probe, R_OK) != 0) {
        printf("SKIP: Fashion-MNIST is not in %s (scripts/setup.sh installs dataset-fashion-mnist)\n", src_dir);
        rmdir(env.dir);
        return 77; /* meson: skipped */
    }
    write_data(&env, src_dir, data_dir, sizeof data_dir);
    /* The demo's search, strategy and recipe shape, scaled down. The tiers are
     * wider than the demo's because ASan makes every forward pass slower. */
    char config[2048];
    snprintf(config, sizeof config,
             "name: demo-small\n"
             "space: mini\n"
             "strategy: {name: lamcts-bo, seed: 3, options: {init: 2, leaf_size: 2}}\n"
             "budget: {evaluations: 4}\n"
             "backend: cpu\n"
             "latency:\n"
             "  - {ms: 3, batch: 1, precision: fp32}\n"
             "  - {ms: 30, batch: 1, precision: fp32}\n"
             "recipe: {dataset: \"idx:%s\", epochs: 1, train_subset: 2000, batch: 32, lr: 0.1,\n"
             "         threads: 1, latency_batches: [1]}\n"
             "max_attempts: 1\n"
             "lease_seconds: 60\n"
             "heartbeat_seconds: 1\n"
             "prefetch: 1\n"
             "progress_seconds: 5\n",
             data_dir);
    h_write_config(&env, config);
    /* nas run starts the nasd and nas-worker of this build, not whatever is on PATH */
    setenv("NAS_NASD", env.nasd, 1);
    setenv("NAS_WORKER", env.worker, 1);
    char *run_argv[] = {(char *)nas, "run", env.config, "--workers", "2", "--db", env.db, NULL};
    pid_t run = h_spawn(&env, "run.log", run_argv);
    int status = -1;
    if (!h_wait(run, RUN_DEADLINE_SECONDS, &status)) {
        h_kill(run, SIGINT); /* nas run stops nasd and the workers it started */
        h_wait(run, 30, &status);
        H_CHECK(false, "nas run did not finish 4 evaluations in %d s", RUN_DEADLINE_SECONDS);
    }
    H_CHECK(status == 0, "nas run exited %d", status);
    H_CHECK(!h_log_contains(&env, "run.log", "SIMULATED"), "the run announced simulated results");

    H_CHECK(h_db_int(&env, "SELECT count(*) FROM results WHERE kind = 'train'") == 4,
            "expected the budget of 4 trained candidates, got %lld",
            (long long)h_db_int(&env, "SELECT count(*) FROM results WHERE kind = 'train'"));
    H_CHECK(h_db_int(&env, "SELECT count(DISTINCT arch_hash) FROM jobs WHERE kind = 'train'") == 4,
            "an architecture was trained twice");
    H_CHECK(h_db_int(&env, "SELECT count(*) FROM results WHERE simulated != 0") == 0, "a result is simulated");
    H_CHECK(h_db_int(&env, "SELECT count(*) FROM results WHERE device NOT LIKE 'cpu:%'") == 0,
            "a result does not name a cpu device");
    /* every trained candidate was measured first, and both kinds come from real work */
    H_CHECK(h_db_int(&env, "SELECT count(*) FROM jobs t WHERE t.kind = 'train' AND NOT EXISTS "
                           "(SELECT 1 FROM jobs m WHERE m.kind = 'measure' AND m.arch_hash = t.arch_hash "
                           "AND m.state = 'done')") == 0,
            "a candidate was trained without a measure job within the budget");
    H_CHECK(h_db_int(&env, "SELECT count(*) FROM results WHERE kind = 'train' AND "
                           "(train_seconds IS NULL OR train_seconds <= 0 OR params <= 0 OR macs <= 0)") == 0,
            "a trained result lacks its training time, parameters or MACs");
    /* learned: chance is 10% on 10 classes */
    int64_t worst = h_db_int(&env, "SELECT CAST(min(top1) * 1000 AS INTEGER) FROM results WHERE kind = 'train'");
    int64_t best = h_db_int(&env, "SELECT CAST(max(top1) * 1000 AS INTEGER) FROM results WHERE kind = 'train'");
    H_CHECK(worst >= 200, "a trained candidate is near chance: top-1 %.1f%%", worst / 10.0);
    H_CHECK(best >= 500, "the best candidate reached only %.1f%% top-1", best / 10.0);
    H_CHECK(h_db_int(&env, "SELECT count(*) FROM results r WHERE r.kind = 'train' AND NOT EXISTS "
                           "(SELECT 1 FROM latencies l WHERE l.job = r.job AND l.batch = 1 "
                           "AND l.precision = 'fp32' AND l.mean_ms > 0 AND l.p50_ms > 0)") == 0,
            "a trained candidate has no batch-1 fp32 latency");

    char svg[256];
    snprintf(svg, sizeof svg, "%s/front.svg", env.dir);
    char *pareto_argv[] = {(char *)nas, "pareto", "--db", env.db, "--svg", svg, NULL};
    pid_t pareto = h_spawn(&env, "pareto.log", pareto_argv);
    H_CHECK(h_wait(pareto, 30, &status) && status == 0, "nas pareto failed (%d)", status);
    H_CHECK(h_log_contains(&env, "pareto.log", "Pareto front"), "nas pareto printed no front");
    H_CHECK(h_log_contains(&env, "pareto.log", "best per latency tier"), "nas pareto printed no tiers");
    H_CHECK(h_log_contains(&env, "pareto.log", "hypervolume"), "nas pareto printed no hypervolume");
    H_CHECK(!h_log_contains(&env, "pareto.log", " sim "), "nas pareto shows a simulated result");
    H_CHECK(h_log_contains(&env, "front.svg", "<svg"), "front.svg is not an SVG image");
    printf("demo (scaled down): 4 trained candidates, top-1 %.1f%% .. %.1f%%\n", worst / 10.0, best / 10.0);
    h_pass(&env);
}
