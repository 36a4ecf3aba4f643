/*
 * cli/report.h - one experiment as a self-contained HTML page.
 *
 * `nas report --db results.db --out report.html` reads the store (read-only,
 * safe while nasd runs) and writes a single file with inline CSS and inline
 * SVG, no scripts and nothing fetched from the network, so it can be mailed,
 * archived or opened on an air-gapped cluster:
 *   - summary: jobs by state, evaluations, workers, best top-1, throughput;
 *   - top-1 against latency: every trained result, the Pareto front, the
 *     experiment's latency tiers;
 *   - best top-1 so far over evaluations and over time;
 *   - workers: busy workers over time and utilisation per worker;
 *   - tables: best model per latency tier, the Pareto front, failures by
 *     reason.
 * Results produced by the sim evaluator are drawn hollow and tagged `sim` in
 * every table, with a banner saying that they are not trained networks.
 */
#ifndef NAS_CLI_REPORT_H
#define NAS_CLI_REPORT_H

#include <stdio.h>

#include "common/error.h"
#include "store/store.h"

typedef struct nas_report_opts {
    /* Latency axis of the front: batch 0 = the first latency tier's batch and
     * precision, else the (batch, precision) measured most often. precision
     * NULL = that choice's precision ("fp16", "fp32", ...). */
    int batch;
    const char *precision;
    const char *source;  /* shown in the header, e.g. the --db path; may be NULL */
    double generated_at; /* wall seconds shown as the generation time */
} nas_report_opts;

/* Writes the report of experiment exp of store to out. Returns 0, NAS_EDB
 * when a query fails, NAS_ENOMEM, or NAS_EIO when writing fails. */
int nas_report_write_html(nas_store *store, const nas_store_experiment *exp,
                          const nas_report_opts *opts, FILE *out, nas_err *err);

#endif
