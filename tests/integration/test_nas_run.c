/*
 * tests/integration/test_nas_run.c - `nas run`: nasd plus N local workers as
 * real processes. A run ends by itself with the budget met; Ctrl-C stops
 * everything (the store is left 'stopped' and unlocked) and the same command
 * resumes it. argv: nasd, nas-worker, nas.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "store/store.h"

int main(int argc, char **argv) {
    h_env env;
    h_init(&env, argc, argv, "nasrun", 150);
    H_CHECK(argc >= 4, "usage: test_nas_run NASD WORKER NAS");
    const char *nas = argv[3];
    h_write_config(&env,
                   "name: nas-run\n"
                   "space: mini\n"
                   "strategy: {name: random, seed: 8}\n"
                   "budget: {evaluations: 30}\n"
                   "backend: sim\n"
                   "lease_seconds: 5\n"
                   "heartbeat_seconds: 0.25\n"
                   "progress_seconds: 1\n"
                   "evaluator: {sim: {delay_seconds: 0.3}}\n");
    char *run_argv[] = {(char *)nas, "run", env.config, "--workers", "3", "--db", env.db, NULL};
    pid_t run = h_spawn(&env, "run1.log", run_argv);
    int64_t some = h_wait_db(&env, "SELECT count(*) FROM results", 5, 60);
    H_CHECK(some >= 5 && some < 30, "expected a partial run before Ctrl-C, got %lld results", (long long)some);
    h_kill(run, SIGINT);
    int status = -1;
    H_CHECK(h_wait(run, 30, &status), "nas run did not stop on SIGINT");
    H_CHECK(status != 0, "an interrupted run must not report success");
    H_CHECK(h_db_int(&env, "SELECT count(*) FROM experiments WHERE state = 'stopped'") == 1, "not stopped");
    nas_store *store = NULL;
    nas_err err;
    H_CHECK(nas_store_open(env.db, &store, &err) == 0, "a process still holds the store: %s", err.msg);
    nas_store_close(&store);

    run = h_spawn(&env, "run2.log", run_argv);
    H_CHECK(h_wait(run, 90, &status), "the resumed nas run did not finish");
    H_CHECK(status == 0, "the resumed nas run exited %d", status);
    H_CHECK(h_db_int(&env, "SELECT count(*) FROM results") == 30, "budget of 30 not met");
    H_CHECK(h_db_int(&env, "SELECT count(DISTINCT arch_hash) FROM jobs") == 30, "an architecture ran twice");
    H_CHECK(h_log_contains(&env, "run2.log", "resuming experiment"), "the second run did not resume");
    H_CHECK(h_log_contains(&env, "run2.log", "SIMULATED"), "sim results are not announced as simulated");
    h_pass(&env);
}
