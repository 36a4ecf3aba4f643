/*
 * cli/report_plots.c - the report's charts, each with the SELECT behind it
 * (see report.c for the definitions they share with `nas pareto`).
 *
 * Dense scatter plots are thinned: a point is drawn only if no earlier point
 * fell in the same REPORT_CELL_PX x REPORT_CELL_PX cell of the plot (a bitmap
 * remembers the cells). The dots are wider than a cell, so nothing visible
 * is lost and the page stays a few MB at a million results.
 */
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/pareto.h"
#include "cli/report_chart.h"
#include "cli/report_internal.h"
#include "common/util.h"

#define REPORT_BUSY_BINS 80
#define REPORT_MAX_WORKER_BARS 30
#define REPORT_MAX_FRONT_ROWS 40
#define REPORT_CELL_PX 2
#define REPORT_WIDE 1100
#define REPORT_HALF 536

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

/* ---- top-1 against latency ---- */

int report_write_front(report *r) {
    sqlite3_stmt *st;
    int rc = nas_query_prepare(r->store,
                               "SELECT res.job, res.top1, l.mean_ms, res.simulated FROM results res "
                               "JOIN latencies l ON l.job = res.job AND l.batch = ?2 AND l.precision = ?3 "
                               "WHERE res.experiment = ?1 AND res.top1 IS NOT NULL",
                               &st, r->err);
    if (rc) return rc;
    report_bind_axis(st, r);
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
        return report_step_error(r, st);
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
    report_put(r, "<h2 id=\"front\">Accuracy against latency</h2>\n");
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
    report_put(r, "<h2>Pareto front</h2>\n");
    size_t rows = n_front < REPORT_MAX_FRONT_ROWS ? n_front : REPORT_MAX_FRONT_ROWS;
    if (rows < n_front)
        fprintf(r->out, "<p class=\"note\">%zu of the %zu front points, spread evenly from the "
                        "fastest to the most accurate; <code>nas pareto</code> lists them all.</p>\n",
                rows, n_front);
    report_put(r, "<table><tr><th>job</th><th>top-1</th><th>latency (ms)</th>"
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
        report_format_count(sqlite3_column_int64(detail, 0), params, sizeof params);
        report_format_count(sqlite3_column_int64(detail, 1), macs, sizeof macs);
        fprintf(r->out, "<tr><td>%lld", (long long)p->id);
        report_sim_tag(r, sqlite3_column_int(detail, 4) != 0);
        fprintf(r->out, "</td><td>%.2f</td><td>%.4g</td><td>%s</td><td>%s</td><td><code>", p->y, p->x,
                params, macs);
        report_put_escaped(r, nas_query_text(detail, 2));
        report_put(r, "</code></td><td>");
        report_put_escaped(r, nas_query_text(detail, 3));
        report_put(r, "</td></tr>\n");
    }
    report_put(r, "</table>\n");
    sqlite3_finalize(detail);
    free(taken.bits);
    free(pts);
    free(sim);
    free(front);
    return rc;
}

/* ---- best so far ---- */

int report_write_progress(report *r) {
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
        return report_step_error(r, st);
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

    report_put(r, "<h2 id=\"progress\">Best top-1 so far</h2>\n<div class=\"row\">\n");
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
    report_put(r, "</div>\n");
    free(top1), free(at), free(best_x), free(best_t), free(best_y);
    return 0;
}

/* ---- workers ---- */

int report_write_workers(report *r) {
    /* The window: first job start to last result. A job ran from
     * created_at - train_seconds to created_at. */
    sqlite3_stmt *st;
    int rc = nas_query_prepare(r->store,
                               "SELECT min(created_at - train_seconds), max(created_at), sum(train_seconds) "
                               "FROM results WHERE experiment = ?1",
                               &st, r->err);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, r->exp->id);
    if (sqlite3_step(st) != SQLITE_ROW) return report_step_error(r, st);
    double t0 = sqlite3_column_double(st, 0), t1 = sqlite3_column_double(st, 1);
    double total_busy = sqlite3_column_double(st, 2);
    sqlite3_finalize(st);
    report_put(r, "<h2 id=\"workers\">Workers</h2>\n");
    if (!(t1 > t0) || !(total_busy > 0)) {
        report_put(r, "<p class=\"note\">No job durations recorded yet (results carry train_seconds).</p>\n");
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
    if (rc != SQLITE_DONE) return report_step_error(r, st);
    sqlite3_finalize(st);

    double xs[REPORT_BUSY_BINS + 1], ys[REPORT_BUSY_BINS + 1], peak = 1;
    for (int k = 0; k < REPORT_BUSY_BINS; k++) {
        xs[k] = k * bin / unit;
        ys[k] = busy[k];
        peak = fmax(peak, busy[k]);
    }
    xs[REPORT_BUSY_BINS] = window / unit;
    ys[REPORT_BUSY_BINS] = busy[REPORT_BUSY_BINS - 1];
    report_put(r, "<div class=\"row\">\n");
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
        return report_step_error(r, st);
    }
    sqlite3_finalize(st);
    int height = 56 + shown * 22;
    fprintf(r->out,
            "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"worker utilisation\">\n"
            "<text class=\"chart-title\" x=\"16\" y=\"20\">Utilisation per worker (busy share &#183; jobs)</text>\n",
            REPORT_HALF, height, REPORT_HALF, height);
    if (bars.data) report_put(r, bars.data);
    fprintf(r->out, "<text class=\"chart-tick\" x=\"16\" y=\"%d\">%lld workers, mean utilisation %.0f%%%s</text>\n",
            height - 10, (long long)workers, workers ? utilisation_sum / workers * 100 : 0.0,
            workers > shown ? " (busiest shown)" : "");
    report_put(r, "</svg>\n</div>\n");
    nas_sb_free(&bars);
    return 0;
}
