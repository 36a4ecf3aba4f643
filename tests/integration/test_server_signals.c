/*
 * tests/integration/test_server_signals.c - clean stops.
 *  - SIGTERM to a worker with a grace period: it finishes its job, the
 *    result is stored, it exits 0.
 *  - SIGTERM to a worker without grace: it hands its job back (re-queued at
 *    the same attempt) and exits 0; another worker finishes the job.
 *  - SIGTERM to nasd: it exits 143, the experiment is 'stopped'; started
 *    again it resumes and completes the budget.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static pid_t start_worker_grace(h_env *env, const char *endpoint, const char *id, const char *grace) {
    char log[64];
    snprintf(log, sizeof log, "%s.log", id);
    char *argv[] = {(char *)env->worker, "--connect", (char *)endpoint, "--id", (char *)id, "--grace", (char *)grace,
                    NULL};
    return h_spawn(env, log, argv);
}

static int64_t leased_job_of(h_env *env, const char *worker) {
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT coalesce(max(id), 0) FROM jobs WHERE state = 'leased' AND worker = '%s'", worker);
    return h_wait_db(env, sql, 1, 30);
}

int main(int argc, char **argv) {
    h_env env;
    h_init(&env, argc, argv, "signals", 150);
    h_write_config(&env,
                   "name: signals\n"
                   "space: mini\n"
                   "strategy: {name: random, seed: 21}\n"
                   "budget: {evaluations: 5}\n"
                   "lease_seconds: 30\n"
                   "heartbeat_seconds: 0.25\n"
                   "progress_seconds: 1\n"
                   "prefetch: 0\n"
                   "evaluator: {sim: {delay_seconds: 2.5, delay_jitter: 0}}\n");
    pid_t nasd = h_start_nasd(&env, NULL, "nasd1.log");
    char endpoint[256];
    snprintf(endpoint, sizeof endpoint, "%s", h_wait_endpoint(&env, 20));
    char sql[200];
    int status = -1;

    /* a patient worker finishes its job after SIGTERM */
    pid_t patient = start_worker_grace(&env, endpoint, "patient", "20");
    int64_t job = leased_job_of(&env, "patient");
    H_CHECK(job > 0, "patient got no job");
    h_kill(patient, SIGTERM);
    H_CHECK(h_wait(patient, 30, &status) && status == 0, "patient did not exit cleanly (%d)", status);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM results WHERE job = %lld AND worker = 'patient'", (long long)job);
    H_CHECK(h_db_int(&env, sql) == 1, "the patient worker's job has no result from it");

    /* an impatient worker hands its job back; the lease is 30 s, so only the hand-back frees it in time */
    pid_t quitter = start_worker_grace(&env, endpoint, "quitter", "0");
    job = leased_job_of(&env, "quitter");
    H_CHECK(job > 0, "quitter got no job");
    h_kill(quitter, SIGTERM);
    H_CHECK(h_wait(quitter, 30, &status) && status == 0, "quitter did not exit cleanly (%d)", status);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM jobs WHERE id = %lld AND state = 'queued' AND attempt = 1",
             (long long)job);
    H_CHECK(h_wait_db(&env, sql, 1, 10) == 1, "the handed-back job is not queued at attempt 1");

    /* nasd stops on SIGTERM with the experiment resumable */
    pid_t finisher = start_worker_grace(&env, endpoint, "finisher", "5");
    h_wait_db(&env, "SELECT count(*) FROM results", 3, 60);
    h_kill(nasd, SIGTERM);
    H_CHECK(h_wait(nasd, 30, &status), "nasd did not stop on SIGTERM");
    H_CHECK(status == 143, "nasd exited %d after SIGTERM, expected 143", status);
    H_CHECK(h_db_int(&env, "SELECT count(*) FROM experiments WHERE state = 'stopped'") == 1, "not marked stopped");
    nasd = h_start_nasd(&env, endpoint, "nasd2.log");
    H_CHECK(h_wait(nasd, 90, &status) && status == 0, "the resumed nasd did not finish (%d)", status);
    H_CHECK(h_wait(finisher, 20, &status) && status == 0, "finisher did not exit");
    snprintf(sql, sizeof sql, "SELECT count(*) FROM results WHERE job = %lld AND worker = 'finisher'", (long long)job);
    H_CHECK(h_db_int(&env, sql) == 1, "the handed-back job was not finished by another worker");
    H_CHECK(h_db_int(&env, "SELECT count(*) FROM results") == 5, "budget of 5 not met");
    H_CHECK(h_db_int(&env, "SELECT count(*) FROM experiments WHERE state = 'done'") == 1, "not marked done");
    h_pass(&env);
}
