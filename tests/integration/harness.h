/*
 * tests/integration/harness.h - real processes on loopback for the
 * distributed-core tests: spawn nasd and nas-worker, wait with deadlines,
 * kill -9, read the store. Every test is bounded (an alarm kills everything
 * it started and fails) and cleans up its processes at exit.
 */
#ifndef NAS_TESTS_HARNESS_H
#define NAS_TESTS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define H_CHECK(cond, ...)                                                                        \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                       \
            fprintf(stderr, __VA_ARGS__);                                                         \
            fprintf(stderr, "\n");                                                                \
            h_fail();                                                                             \
        }                                                                                         \
    } while (0)

typedef struct h_env {
    const char *nasd, *worker;  /* executables (argv[1], argv[2]) */
    char dir[128];              /* temporary folder of this test */
    char db[192], endpoint_file[192], config[192];
} h_env;

/* Sets up the folder and the global deadline (seconds); argv: nasd, worker. */
void h_init(h_env *env, int argc, char **argv, const char *name, int deadline_seconds);
/* Kills every process still running, prints the logs' tails and exits 1. */
void h_fail(void) __attribute__((noreturn));
/* Removes the folder (kept if $NAS_TEST_KEEP is set) and exits 0. */
void h_pass(h_env *env) __attribute__((noreturn));

/* Writes text into env->config. */
void h_write_config(h_env *env, const char *yaml);

/* Starts a process with stdout/stderr into DIR/log_name; remembered for cleanup. */
pid_t h_spawn(h_env *env, const char *log_name, char *const argv[]);
/* Starts nasd on bind (NULL: a free loopback port) writing the endpoint file. */
pid_t h_start_nasd(h_env *env, const char *bind, const char *log_name);
/* Starts a sim worker with the given id. */
pid_t h_start_worker(h_env *env, const char *endpoint, const char *id, const char *log_name);
/* Waits for the endpoint file; returns the endpoint (static buffer). */
const char *h_wait_endpoint(h_env *env, double timeout);
/* Waits for pid to exit; returns true and *status (exit code or 128+signal). */
bool h_wait(pid_t pid, double timeout, int *status);
void h_kill(pid_t pid, int sig);

/* Runs a read-only query returning one integer (-1 on error). */
int64_t h_db_int(h_env *env, const char *sql);
/* Runs a read-only query returning one text value into buf ("" on error or NULL). */
void h_db_text(h_env *env, const char *sql, char *buf, size_t size);
/* Polls the store until query >= target or timeout; returns the last value. */
int64_t h_wait_db(h_env *env, const char *sql, int64_t target, double timeout);
/* True if the log file contains text. */
bool h_log_contains(h_env *env, const char *log_name, const char *text);

double h_now(void);

#endif
