/*
 * tests/integration/test_server_kill_worker.c - kill -9 a worker in the
 * middle of a job: after its lease expires the job is re-queued at attempt 2
 * and finishes on another worker; the experiment still ends with its budget.
 */
#include <signal.h>
#include <stdio.h>

#include "harness.h"

int main(int argc, char **argv) {
    h_env env;
    h_init(&env, argc, argv, "killworker", 150);
    h_write_config(&env,
                   "name: kill-worker\n"
                   "space: genet\n"
                   "strategy: {name: random, seed: 5}\n"
                   "budget: {evaluations: 6}\n"
                   "lease_seconds: 1.5\n"
                   "heartbeat_seconds: 0.25\n"
                   "progress_seconds: 1\n"
                   "prefetch: 1\n"
                   "evaluator: {sim: {delay_seconds: 3.0, delay_jitter: 0}}\n");
    pid_t nasd = h_start_nasd(&env, NULL, "nasd.log");
    const char *endpoint = h_wait_endpoint(&env, 20);
    pid_t victim = h_start_worker(&env, endpoint, "victim", "victim.log");
    int64_t job = h_wait_db(&env, "SELECT coalesce(max(id), 0) FROM jobs WHERE state = 'leased' AND worker = 'victim'",
                            1, 30);
    H_CHECK(job >= 1, "the victim never got a job");
    h_kill(victim, SIGKILL); /* mid-job: the sim job takes 3 s */
    H_CHECK(h_db_int(&env, "SELECT count(*) FROM results") == 0, "a result arrived before the kill");
    pid_t others[2];
    others[0] = h_start_worker(&env, endpoint, "survivor-a", "a.log");
    others[1] = h_start_worker(&env, endpoint, "survivor-b", "b.log");
    int status = -1;
    H_CHECK(h_wait(nasd, 120, &status), "nasd did not finish");
    H_CHECK(status == 0, "nasd exited with %d", status);
    for (int i = 0; i < 2; i++) H_CHECK(h_wait(others[i], 20, &status) && status == 0, "survivor %d did not exit", i);

    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM results WHERE job = %lld AND worker LIKE 'survivor-%%'",
             (long long)job);
    H_CHECK(h_db_int(&env, sql) == 1, "job %lld did not finish on a survivor", (long long)job);
    snprintf(sql, sizeof sql, "SELECT attempt FROM jobs WHERE id = %lld", (long long)job);
    H_CHECK(h_db_int(&env, sql) == 2, "job %lld was not retried at attempt 2", (long long)job);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM jobs WHERE id = %lld AND error LIKE 'lease expired%%'",
             (long long)job);
    H_CHECK(h_db_int(&env, sql) == 1, "the job's error does not say its lease expired");
    H_CHECK(h_db_int(&env, "SELECT count(*) FROM results WHERE worker = 'victim'") == 0, "the dead worker has results");
    H_CHECK(h_db_int(&env, "SELECT count(*) FROM results") == 6, "budget of 6 not met");
    H_CHECK(h_log_contains(&env, "nasd.log", "lease expired"), "nasd did not log the expiry");
    h_pass(&env);
}
