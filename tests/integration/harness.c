/* tests/integration/harness.c - see harness.h. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CHILDREN 64

static pid_t children[MAX_CHILDREN];
static char child_logs[MAX_CHILDREN][256];
static int n_children;
static h_env *current;

double h_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void kill_all(void) {
    for (int i = 0; i < n_children; i++)
        if (children[i] > 0) {
            kill(children[i], SIGKILL);
            waitpid(children[i], NULL, 0);
            children[i] = 0;
        }
}

static void print_tail(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > 3000 ? size - 3000 : 0, SEEK_SET);
    fprintf(stderr, "---- tail of %s\n", path);
    char buf[512];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, stderr);
    fclose(f);
}

void h_fail(void) {
    kill_all();
    for (int i = 0; i < n_children; i++) print_tail(child_logs[i]);
    if (current) fprintf(stderr, "test folder kept: %s\n", current->dir);
    _exit(1);
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "FAIL: the test ran past its deadline\n";
    if (write(2, msg, sizeof msg - 1) < 0) {
    }
    h_fail();
}

void h_init(h_env *env, int argc, char **argv, const char *name, int deadline_seconds) {
    memset(env, 0, sizeof *env);
    if (argc < 3) {
        fprintf(stderr, "usage: %s NASD NAS-WORKER\n", argv[0]);
        exit(2);
    }
    env->nasd = argv[1];
    env->worker = argv[2];
    snprintf(env->dir, sizeof env->dir, "/tmp/nas-%s-XXXXXX", name);
    if (!mkdtemp(env->dir)) {
        perror("mkdtemp");
        exit(1);
    }
    snprintf(env->db, sizeof env->db, "%s/results.db", env->dir);
    snprintf(env->endpoint_file, sizeof env->endpoint_file, "%s/endpoint", env->dir);
    snprintf(env->config, sizeof env->config, "%s/experiment.yaml", env->dir);
    current = env;
    signal(SIGALRM, on_alarm);
    alarm((unsigned)deadline_seconds);
    atexit(kill_all);
}

void h_pass(h_env *env) {
    kill_all();
    if (getenv("NAS_TEST_KEEP")) { /* keep the logs and the store for a look */
        printf("PASS (kept %s)\n", env->dir);
        exit(0);
    }
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", env->dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", env->dir);
    printf("PASS\n");
    exit(0);
}

void h_write_config(h_env *env, const char *yaml) {
    FILE *f = fopen(env->config, "w");
    H_CHECK(f != NULL, "cannot write %s", env->config);
    fputs(yaml, f);
    fclose(f);
}

pid_t h_spawn(h_env *env, const char *log_name, char *const argv[]) {
    H_CHECK(n_children < MAX_CHILDREN, "too many processes");
    char log_path[256];
    snprintf(log_path, sizeof log_path, "%s/%s", env->dir, log_name);
    fflush(NULL);
    pid_t pid = fork();
    H_CHECK(pid >= 0, "fork failed");
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        signal(SIGALRM, SIG_DFL);
        execv(argv[0], argv);
        _exit(127);
    }
    children[n_children] = pid;
    snprintf(child_logs[n_children], sizeof child_logs[n_children], "%s", log_path);
    n_children++;
    return pid;
}

pid_t h_start_nasd(h_env *env, const char *bind, const char *log_name) {
    unlink(env->endpoint_file);
    char *argv[] = {(char *)env->nasd, "--config", env->config, "--db", env->db, "--bind",
                    (char *)(bind ? bind : "tcp://127.0.0.1:*"), "--endpoint-file", env->endpoint_file, NULL};
    return h_spawn(env, log_name, argv);
}

pid_t h_start_worker(h_env *env, const char *endpoint, const char *id, const char *log_name) {
    char *argv[] = {(char *)env->worker, "--connect", (char *)endpoint, "--backend", "sim", "--id", (char *)id,
                    "--grace", "5", NULL};
    return h_spawn(env, log_name, argv);
}

const char *h_wait_endpoint(h_env *env, double timeout) {
    static char endpoint[256];
    double end = h_now() + timeout;
    while (h_now() < end) {
        FILE *f = fopen(env->endpoint_file, "r");
        if (f) {
            bool ok = fgets(endpoint, sizeof endpoint, f) != NULL;
            fclose(f);
            if (ok) {
                endpoint[strcspn(endpoint, "\n")] = '\0';
                return endpoint;
            }
        }
        usleep(20000);
    }
    H_CHECK(false, "nasd did not write %s within %.0f s", env->endpoint_file, timeout);
    return NULL;
}

static void forget_child(pid_t pid) {
    for (int i = 0; i < n_children; i++)
        if (children[i] == pid) children[i] = 0;
}

bool h_wait(pid_t pid, double timeout, int *status) {
    double end = h_now() + timeout;
    while (h_now() < end) {
        int st;
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) {
            forget_child(pid);
            if (status) *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            return true;
        }
        usleep(20000);
    }
    return false;
}

void h_kill(pid_t pid, int sig) {
    kill(pid, sig);
    if (sig == SIGKILL) {
        waitpid(pid, NULL, 0);
        forget_child(pid);
    }
}

static int64_t db_int(h_env *env, const char *sql, bool quiet) {
    sqlite3 *db = NULL;
    int64_t v = -1;
    if (sqlite3_open_v2(env->db, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 2000);
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
        else if (!quiet)
            fprintf(stderr, "query failed: %s: %s\n", sql, sqlite3_errmsg(db));
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return v;
}

int64_t h_db_int(h_env *env, const char *sql) { return db_int(env, sql, false); }

void h_db_text(h_env *env, const char *sql, char *buf, size_t size) {
    buf[0] = '\0';
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(env->db, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 2000);
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
            sqlite3_column_text(st, 0))
            snprintf(buf, size, "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
}

int64_t h_wait_db(h_env *env, const char *sql, int64_t target, double timeout) {
    double end = h_now() + timeout;
    int64_t v = -1;
    while (h_now() < end) {
        if (access(env->db, F_OK) == 0 && (v = db_int(env, sql, true)) >= target) return v; /* quiet: the schema may not exist yet */
        usleep(50000);
    }
    return v;
}

bool h_log_contains(h_env *env, const char *log_name, const char *text) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", env->dir, log_name);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) found = strstr(line, text) != NULL;
    fclose(f);
    return found;
}
