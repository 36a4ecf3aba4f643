/*
 * tests/test_configs.c - every YAML file shipped under configs/ loads through
 * the loader that will really read it: experiments (configs/ *.yaml) through
 * nas_experiment_load, which also loads their space and builds their
 * strategy with its options; spaces (configs/spaces/) through nas_space_load;
 * models (configs/models/) through nas_arch_load. A typo in a shipped config
 * is found here instead of by a user after a cluster job started.
 *
 * The list of files is read from the source tree at run time, so a config
 * added later is covered without editing this test; a file in a folder that
 * has no known loader fails, so that a new kind gets one. A few checks pin
 * what the README and the papers promise about the demo and the paper-scale
 * experiments (backend, strategy, tiers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/experiment.h"
#include "space/arch.h"
#include "space/space.h"

#define MAX_CONFIG_FILES 256
#define CONFIG_PATH_MAX 1024

typedef enum { KIND_EXPERIMENT, KIND_SPACE, KIND_MODEL } config_kind;

typedef struct config_file {
    char path[CONFIG_PATH_MAX];
    config_kind kind;
} config_file;

static config_file files[MAX_CONFIG_FILES];
static int n_files;

static int by_path(const void *a, const void *b) {
    return strcmp(((const config_file *)a)->path, ((const config_file *)b)->path);
}

static bool is_yaml(const char *name) {
    size_t n = strlen(name);
    return name[0] != '.' && ((n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
                              (n > 4 && strcmp(name + n - 4, ".yml") == 0));
}

/* Collects the YAML files of dir (not recursive) as kind. Returns how many. */
static int collect(const char *dir, config_kind kind) {
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "cannot open %s\n", dir);
        return -1;
    }
    int found = 0;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        if (!is_yaml(entry->d_name)) continue;
        if (n_files == MAX_CONFIG_FILES) {
            fprintf(stderr, "more than %d config files: raise MAX_CONFIG_FILES\n", MAX_CONFIG_FILES);
            closedir(d);
            return -1;
        }
        config_file *f = &files[n_files++];
        snprintf(f->path, sizeof f->path, "%s/%s", dir, entry->d_name);
        f->kind = kind;
        found++;
    }
    closedir(d);
    return found;
}

/* Sub-folders of configs/ other than spaces/ and models/ have no loader yet. */
static int unknown_subfolders(const char *root) {
    DIR *d = opendir(root);
    if (!d) return -1;
    int unknown = 0;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        if (entry->d_name[0] == '.' || strcmp(entry->d_name, "spaces") == 0 ||
            strcmp(entry->d_name, "models") == 0)
            continue;
        char path[CONFIG_PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", root, entry->d_name);
        DIR *sub = opendir(path);
        if (sub) {
            closedir(sub);
            fprintf(stderr, "configs/%s/ holds files no loader in this test reads\n", entry->d_name);
            unknown++;
        }
    }
    closedir(d);
    return unknown;
}

static void load_one(void **state) {
    const config_file *f = *state;
    nas_err err = {0};
    int rc = -1;
    switch (f->kind) {
    case KIND_EXPERIMENT: {
        nas_experiment *exp = NULL;
        rc = nas_experiment_load(f->path, &exp, &err);
        if (rc == 0) {
            assert_non_null(exp->space);
            assert_non_null(exp->recipe_json);
            assert_true(exp->budget_evaluations > 0 || exp->budget_hours > 0);
        }
        nas_experiment_free(&exp);
        break;
    }
    case KIND_SPACE: {
        nas_space *space = NULL;
        rc = nas_space_load(f->path, &space, &err);
        if (rc == 0) assert_true(nas_space_dims(space) > 0);
        nas_space_free(&space);
        break;
    }
    case KIND_MODEL: {
        nas_arch arch;
        rc = nas_arch_load(f->path, &arch, &err);
        if (rc == 0) assert_int_equal(nas_arch_validate(&arch, &err), 0);
        break;
    }
    }
    if (rc != 0) fail_msg("%s: %s", f->path, err.msg);
}

/* The loop above must reject a broken file, or every pass would mean nothing. */
static void broken_experiment_is_rejected(void **state) {
    (void)state;
    char path[] = "/tmp/nas-test-configs-XXXXXX.yaml";
    int fd = mkstemps(path, 5);
    assert_true(fd >= 0);
    static const char text[] = "name: broken\n"
                               "space: mini\n"
                               "strategy: {name: lamcts-bo, options: {leaf_sise: 5}}\n"
                               "budget: {evaluations: 3}\n"
                               "backend: cpu\n";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    nas_experiment *exp = NULL;
    nas_err err = {0};
    assert_true(nas_experiment_load(path, &exp, &err) < 0);
    assert_null(exp);
    assert_non_null(strstr(err.msg, "leaf_sise"));
    assert_non_null(strstr(err.msg, ":3:")); /* file:line:column of the typo */
    unlink(path);
}

static nas_experiment *load_shipped(const char *name) {
    char path[CONFIG_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", NAS_SOURCE_CONFIG_DIR, name);
    nas_experiment *exp = NULL;
    nas_err err = {0};
    if (nas_experiment_load(path, &exp, &err)) fail_msg("%s: %s", path, err.msg);
    return exp;
}

/* The README's demo: real cpu work, LA-MCTS-BO on mini, fp32 batch-1 tiers
 * (a cpu worker refuses any other precision), one thread per job. */
static void demo_is_real_cpu_search(void **state) {
    (void)state;
    nas_experiment *exp = load_shipped("demo.yaml");
    assert_string_equal(exp->backend, "cpu");
    assert_string_equal(exp->strategy_name, "lamcts-bo");
    assert_string_equal(exp->space_name, "mini");
    assert_null(strstr(exp->evaluator_json, "sim"));
    assert_true(exp->n_tiers >= 2 && exp->n_tiers <= 3);
    for (int t = 0; t < exp->n_tiers; t++) {
        assert_string_equal(exp->tiers[t].precision, "fp32");
        if (t > 0) assert_true(exp->tiers[t].ms > exp->tiers[t - 1].ms);
    }
    assert_non_null(strstr(exp->recipe_json, "\"dataset\":\"fashion-mnist\""));
    assert_non_null(strstr(exp->recipe_json, "\"threads\":1"));
    assert_true(exp->budget_evaluations > 0);
    nas_experiment_free(&exp);

    /* the demo's example network lies in the demo's space */
    nas_space *space = NULL;
    nas_arch arch;
    nas_err err = {0};
    assert_int_equal(nas_space_load("mini", &space, &err), 0);
    assert_int_equal(nas_arch_load("mini-fmnist", &arch, &err), 0);
    nas_arch_canonicalize(&arch);
    if (nas_space_contains(space, &arch, &err)) fail_msg("mini-fmnist is outside mini: %s", err.msg);
    nas_space_free(&space);
}

/* GENet's budgets: 0.1 / 0.2 / 0.34 ms per image at batch 64 fp16 on CUDA. */
static void genet_llr_has_paper_budgets(void **state) {
    (void)state;
    nas_experiment *exp = load_shipped("genet-llr.yaml");
    static const double per_image_ms[] = {0.1, 0.2, 0.34};
    assert_string_equal(exp->backend, "cuda");
    assert_string_equal(exp->strategy_name, "llr");
    assert_int_equal(exp->n_tiers, 3);
    for (int t = 0; t < 3; t++) {
        assert_int_equal(exp->tiers[t].batch, 64);
        assert_string_equal(exp->tiers[t].precision, "fp16");
        assert_true(fabs(exp->tiers[t].ms / 64 - per_image_ms[t]) < 1e-9);
    }
    assert_non_null(strstr(exp->recipe_json, "\"dataset\":\"jpeg:"));
    nas_experiment_free(&exp);
}

/* GPUNet's hub: tiers by batch-1 fp16 latency, LA-MCTS-BO on the GPUNet space. */
static void gpunet_lamcts_has_batch1_fp16_tiers(void **state) {
    (void)state;
    nas_experiment *exp = load_shipped("gpunet-lamcts.yaml");
    assert_string_equal(exp->backend, "cuda");
    assert_string_equal(exp->strategy_name, "lamcts-bo");
    assert_string_equal(exp->space_name, "gpunet");
    assert_true(exp->n_tiers >= 3);
    for (int t = 0; t < exp->n_tiers; t++) {
        assert_int_equal(exp->tiers[t].batch, 1);
        assert_string_equal(exp->tiers[t].precision, "fp16");
    }
    assert_non_null(strstr(exp->recipe_json, "\"dataset\":\"jpeg:"));
    nas_experiment_free(&exp);
}

int main(void) {
    const char *root = NAS_SOURCE_CONFIG_DIR;
    char dir[CONFIG_PATH_MAX];
    int experiments = collect(root, KIND_EXPERIMENT);
    snprintf(dir, sizeof dir, "%s/spaces", root);
    int spaces = collect(dir, KIND_SPACE);
    snprintf(dir, sizeof dir, "%s/models", root);
    int models = collect(dir, KIND_MODEL);
    if (experiments < 1 || spaces < 1 || models < 1 || unknown_subfolders(root) != 0) {
        fprintf(stderr, "configs/ under %s: %d experiments, %d spaces, %d models\n", root, experiments,
                spaces, models);
        return 1;
    }
    qsort(files, (size_t)n_files, sizeof files[0], by_path); /* the same order on every run */
    enum { FIXED_TESTS = 4 };
    struct CMUnitTest tests[MAX_CONFIG_FILES + FIXED_TESTS];
    memset(tests, 0, sizeof tests);
    for (int i = 0; i < n_files; i++) {
        /* name the test by its path below configs/ */
        tests[i].name = files[i].path + strlen(root) + 1;
        tests[i].test_func = load_one;
        tests[i].initial_state = &files[i];
    }
    int n = n_files;
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(broken_experiment_is_rejected);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(demo_is_real_cpu_search);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(genet_llr_has_paper_budgets);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(gpunet_lamcts_has_batch1_fp16_tiers);
    return _cmocka_run_group_tests("configs", tests, (size_t)n, NULL, NULL);
}
