/*
 * tests/integration/test_server_500.c - 1 nasd + 8 sim workers, 500 jobs:
 * every job finishes exactly once (checked in the store), nasd exits 0 when
 * the budget is spent and tells every worker to exit.
 */
#include <stdio.h>

#include "harness.h"

int main(int argc, char **argv) {
    h_env env;
    h_init(&env, argc, argv, "server500", 150);
    h_write_config(&env,
                   "name: five-hundred\n"
                   "space: genet\n"
                   "strategy: {name: random, seed: 3}\n"
                   "budget: {evaluations: 500}\n"
                   "backend: sim\n"
                   "lease_seconds: 10\n"
                   "heartbeat_seconds: 0.5\n"
                   "progress_seconds: 1\n"
                   "prefetch: 8\n"
                   "evaluator: {sim: {delay_seconds: 0}}\n");
    pid_t nasd = h_start_nasd(&env, NULL, "nasd.log");
    const char *endpoint = h_wait_endpoint(&env, 20);
    pid_t workers[8];
    for (int i = 0; i < 8; i++) {
        char id[32], log[32];
        snprintf(id, sizeof id, "w%d", i);
        snprintf(log, sizeof log, "worker%d.log", i);
        workers[i] = h_start_worker(&env, endpoint, id, log);
    }
    int status = -1;
    H_CHECK(h_wait(nasd, 120, &status), "nasd did not finish 500 jobs in time");
    H_CHECK(status == 0, "nasd exited with %d", status);
    for (int i = 0; i < 8; i++) {
        H_CHECK(h_wait(workers[i], 20, &status), "worker %d did not exit after the final shutdown", i);
        H_CHECK(status == 0, "worker %d exited with %d", i, status);
    }
    /* exactly once: 500 train jobs, all done, one result each, 500 distinct architectures */
    H_CHECK(h_db_int(&env, "SELECT count(*) FROM jobs WHERE kind = 'train'") == 500, "train jobs != 500");
    H_CHECK(h_db_int(&env, "SELECT count(*) FROM jobs WHERE state = 'done'") == 500, "done jobs != 500");
    H_CHECK(h_db_int(&env, "SELECT count(*) FROM results") == 500, "results != 500");
    H_CHECK(h_db_int(&env, "SELECT count(DISTINCT job) FROM results") == 500, "distinct results != 500");
    H_CHECK(h_db_int(&env, "SELECT count(DISTINCT arch_hash) FROM jobs") == 500, "an architecture ran twice");
    H_CHECK(h_db_int(&env, "SELECT count(*) FROM jobs j LEFT JOIN results r ON r.job = j.id WHERE r.job IS NULL") == 0,
            "a done job has no result");
    H_CHECK(h_db_int(&env, "SELECT count(*) FROM results WHERE simulated = 1 AND device LIKE 'sim:%'") == 500,
            "sim results are not all marked simulated");
    H_CHECK(h_db_int(&env, "SELECT count(DISTINCT worker) FROM results") >= 2, "the work was not spread");
    H_CHECK(h_db_int(&env, "SELECT count(*) FROM experiments WHERE state = 'done'") == 1, "experiment not done");
    H_CHECK(h_log_contains(&env, "nasd.log", "progress: done"), "no progress line");
    h_pass(&env);
}
