/*
 * tests/integration/test_server_kill_nasd.c - kill -9 nasd in the middle of
 * a run and start it again on the same store and endpoint: the workers
 * reconnect by themselves, no finished job runs again, and the experiment
 * ends with exactly the budgeted number of distinct results.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "harness.h"

#define BUDGET 120

int main(int argc, char **argv) {
    h_env env;
    h_init(&env, argc, argv, "killnasd", 170);
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "name: kill-nasd\n"
             "space: genet\n"
             "strategy: {name: random, seed: 11}\n"
             "budget: {evaluations: %d}\n"
             "lease_seconds: 3\n"
             "heartbeat_seconds: 0.25\n"
             "progress_seconds: 1\n"
             "prefetch: 4\n"
             "evaluator: {sim: {delay_seconds: 0.1, delay_jitter: 0.5}}\n",
             BUDGET);
    h_write_config(&env, yaml);
    pid_t nasd = h_start_nasd(&env, NULL, "nasd1.log");
    char endpoint[256];
    snprintf(endpoint, sizeof endpoint, "%s", h_wait_endpoint(&env, 20));
    pid_t workers[4];
    for (int i = 0; i < 4; i++) {
        char id[32], log[32];
        snprintf(id, sizeof id, "w%d", i);
        snprintf(log, sizeof log, "worker%d.log", i);
        workers[i] = h_start_worker(&env, endpoint, id, log);
    }
    int64_t before = h_wait_db(&env, "SELECT count(*) FROM results", BUDGET / 3, 90);
    H_CHECK(before >= BUDGET / 3, "only %lld results before the kill", (long long)before);
    h_kill(nasd, SIGKILL);
    int64_t at_kill = h_db_int(&env, "SELECT count(*) FROM results");
    /* jobs running at the kill: their workers finish them while nasd is down */
    char leased[1024];
    h_db_text(&env, "SELECT group_concat(id) FROM jobs WHERE state = 'leased'", leased, sizeof leased);
    H_CHECK(at_kill < BUDGET, "the run finished before nasd was killed");
    /* the workers keep running (and finishing their jobs) while nasd is down */
    struct timespec pause = {.tv_sec = 1};
    nanosleep(&pause, NULL);
    nasd = h_start_nasd(&env, endpoint, "nasd2.log");
    h_wait_endpoint(&env, 20);
    int status = -1;
    H_CHECK(h_wait(nasd, 120, &status), "the restarted nasd did not finish");
    H_CHECK(status == 0, "the restarted nasd exited with %d", status);
    for (int i = 0; i < 4; i++) H_CHECK(h_wait(workers[i], 20, &status) && status == 0, "worker %d did not exit", i);

    H_CHECK(h_log_contains(&env, "nasd2.log", "resuming experiment 'kill-nasd'"), "nasd did not resume");
    H_CHECK(h_log_contains(&env, "nasd2.log", "joined"), "no worker reconnected to the new nasd");
    H_CHECK(h_db_int(&env, "SELECT count(*) FROM results") == BUDGET, "results != budget");
    H_CHECK(h_db_int(&env, "SELECT count(DISTINCT job) FROM results") == BUDGET, "duplicate results");
    H_CHECK(h_db_int(&env, "SELECT count(*) FROM jobs WHERE kind = 'train'") == BUDGET, "more train jobs than budget");
    H_CHECK(h_db_int(&env, "SELECT count(DISTINCT arch_hash) FROM jobs") == BUDGET, "an architecture ran twice");
    H_CHECK(h_db_int(&env, "SELECT count(*) FROM jobs WHERE state != 'done'") == 0, "unfinished jobs remain");
    /* Those results were kept by the workers and sent again after they
     * reconnected: stored at attempt 1 (not re-run after the 3 s lease). */
    H_CHECK(leased[0] != '\0', "no job was running when nasd was killed");
    char sql[1400];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM results WHERE job IN (%s) AND attempt = 1", leased);
    H_CHECK(h_db_int(&env, sql) >= 1, "no result held across the restart (jobs %s) was resent and stored", leased);
    h_pass(&env);
}
