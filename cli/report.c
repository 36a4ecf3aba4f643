/*
 * cli/report.c - gathers one experiment's numbers from the store and writes
 * the HTML report (see report.h).
 *
 * Shape: one function per section, each running its own read-only SELECTs
 * through cli/query.h and writing its HTML at once, so no section holds more
 * than its own rows. Definitions match `nas pareto` and `nas status`: a
 * point of the front is a trained result with a latency at the chosen
 * (batch, precision) (direct join of results and latencies, as
 * nas_store_front_scan does), the front is nas_pareto_front's, a tier's best
 * model is the highest top-1 within the tier's latency bound.
 *
 * Scatter plots of a million results would make a page no browser draws, so
 * points that fall in the same 2 x 2 pixel cell are drawn once (a bitmap of
 * the plot area remembers which cells are taken; the dots are 4-6 pixels
 * wide, so nothing visible is lost): a page stays a few MB at most whatever
 * the number of results. For the same reason the front table lists at most
 * REPORT_MAX_FRONT_ROWS points spread evenly along the front (the chart
 * draws all of them, and `nas pareto` lists all).
 */
#include "cli/report.h"

#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/pareto.h"
#include "cli/query.h"
#include "cli/report_chart.h"
#include "common/util.h"

#define REPORT_MAX_TIERS 8
#define REPORT_BUSY_BINS 80
#define REPORT_MAX_WORKER_BARS 30
#define REPORT_MAX_FRONT_ROWS 40
#define REPORT_CELL_PX 2
#define REPORT_WIDE 1100
#define REPORT_HALF 536

/* What the sections share. */
typedef struct report {
    nas_store *store;
    const nas_store_experiment *exp;
    FILE *out;
    nas_err *err;
    int batch;
    char precision[8];
    double top1_scale; /* 100 when top-1 is stored as a fraction */
    bool any_sim;
    nas_query_tier tiers[REPORT_MAX_TIERS];
    int n_tiers;
} report;

/* ---- small helpers ---- */

static void put(report *r, const char *text) { fputs(text, r->out); }

static void put_escaped(report *r, const char *text) { nas_html_escape(r->out, text); }

static int bind_axis(sqlite3_stmt *st, const report *r) {
    sqlite3_bind_int64(st, 1, r->exp->id);
    sqlite3_bind_int(st, 2, r->batch);
    return sqlite3_bind_text(st, 3, r->precision, -1, SQLITE_STATIC);
}

static int step_error(report *r, sqlite3_stmt *st) {
    int rc = nas_err_set(r->err, NAS_EDB, "reading the store failed: %s",
                         sqlite3_errmsg(nas_store_db(r->store)));
    sqlite3_finalize(st);
    return rc;
}

static void format_count(int64_t n, char *buf, size_t cap) {
    /* 1234567 -> "1,234,567" */
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%lld", (long long)(n < 0 ? -n : n));
    size_t at = 0;
    if (n < 0 && at + 1 < cap) buf[at++] = '-';
    for (int i = 0; i < len && at + 2 < cap; i++) {
        if (i > 0 && (len - i) % 3 == 0) buf[at++] = ',';
        buf[at++] = digits[i];
    }
    buf[at] = '\0';
}

static void format_duration(double seconds, char *buf, size_t cap) {
    if (seconds < 120)
        snprintf(buf, cap, "%.0f s", seconds);
    else if (seconds < 7200)
        snprintf(buf, cap, "%.1f min", seconds / 60);
    else
        snprintf(buf, cap, "%.1f h", seconds / 3600);
}

static void sim_tag(report *r, bool sim) {
    if (sim) put(r, " <span class=\"tag-sim\" title=\"simulated evaluator, not a trained network\">sim</span>");
}

static void sb_append_escaped(nas_sb *sb, const char *text) {
    for (; *text; text++) {
        switch (*text) {
        case '&': nas_sb_append(sb, "&amp;"); break;
        case '<': nas_sb_append(sb, "&lt;"); break;
        case '>': nas_sb_append(sb, "&gt;"); break;
        case '"': nas_sb_append(sb, "&quot;"); break;
        default: nas_sb_appendn(sb, text, 1);
        }
    }
}

/* Occupancy of the REPORT_CELL_PX cells of a plot area: true the first time
 * a cell is seen. */
typedef struct pixel_set {
    uint8_t *bits;
    int w, h;
} pixel_set;

static bool pixel_set_init(pixel_set *s, const nas_chart *c) {
    s->w = (int)((c->right - c->left) / REPORT_CELL_PX) + 2;
    s->h = (int)((c->bottom - c->top) / REPORT_CELL_PX) + 2;
    s->bits = calloc(((size_t)s->w * s->h + 7) / 8, 1);
    return s->bits != NULL;
}

static bool pixel_set_first(pixel_set *s, const nas_chart *c, double px, double py) {
    int x = (int)((px - c->left) / REPORT_CELL_PX), y = (int)((py - c->top) / REPORT_CELL_PX);
    if (x < 0 || y < 0 || x >= s->w || y >= s->h) return false; /* outside: clipped anyway */
    size_t bit = (size_t)y * s->w + x;
    if (s->bits[bit / 8] & (1u << (bit % 8))) return false;
    s->bits[bit / 8] |= (uint8_t)(1u << (bit % 8));
    return true;
}

/* ---- choosing the latency axis ---- */

static int choose_axis(report *r, const nas_report_opts *o) {
    if (o->batch > 0) {
        r->batch = o->batch;
        snprintf(r->precision, sizeof r->precision, "%s", o->precision ? o->precision : "fp16");
        if (o->precision) return 0;
    } else if (r->n_tiers > 0) {
        r->batch = r->tiers[0].batch;
        snprintf(r->precision, sizeof r->precision, "%s", r->tiers[0].precision);
        if (o->precision) snprintf(r->precision, sizeof r->precision, "%s", o->precision);
        return 0;
    }
    /* The most measured (batch, precision) among results with a top-1,
     * restricted to the batch the user asked for, if any. */
    sqlite3_stmt *st;
    int rc = nas_query_prepare(r->store,
                               "SELECT l.batch, l.precision, count(*) AS n FROM latencies l "
                               "JOIN results res ON res.job = l.job "
                               "WHERE l.experiment = ?1 AND res.top1 IS NOT NULL "
                               "AND (?2 = 0 OR l.batch = ?2) "
                               "GROUP BY l.batch, l.precision ORDER BY n DESC, l.batch LIMIT 1",
                               &st, r->err);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, r->exp->id);
    sqlite3_bind_int(st, 2, o->batch);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        r->batch = sqlite3_column_int(st, 0);
        snprintf(r->precision, sizeof r->precision, "%s", nas_query_text(st, 1));
    } else if (rc == SQLITE_DONE) {
        if (r->batch == 0) r->batch = 1;
        if (!r->precision[0]) snprintf(r->precision, sizeof r->precision, "fp16");
    } else {
        return step_error(r, st);
    }
    sqlite3_finalize(st);
    return 0;
}

/* ---- header and summary ---- */

static int write_summary(report *r, const nas_report_opts *o) {
    const nas_store_experiment *e = r->exp;
    int64_t counts[NAS_STORE_KIND_COUNT][NAS_JOB_STATE_COUNT];
    int rc = nas_store_job_counts(r->store, e->id, counts, r->err);
    if (rc) return rc;
    sqlite3_stmt *st;
    rc = nas_query_prepare(r->store,
                           "SELECT count(*), max(top1), sum(simulated), "
                           "count(DISTINCT worker), min(created_at), max(created_at) "
                           "FROM results WHERE experiment = ?1 AND top1 IS NOT NULL",
                           &st, r->err);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, e->id);
    if (sqlite3_step(st) != SQLITE_ROW) return step_error(r, st);
    int64_t evaluations = sqlite3_column_int64(st, 0);
    double best = sqlite3_column_double(st, 1);
    int64_t simulated = sqlite3_column_int64(st, 2);
    int64_t workers = sqlite3_column_int64(st, 3);
    double first = sqlite3_column_double(st, 4), last = sqlite3_column_double(st, 5);
    bool has_best = sqlite3_column_type(st, 1) != SQLITE_NULL;
    sqlite3_finalize(st);
    r->top1_scale = has_best && best > 1.0 ? 1.0 : 100.0;
    r->any_sim = simulated > 0;

    char when[32], made[32];
    nas_query_format_time(e->created_at, when, sizeof when);
    nas_query_format_time(o->generated_at, made, sizeof made);
    put(r, "<h1>gpunas report: ");
    put_escaped(r, e->name);
    put(r, "</h1>\n<p class=\"sub\">");
    fprintf(r->out, "space <b>");
    put_escaped(r, e->space);
    put(r, "</b> &middot; strategy <b>");
    put_escaped(r, e->strategy);
    put(r, "</b> &middot; state <b>");
    put_escaped(r, e->state);
    fprintf(r->out, "</b> &middot; started %s UTC &middot; report of %s UTC", when, made);
    if (o->source) {
        put(r, " &middot; <code>");
        put_escaped(r, o->source);
        put(r, "</code>");
    }
    put(r, "</p>\n");
    char sim_count[32], eval_count[32];
    format_count(simulated, sim_count, sizeof sim_count);
    format_count(evaluations, eval_count, sizeof eval_count);
    if (r->any_sim)
        fprintf(r->out,
                "<p class=\"banner\"><b>Simulated results.</b> %s of the %s evaluations come "
                "from the <code>sim</code> evaluator: accuracy is a fixed function of the "
                "architecture plus noise and latency comes from the cost model, not from training "
                "and timing a network. They are drawn hollow and tagged "
                "<span class=\"tag-sim\">sim</span>.</p>\n",
                sim_count, eval_count);

    int64_t failed = 0, waiting = 0, infeasible = 0;
    for (int k = 0; k < NAS_STORE_KIND_COUNT; k++) {
        failed += counts[k][NAS_JOB_FAILED];
        infeasible += counts[k][NAS_JOB_INFEASIBLE];
        waiting += counts[k][NAS_JOB_QUEUED] + counts[k][NAS_JOB_LEASED];
    }
    char a[32], b[32], c[32], d[32], budget[96], elapsed[32], rate[32];
    format_count(evaluations, a, sizeof a);
    format_count(counts[NAS_STORE_MEASURE][NAS_JOB_DONE] + infeasible, b, sizeof b);
    format_count(failed, c, sizeof c);
    format_count(waiting, d, sizeof d);
    char budget_count[32];
    format_count(e->budget_evaluations, budget_count, sizeof budget_count);
    if (e->budget_evaluations > 0)
        snprintf(budget, sizeof budget, "of %s budgeted, %s waiting", budget_count, d);
    else
        snprintf(budget, sizeof budget, "%s waiting", d);
    double span = last - first;
    /* elapsed_seconds is nasd's running time; before nasd records it, the
     * span of the results is the best estimate. */
    format_duration(e->elapsed_seconds > 0 ? e->elapsed_seconds : span, elapsed, sizeof elapsed);
    if (evaluations > 1 && span > 0)
        format_count((int64_t)llround((double)(evaluations - 1) / span * 3600), rate, sizeof rate);
    else
        snprintf(rate, sizeof rate, "-");
    put(r, "<div class=\"cards\">\n");
    fprintf(r->out, "<div class=\"card\"><b>%s</b><span>evaluations (%s)</span></div>\n", a, budget);
    if (has_best)
        fprintf(r->out, "<div class=\"card\"><b>%.2f%s</b><span>best top-1</span></div>\n",
                best * r->top1_scale, r->top1_scale == 100.0 ? "%" : "");
    else
        put(r, "<div class=\"card\"><b>-</b><span>best top-1</span></div>\n");
    fprintf(r->out, "<div class=\"card\"><b>%s</b><span>latency-only measurements</span></div>\n", b);
    fprintf(r->out, "<div class=\"card\"><b>%s</b><span>failed jobs</span></div>\n", c);
    fprintf(r->out, "<div class=\"card\"><b>%lld</b><span>workers that delivered</span></div>\n",
            (long long)workers);
    fprintf(r->out, "<div class=\"card\"><b>%s</b><span>running time &middot; %s evaluations per hour</span></div>\n",
            elapsed, rate);
    put(r, "</div>\n");
    return 0;
}

/* ---- top-1 against latency ---- */

static int write_front_chart(report *r) {
    sqlite3_stmt *st;
    int rc = nas_query_prepare(r->store,
                               "SELECT res.job, res.top1, l.mean_ms, res.simulated FROM results res "
                               "JOIN latencies l ON l.job = res.job AND l.batch = ?2 AND l.precision = ?3 "
                               "WHERE res.experiment = ?1 AND res.top1 IS NOT NULL",
                               &st, r->err);
    if (rc) return rc;
    bind_axis(st, r);
    size_t n = 0, cap = 0;
    nas_pareto_point *pts = NULL;
    bool *sim = NULL;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            nas_pareto_point *grown_pts = realloc(pts, cap * sizeof *pts);
            if (grown_pts) pts = grown_pts;
            bool *grown_sim = grown_pts ? realloc(sim, cap * sizeof *sim) : NULL;
            if (grown_sim) sim = grown_sim;
            if (!grown_pts || !grown_sim) {
                sqlite3_finalize(st);
                free(pts);
                free(sim);
                return nas_err_set(r->err, NAS_ENOMEM, "out of memory reading %zu results", n);
            }
        }
        pts[n] = (nas_pareto_point){.x = sqlite3_column_double(st, 2),
                                    .y = sqlite3_column_double(st, 1) * r->top1_scale,
                                    .id = sqlite3_column_int64(st, 0)};
        sim[n++] = sqlite3_column_int(st, 3) != 0;
    }
    if (rc != SQLITE_DONE) {
        free(pts);
        free(sim);
        return step_error(r, st);
    }
    sqlite3_finalize(st);

    size_t *front = malloc((n ? n : 1) * sizeof *front), n_front = 0;
    pixel_set taken = {0};
    if (front == NULL || (rc = nas_pareto_front(pts, n, front, &n_front, r->err)) != 0) {
        free(pts);
        free(sim);
        free(front);
        return front ? rc : nas_err_set(r->err, NAS_ENOMEM, "out of memory");
    }

    double x_min = 0, x_max = 1, y_min = 0, y_max = r->top1_scale;
    if (n > 0) {
        x_min = x_max = pts[0].x;
        y_min = y_max = pts[0].y;
        for (size_t i = 1; i < n; i++) {
            x_min = fmin(x_min, pts[i].x), x_max = fmax(x_max, pts[i].x);
            y_min = fmin(y_min, pts[i].y), y_max = fmax(y_max, pts[i].y);
        }
        x_min = 0; /* latency starts at zero: distances compare honestly */
    }
    for (int t = 0; t < r->n_tiers; t++)
        if (r->tiers[t].batch == r->batch && strcmp(r->tiers[t].precision, r->precision) == 0)
            x_max = fmax(x_max, r->tiers[t].ms);

    char title[160], x_label[96];
    snprintf(title, sizeof title, "Top-1 against latency: %zu trained results, %zu on the Pareto front",
             n, n_front);
    snprintf(x_label, sizeof x_label, "latency (ms, batch %d, %s)", r->batch, r->precision);
    nas_chart_frame frame = {.id = "front", .title = title, .x_label = x_label,
                             .y_label = r->top1_scale == 100.0 ? "top-1 (%)" : "top-1",
                             .x_min = x_min, .x_max = x_max, .y_min = y_min, .y_max = y_max,
                             .width = REPORT_WIDE, .height = 440};
    nas_chart c;
    put(r, "<h2 id=\"front\">Accuracy against latency</h2>\n");
    nas_chart_begin(&c, r->out, &frame);
    nas_chart_clip_begin(&c);
    if (!pixel_set_init(&taken, &c)) {
        free(pts);
        free(sim);
        free(front);
        return nas_err_set(r->err, NAS_ENOMEM, "out of memory drawing the scatter plot");
    }
    for (size_t i = 0; i < n; i++) {
        double px = nas_chart_x(&c, pts[i].x), py = nas_chart_y(&c, pts[i].y);
        if (pixel_set_first(&taken, &c, px, py))
            fprintf(r->out, "<circle class=\"%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\"/>\n",
                    sim[i] ? "pt-sim" : "pt-real", px, py);
    }
    for (int t = 0; t < r->n_tiers; t++) {
        if (r->tiers[t].batch != r->batch || strcmp(r->tiers[t].precision, r->precision) != 0) continue;
        double px = nas_chart_x(&c, r->tiers[t].ms);
        fprintf(r->out, "<line class=\"tier\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                        "<text class=\"tier-label\" x=\"%.1f\" y=\"%.1f\">&#8804; %g ms</text>\n",
                px, c.top, px, c.bottom, px + 4, c.bottom - 6, r->tiers[t].ms);
    }
    if (n_front > 0) {
        double *xs = malloc(n_front * sizeof *xs), *ys = malloc(n_front * sizeof *ys);
        if (xs && ys) {
            for (size_t i = 0; i < n_front; i++) xs[i] = pts[front[i]].x, ys[i] = pts[front[i]].y;
            nas_chart_line(&c, xs, ys, (int)n_front, true, "front");
        }
        free(xs);
        free(ys);
        for (size_t i = 0; i < n_front; i++)
            fprintf(r->out, "<circle class=\"pt-front\" cx=\"%.1f\" cy=\"%.1f\" r=\"4\"><title>job %lld: %.2f at %.4g ms</title></circle>\n",
                    nas_chart_x(&c, pts[front[i]].x), nas_chart_y(&c, pts[front[i]].y),
                    (long long)pts[front[i]].id, pts[front[i]].y, pts[front[i]].x);
    }
    nas_chart_clip_end(&c);
    nas_chart_legend_entry legend[4];
    int n_legend = 0;
    bool any_real = false;
    for (size_t i = 0; i < n && !any_real; i++) any_real = !sim[i];
    if (any_real || n == 0) legend[n_legend++] = (nas_chart_legend_entry){"trained result", "pt-real", true};
    if (r->any_sim) legend[n_legend++] = (nas_chart_legend_entry){"result (sim)", "pt-sim", true};
    legend[n_legend++] = (nas_chart_legend_entry){"Pareto front", "front", false};
    if (r->n_tiers > 0) legend[n_legend++] = (nas_chart_legend_entry){"latency tier", "tier", false};
    nas_chart_legend(&c, legend, n_legend, NAS_LEGEND_BOTTOM_RIGHT);
    nas_chart_end(&c);
    if (n == 0)
        fprintf(r->out, "<p class=\"note\">No trained result has a latency at batch %d, %s yet.</p>\n",
                r->batch, r->precision);

    /* The front as a table, fastest first. */
    put(r, "<h2>Pareto front</h2>\n");
    size_t rows = n_front < REPORT_MAX_FRONT_ROWS ? n_front : REPORT_MAX_FRONT_ROWS;
    if (rows < n_front)
        fprintf(r->out, "<p class=\"note\">%zu of the %zu front points, spread evenly from the "
                        "fastest to the most accurate; <code>nas pareto</code> lists them all.</p>\n",
                rows, n_front);
    put(r, "<table><tr><th>job</th><th>top-1</th><th>latency (ms)</th>"
           "<th>params</th><th>MACs</th><th>arch hash</th><th>device</th></tr>\n");
    sqlite3_stmt *detail = NULL;
    rc = nas_query_prepare(r->store,
                           "SELECT res.params, res.macs, j.arch_hash, res.device, res.simulated "
                           "FROM results res JOIN jobs j ON j.id = res.job WHERE res.job = ?1",
                           &detail, r->err);
    for (size_t row = 0; rc == 0 && row < rows; row++) {
        /* row 0 is the fastest point and row rows-1 the most accurate */
        size_t i = rows > 1 ? row * (n_front - 1) / (rows - 1) : 0;
        const nas_pareto_point *p = &pts[front[i]];
        sqlite3_reset(detail);
        sqlite3_bind_int64(detail, 1, p->id);
        if (sqlite3_step(detail) != SQLITE_ROW) continue;
        char params[32], macs[32];
        format_count(sqlite3_column_int64(detail, 0), params, sizeof params);
        format_count(sqlite3_column_int64(detail, 1), macs, sizeof macs);
        fprintf(r->out, "<tr><td>%lld", (long long)p->id);
        sim_tag(r, sqlite3_column_int(detail, 4) != 0);
        fprintf(r->out, "</td><td>%.2f</td><td>%.4g</td><td>%s</td><td>%s</td><td><code>", p->y, p->x,
                params, macs);
        put_escaped(r, nas_query_text(detail, 2));
        put(r, "</code></td><td>");
        put_escaped(r, nas_query_text(detail, 3));
        put(r, "</td></tr>\n");
    }
    put(r, "</table>\n");
    sqlite3_finalize(detail);
    free(taken.bits);
    free(pts);
    free(sim);
    free(front);
    return rc;
}

/* ---- best so far ---- */

static int write_progress_charts(report *r) {
    sqlite3_stmt *st;
    int rc = nas_query_prepare(r->store,
                               "SELECT top1, created_at FROM results WHERE experiment = ?1 "
                               "AND top1 IS NOT NULL ORDER BY created_at, job",
                               &st, r->err);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, r->exp->id);
    size_t n = 0, cap = 0;
    double *top1 = NULL, *at = NULL;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            double *g1 = realloc(top1, cap * sizeof *top1);
            if (g1) top1 = g1;
            double *g2 = g1 ? realloc(at, cap * sizeof *at) : NULL;
            if (g2) at = g2;
            if (!g1 || !g2) {
                sqlite3_finalize(st);
                free(top1);
                free(at);
                return nas_err_set(r->err, NAS_ENOMEM, "out of memory reading %zu results", n);
            }
        }
        top1[n] = sqlite3_column_double(st, 0) * r->top1_scale;
        at[n++] = sqlite3_column_double(st, 1);
    }
    if (rc != SQLITE_DONE) {
        free(top1);
        free(at);
        return step_error(r, st);
    }
    sqlite3_finalize(st);

    /* The staircase of improvements: (index or time, best) at each new best,
     * plus a final point so the line reaches the last evaluation. */
    double *best_x = malloc((n + 1) * sizeof *best_x), *best_t = malloc((n + 1) * sizeof *best_t);
    double *best_y = malloc((n + 1) * sizeof *best_y);
    if (!best_x || !best_t || !best_y) {
        free(top1), free(at), free(best_x), free(best_t), free(best_y);
        return nas_err_set(r->err, NAS_ENOMEM, "out of memory");
    }
    double t0 = n ? at[0] : 0, span = n ? at[n - 1] - at[0] : 0;
    bool hours = span > 7200;
    double unit = hours ? 3600 : 60;
    int steps = 0;
    double best = -INFINITY, y_min = INFINITY, y_max = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        y_min = fmin(y_min, top1[i]), y_max = fmax(y_max, top1[i]);
        if (top1[i] > best) {
            best = top1[i];
            best_x[steps] = (double)(i + 1), best_t[steps] = (at[i] - t0) / unit;
            best_y[steps++] = best;
        }
    }
    if (n > 0) {
        best_x[steps] = (double)n, best_t[steps] = (at[n - 1] - t0) / unit;
        best_y[steps++] = best;
    } else {
        y_min = 0, y_max = r->top1_scale;
    }

    put(r, "<h2 id=\"progress\">Best top-1 so far</h2>\n<div class=\"row\">\n");
    for (int chart = 0; chart < 2; chart++) {
        bool by_time = chart == 1;
        nas_chart_frame frame = {.id = by_time ? "best-time" : "best-evals",
                                 .title = by_time ? "over time" : "over evaluations",
                                 .x_label = by_time ? (hours ? "hours since the first result"
                                                             : "minutes since the first result")
                                                    : "evaluations (trained results, in order)",
                                 .y_label = r->top1_scale == 100.0 ? "top-1 (%)" : "top-1",
                                 .x_min = by_time ? 0 : 1,
                                 .x_max = by_time ? span / unit : (double)(n > 1 ? n : 2),
                                 .y_min = y_min, .y_max = y_max,
                                 .width = REPORT_HALF, .height = 320};
        nas_chart c;
        nas_chart_begin(&c, r->out, &frame);
        nas_chart_clip_begin(&c);
        pixel_set taken = {0};
        if (pixel_set_init(&taken, &c)) {
            for (size_t i = 0; i < n; i++) {
                double px = nas_chart_x(&c, by_time ? (at[i] - t0) / unit : (double)(i + 1));
                double py = nas_chart_y(&c, top1[i]);
                if (pixel_set_first(&taken, &c, px, py))
                    fprintf(r->out, "<circle class=\"pt-eval\" cx=\"%.1f\" cy=\"%.1f\" r=\"2\"/>\n", px, py);
            }
        }
        free(taken.bits);
        nas_chart_line(&c, by_time ? best_t : best_x, best_y, steps, true, "best");
        nas_chart_clip_end(&c);
        nas_chart_legend_entry legend[] = {{"best so far", "best", false}, {"each result", "pt-eval", true}};
        nas_chart_legend(&c, legend, 2, NAS_LEGEND_BOTTOM_RIGHT);
        nas_chart_end(&c);
    }
    put(r, "</div>\n");
    free(top1), free(at), free(best_x), free(best_t), free(best_y);
    return 0;
}

/* ---- workers ---- */

static int write_worker_charts(report *r) {
    /* The window: first job start to last result. A job ran from
     * created_at - train_seconds to created_at. */
    sqlite3_stmt *st;
    int rc = nas_query_prepare(r->store,
                               "SELECT min(created_at - train_seconds), max(created_at), sum(train_seconds) "
                               "FROM results WHERE experiment = ?1",
                               &st, r->err);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, r->exp->id);
    if (sqlite3_step(st) != SQLITE_ROW) return step_error(r, st);
    double t0 = sqlite3_column_double(st, 0), t1 = sqlite3_column_double(st, 1);
    double total_busy = sqlite3_column_double(st, 2);
    sqlite3_finalize(st);
    put(r, "<h2 id=\"workers\">Workers</h2>\n");
    if (!(t1 > t0) || !(total_busy > 0)) {
        put(r, "<p class=\"note\">No job durations recorded yet (results carry train_seconds).</p>\n");
        return 0;
    }
    double window = t1 - t0, bin = window / REPORT_BUSY_BINS;
    bool hours = window > 7200;
    double unit = hours ? 3600 : 60;
    double busy[REPORT_BUSY_BINS] = {0};
    rc = nas_query_prepare(r->store,
                           "SELECT created_at - train_seconds, created_at FROM results "
                           "WHERE experiment = ?1 AND train_seconds > 0",
                           &st, r->err);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, r->exp->id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        double a = sqlite3_column_double(st, 0) - t0, b = sqlite3_column_double(st, 1) - t0;
        int first = (int)(a / bin), last = (int)(b / bin);
        if (first < 0) first = 0;
        if (last >= REPORT_BUSY_BINS) last = REPORT_BUSY_BINS - 1;
        for (int k = first; k <= last; k++) {
            double overlap = fmin(b, (k + 1) * bin) - fmax(a, k * bin);
            if (overlap > 0) busy[k] += overlap / bin;
        }
    }
    if (rc != SQLITE_DONE) return step_error(r, st);
    sqlite3_finalize(st);

    double xs[REPORT_BUSY_BINS + 1], ys[REPORT_BUSY_BINS + 1], peak = 1;
    for (int k = 0; k < REPORT_BUSY_BINS; k++) {
        xs[k] = k * bin / unit;
        ys[k] = busy[k];
        peak = fmax(peak, busy[k]);
    }
    xs[REPORT_BUSY_BINS] = window / unit;
    ys[REPORT_BUSY_BINS] = busy[REPORT_BUSY_BINS - 1];
    put(r, "<div class=\"row\">\n");
    nas_chart_frame frame = {.id = "busy", .title = "Busy workers over time (mean per interval)",
                             .x_label = hours ? "hours since the first job started"
                                              : "minutes since the first job started",
                             .y_label = "workers running a job", .x_min = 0, .x_max = window / unit,
                             .y_min = 0, .y_max = peak, .width = REPORT_HALF, .height = 320};
    nas_chart c;
    nas_chart_begin(&c, r->out, &frame);
    nas_chart_clip_begin(&c);
    /* A closed step area: down to zero at both ends. */
    fprintf(r->out, "<path class=\"busy\" d=\"M%.1f,%.1f", nas_chart_x(&c, 0), nas_chart_y(&c, 0));
    for (int k = 0; k < REPORT_BUSY_BINS; k++)
        fprintf(r->out, " L%.1f,%.1f L%.1f,%.1f", nas_chart_x(&c, xs[k]), nas_chart_y(&c, ys[k]),
                nas_chart_x(&c, xs[k + 1]), nas_chart_y(&c, ys[k]));
    fprintf(r->out, " L%.1f,%.1f Z\"/>\n", nas_chart_x(&c, xs[REPORT_BUSY_BINS]), nas_chart_y(&c, 0));
    nas_chart_clip_end(&c);
    nas_chart_end(&c);

    /* Utilisation per worker: busy seconds over the window, busiest first. */
    rc = nas_query_prepare(r->store,
                           "SELECT res.worker, count(*), sum(res.train_seconds), w.host, w.device "
                           "FROM results res LEFT JOIN workers w ON w.id = res.worker "
                           "WHERE res.experiment = ?1 GROUP BY res.worker "
                           "ORDER BY sum(res.train_seconds) DESC, res.worker",
                           &st, r->err);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, r->exp->id);
    int64_t workers = 0;
    double utilisation_sum = 0;
    nas_sb bars = {0};
    int shown = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        double utilisation = sqlite3_column_double(st, 2) / window;
        workers++;
        utilisation_sum += utilisation;
        if (shown >= REPORT_MAX_WORKER_BARS) continue;
        double y = 40 + shown * 22.0, width = fmin(utilisation, 1.0) * 230;
        nas_sb_printf(&bars, "<rect class=\"bar-bg\" x=\"250\" y=\"%.0f\" width=\"230\" height=\"14\"/>"
                             "<rect class=\"bar\" x=\"250\" y=\"%.0f\" width=\"%.1f\" height=\"14\"/>",
                      y, y, width);
        nas_sb_printf(&bars, "<text class=\"chart-tick\" x=\"244\" y=\"%.0f\" text-anchor=\"end\">", y + 11);
        char label[200];
        snprintf(label, sizeof label, "%s%s%s", nas_query_text(st, 0),
                 sqlite3_column_type(st, 4) != SQLITE_NULL ? " \xc2\xb7 " : "", nas_query_text(st, 4));
        if (strlen(label) > 38) memcpy(label + 35, "...", 4);
        sb_append_escaped(&bars, label);
        nas_sb_printf(&bars, "</text><text class=\"chart-tick\" x=\"486\" y=\"%.0f\">%.0f%% &#183; %lld</text>\n",
                      y + 11, utilisation * 100, (long long)sqlite3_column_int64(st, 1));
        shown++;
    }
    if (rc != SQLITE_DONE) {
        nas_sb_free(&bars);
        return step_error(r, st);
    }
    sqlite3_finalize(st);
    int height = 56 + shown * 22;
    fprintf(r->out,
            "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"worker utilisation\">\n"
            "<text class=\"chart-title\" x=\"16\" y=\"20\">Utilisation per worker (busy share &#183; jobs)</text>\n",
            REPORT_HALF, height, REPORT_HALF, height);
    if (bars.data) put(r, bars.data);
    fprintf(r->out, "<text class=\"chart-tick\" x=\"16\" y=\"%d\">%lld workers, mean utilisation %.0f%%%s</text>\n",
            height - 10, (long long)workers, workers ? utilisation_sum / workers * 100 : 0.0,
            workers > shown ? " (busiest shown)" : "");
    put(r, "</svg>\n</div>\n");
    nas_sb_free(&bars);
    return 0;
}

/* ---- tables ---- */

static int write_tier_table(report *r) {
    put(r, "<h2 id=\"tiers\">Best model per latency tier</h2>\n");
    if (r->n_tiers == 0) {
        put(r, "<p class=\"note\">The experiment defines no latency tiers (<code>latency:</code> in its "
               "YAML); the Pareto front above lists the best model at every latency.</p>\n");
        return 0;
    }
    sqlite3_stmt *st;
    int rc = nas_query_prepare(r->store,
                               "SELECT res.job, res.top1, res.top5, l.mean_ms, res.params, res.macs, "
                               "res.simulated, j.arch_hash, res.device FROM results res "
                               "JOIN latencies l ON l.job = res.job JOIN jobs j ON j.id = res.job "
                               "WHERE res.experiment = ?1 AND res.top1 IS NOT NULL AND l.batch = ?2 "
                               "AND l.precision = ?3 AND l.mean_ms <= ?4 "
                               "ORDER BY res.top1 DESC, l.mean_ms, res.job LIMIT 1",
                               &st, r->err);
    if (rc) return rc;
    put(r, "<table><tr><th>tier</th><th>job</th><th>top-1</th><th>top-5</th><th>latency (ms)</th>"
           "<th>params</th><th>MACs</th><th>arch hash</th><th>device</th></tr>\n");
    for (int t = 0; t < r->n_tiers; t++) {
        const nas_query_tier *tier = &r->tiers[t];
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, r->exp->id);
        sqlite3_bind_int(st, 2, tier->batch);
        sqlite3_bind_text(st, 3, tier->precision, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 4, tier->ms);
        fprintf(r->out, "<tr><td>&#8804; %g ms @ batch %d, ", tier->ms, tier->batch);
        put_escaped(r, tier->precision);
        put(r, "</td>");
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            char params[32], macs[32];
            format_count(sqlite3_column_int64(st, 4), params, sizeof params);
            format_count(sqlite3_column_int64(st, 5), macs, sizeof macs);
            fprintf(r->out, "<td>%lld", (long long)sqlite3_column_int64(st, 0));
            sim_tag(r, sqlite3_column_int(st, 6) != 0);
            fprintf(r->out, "</td><td>%.2f</td>", sqlite3_column_double(st, 1) * r->top1_scale);
            if (sqlite3_column_type(st, 2) == SQLITE_NULL)
                put(r, "<td>-</td>");
            else
                fprintf(r->out, "<td>%.2f</td>", sqlite3_column_double(st, 2) * r->top1_scale);
            fprintf(r->out, "<td>%.4g</td><td>%s</td><td>%s</td><td><code>", sqlite3_column_double(st, 3),
                    params, macs);
            put_escaped(r, nas_query_text(st, 7));
            put(r, "</code></td><td>");
            put_escaped(r, nas_query_text(st, 8));
            put(r, "</td></tr>\n");
        } else if (rc == SQLITE_DONE) {
            put(r, "<td colspan=\"8\" class=\"none\">no trained model within this budget yet</td></tr>\n");
        } else {
            return step_error(r, st);
        }
    }
    sqlite3_finalize(st);
    put(r, "</table>\n");
    return 0;
}

static int write_failures(report *r) {
    sqlite3_stmt *st;
    int rc = nas_query_prepare(r->store,
                               "SELECT coalesce(error, '(no reason given)'), count(*) FROM jobs "
                               "WHERE experiment = ?1 AND state = 'failed' "
                               "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
                               &st, r->err);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, r->exp->id);
    bool any = false;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!any) put(r, "<h2>Failed jobs by reason</h2>\n<table><tr><th>reason</th><th>jobs</th></tr>\n");
        any = true;
        put(r, "<tr><td>");
        put_escaped(r, nas_query_text(st, 0));
        fprintf(r->out, "</td><td>%lld</td></tr>\n", (long long)sqlite3_column_int64(st, 1));
    }
    if (rc != SQLITE_DONE) return step_error(r, st);
    sqlite3_finalize(st);
    if (any) put(r, "</table>\n");
    return 0;
}

static const char report_css[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;"
    "margin:24px auto;max-width:1100px;padding:0 12px;color:#1d232a;background:#fff}\n"
    "h1{font-size:24px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px}\n"
    ".sub{color:#5b6570;margin:0 0 16px;font-size:13px}.note{color:#5b6570;font-size:13px}\n"
    ".banner{background:#fff4d6;border:1px solid #e8c766;border-radius:8px;padding:10px 14px;font-size:13px}\n"
    ".cards{display:grid;grid-template-columns:repeat(6,1fr);gap:10px}\n"
    ".card{border:1px solid #dde3e9;border-radius:8px;padding:10px 12px}\n"
    ".card b{display:block;font-size:21px;margin-bottom:2px}.card span{color:#5b6570;font-size:12px}\n"
    ".row{display:flex;gap:14px;flex-wrap:wrap;align-items:flex-start}\n"
    "table{border-collapse:collapse;width:100%;font-size:13px}\n"
    "th,td{padding:5px 8px;border-bottom:1px solid #e6eaee;text-align:right;white-space:nowrap}\n"
    "th{background:#f5f7f9;font-weight:600}th:first-child,td:first-child{text-align:left}\n"
    "td.none{text-align:left;color:#8a949e}code{font-size:12px}\n"
    ".tag-sim{background:#fde7c4;color:#8a4b00;border-radius:4px;padding:0 5px;font-size:11px;font-weight:600}\n"
    "svg.chart{border:1px solid #e6eaee;border-radius:8px;background:#fff;max-width:100%;height:auto}\n"
    ".chart-title{font-size:14px;font-weight:600;fill:#1d232a}.chart-tick{font-size:11px;fill:#5b6570}\n"
    ".chart-label{font-size:12px;fill:#39424b}.chart-grid{stroke:#eef1f4}.chart-box{fill:none;stroke:#c9d1d9}\n"
    ".chart-legend{fill:#fff;fill-opacity:.9;stroke:#e6eaee}\n"
    ".pt-real{fill:#4c78a8;fill-opacity:.5}.pt-sim{fill:none;stroke:#f58518;stroke-width:1.2;stroke-opacity:.8}\n"
    ".front{fill:none;stroke:#e45756;stroke-width:2}.pt-front{fill:#e45756}\n"
    ".tier{stroke:#54a24b;stroke-dasharray:5 4;stroke-width:1.5}.tier-label{font-size:11px;fill:#2f7a2a}\n"
    ".best{fill:none;stroke:#4c78a8;stroke-width:2.2}.pt-eval{fill:#9aa7b4;fill-opacity:.55}\n"
    ".busy{fill:#72b7b2;fill-opacity:.45;stroke:#3f8f8a;stroke-width:1}\n"
    ".bar{fill:#72b7b2}.bar-bg{fill:#eef1f4}\n"
    "footer{margin:30px 0 10px;color:#8a949e;font-size:12px}\n";

int nas_report_write_html(nas_store *store, const nas_store_experiment *exp,
                          const nas_report_opts *opts, FILE *out, nas_err *err) {
    report r = {.store = store, .exp = exp, .out = out, .err = err, .top1_scale = 100.0};
    int rc = nas_query_config_tiers(exp->config_yaml ? exp->config_yaml : "", r.tiers,
                                    REPORT_MAX_TIERS, &r.n_tiers, err);
    if (rc) {
        nas_err_prefix(err, "experiment %s: latency tiers", exp->name);
        return rc;
    }
    if ((rc = choose_axis(&r, opts)) != 0) return rc;

    put(&r, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>gpunas report: ");
    put_escaped(&r, exp->name);
    fprintf(out, "</title>\n<style>\n%s</style>\n</head>\n<body>\n", report_css);
    if ((rc = write_summary(&r, opts)) != 0 || (rc = write_front_chart(&r)) != 0 ||
        (rc = write_tier_table(&r)) != 0 || (rc = write_progress_charts(&r)) != 0 ||
        (rc = write_worker_charts(&r)) != 0 || (rc = write_failures(&r)) != 0)
        return rc;
    put(&r, "<footer>Written by <code>nas report</code> (gpunas " NAS_VERSION "). Query the same store "
            "with <code>nas pareto</code>, <code>nas status</code> and <code>nas show JOB</code>.</footer>\n"
            "</body>\n</html>\n");
    if (fflush(out) != 0 || ferror(out))
        return nas_err_set(err, NAS_EIO, "writing the report failed (disk full?)");
    return 0;
}
