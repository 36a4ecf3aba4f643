/*
 * cli/cmd_query.c - `nas status`, `nas jobs`, `nas show`, `nas export`: read
 * what nasd has stored, at any time, without disturbing it.
 *
 * Each command opens the store read-only (cli/query.c), runs a handful of
 * indexed SELECTs and prints plain text meant for people. Results produced by
 * the sim evaluator are always marked `sim`, so a simulated accuracy is never
 * mistaken for a measured one. `nas pareto` lives in cli/query_pareto.c.
 */
#include <cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/export_pytorch.h"
#include "cli/query.h"
#include "common/util.h"

/* ---- nas status ------------------------------------------------------------ */

static void status_usage(FILE *out) {
    fprintf(out, "usage: nas status --db FILE [--experiment NAME]\n\n"
                 "Progress of an experiment (default: the most recent in FILE): budget used, jobs by\n"
                 "state, workers with their last heartbeat and current job, results per second,\n"
                 "failures by reason and the best results so far. Results from the sim evaluator are\n"
                 "marked `sim`. Safe to run while nasd writes (read-only, WAL).\n");
}

/* The evaluation budget counts train jobs that reached a final state (done or
 * failed), as the coordinator does (server/coordinator.h); measure-only
 * results do not spend it. */
static int print_budget(nas_store *store, const nas_store_experiment *exp, nas_err *err) {
    int64_t counts[NAS_STORE_KIND_COUNT][NAS_JOB_STATE_COUNT];
    memset(counts, 0, sizeof counts);
    int rc = nas_store_job_counts(store, exp->id, counts, err);
    if (rc) return rc;
    int64_t spent = counts[NAS_STORE_TRAIN][NAS_JOB_DONE] + counts[NAS_STORE_TRAIN][NAS_JOB_FAILED];
    printf("experiment  %s (id %" PRId64 "), state %s, strategy %s, space %s\n", exp->name ? exp->name : "?",
           exp->id, exp->state ? exp->state : "?", exp->strategy ? exp->strategy : "?",
           exp->space ? exp->space : "?");
    printf("budget      %" PRId64 " evaluations spent (train jobs done or failed)", spent);
    if (exp->budget_evaluations > 0)
        printf(" of %" PRId64 " (%.1f%%)", exp->budget_evaluations,
               100.0 * (double)spent / (double)exp->budget_evaluations);
    char running[32];
    nas_query_format_duration(exp->elapsed_seconds, running, sizeof running);
    printf("; running %s", running);
    if (exp->budget_hours > 0)
        printf(" of %.2f h (%.1f%%)", exp->budget_hours, 100.0 * exp->elapsed_seconds / 3600.0 / exp->budget_hours);
    printf("\n");
    return 0;
}

static int print_job_counts(nas_store *store, const nas_store_experiment *exp, nas_err *err) {
    int64_t counts[NAS_STORE_KIND_COUNT][NAS_JOB_STATE_COUNT];
    memset(counts, 0, sizeof counts);
    int rc = nas_store_job_counts(store, exp->id, counts, err);
    if (rc) return rc;
    for (int kind = 0; kind < NAS_STORE_KIND_COUNT; kind++) {
        printf("%-12s%-8s", kind == 0 ? "jobs" : "", nas_store_kind_name((nas_store_kind)kind));
        for (int state = 0; state < NAS_JOB_STATE_COUNT; state++)
            printf(" %s %" PRId64, nas_job_state_name((nas_job_state)state), counts[kind][state]);
        printf("\n");
    }
    return 0;
}

static int print_rates(nas_store *store, const nas_store_experiment *exp, nas_err *err) {
    sqlite3_stmt *st = NULL;
    /* +experiment: walk the table in id order (sequential pages); through
     * results_by_top1 every row would be a random read (seconds at 1e6). */
    int rc = nas_query_prepare(store,
                               "SELECT count(*), sum(simulated), min(created_at), max(created_at) "
                               "FROM results WHERE +experiment = ?1",
                               &st, err);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, exp->id);
    int64_t total = 0, simulated = 0;
    double first = 0, last = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        total = sqlite3_column_int64(st, 0);
        simulated = sqlite3_column_int64(st, 1);
        first = sqlite3_column_double(st, 2);
        last = sqlite3_column_double(st, 3);
    }
    sqlite3_finalize(st);
    /* The last minute of stored results (or the whole span if shorter):
     * what the coordinator sustains now. */
    int64_t recent = 0;
    double window = fmin(60.0, last - first);
    if ((rc = nas_query_prepare(store, "SELECT count(*) FROM results WHERE +experiment = ?1 AND created_at >= ?2",
                                &st, err)))
        return rc;
    sqlite3_bind_int64(st, 1, exp->id);
    sqlite3_bind_double(st, 2, last - window);
    if (sqlite3_step(st) == SQLITE_ROW) recent = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    printf("results     %" PRId64 " stored", total);
    if (simulated > 0) printf(" (%" PRId64 " sim: from the sim evaluator, not measured)", simulated);
    /* Rates between stored results, so a finished experiment still shows
     * what it sustained: the last minute before the newest result, and the
     * whole span from the first to the newest. */
    if (total > 1 && last > first)
        printf("; %.1f/s in the %.0f s before the latest result, %.1f/s overall", (double)(recent - 1) / window,
               window, (double)(total - 1) / (last - first));
    printf("\n");
    return 0;
}

static int print_workers(nas_store *store, const nas_store_experiment *exp, nas_err *err) {
    sqlite3_stmt *st = NULL;
    /* Current jobs come from the leases; a worker may hold more than one. */
    int rc = nas_query_prepare(
        store,
        "SELECT w.id, w.host, w.device, w.backend, w.last_seen, w.state, "
        "       (SELECT group_concat(j.id, ',') FROM jobs j "
        "         WHERE j.experiment = ?1 AND j.state = 'leased' AND j.worker = w.id) "
        "FROM workers w ORDER BY w.state, w.id",
        &st, err);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, exp->id);
    double now = nas_now_wall();
    int n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n++ == 0)
            printf("workers\n  %-20s %-16s %-24s %-8s %-10s %-16s %s\n", "id", "host", "device", "backend",
                   "state", "last heartbeat", "current job");
        char age[32];
        nas_query_format_age(sqlite3_column_double(st, 4), now, age, sizeof age);
        const char *jobs = nas_query_text(st, 6);
        printf("  %-20s %-16s %-24s %-8s %-10s %-16s %s\n", nas_query_text(st, 0), nas_query_text(st, 1),
               nas_query_text(st, 2), nas_query_text(st, 3), nas_query_text(st, 5), age, jobs[0] ? jobs : "-");
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return nas_err_set(err, NAS_EDB, "reading workers failed");
    if (n == 0) printf("workers     none has connected yet\n");
    return 0;
}

static int print_failures(nas_store *store, const nas_store_experiment *exp, nas_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = nas_query_prepare(store,
                               "SELECT coalesce(error, '(no reason recorded)'), count(*) FROM jobs "
                               "WHERE experiment = ?1 AND state = 'failed' GROUP BY 1 ORDER BY 2 DESC",
                               &st, err);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, exp->id);
    int n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n++ == 0) printf("failures    (failed jobs by last reason)\n");
        printf("  %6" PRId64 "  %s\n", (int64_t)sqlite3_column_int64(st, 1), nas_query_text(st, 0));
    }
    sqlite3_finalize(st);
    if (n == 0) printf("failures    none\n");
    return 0;
}

/* The last few warnings and errors nasd logged (worker gone, job failed,
 * bad frames): a walk back along events_by_exp. */
static int print_recent_events(nas_store *store, const nas_store_experiment *exp, nas_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = nas_query_prepare(store,
                               "SELECT at, level, kind, message FROM events WHERE experiment = ?1 "
                               "AND level IN ('warn', 'error') ORDER BY at DESC LIMIT 5",
                               &st, err);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, exp->id);
    int n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n++ == 0) printf("recent warnings (newest first)\n");
        char at[32];
        nas_query_format_time(sqlite3_column_double(st, 0), at, sizeof at);
        printf("  %s %-5s %-14s %s\n", at, nas_query_text(st, 1), nas_query_text(st, 2), nas_query_text(st, 3));
    }
    sqlite3_finalize(st);
    return 0;
}

static int print_best(nas_store *store, const nas_store_experiment *exp, nas_err *err) {
    sqlite3_stmt *st = NULL;
    /* results_by_top1 makes this a 5-row index walk. The latency shown is the
     * smallest batch measured for that job. */
    int rc = nas_query_prepare(
        store,
        "SELECT r.job, r.top1, r.device, r.simulated, r.params, "
        "       (SELECT printf('%.4f ms @%d %s', l.mean_ms, l.batch, l.precision) FROM latencies l "
        "         WHERE l.job = r.job ORDER BY l.batch LIMIT 1) "
        "FROM results r WHERE r.experiment = ?1 AND r.kind = 'train' AND r.top1 IS NOT NULL "
        "ORDER BY r.top1 DESC LIMIT 5",
        &st, err);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, exp->id);
    int n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n++ == 0)
            printf("best so far\n  %8s %8s %12s %-28s %-20s %s\n", "job", "top1 %", "params", "latency", "device",
                   "source");
        printf("  %8" PRId64 " %8.2f %12" PRId64 " %-28s %-20s %s\n", (int64_t)sqlite3_column_int64(st, 0),
               100.0 * sqlite3_column_double(st, 1), (int64_t)sqlite3_column_int64(st, 4),
               nas_query_text(st, 5), nas_query_text(st, 2), sqlite3_column_int(st, 3) ? "sim" : "measured");
    }
    sqlite3_finalize(st);
    if (n == 0) printf("best so far none (no trained result yet)\n");
    return 0;
}

int nas_cmd_status(int argc, char **argv) {
    nas_query_target target = {0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            status_usage(stdout);
            return 0;
        }
        if (nas_query_parse_target(argc, argv, &i, &target) != 1) {
            fprintf(stderr, "nas status: unknown or incomplete option '%s'\n", argv[i]);
            status_usage(stderr);
            return 2;
        }
    }
    nas_err err = {0};
    nas_store *store = NULL;
    nas_store_experiment exp;
    int rc = nas_query_open(&target, &store, &exp, &err);
    if (!rc && !(rc = print_budget(store, &exp, &err)) && !(rc = print_job_counts(store, &exp, &err)) &&
        !(rc = print_rates(store, &exp, &err)) && !(rc = print_workers(store, &exp, &err)) &&
        !(rc = print_failures(store, &exp, &err)) && !(rc = print_recent_events(store, &exp, &err)))
        rc = print_best(store, &exp, &err);
    nas_store_experiment_release(&exp);
    nas_store_close(&store);
    if (rc) {
        fprintf(stderr, "nas status: %s\n", err.msg);
        return 1;
    }
    return 0;
}

/* ---- nas jobs -------------------------------------------------------------- */

static void jobs_usage(FILE *out) {
    fprintf(out, "usage: nas jobs --db FILE [--experiment NAME] [--state S] [--kind K] [--limit N]\n\n"
                 "Lists jobs in id order. S is queued|leased|done|failed|infeasible, K is measure|train.\n"
                 "A job is stored when nasd first hands it out, so 'queued' lists jobs waiting for\n"
                 "another attempt (nasd's own queue of fresh proposals is in its progress line).\n"
                 "--limit N shows the first N (default 100; 0 = all). top1 is marked `sim` when the\n"
                 "sim evaluator produced it.\n");
}

/*
 * Two ways to list jobs in id order: walk the table by id and filter (stops
 * after LIMIT matches: fast when the state is common, but a rare state means
 * reading every job, 1.3 GB at 1e6 jobs), or collect the matches through
 * jobs_by_state and sort them (fast when they are few, seconds when they are
 * 1e6). A covering-index count (a few ms) decides.
 */
static int choose_jobs_walk(nas_store *store, int64_t experiment, const char *state, const char *kind,
                            bool *by_index, nas_err *err) {
    enum { SORT_AT_MOST = 50000 };
    sqlite3_stmt *st = NULL;
    int rc = nas_query_prepare(store,
                               "SELECT count(*) FROM jobs WHERE experiment = ?1 AND state = ?2 "
                               "AND (?3 IS NULL OR kind = ?3)",
                               &st, err);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, experiment);
    sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
    if (kind) sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
    *by_index = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) <= SORT_AT_MOST;
    sqlite3_finalize(st);
    return 0;
}

int nas_cmd_jobs(int argc, char **argv) {
    nas_query_target target = {0};
    const char *state_name = NULL, *kind_name = NULL;
    long limit = 100;
    for (int i = 1; i < argc; i++) {
        int t;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            jobs_usage(stdout);
            return 0;
        } else if ((t = nas_query_parse_target(argc, argv, &i, &target)) == 1) {
            continue;
        } else if (t == 0 && strcmp(argv[i], "--state") == 0 && i + 1 < argc) {
            state_name = argv[++i];
        } else if (t == 0 && strcmp(argv[i], "--kind") == 0 && i + 1 < argc) {
            kind_name = argv[++i];
        } else if (t == 0 && strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
            char *end = NULL;
            limit = strtol(argv[++i], &end, 10);
            if (*end != '\0' || end == argv[i] || limit < 0) {
                fprintf(stderr, "nas jobs: --limit '%s' must be a number >= 0\n", argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "nas jobs: unknown or incomplete option '%s'\n", argv[i]);
            jobs_usage(stderr);
            return 2;
        }
    }
    if (state_name && nas_job_state_parse(state_name) < 0) {
        fprintf(stderr, "nas jobs: --state '%s' is not one of queued, leased, done, failed, infeasible\n",
                state_name);
        return 2;
    }
    if (kind_name && nas_store_kind_parse(kind_name) < 0) {
        fprintf(stderr, "nas jobs: --kind '%s' is not measure or train\n", kind_name);
        return 2;
    }
    nas_err err = {0};
    nas_store *store = NULL;
    nas_store_experiment exp;
    sqlite3_stmt *st = NULL;
    int rc = nas_query_open(&target, &store, &exp, &err);
    bool by_index = false;
    if (!rc && state_name) rc = choose_jobs_walk(store, exp.id, state_name, kind_name, &by_index, &err);
    if (!rc)
        rc = nas_query_prepare(
            store,
            by_index ? "SELECT j.id, j.kind, j.state, j.attempt, j.max_attempts, j.worker, j.arch_hash, j.error, "
                       "       r.top1, r.simulated, j.tag "
                       "FROM jobs j LEFT JOIN results r ON r.job = j.id "
                       "WHERE j.experiment = ?1 AND j.state = ?2 AND (?3 IS NULL OR j.kind = ?3) "
                       "ORDER BY j.id LIMIT ?4"
                     : /* Unary + keeps SQLite off jobs_by_state (see choose_jobs_walk). */
                       "SELECT j.id, j.kind, j.state, j.attempt, j.max_attempts, j.worker, j.arch_hash, j.error, "
                       "       r.top1, r.simulated, j.tag "
                       "FROM jobs j LEFT JOIN results r ON r.job = j.id "
                       "WHERE +j.experiment = ?1 AND (?2 IS NULL OR +j.state = ?2) AND (?3 IS NULL OR +j.kind = ?3) "
                       "ORDER BY j.id LIMIT ?4",
            &st, &err);
    if (!rc) {
        sqlite3_bind_int64(st, 1, exp.id);
        if (state_name) sqlite3_bind_text(st, 2, state_name, -1, SQLITE_STATIC);
        if (kind_name) sqlite3_bind_text(st, 3, kind_name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, limit == 0 ? -1 : limit); /* LIMIT -1: no limit */
        printf("%8s %-8s %-10s %-7s %-20s %-16s %-12s %s\n", "job", "kind", "state", "attempt", "worker",
               "arch", "top1 %", "error / tag");
        long shown = 0;
        int step;
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
            char attempt[24], top1[24];
            snprintf(attempt, sizeof attempt, "%d/%d", sqlite3_column_int(st, 3), sqlite3_column_int(st, 4));
            if (sqlite3_column_type(st, 8) == SQLITE_NULL) snprintf(top1, sizeof top1, "-");
            else
                snprintf(top1, sizeof top1, "%.2f%s", 100.0 * sqlite3_column_double(st, 8),
                         sqlite3_column_int(st, 9) ? " sim" : "");
            const char *error = nas_query_text(st, 7);
            const char *worker = nas_query_text(st, 5);
            printf("%8" PRId64 " %-8s %-10s %-7s %-20s %-16s %-12s %s\n", (int64_t)sqlite3_column_int64(st, 0),
                   nas_query_text(st, 1), nas_query_text(st, 2), attempt, worker[0] ? worker : "-",
                   nas_query_text(st, 6), top1, error[0] ? error : nas_query_text(st, 10));
            shown++;
        }
        if (step != SQLITE_DONE) rc = nas_err_set(&err, NAS_EDB, "reading jobs failed");
        else if (limit > 0 && shown == limit)
            printf("(first %ld shown; --limit 0 lists all)\n", limit);
    }
    sqlite3_finalize(st);
    nas_store_experiment_release(&exp);
    nas_store_close(&store);
    if (rc) {
        fprintf(stderr, "nas jobs: %s\n", err.msg);
        return 1;
    }
    return 0;
}

/* ---- nas show -------------------------------------------------------------- */

static void show_usage(FILE *out) {
    fprintf(out, "usage: nas show JOB --db FILE\n\n"
                 "One job: its architecture, attempts, result (marked `sim` when the sim evaluator\n"
                 "produced it), latencies and the events logged about it.\n");
}

static void print_arch_table(const char *arch_json) {
    nas_arch arch;
    nas_err err = {0};
    if (nas_arch_from_json(arch_json, &arch, &err) != 0) {
        printf("architecture (stored JSON does not validate: %s)\n  %s\n", err.msg, arch_json);
        return;
    }
    printf("architecture  resolution %d, %d input channels, %d classes, bn_eps %g, dropout %g\n",
           arch.resolution, arch.in_channels, arch.classes, arch.bn_eps, arch.dropout);
    printf("  %3s %-10s %5s %6s %6s %6s %6s %-6s %-3s %s\n", "#", "kind", "depth", "width", "stride", "kernel",
           "ratio", "act", "se", "pad");
    for (int i = 0; i < arch.n_stages; i++) {
        const nas_stage *s = &arch.stages[i];
        printf("  %3d %-10s %5d %6d %6d %6d %6g %-6s %-3s %s\n", i, nas_block_kind_name(s->kind), s->depth,
               s->width, s->stride, s->kernel, s->ratio, nas_act_name(s->act), s->se ? "yes" : "no",
               nas_pad_name(s->pad));
    }
}

static void print_result(const nas_store_result *r) {
    printf("result        ");
    if (r->has_accuracy) printf("top1 %.2f%%, top5 %.2f%%, loss %.4f, ", 100 * r->top1, 100 * r->top5, r->loss);
    else printf("latency only (measure job), ");
    printf("%" PRId64 " params, %" PRId64 " MACs, %.1f s training, attempt %d on %s, device %s%s\n", r->params,
           r->macs, r->train_seconds, r->attempt, r->worker ? r->worker : "?", r->device ? r->device : "?",
           r->simulated ? "  [sim: produced by the sim evaluator, not measured]" : "");
    if (r->n_latency > 0) printf("latency       %6s %-9s %10s %10s %10s\n", "batch", "precision", "mean ms", "p50 ms", "p90 ms");
    for (int i = 0; i < r->n_latency; i++)
        printf("              %6d %-9s %10.4f %10.4f %10.4f%s\n", r->latency[i].batch, r->latency[i].precision,
               r->latency[i].mean_ms, r->latency[i].p50_ms, r->latency[i].p90_ms, r->simulated ? " sim" : "");
}

static int print_events(nas_store *store, const nas_store_job *job, nas_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = nas_query_prepare(store,
                               "SELECT at, level, kind, worker, message FROM events "
                               "WHERE experiment = ?1 AND job = ?2 ORDER BY at, id",
                               &st, err);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, job->experiment);
    sqlite3_bind_int64(st, 2, job->id);
    int n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n++ == 0) printf("events\n");
        char at[32];
        nas_query_format_time(sqlite3_column_double(st, 0), at, sizeof at);
        const char *worker = nas_query_text(st, 3);
        printf("  %s %-5s %-14s %-16s %s\n", at, nas_query_text(st, 1), nas_query_text(st, 2),
               worker[0] ? worker : "-", nas_query_text(st, 4));
    }
    sqlite3_finalize(st);
    if (n == 0) printf("events        none recorded\n");
    return 0;
}

int nas_cmd_show(int argc, char **argv) {
    nas_query_target target = {0};
    const char *job_text = NULL;
    for (int i = 1; i < argc; i++) {
        int t;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            show_usage(stdout);
            return 0;
        } else if ((t = nas_query_parse_target(argc, argv, &i, &target)) == 1) {
            continue;
        } else if (t == 0 && argv[i][0] != '-' && !job_text) {
            job_text = argv[i];
        } else {
            fprintf(stderr, "nas show: unknown or incomplete option '%s'\n", argv[i]);
            show_usage(stderr);
            return 2;
        }
    }
    nas_err err = {0};
    int64_t job_id = 0;
    if (!job_text || nas_query_parse_job_id(job_text, &job_id, &err) != 0) {
        fprintf(stderr, "nas show: %s\n", job_text ? err.msg : "give a job id (see `nas jobs`)");
        return 2;
    }
    nas_store *store = NULL;
    nas_store_experiment exp;
    nas_store_job job = {0};
    nas_store_result result = {0};
    int rc = nas_query_open(&target, &store, &exp, &err);
    if (!rc) rc = nas_store_job_get(store, job_id, &job, &err);
    if (!rc) {
        char created[32], updated[32];
        nas_query_format_time(job.created_at, created, sizeof created);
        nas_query_format_time(job.updated_at, updated, sizeof updated);
        printf("job %" PRId64 " (%s), experiment %" PRId64 "%s%s\n", job.id, nas_store_kind_name(job.kind),
               job.experiment, job.tag && job.tag[0] ? ", tag " : "", job.tag ? job.tag : "");
        printf("state         %s, attempt %d of %d, worker %s%s%s\n", nas_job_state_name(job.state), job.attempt,
               job.max_attempts, job.worker ? job.worker : "-", job.error ? ", last error: " : "",
               job.error ? job.error : "");
        printf("times         created %s UTC, updated %s UTC\n", created, updated);
        printf("arch hash     %s\n", job.arch_hash);
        printf("recipe        %s\n", job.recipe_json ? job.recipe_json : "{}");
        print_arch_table(job.arch_json ? job.arch_json : "");
        int got = nas_store_result_get(store, job_id, &result, &err);
        if (got == 0) print_result(&result);
        else if (got == NAS_ENOTFOUND) printf("result        none yet\n");
        else rc = got;
        if (!rc) rc = print_events(store, &job, &err);
    }
    nas_store_result_release(&result);
    nas_store_job_release(&job);
    nas_store_experiment_release(&exp);
    nas_store_close(&store);
    if (rc) {
        fprintf(stderr, "nas show: %s\n", err.msg);
        return 1;
    }
    return 0;
}

/* ---- nas export ------------------------------------------------------------ */

static void export_usage(FILE *out) {
    fprintf(out, "usage: nas export JOB --db FILE [--format json|yaml|pytorch] [--out FILE]\n\n"
                 "Writes the job's architecture: json (canonical, pretty-printed), yaml (a model\n"
                 "preset that `nas model info FILE.yaml` and `nas train` read) or pytorch (one\n"
                 "Python file with the network as a torch.nn.Module and a loader for gpunas\n"
                 "safetensors checkpoints; see cli/export_pytorch.h). Default json, to stdout.\n");
}

static int export_json(FILE *out, const nas_arch *arch, nas_err *err) {
    char *compact = nas_arch_to_json(arch);
    cJSON *doc = compact ? cJSON_Parse(compact) : NULL;
    char *pretty = doc ? cJSON_Print(doc) : NULL;
    int rc = 0;
    if (!pretty) rc = nas_err_set(err, NAS_ENOMEM, "out of memory formatting the architecture");
    else if (fprintf(out, "%s\n", pretty) < 0 || fflush(out) != 0)
        rc = nas_err_set(err, NAS_EIO, "could not write the JSON architecture");
    free(compact);
    cJSON_Delete(doc);
    free(pretty);
    return rc;
}

int nas_cmd_export(int argc, char **argv) {
    nas_query_target target = {0};
    const char *job_text = NULL, *format = "json", *out_path = NULL;
    for (int i = 1; i < argc; i++) {
        int t;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            export_usage(stdout);
            return 0;
        } else if ((t = nas_query_parse_target(argc, argv, &i, &target)) == 1) {
            continue;
        } else if (t == 0 && strcmp(argv[i], "--format") == 0 && i + 1 < argc) {
            format = argv[++i];
        } else if (t == 0 && strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
            out_path = argv[++i];
        } else if (t == 0 && argv[i][0] != '-' && !job_text) {
            job_text = argv[i];
        } else {
            fprintf(stderr, "nas export: unknown or incomplete option '%s'\n", argv[i]);
            export_usage(stderr);
            return 2;
        }
    }
    if (strcmp(format, "json") != 0 && strcmp(format, "yaml") != 0 && strcmp(format, "pytorch") != 0) {
        fprintf(stderr, "nas export: --format '%s' is not json, yaml or pytorch\n", format);
        return 2;
    }
    nas_err err = {0};
    int64_t job_id = 0;
    if (!job_text || nas_query_parse_job_id(job_text, &job_id, &err) != 0) {
        fprintf(stderr, "nas export: %s\n", job_text ? err.msg : "give a job id (see `nas jobs`)");
        return 2;
    }
    nas_store *store = NULL;
    nas_store_experiment exp;
    nas_store_job job = {0};
    nas_arch arch;
    FILE *out = NULL;
    int rc = nas_query_open(&target, &store, &exp, &err);
    if (!rc) rc = nas_store_job_get(store, job_id, &job, &err);
    if (!rc) rc = nas_arch_from_json(job.arch_json ? job.arch_json : "", &arch, &err);
    if (!rc) {
        out = out_path ? fopen(out_path, "w") : stdout;
        if (!out) rc = nas_err_set(&err, NAS_EIO, "cannot create %s", out_path);
    }
    if (!rc && strcmp(format, "json") == 0) {
        rc = export_json(out, &arch, &err);
    } else if (!rc && strcmp(format, "pytorch") == 0) {
        rc = nas_export_pytorch(&arch, out, &err);
    } else if (!rc) {
        nas_sb header = {0};
        nas_sb_printf(&header, "job %" PRId64 " of experiment %s (%s), arch hash %s\nexported by nas export",
                      job.id, exp.name ? exp.name : "?", nas_store_kind_name(job.kind), job.arch_hash);
        char *text = nas_sb_take(&header);
        rc = nas_query_write_arch_yaml(out, &arch, text, &err);
        free(text);
    }
    if (out && out != stdout && fclose(out) != 0 && !rc)
        rc = nas_err_set(&err, NAS_EIO, "could not finish writing %s", out_path);
    nas_store_job_release(&job);
    nas_store_experiment_release(&exp);
    nas_store_close(&store);
    if (rc) {
        fprintf(stderr, "nas export: %s\n", err.msg);
        return 1;
    }
    return 0;
}
