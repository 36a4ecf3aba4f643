/*
 * bench/query_bench.c - how fast the `nas` query commands answer on a big store.
 *
 * usage: query_bench --nas PATH [--rows N] [--db FILE] [--runs R]
 *
 * Creates the store with the store's own schema (nas_store_open), fills it
 * with N synthetic trained results (job with genet-light as its architecture,
 * result, two latencies each; top-1 a
 * noisy saturating function of latency, all marked simulated) by direct SQL
 * in one transaction (the writer API would take minutes at 1e6 and measures
 * the writer, not the readers), then runs each read command R times as the
 * real program and prints the median wall time. An existing FILE with the
 * same row count is reused.
 */
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/rng.h"
#include "common/util.h"
#include "space/arch.h"
#include "store/store.h"

static int fail_sql(sqlite3 *db, const char *what) {
    fprintf(stderr, "query_bench: %s: %s\n", what, sqlite3_errmsg(db));
    return 1;
}

static int64_t count_results(const char *path) {
    nas_store *s = NULL;
    nas_err err = {0};
    int64_t n = -1;
    if (access(path, F_OK) != 0 || nas_store_open_readonly(path, &s, &err) != 0) return -1;
    nas_store_experiment e = {0};
    if (nas_store_experiment_find(s, NULL, &e, &err) == 0) nas_store_result_count(s, e.id, -1, &n, &err);
    nas_store_experiment_release(&e);
    nas_store_close(&s);
    return n;
}

static int fill(const char *path, int64_t rows) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -f '%s' '%s-wal' '%s-shm'", path, path, path);
    if (system(cmd) != 0) return 1;
    nas_store *s = NULL;
    nas_err err = {0};
    int64_t experiment = 0;
    bool created = false;
    nas_store_experiment e = {.name = "bench", .config_yaml = "name: bench\n", .space = "genet",
                              .strategy = "random", .budget_evaluations = rows};
    if (nas_store_open(path, &s, &err) != 0 || nas_store_experiment_upsert(s, &e, &experiment, &created, &err) != 0) {
        fprintf(stderr, "query_bench: %s\n", err.msg);
        nas_store_close(&s);
        return 1;
    }
    nas_store_close(&s);

    /* Every job carries a real architecture so that `nas show` and `nas
     * export` have something valid to print. */
    nas_arch arch;
    if (nas_arch_load("genet-light", &arch, &err) != 0) {
        fprintf(stderr, "query_bench: %s\n", err.msg);
        return 1;
    }
    char *arch_json = nas_arch_to_json(&arch);
    if (!arch_json) return 1;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) return fail_sql(db, "open");
    sqlite3_exec(db, "PRAGMA synchronous=OFF; PRAGMA cache_size=-262144; BEGIN", NULL, NULL, NULL);
    sqlite3_stmt *job = NULL, *result = NULL, *latency = NULL;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO jobs(id, experiment, kind, arch_json, arch_hash, recipe_json, state, attempt,"
                           " max_attempts, created_at, updated_at) VALUES(?1, ?2, 'train', ?3, ?4, '{}', 'done', 1,"
                           " 3, ?5, ?5)",
                           -1, &job, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "INSERT INTO results(job, experiment, kind, attempt, worker, top1, top5, loss, params,"
                           " macs, train_seconds, device, simulated, created_at) VALUES(?1, ?2, 'train', 1, 'w',"
                           " ?3, ?4, 1.0, ?5, ?6, 0, 'sim', 1, ?7)",
                           -1, &result, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "INSERT INTO latencies(job, experiment, batch, precision, mean_ms, p50_ms, p90_ms)"
                           " VALUES(?1, ?2, ?3, 'fp16', ?4, ?4, ?4)",
                           -1, &latency, NULL) != SQLITE_OK)
        return fail_sql(db, "prepare");
    nas_rng rng;
    nas_rng_seed(&rng, 42);
    double now = nas_now_wall(), start = nas_now_monotonic();
    for (int64_t id = 1; id <= rows; id++) {
        double lat = 0.2 + 30 * pow(nas_rng_uniform(&rng), 1.5);
        double top1 = 0.8 * (1 - exp(-lat / 5)) * (0.85 + 0.15 * nas_rng_uniform(&rng));
        char hash[17];
        snprintf(hash, sizeof hash, "%016" PRIx64, nas_mix64((uint64_t)id));
        sqlite3_bind_int64(job, 1, id);
        sqlite3_bind_int64(job, 2, experiment);
        sqlite3_bind_text(job, 3, arch_json, -1, SQLITE_STATIC);
        sqlite3_bind_text(job, 4, hash, -1, SQLITE_TRANSIENT);
        sqlite3_bind_double(job, 5, now);
        sqlite3_bind_int64(result, 1, id);
        sqlite3_bind_int64(result, 2, experiment);
        sqlite3_bind_double(result, 3, top1);
        sqlite3_bind_double(result, 4, fmin(1, top1 + 0.1));
        sqlite3_bind_int64(result, 5, 1000000 + id);
        sqlite3_bind_int64(result, 6, 100000000 + id);
        sqlite3_bind_double(result, 7, now + (double)id * 1e-4);
        if (sqlite3_step(job) != SQLITE_DONE || sqlite3_step(result) != SQLITE_DONE) return fail_sql(db, "insert");
        sqlite3_reset(job);
        sqlite3_reset(result);
        for (int b = 0; b < 2; b++) {
            sqlite3_bind_int64(latency, 1, id);
            sqlite3_bind_int64(latency, 2, experiment);
            sqlite3_bind_int(latency, 3, b == 0 ? 1 : 64);
            sqlite3_bind_double(latency, 4, b == 0 ? lat : lat * 20);
            if (sqlite3_step(latency) != SQLITE_DONE) return fail_sql(db, "insert latency");
            sqlite3_reset(latency);
        }
    }
    sqlite3_finalize(job);
    sqlite3_finalize(result);
    sqlite3_finalize(latency);
    if (sqlite3_exec(db, "COMMIT; PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL) != SQLITE_OK)
        return fail_sql(db, "commit");
    sqlite3_close(db);
    free(arch_json);
    printf("filled %s with %" PRId64 " results in %.1f s\n", path, rows, nas_now_monotonic() - start);
    return 0;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Runs the command R times with stdout to /dev/null; prints the median wall
 * and CPU (user + system) time. On a shared machine wall time includes waiting
 * for a core, CPU time does not. */
static int time_command(const char *label, const char *command, int runs) {
    double wall[64], cpu[64];
    if (runs > 64) runs = 64;
    for (int r = 0; r < runs; r++) {
        double start = nas_now_monotonic();
        pid_t pid = fork();
        if (pid == 0) {
            execl("/bin/sh", "sh", "-c", command, (char *)NULL);
            _exit(127);
        }
        int status = 0;
        struct rusage usage;
        if (pid < 0 || wait4(pid, &status, 0, &usage) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "query_bench: '%s' failed (%d)\n", command, status);
            return 1;
        }
        wall[r] = nas_now_monotonic() - start;
        cpu[r] = (double)usage.ru_utime.tv_sec + usage.ru_utime.tv_usec * 1e-6 + (double)usage.ru_stime.tv_sec +
                 usage.ru_stime.tv_usec * 1e-6;
    }
    qsort(wall, (size_t)runs, sizeof wall[0], compare_doubles);
    qsort(cpu, (size_t)runs, sizeof cpu[0], compare_doubles);
    printf("| %-44s | %7.3f | %7.3f | %d |\n", label, wall[runs / 2], cpu[runs / 2], runs);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    const char *nas = NULL, *db = "/tmp/nas-query-bench.db";
    int64_t rows = 1000000;
    int runs = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--nas") == 0 && i + 1 < argc) nas = argv[++i];
        else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) db = argv[++i];
        else if (strcmp(argv[i], "--rows") == 0 && i + 1 < argc) rows = strtoll(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) runs = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: query_bench --nas PATH [--rows N] [--db FILE] [--runs R]\n");
            return 2;
        }
    }
    if (!nas || rows < 1 || runs < 1) {
        fprintf(stderr, "usage: query_bench --nas PATH [--rows N] [--db FILE] [--runs R]\n");
        return 2;
    }
    if (count_results(db) != rows && fill(db, rows) != 0) return 1;
    printf("nas query commands on %" PRId64 " results (%s):\n\n", rows, db);
    printf("| command | wall s (median) | CPU s (median) | runs |\n|---|---|---|---|\n");
    struct {
        const char *label, *args;
    } commands[] = {
        {"pareto --format json", "pareto --format json"},
        {"pareto (table, default tiers)", "pareto"},
        {"pareto --x latency@64 --max-latency 100", "pareto --x latency@64 --max-latency 100"},
        {"pareto --svg", "pareto --svg /tmp/nas-query-bench.svg"},
        {"pareto --format csv --all", "pareto --format csv --all"},
        {"status", "status"},
        {"jobs --state done --limit 100", "jobs --state done --limit 100"},
        {"jobs --state failed (none of 1e6)", "jobs --state failed"},
        {"show 1", "show 1"},
    };
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        char command[1024];
        snprintf(command, sizeof command, "'%s' %s --db '%s' > /dev/null", nas, commands[i].args, db);
        if (time_command(commands[i].label, command, runs) != 0) return 1;
    }
    return 0;
}
