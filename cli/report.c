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
 * This file writes the page, the summary and the tables; the charts and
 * the front table live in report_plots.c (they share report_internal.h).
 * Pages stay a few MB whatever the number of results: dense scatter plots
 * are thinned to one dot per 2 x 2 pixel cell and the front table lists at
 * most 40 points spread along the front (the chart draws all of them, and
 * `nas pareto` lists all).
 */
#include "cli/report.h"

#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/report_chart.h"
#include "cli/report_internal.h"

/* ---- small helpers ---- */

void report_put(report *r, const char *text) { fputs(text, r->out); }

void report_put_escaped(report *r, const char *text) { nas_html_escape(r->out, text); }

int report_bind_axis(sqlite3_stmt *st, const report *r) {
    sqlite3_bind_int64(st, 1, r->exp->id);
    sqlite3_bind_int(st, 2, r->batch);
    return sqlite3_bind_text(st, 3, r->precision, -1, SQLITE_STATIC);
}

int report_step_error(report *r, sqlite3_stmt *st) {
    int rc = nas_err_set(r->err, NAS_EDB, "reading the store failed: %s",
                         sqlite3_errmsg(nas_store_db(r->store)));
    sqlite3_finalize(st);
    return rc;
}

void report_format_count(int64_t n, char *buf, size_t cap) {
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

void report_sim_tag(report *r, bool sim) {
    if (sim) report_put(r, " <span class=\"tag-sim\" title=\"simulated evaluator, not a trained network\">sim</span>");
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
        return report_step_error(r, st);
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
    if (sqlite3_step(st) != SQLITE_ROW) return report_step_error(r, st);
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
    report_put(r, "<h1>gpunas report: ");
    report_put_escaped(r, e->name);
    report_put(r, "</h1>\n<p class=\"sub\">");
    fprintf(r->out, "space <b>");
    report_put_escaped(r, e->space);
    report_put(r, "</b> &middot; strategy <b>");
    report_put_escaped(r, e->strategy);
    report_put(r, "</b> &middot; state <b>");
    report_put_escaped(r, e->state);
    fprintf(r->out, "</b> &middot; started %s UTC &middot; report of %s UTC", when, made);
    if (o->source) {
        report_put(r, " &middot; <code>");
        report_put_escaped(r, o->source);
        report_put(r, "</code>");
    }
    report_put(r, "</p>\n");
    char sim_count[32], eval_count[32];
    report_format_count(simulated, sim_count, sizeof sim_count);
    report_format_count(evaluations, eval_count, sizeof eval_count);
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
    report_format_count(evaluations, a, sizeof a);
    report_format_count(counts[NAS_STORE_MEASURE][NAS_JOB_DONE] + infeasible, b, sizeof b);
    report_format_count(failed, c, sizeof c);
    report_format_count(waiting, d, sizeof d);
    char budget_count[32];
    report_format_count(e->budget_evaluations, budget_count, sizeof budget_count);
    if (e->budget_evaluations > 0)
        snprintf(budget, sizeof budget, "of %s budgeted, %s waiting", budget_count, d);
    else
        snprintf(budget, sizeof budget, "%s waiting", d);
    double span = last - first;
    /* elapsed_seconds is nasd's running time; before nasd records it, the
     * span of the results is the best estimate. */
    format_duration(e->elapsed_seconds > 0 ? e->elapsed_seconds : span, elapsed, sizeof elapsed);
    if (evaluations > 1 && span > 0)
        report_format_count((int64_t)llround((double)(evaluations - 1) / span * 3600), rate, sizeof rate);
    else
        snprintf(rate, sizeof rate, "-");
    report_put(r, "<div class=\"cards\">\n");
    fprintf(r->out, "<div class=\"card\"><b>%s</b><span>evaluations (%s)</span></div>\n", a, budget);
    if (has_best)
        fprintf(r->out, "<div class=\"card\"><b>%.2f%s</b><span>best top-1</span></div>\n",
                best * r->top1_scale, r->top1_scale == 100.0 ? "%" : "");
    else
        report_put(r, "<div class=\"card\"><b>-</b><span>best top-1</span></div>\n");
    fprintf(r->out, "<div class=\"card\"><b>%s</b><span>latency-only measurements</span></div>\n", b);
    fprintf(r->out, "<div class=\"card\"><b>%s</b><span>failed jobs</span></div>\n", c);
    fprintf(r->out, "<div class=\"card\"><b>%lld</b><span>workers that delivered</span></div>\n",
            (long long)workers);
    fprintf(r->out, "<div class=\"card\"><b>%s</b><span>running time &middot; %s evaluations per hour</span></div>\n",
            elapsed, rate);
    report_put(r, "</div>\n");
    return 0;
}

/* ---- tables ---- */

static int write_tier_table(report *r) {
    report_put(r, "<h2 id=\"tiers\">Best model per latency tier</h2>\n");
    if (r->n_tiers == 0) {
        report_put(r, "<p class=\"note\">The experiment defines no latency tiers (<code>latency:</code> in its "
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
    report_put(r, "<table><tr><th>tier</th><th>job</th><th>top-1</th><th>top-5</th><th>latency (ms)</th>"
           "<th>params</th><th>MACs</th><th>arch hash</th><th>device</th></tr>\n");
    for (int t = 0; t < r->n_tiers; t++) {
        const nas_query_tier *tier = &r->tiers[t];
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, r->exp->id);
        sqlite3_bind_int(st, 2, tier->batch);
        sqlite3_bind_text(st, 3, tier->precision, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 4, tier->ms);
        fprintf(r->out, "<tr><td>&#8804; %g ms @ batch %d, ", tier->ms, tier->batch);
        report_put_escaped(r, tier->precision);
        report_put(r, "</td>");
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            char params[32], macs[32];
            report_format_count(sqlite3_column_int64(st, 4), params, sizeof params);
            report_format_count(sqlite3_column_int64(st, 5), macs, sizeof macs);
            fprintf(r->out, "<td>%lld", (long long)sqlite3_column_int64(st, 0));
            report_sim_tag(r, sqlite3_column_int(st, 6) != 0);
            fprintf(r->out, "</td><td>%.2f</td>", sqlite3_column_double(st, 1) * r->top1_scale);
            if (sqlite3_column_type(st, 2) == SQLITE_NULL)
                report_put(r, "<td>-</td>");
            else
                fprintf(r->out, "<td>%.2f</td>", sqlite3_column_double(st, 2) * r->top1_scale);
            fprintf(r->out, "<td>%.4g</td><td>%s</td><td>%s</td><td><code>", sqlite3_column_double(st, 3),
                    params, macs);
            report_put_escaped(r, nas_query_text(st, 7));
            report_put(r, "</code></td><td>");
            report_put_escaped(r, nas_query_text(st, 8));
            report_put(r, "</td></tr>\n");
        } else if (rc == SQLITE_DONE) {
            report_put(r, "<td colspan=\"8\" class=\"none\">no trained model within this budget yet</td></tr>\n");
        } else {
            return report_step_error(r, st);
        }
    }
    sqlite3_finalize(st);
    report_put(r, "</table>\n");
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
        if (!any) report_put(r, "<h2>Failed jobs by reason</h2>\n<table><tr><th>reason</th><th>jobs</th></tr>\n");
        any = true;
        report_put(r, "<tr><td>");
        report_put_escaped(r, nas_query_text(st, 0));
        fprintf(r->out, "</td><td>%lld</td></tr>\n", (long long)sqlite3_column_int64(st, 1));
    }
    if (rc != SQLITE_DONE) return report_step_error(r, st);
    sqlite3_finalize(st);
    if (any) report_put(r, "</table>\n");
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

    report_put(&r, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>gpunas report: ");
    report_put_escaped(&r, exp->name);
    fprintf(out, "</title>\n<style>\n%s</style>\n</head>\n<body>\n", report_css);
    if ((rc = write_summary(&r, opts)) != 0 || (rc = report_write_front(&r)) != 0 ||
        (rc = write_tier_table(&r)) != 0 || (rc = report_write_progress(&r)) != 0 ||
        (rc = report_write_workers(&r)) != 0 || (rc = write_failures(&r)) != 0)
        return rc;
    report_put(&r, "<footer>Written by <code>nas report</code> (gpunas " NAS_VERSION "). Query the same store "
            "with <code>nas pareto</code>, <code>nas status</code> and <code>nas show JOB</code>.</footer>\n"
            "</body>\n</html>\n");
    if (fflush(out) != 0 || ferror(out))
        return nas_err_set(err, NAS_EIO, "writing the report failed (disk full?)");
    return 0;
}
