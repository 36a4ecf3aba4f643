/*
 * tests/test_strategies_e2e.c - every search strategy end to end: `nas run`
 * (nasd plus sim workers as real processes on loopback) runs random,
 * evolution, bo, lamcts-bo and llr on the mini space, and the store must show
 * the experiment finished with exactly its budget of results, each a distinct
 * architecture (the strategies' pending-aware proposals and the coordinator's
 * duplicate check together never train one architecture twice). LLR-NAS has no
 * evaluation budget: it ends by itself, and its three phases must appear as
 * job tags (llr:master, llr:ft:..., llr:final:...), the fine-tune jobs
 * starting from the MasterNet's checkpoint (init_from) and training only
 * their super-block (train_only), which the sim evaluator accepts.
 * argv: nasd, nas-worker, nas.
 */
#include <stdio.h>
#include <string.h>

#include "integration/harness.h"

/* Sim workers without failures or jitter, so the counts below are exact. */
#define COMMON_YAML                                                                               \
    "space: mini\n"                                                                               \
    "backend: sim\n"                                                                              \
    "objective: top1\n"                                                                           \
    "lease_seconds: 5\n"                                                                          \
    "heartbeat_seconds: 0.25\n"                                                                   \
    "progress_seconds: 1\n"                                                                       \
    "evaluator: {sim: {delay_seconds: 0.02, delay_jitter: 0, failure_rate: 0, noise: 0.01}}\n"

static void run_experiment(h_env *env, const char *nas, const char *name, const char *yaml) {
    snprintf(env->db, sizeof env->db, "%s/%s.db", env->dir, name);
    snprintf(env->config, sizeof env->config, "%s/%s.yaml", env->dir, name);
    h_write_config(env, yaml);
    char log_name[64];
    snprintf(log_name, sizeof log_name, "%s.log", name);
    char *run_argv[] = {(char *)nas, "run", env->config, "--workers", "3", "--db", env->db, NULL};
    pid_t run = h_spawn(env, log_name, run_argv);
    int status = -1;
    H_CHECK(h_wait(run, 60, &status), "%s: nas run did not finish within 60 s", name);
    H_CHECK(status == 0, "%s: nas run exited %d (see %s)", name, status, log_name);
    H_CHECK(h_db_int(env, "SELECT count(*) FROM experiments WHERE state = 'done'") == 1,
            "%s: the experiment is not 'done'", name);
}

/* Checks that every train job has a result and a distinct architecture. */
static int64_t check_distinct_results(h_env *env, const char *name) {
    int64_t jobs = h_db_int(env, "SELECT count(*) FROM jobs WHERE kind = 'train'");
    int64_t distinct = h_db_int(env, "SELECT count(DISTINCT arch_hash) FROM jobs WHERE kind = 'train'");
    int64_t results = h_db_int(env, "SELECT count(*) FROM results WHERE kind = 'train'");
    int64_t done = h_db_int(env, "SELECT count(*) FROM jobs WHERE kind = 'train' AND state = 'done'");
    H_CHECK(distinct == jobs, "%s: %lld train jobs but %lld distinct architectures", name,
            (long long)jobs, (long long)distinct);
    H_CHECK(results == jobs && done == jobs, "%s: %lld train jobs, %lld results, %lld done", name,
            (long long)jobs, (long long)results, (long long)done);
    return results;
}

/* options: the strategy's options as a YAML flow mapping ("{}" for its defaults). */
static void test_budgeted(h_env *env, const char *nas, const char *strategy, const char *options,
                          int budget) {
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "name: e2e-%s\n"
             "strategy: {name: %s, seed: 3, options: %s}\n"
             "budget: {evaluations: %d}\n" COMMON_YAML,
             strategy, strategy, options, budget);
    run_experiment(env, nas, strategy, yaml);
    int64_t results = check_distinct_results(env, strategy);
    H_CHECK(results == budget, "%s: budget %d but %lld results", strategy, budget, (long long)results);
    printf("ok %s: %d distinct results\n", strategy, budget);
}

static void test_llr(h_env *env, const char *nas) {
    run_experiment(env, nas, "llr",
                   "name: e2e-llr\n"
                   "strategy:\n"
                   "  name: llr\n"
                   "  seed: 3\n"
                   "  options: {masternet: mini-fmnist, variants: 2, samples: 300, finetune_epochs: 1}\n"
                   "budget: {evaluations: 0, hours: 1}\n" COMMON_YAML);
    int64_t results = check_distinct_results(env, "llr");
    int64_t master = h_db_int(env, "SELECT count(*) FROM jobs WHERE tag = 'llr:master'");
    int64_t finetune = h_db_int(env, "SELECT count(*) FROM jobs WHERE tag LIKE 'llr:ft:%'");
    int64_t finals = h_db_int(env, "SELECT count(*) FROM jobs WHERE tag LIKE 'llr:final:%'");
    int64_t from_master = h_db_int(env, "SELECT count(*) FROM jobs WHERE tag LIKE 'llr:ft:%' "
                                        "AND recipe_json LIKE '%init_from%' "
                                        "AND recipe_json LIKE '%train_only%'");
    H_CHECK(master == 1, "llr: %lld MasterNet jobs", (long long)master);
    H_CHECK(finetune >= 2, "llr: only %lld fine-tune jobs", (long long)finetune);
    H_CHECK(from_master == finetune, "llr: %lld of %lld fine-tune jobs lack init_from/train_only",
            (long long)(finetune - from_master), (long long)finetune);
    H_CHECK(finals >= 1, "llr: no final job");
    H_CHECK(results == master + finetune + finals, "llr: %lld results for %lld tagged jobs",
            (long long)results, (long long)(master + finetune + finals));
    /* The phases run in order: the master first, every final after every fine-tune. */
    H_CHECK(h_db_int(env, "SELECT min(id) FROM jobs WHERE tag LIKE 'llr:ft:%'") >
                h_db_int(env, "SELECT id FROM jobs WHERE tag = 'llr:master'"),
            "llr: a fine-tune job was queued before the MasterNet");
    H_CHECK(h_db_int(env, "SELECT min(id) FROM jobs WHERE tag LIKE 'llr:final:%'") >
                h_db_int(env, "SELECT max(id) FROM jobs WHERE tag LIKE 'llr:ft:%'"),
            "llr: a final job was queued before the last fine-tune job");
    printf("ok llr: master 1, fine-tune %lld, final %lld\n", (long long)finetune, (long long)finals);
}

/* bench-search rejects --options keys that are not strategies being run
 * (options written without their strategy's name would otherwise be ignored,
 * and a tuning run would silently measure the defaults), and accepts them
 * under the strategy's name. */
static void test_bench_options(h_env *env, const char *nas) {
    char *bad[] = {(char *)nas, "bench-search", "--func", "ackley", "--dims", "2", "--budget", "8",
                   "--seeds", "1", "--strategy", "random", "--options", "{leaf_size: 4}", NULL};
    int status = -1;
    H_CHECK(h_wait(h_spawn(env, "bench_bad.log", bad), 30, &status), "bench-search hung");
    H_CHECK(status == 2, "bench-search with a bare option key exited %d, not 2", status);
    H_CHECK(h_log_contains(env, "bench_bad.log", "unknown key 'leaf_size' (allowed: random)"),
            "bench-search did not name the stray --options key (see bench_bad.log)");
    char *good[] = {(char *)nas, "bench-search", "--func", "ackley", "--dims", "2", "--budget", "8",
                    "--seeds", "1", "--strategy", "random", "--options", "{random: {}}", NULL};
    H_CHECK(h_wait(h_spawn(env, "bench_good.log", good), 30, &status), "bench-search hung");
    H_CHECK(status == 0, "bench-search with options under the strategy exited %d", status);
    H_CHECK(h_log_contains(env, "bench_good.log", "random "), "bench-search printed no row");
    printf("ok bench-search --options keys checked\n");
}

int main(int argc, char **argv) {
    h_env env;
    h_init(&env, argc, argv, "strategies", 240);
    H_CHECK(argc >= 4, "usage: test_strategies_e2e NASD WORKER NAS");
    const char *nas = argv[3];
    test_bench_options(&env, nas);
    test_budgeted(&env, nas, "random", "{}", 16);
    test_budgeted(&env, nas, "evolution", "{}", 20);
    test_budgeted(&env, nas, "bo", "{}", 24);
    /* leaves of 8 so that 30 evaluations split the tree (the default, 80,
     * suits searches of hundreds) and its regions constrain real proposals */
    test_budgeted(&env, nas, "lamcts-bo", "{leaf_size: 8}", 30);
    test_llr(&env, nas);
    h_pass(&env);
}
