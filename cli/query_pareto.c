/*
 * cli/query_pareto.c - `nas pareto`: the accuracy/latency trade-off found so far.
 *
 * Reads every trained result with a latency at the chosen (batch, precision)
 * (two sequential reads joined in memory, see load_points), computes the front
 * (cli/pareto.c), the best result per latency tier and the hypervolume, and
 * prints them as a table, CSV or JSON, optionally with an SVG plot
 * (cli/svg.c). At 1e6 results reading dominates (about 1 s of CPU, see
 * bench/RESULTS.md).
 *
 * Hypervolume reference point: top-1 = 0 and latency = --hv-ref if given,
 * else --max-latency if given, else the experiment's largest latency budget
 * at this batch and precision, else the largest latency among the results
 * read. It is printed both raw (top-1 fraction x ms) and normalised by the
 * reference box [0, ref latency] x [0, 1], which is comparable between runs
 * that use the same reference (pass --hv-ref for that).
 */
#include <cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/pareto.h"
#include "cli/query.h"
#include "cli/svg.h"
#include "common/util.h"

#define MAX_TIERS 32

typedef struct pareto_options {
    nas_query_target target;
    int batch;             /* 0 = the experiment's first budget's, else the smallest measured */
    const char *precision; /* NULL = likewise */
    const char *y_name;    /* "top1" | "top5" */
    double max_latency;    /* <= 0: no bound */
    double hv_ref;         /* <= 0: see the file comment */
    const char *format;    /* "table" | "csv" | "json" */
    const char *svg_path;
    bool all_points; /* csv/json: every result, with an on_front column */
    int n_tiers;
    double tiers[MAX_TIERS];
    const char *tiers_source; /* said next to the tier table */
    double budget_ref;        /* largest experiment latency budget at this axis, 0 if none */
} pareto_options;

typedef struct point_set {
    nas_pareto_point *pts;
    uint8_t *simulated;
    size_t n, cap;
} point_set;

static void point_set_free(point_set *s) {
    free(s->pts);
    free(s->simulated);
    memset(s, 0, sizeof *s);
}

static int point_set_push(point_set *s, int64_t job, double x, double y, bool simulated, nas_err *err) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4096;
        nas_pareto_point *pts = realloc(s->pts, cap * sizeof *pts);
        if (pts) s->pts = pts;
        uint8_t *sim = pts ? realloc(s->simulated, cap) : NULL;
        if (sim) s->simulated = sim;
        if (!pts || !sim) return nas_err_set(err, NAS_ENOMEM, "out of memory reading %zu results", s->n);
        s->cap = cap;
    }
    s->pts[s->n] = (nas_pareto_point){.x = x, .y = y, .id = job};
    s->simulated[s->n] = simulated;
    s->n++;
    return 0;
}

static void pareto_usage(FILE *out) {
    fprintf(out,
            "usage: nas pareto --db FILE [--experiment NAME] [--x latency@BATCH] [--precision P]\n"
            "                  [--y top1|top5] [--max-latency MS] [--tiers MS,MS,...] [--hv-ref MS]\n"
            "                  [--format table|csv|json] [--all] [--svg FILE]\n\n"
            "Pareto front of maximum accuracy against minimum latency (mean ms at BATCH; default the\n"
            "smallest batch measured, and its first precision), the best result per latency tier\n"
            "(--tiers; default: the experiment's latency budgets, which also pick the default\n"
            "batch and precision, else about 4 round-number tiers up to the largest latency), the\n"
            "and the hypervolume of (top-1, latency) against the reference point top-1 = 0, latency =\n"
            "--hv-ref, else --max-latency, else the experiment's largest latency budget, else the\n"
            "largest latency read. csv and json list the front\n"
            "(--all: every result, with on_front); --svg writes a scatter of all results with the\n"
            "front as a step line. Results from the sim evaluator are marked sim everywhere.\n");
}

static int parse_tiers(const char *text, pareto_options *o, nas_err *err) {
    o->n_tiers = 0;
    const char *p = text;
    while (*p) {
        char *end = NULL;
        double v = strtod(p, &end);
        if (end == p || !(v > 0) || !isfinite(v) || (*end != ',' && *end != '\0'))
            return nas_err_set(err, NAS_EINVAL, "--tiers '%s' must be positive latencies in ms separated by commas",
                               text);
        if (o->n_tiers == MAX_TIERS) return nas_err_set(err, NAS_ERANGE, "--tiers takes at most %d values", MAX_TIERS);
        o->tiers[o->n_tiers++] = v;
        p = *end == ',' ? end + 1 : end;
    }
    if (o->n_tiers == 0) return nas_err_set(err, NAS_EINVAL, "--tiers needs at least one latency");
    return 0;
}

static int parse_positive(const char *opt, const char *text, double *out, nas_err *err) {
    char *end = NULL;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || !(v > 0) || !isfinite(v))
        return nas_err_set(err, NAS_EINVAL, "%s '%s' must be a positive number of milliseconds", opt, text);
    *out = v;
    return 0;
}

/* Returns 0, 2 for a usage error (message printed), or -1 after --help. */
static int parse_options(int argc, char **argv, pareto_options *o) {
    nas_err err = {0};
    *o = (pareto_options){.y_name = "top1", .format = "table"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        int t, rc = 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            pareto_usage(stdout);
            return -1;
        } else if ((t = nas_query_parse_target(argc, argv, &i, &o->target)) == 1) {
            continue;
        } else if (t == 0 && strcmp(a, "--all") == 0) {
            o->all_points = true;
            continue;
        } else if (t != 0 || !value) {
            rc = nas_err_set(&err, NAS_EINVAL, "unknown or incomplete option '%s'", a);
        } else if (strcmp(a, "--x") == 0) {
            rc = nas_query_parse_latency_axis(value, &o->batch, &err);
        } else if (strcmp(a, "--precision") == 0) {
            o->precision = value;
        } else if (strcmp(a, "--y") == 0) {
            if (strcmp(value, "top1") != 0 && strcmp(value, "top5") != 0)
                rc = nas_err_set(&err, NAS_EINVAL, "--y '%s' is not top1 or top5", value);
            o->y_name = value;
        } else if (strcmp(a, "--max-latency") == 0) {
            rc = parse_positive(a, value, &o->max_latency, &err);
        } else if (strcmp(a, "--hv-ref") == 0) {
            rc = parse_positive(a, value, &o->hv_ref, &err);
        } else if (strcmp(a, "--tiers") == 0) {
            rc = parse_tiers(value, o, &err);
            o->tiers_source = "--tiers";
        } else if (strcmp(a, "--format") == 0) {
            if (strcmp(value, "table") != 0 && strcmp(value, "csv") != 0 && strcmp(value, "json") != 0)
                rc = nas_err_set(&err, NAS_EINVAL, "--format '%s' is not table, csv or json", value);
            o->format = value;
        } else if (strcmp(a, "--svg") == 0) {
            o->svg_path = value;
        } else {
            rc = nas_err_set(&err, NAS_EINVAL, "unknown option '%s'", a);
        }
        if (rc) {
            fprintf(stderr, "nas pareto: %s\n", err.msg);
            pareto_usage(stderr);
            return 2;
        }
        i++; /* the value */
    }
    return 0;
}

/* The experiment's own latency budgets: when neither --x nor --precision is
 * given they choose the axis (the first budget's batch and precision), and
 * when --tiers is not given the budgets at the chosen axis are the tiers. */
static int apply_experiment_tiers(const nas_store_experiment *exp, pareto_options *o, char *precision_buf,
                                  size_t cap, nas_err *err) {
    nas_query_tier tiers[MAX_TIERS];
    int n = 0;
    int rc = nas_query_config_tiers(exp->config_yaml, tiers, MAX_TIERS, &n, err);
    if (rc) return nas_err_prefix(err, "reading the experiment's latency budgets");
    if (n == 0) return 0;
    if (o->batch == 0 && !o->precision) {
        o->batch = tiers[0].batch;
        snprintf(precision_buf, cap, "%s", tiers[0].precision);
        o->precision = precision_buf;
    }
    bool own_tiers = o->n_tiers == 0;
    for (int i = 0; i < n; i++)
        if ((o->batch == 0 || tiers[i].batch == o->batch) &&
            (!o->precision || strcmp(tiers[i].precision, o->precision) == 0)) {
            o->budget_ref = fmax(o->budget_ref, tiers[i].ms);
            if (own_tiers) o->tiers[o->n_tiers++] = tiers[i].ms;
        }
    if (!own_tiers) return 0;
    if (o->n_tiers > 0) o->tiers_source = "the experiment's latency budgets";
    return 0;
}

/* Fills o->batch / o->precision when not given: the smallest batch measured
 * in this experiment and its first precision (one index probe). */
static int resolve_axis(nas_store *store, int64_t experiment, pareto_options *o, char *precision_buf,
                        size_t cap, nas_err *err) {
    if (o->batch > 0 && o->precision) return 0;
    sqlite3_stmt *st = NULL;
    int rc = nas_query_prepare(store,
                               "SELECT batch, precision FROM latencies WHERE experiment = ?1 "
                               "AND (?2 = 0 OR batch = ?2) AND (?3 IS NULL OR precision = ?3) "
                               "ORDER BY batch, precision LIMIT 1",
                               &st, err);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, experiment);
    sqlite3_bind_int(st, 2, o->batch);
    if (o->precision) sqlite3_bind_text(st, 3, o->precision, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        o->batch = sqlite3_column_int(st, 0);
        snprintf(precision_buf, cap, "%s", nas_query_text(st, 1));
        o->precision = precision_buf;
    } else if (o->batch > 0 || o->precision) {
        rc = nas_err_set(err, NAS_ENOTFOUND, "no latency was measured at batch %d%s%s; see `nas show JOB` for "
                         "the batches a job has", o->batch, o->precision ? " with precision " : "",
                         o->precision ? o->precision : "");
    } else {
        o->precision = NULL; /* nothing measured yet: an empty front */
    }
    sqlite3_finalize(st);
    return rc;
}

/* Scores of the experiment's trained results, sorted by job id. */
typedef struct score_table {
    int64_t *jobs;
    double *scores;
    uint8_t *simulated;
    size_t n, cap;
    /* Job ids are dense in practice (one experiment per store, ids from 1),
     * so a direct index position_of[job - first_job] replaces the binary
     * search: one cache miss per lookup instead of ~10 at 1e6 results. */
    struct dense_score {
        double score;
        int8_t state; /* 0: no result, 1: result, 2: simulated result */
    } *dense;
    int64_t first_job, span;
} score_table;

static void score_table_free(score_table *t) {
    free(t->jobs);
    free(t->scores);
    free(t->simulated);
    free(t->dense);
    memset(t, 0, sizeof *t);
}

/* Builds the direct table when ids are dense enough (span <= 4n + 4096);
 * otherwise lookups stay binary searches. */
static void score_table_index(score_table *t) {
    if (t->n == 0) return;
    int64_t span = t->jobs[t->n - 1] - t->jobs[0] + 1;
    if (span > (int64_t)t->n * 4 + 4096) return;
    t->dense = calloc((size_t)span, sizeof *t->dense);
    if (!t->dense) return; /* the binary search still works */
    for (size_t i = 0; i < t->n; i++)
        t->dense[t->jobs[i] - t->jobs[0]] = (struct dense_score){t->scores[i], (int8_t)(1 + t->simulated[i])};
    t->first_job = t->jobs[0];
    t->span = span;
}

static int score_table_push(score_table *t, int64_t job, double score, bool simulated, nas_err *err) {
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 4096;
        int64_t *jobs = realloc(t->jobs, cap * sizeof *jobs);
        if (jobs) t->jobs = jobs;
        double *scores = jobs ? realloc(t->scores, cap * sizeof *scores) : NULL;
        if (scores) t->scores = scores;
        uint8_t *sim = scores ? realloc(t->simulated, cap) : NULL;
        if (sim) t->simulated = sim;
        if (!sim) return nas_err_set(err, NAS_ENOMEM, "out of memory reading %zu results", t->n);
        t->cap = cap;
    }
    t->jobs[t->n] = job;
    t->scores[t->n] = score;
    t->simulated[t->n] = simulated;
    t->n++;
    return 0;
}

/* The score of job: false if it has none. */
static bool score_table_find(const score_table *t, int64_t job, double *score, bool *simulated) {
    if (t->dense) {
        int64_t offset = job - t->first_job;
        if (offset < 0 || offset >= t->span || t->dense[offset].state == 0) return false;
        *score = t->dense[offset].score;
        *simulated = t->dense[offset].state == 2;
        return true;
    }
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->jobs[mid] < job) lo = mid + 1;
        else hi = mid;
    }
    if (lo == t->n || t->jobs[lo] != job) return false;
    *score = t->scores[lo];
    *simulated = t->simulated[lo];
    return true;
}

/*
 * Two sequential reads joined in memory, instead of one SQL join: the join
 * walks latencies in latency order and looks each result up by job id, a
 * random page access per row, which measured 8 to 20 s at 1e6 results; the
 * latencies_front index walk and the results table walk in id order take
 * about 0.3 s each there. Points come out in increasing latency, so
 * nas_pareto_front skips its sort.
 */
static int load_points(nas_store *store, int64_t experiment, const pareto_options *o, point_set *set,
                       nas_err *err) {
    if (!o->precision) return 0;
    score_table scores = {0};
    /* y_name is one of two fixed words (checked by parse_options), never raw
     * input. Unary + keeps SQLite on the table's own order (by job id) rather
     * than results_by_top1, whose order would make every row a random read. */
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT job, %s, simulated FROM results WHERE +experiment = ?1 AND +kind = 'train' "
             "AND %s IS NOT NULL ORDER BY job",
             o->y_name, o->y_name);
    sqlite3_stmt *st = NULL;
    int rc = nas_query_prepare(store, sql, &st, err), step = SQLITE_DONE;
    if (!rc) {
        sqlite3_bind_int64(st, 1, experiment);
        while ((step = sqlite3_step(st)) == SQLITE_ROW && !rc)
            rc = score_table_push(&scores, sqlite3_column_int64(st, 0), sqlite3_column_double(st, 1),
                                  sqlite3_column_int(st, 2) != 0, err);
        if (!rc && step != SQLITE_DONE)
            rc = nas_err_set(err, NAS_EDB, "reading results failed: %s", sqlite3_errmsg(nas_store_db(store)));
        sqlite3_finalize(st);
        st = NULL;
        score_table_index(&scores);
    }
    if (!rc)
        rc = nas_query_prepare(store,
                               o->max_latency > 0
                                   ? "SELECT job, mean_ms FROM latencies WHERE experiment = ?1 AND batch = ?2 "
                                     "AND precision = ?3 AND mean_ms <= ?4 ORDER BY mean_ms"
                                   : "SELECT job, mean_ms FROM latencies WHERE experiment = ?1 AND batch = ?2 "
                                     "AND precision = ?3 ORDER BY mean_ms",
                               &st, err);
    if (!rc) {
        sqlite3_bind_int64(st, 1, experiment);
        sqlite3_bind_int(st, 2, o->batch);
        sqlite3_bind_text(st, 3, o->precision, -1, SQLITE_STATIC);
        if (o->max_latency > 0) sqlite3_bind_double(st, 4, o->max_latency);
        while ((step = sqlite3_step(st)) == SQLITE_ROW && !rc) {
            int64_t job = sqlite3_column_int64(st, 0);
            double score = 0;
            bool simulated = false;
            if (!score_table_find(&scores, job, &score, &simulated))
                continue; /* a measure job, or a result without this score */
            rc = point_set_push(set, job, sqlite3_column_double(st, 1), score, simulated, err);
        }
        if (!rc && step != SQLITE_DONE)
            rc = nas_err_set(err, NAS_EDB, "reading latencies failed: %s", sqlite3_errmsg(nas_store_db(store)));
    }
    sqlite3_finalize(st);
    score_table_free(&scores);
    return rc;
}

/* Default tiers: round-number steps (1, 2 or 5 x 10^k) up to the largest
 * latency of the front, about four of them. */
static void default_tiers(const point_set *set, const size_t *front, size_t n_front, pareto_options *o) {
    if (o->n_tiers > 0 || n_front == 0) return;
    double top = o->max_latency > 0 ? o->max_latency : set->pts[front[n_front - 1]].x;
    double step = nas_svg_nice_step(top, 4);
    o->tiers_source = "round numbers up to the largest latency; --tiers sets others";
    for (double t = step; o->n_tiers < MAX_TIERS; t += step) {
        o->tiers[o->n_tiers++] = t;
        if (t >= top) break;
    }
}

typedef struct front_details {
    int64_t params, macs;
    char device[64];
} front_details;

/* params/macs/device of each front point: a primary-key lookup each. */
static int load_details(nas_store *store, const point_set *set, const size_t *front, size_t n_front,
                        front_details *out, nas_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = nas_query_prepare(store, "SELECT params, macs, device FROM results WHERE job = ?1", &st, err);
    if (rc) return rc;
    for (size_t i = 0; i < n_front; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, set->pts[front[i]].id);
        memset(&out[i], 0, sizeof out[i]);
        if (sqlite3_step(st) == SQLITE_ROW) {
            out[i].params = sqlite3_column_int64(st, 0);
            out[i].macs = sqlite3_column_int64(st, 1);
            snprintf(out[i].device, sizeof out[i].device, "%s", nas_query_text(st, 2));
        }
    }
    sqlite3_finalize(st);
    return 0;
}

typedef struct pareto_report {
    const char *experiment;
    const pareto_options *o;
    const point_set *set;
    const size_t *front;
    size_t n_front;
    const front_details *details;
    size_t n_simulated;
    double hv_ref_x, hypervolume;
    const char *hv_ref_source;
} pareto_report;

static void print_table(const pareto_report *r) {
    const pareto_options *o = r->o;
    printf("experiment %s: %s against latency@%d %s (mean ms); %zu results", r->experiment, o->y_name, o->batch,
           o->precision ? o->precision : "-", r->set->n);
    if (r->n_simulated) printf(" (%zu sim: from the sim evaluator, not measured)", r->n_simulated);
    if (o->max_latency > 0) printf(" within %g ms", o->max_latency);
    printf(", %zu on the front\n", r->n_front);
    if (r->n_front == 0) {
        printf("no trained result with a latency yet\n");
        return;
    }
    printf("\nPareto front\n%10s %12s %8s %12s %14s  %-20s %s\n", "job", "latency ms", o->y_name, "params", "MACs",
           "device", "source");
    for (size_t i = 0; i < r->n_front; i++) {
        size_t k = r->front[i];
        const nas_pareto_point *p = &r->set->pts[k];
        printf("%10" PRId64 " %12.4f %7.2f%% %12" PRId64 " %14" PRId64 "  %-20s %s\n", p->id, p->x, 100 * p->y,
               r->details[i].params, r->details[i].macs, r->details[i].device,
               r->set->simulated[k] ? "sim" : "measured");
    }
    printf("\nbest per latency tier (%s)\n", o->tiers_source ? o->tiers_source : "none");
    for (int t = 0; t < o->n_tiers; t++) {
        long best = nas_pareto_best_within(r->set->pts, r->front, r->n_front, o->tiers[t]);
        if (best < 0) {
            printf("  <= %-10g ms  none\n", o->tiers[t]);
            continue;
        }
        size_t k = r->front[best];
        printf("  <= %-10g ms  job %-8" PRId64 " %s %.2f%%  latency %.4f ms%s\n", o->tiers[t], r->set->pts[k].id,
               o->y_name, 100 * r->set->pts[k].y, r->set->pts[k].x, r->set->simulated[k] ? "  sim" : "");
    }
    printf("\nhypervolume %.6g (%s fraction x ms), normalised %.4f of the box %s 0..1 x latency 0..%g ms;\n"
           "reference point %s = 0, latency = %g ms (%s)\n",
           r->hypervolume, o->y_name, r->hypervolume / r->hv_ref_x, o->y_name, r->hv_ref_x, o->y_name, r->hv_ref_x,
           r->hv_ref_source);
}

static int print_csv(const pareto_report *r, nas_err *err) {
    /* --all: mark front rows; without it only front rows are printed. */
    bool *on_front = NULL;
    if (r->o->all_points) {
        on_front = calloc(r->set->n ? r->set->n : 1, sizeof *on_front);
        if (!on_front) return nas_err_set(err, NAS_ENOMEM, "out of memory listing %zu results", r->set->n);
        for (size_t i = 0; i < r->n_front; i++) on_front[r->front[i]] = true;
    }
    printf("job,latency_ms,%s,batch,precision,on_front,sim\n", r->o->y_name);
    size_t rows = r->o->all_points ? r->set->n : r->n_front;
    for (size_t i = 0; i < rows; i++) {
        size_t k = r->o->all_points ? i : r->front[i];
        const nas_pareto_point *p = &r->set->pts[k];
        printf("%" PRId64 ",%.9g,%.9g,%d,%s,%d,%d\n", p->id, p->x, p->y, r->o->batch, r->o->precision,
               r->o->all_points ? on_front[k] : 1, r->set->simulated[k]);
    }
    free(on_front);
    return 0;
}

static int print_json(const pareto_report *r, nas_err *err) {
    const pareto_options *o = r->o;
    cJSON *doc = cJSON_CreateObject();
    bool ok = doc != NULL;
    ok = ok && cJSON_AddStringToObject(doc, "experiment", r->experiment);
    ok = ok && cJSON_AddStringToObject(doc, "y", o->y_name);
    ok = ok && cJSON_AddNumberToObject(doc, "batch", o->batch);
    ok = ok && cJSON_AddStringToObject(doc, "precision", o->precision ? o->precision : "");
    ok = ok && cJSON_AddNumberToObject(doc, "results", (double)r->set->n);
    ok = ok && cJSON_AddNumberToObject(doc, "simulated_results", (double)r->n_simulated);
    if (o->max_latency > 0) ok = ok && cJSON_AddNumberToObject(doc, "max_latency_ms", o->max_latency);
    cJSON *front = ok ? cJSON_AddArrayToObject(doc, "front") : NULL;
    for (size_t i = 0; front && i < r->n_front; i++) {
        size_t k = r->front[i];
        cJSON *p = cJSON_CreateObject();
        if (!p || !cJSON_AddItemToArray(front, p)) { ok = false; break; }
        ok = cJSON_AddNumberToObject(p, "job", (double)r->set->pts[k].id) &&
             cJSON_AddNumberToObject(p, "latency_ms", r->set->pts[k].x) &&
             cJSON_AddNumberToObject(p, o->y_name, r->set->pts[k].y) &&
             cJSON_AddNumberToObject(p, "params", (double)r->details[i].params) &&
             cJSON_AddNumberToObject(p, "macs", (double)r->details[i].macs) &&
             cJSON_AddStringToObject(p, "device", r->details[i].device) &&
             cJSON_AddBoolToObject(p, "sim", r->set->simulated[k]);
        if (!ok) break;
    }
    ok = ok && cJSON_AddStringToObject(doc, "tiers_source", o->tiers_source ? o->tiers_source : "none");
    cJSON *tiers = ok ? cJSON_AddArrayToObject(doc, "tiers") : NULL;
    for (int t = 0; tiers && t < o->n_tiers; t++) {
        cJSON *tier = cJSON_CreateObject();
        if (!tier || !cJSON_AddItemToArray(tiers, tier)) { ok = false; break; }
        long best = nas_pareto_best_within(r->set->pts, r->front, r->n_front, o->tiers[t]);
        ok = cJSON_AddNumberToObject(tier, "max_latency_ms", o->tiers[t]) != NULL;
        if (ok && best >= 0) {
            size_t k = r->front[best];
            ok = cJSON_AddNumberToObject(tier, "job", (double)r->set->pts[k].id) &&
                 cJSON_AddNumberToObject(tier, "latency_ms", r->set->pts[k].x) &&
                 cJSON_AddNumberToObject(tier, o->y_name, r->set->pts[k].y) &&
                 cJSON_AddBoolToObject(tier, "sim", r->set->simulated[k]);
        } else if (ok) {
            ok = cJSON_AddNullToObject(tier, "job") != NULL;
        }
        if (!ok) break;
    }
    cJSON *hv = ok ? cJSON_AddObjectToObject(doc, "hypervolume") : NULL;
    ok = hv && cJSON_AddNumberToObject(hv, "value", r->hypervolume) &&
         cJSON_AddNumberToObject(hv, "normalized", r->n_front ? r->hypervolume / r->hv_ref_x : 0) &&
         cJSON_AddNumberToObject(hv, "ref_latency_ms", r->hv_ref_x) && cJSON_AddNumberToObject(hv, "ref_y", 0) &&
         cJSON_AddStringToObject(hv, "ref_source", r->hv_ref_source);
    if (ok && o->all_points) {
        cJSON *all = cJSON_AddArrayToObject(doc, "all");
        for (size_t k = 0; all && ok && k < r->set->n; k++) {
            cJSON *p = cJSON_CreateObject();
            ok = p && cJSON_AddItemToArray(all, p) && cJSON_AddNumberToObject(p, "job", (double)r->set->pts[k].id) &&
                 cJSON_AddNumberToObject(p, "latency_ms", r->set->pts[k].x) &&
                 cJSON_AddNumberToObject(p, o->y_name, r->set->pts[k].y) &&
                 cJSON_AddBoolToObject(p, "sim", r->set->simulated[k]);
        }
        ok = ok && all;
    }
    char *text = ok ? cJSON_Print(doc) : NULL;
    cJSON_Delete(doc);
    if (!text) return nas_err_set(err, NAS_ENOMEM, "out of memory formatting JSON");
    printf("%s\n", text);
    free(text);
    return 0;
}

static int write_svg(const pareto_report *r, nas_err *err) {
    FILE *f = fopen(r->o->svg_path, "w");
    if (!f) return nas_err_set(err, NAS_EIO, "cannot create %s", r->o->svg_path);
    nas_sb title = {0}, x_label = {0}, y_label = {0};
    nas_sb_printf(&title, "%s: %s vs latency@%d%s", r->experiment, r->o->y_name, r->o->batch,
                  r->n_simulated ? " (sim results)" : "");
    nas_sb_printf(&x_label, "latency (ms, mean, batch %d, %s)", r->o->batch, r->o->precision ? r->o->precision : "-");
    nas_sb_printf(&y_label, "%s (fraction)", r->o->y_name);
    nas_svg_labels labels = {title.data, x_label.data, y_label.data};
    int rc = (title.failed || x_label.failed || y_label.failed)
                 ? nas_err_set(err, NAS_ENOMEM, "out of memory labelling the plot")
                 : nas_svg_write_pareto(f, r->set->pts, r->set->n, r->front, r->n_front, &labels, err);
    if (fclose(f) != 0 && !rc) rc = nas_err_set(err, NAS_EIO, "could not finish writing %s", r->o->svg_path);
    nas_sb_free(&title), nas_sb_free(&x_label), nas_sb_free(&y_label);
    return rc;
}

int nas_cmd_pareto(int argc, char **argv) {
    pareto_options o;
    int usage = parse_options(argc, argv, &o);
    if (usage) return usage < 0 ? 0 : usage;
    nas_err err = {0};
    nas_store *store = NULL;
    nas_store_experiment exp;
    point_set set = {0};
    size_t *front = NULL, n_front = 0;
    front_details *details = NULL;
    char precision[16] = "";
    int rc = nas_query_open(&o.target, &store, &exp, &err);
    if (!rc) rc = apply_experiment_tiers(&exp, &o, precision, sizeof precision, &err);
    if (!rc) rc = resolve_axis(store, exp.id, &o, precision, sizeof precision, &err);
    if (!rc) rc = load_points(store, exp.id, &o, &set, &err);
    if (!rc) {
        front = malloc((set.n ? set.n : 1) * sizeof *front);
        if (!front) rc = nas_err_set(&err, NAS_ENOMEM, "out of memory for the front of %zu results", set.n);
    }
    if (!rc) rc = nas_pareto_front(set.pts, set.n, front, &n_front, &err);
    if (!rc) {
        details = calloc(n_front ? n_front : 1, sizeof *details);
        if (!details) rc = nas_err_set(&err, NAS_ENOMEM, "out of memory");
    }
    if (!rc) rc = load_details(store, &set, front, n_front, details, &err);
    if (!rc) {
        pareto_report report = {.experiment = exp.name ? exp.name : "?", .o = &o, .set = &set, .front = front,
                                .n_front = n_front, .details = details};
        for (size_t i = 0; i < set.n; i++) report.n_simulated += set.simulated[i];
        double largest = 0;
        for (size_t i = 0; i < set.n; i++) largest = fmax(largest, set.pts[i].x);
        report.hv_ref_x = o.hv_ref > 0        ? o.hv_ref
                          : o.max_latency > 0 ? o.max_latency
                          : o.budget_ref > 0  ? o.budget_ref
                                              : largest;
        report.hv_ref_source = o.hv_ref > 0        ? "--hv-ref"
                               : o.max_latency > 0 ? "--max-latency"
                               : o.budget_ref > 0  ? "the experiment's largest latency budget"
                                                   : "largest latency read";
        if (!(report.hv_ref_x > 0)) report.hv_ref_x = 1; /* no results: HV 0 of a unit box */
        report.hypervolume = nas_pareto_hypervolume(set.pts, front, n_front, report.hv_ref_x, 0.0);
        default_tiers(&set, front, n_front, &o);
        if (strcmp(o.format, "csv") == 0) rc = print_csv(&report, &err);
        else if (strcmp(o.format, "json") == 0) rc = print_json(&report, &err);
        else print_table(&report);
        if (!rc && o.svg_path) rc = write_svg(&report, &err);
    }
    free(details);
    free(front);
    point_set_free(&set);
    nas_store_experiment_release(&exp);
    nas_store_close(&store);
    if (rc) {
        fprintf(stderr, "nas pareto: %s\n", err.msg);
        return 1;
    }
    return 0;
}
