/*
 * cli/report_internal.h - what the two halves of the HTML report share:
 * report.c (entry point, page, summary and tables) and report_plots.c (the
 * charts with their data). Not a public interface; nas_report_write_html in
 * report.h is.
 */
#ifndef NAS_CLI_REPORT_INTERNAL_H
#define NAS_CLI_REPORT_INTERNAL_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cli/query.h"
#include "cli/report.h"

#define REPORT_MAX_TIERS 8

/* The state every section reads; one per report being written. */
typedef struct report {
    nas_store *store;
    const nas_store_experiment *exp;
    FILE *out;
    nas_err *err;
    int batch;         /* latency axis: batch size ... */
    char precision[8]; /* ... and precision */
    double top1_scale; /* 100 when top-1 is stored as a fraction */
    bool any_sim;      /* some result came from the sim evaluator */
    nas_query_tier tiers[REPORT_MAX_TIERS];
    int n_tiers;
} report;

/* Writes text as is / HTML-escaped. */
void report_put(report *r, const char *text);
void report_put_escaped(report *r, const char *text);
/* Binds ?1 experiment, ?2 batch, ?3 precision of the latency axis. */
int report_bind_axis(sqlite3_stmt *st, const report *r);
/* NAS_EDB with SQLite's message; finalizes st. */
int report_step_error(report *r, sqlite3_stmt *st);
/* 1234567 -> "1,234,567". */
void report_format_count(int64_t n, char *buf, size_t cap);
/* The `sim` tag after a job id when sim is true. */
void report_sim_tag(report *r, bool sim);

/* Sections of report_plots.c; each returns 0 or a negative NAS_E* code. */
int report_write_front(report *r);    /* top-1 against latency + the front table */
int report_write_progress(report *r); /* best so far over evaluations and time */
int report_write_workers(report *r);  /* busy workers over time, utilisation */

#endif
