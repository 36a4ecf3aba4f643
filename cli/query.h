/*
 * cli/query.h - what the read-only `nas` query commands share: opening the
 * store and picking the experiment, small SQL helpers, time formatting, and
 * the architecture export used by `nas export`.
 *
 * Every query command opens the store with nas_store_open_readonly (WAL, so
 * it never blocks nasd and sees the last committed transaction) and runs its
 * own SELECTs through nas_store_db; nothing here writes.
 */
#ifndef NAS_CLI_QUERY_H
#define NAS_CLI_QUERY_H

#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "space/arch.h"
#include "store/store.h"

struct sqlite3_stmt;

/* Options every query command takes. */
typedef struct nas_query_target {
    const char *db_path;    /* --db FILE (required) */
    const char *experiment; /* --experiment NAME (default: the most recent) */
} nas_query_target;

/* Handles "--db F" and "--experiment N" at argv[*i]: returns 1 if consumed
 * (advancing *i), 0 if argv[*i] is something else, -1 if the value is missing. */
int nas_query_parse_target(int argc, char **argv, int *i, nas_query_target *t);

/* Opens t->db_path read-only and finds the experiment. On failure returns the
 * code with err filled and *store NULL. Release with nas_store_close and
 * nas_store_experiment_release. */
int nas_query_open(const nas_query_target *t, nas_store **store, nas_store_experiment *exp,
                   nas_err *err);

/* Prepares sql on the store's connection; NAS_EDB with SQLite's message. */
int nas_query_prepare(nas_store *store, const char *sql, struct sqlite3_stmt **out, nas_err *err);

/* Column text or "" (never NULL), for printing. */
const char *nas_query_text(struct sqlite3_stmt *st, int col);

/* Formats wall seconds as "2026-11-23 14:55:01" UTC (buf >= 20 bytes); "-" for 0. */
void nas_query_format_time(double wall_seconds, char *buf, size_t cap);

/* Formats an age "3.2 s ago" / "5 min ago" relative to now_wall. */
void nas_query_format_age(double wall_seconds, double now_wall, char *buf, size_t cap);

/* Formats a duration: "42 s", "5.2 min" or "3.50 h". */
void nas_query_format_duration(double seconds, char *buf, size_t cap);

/* Parses a positive job id; NAS_EINVAL with a message otherwise. */
int nas_query_parse_job_id(const char *text, int64_t *out, nas_err *err);

/* Parses "latency@BATCH" (or "latency" = default batch, *batch = 0). */
int nas_query_parse_latency_axis(const char *text, int *batch, nas_err *err);

/* A latency budget of the experiment (its YAML's `latency:` list). */
typedef struct nas_query_tier {
    double ms;
    int batch;          /* default 1, as nasd reads it */
    char precision[8];  /* default fp16, as nasd reads it */
} nas_query_tier;

/*
 * Reads the latency tiers from an experiment's stored YAML (the
 * `latency: [{ms, batch, precision}]` list server/experiment.h documents) into
 * out[0..max); *n gets the count (0 when the experiment has none). Only this
 * list is read; the rest of the document is nasd's business. Returns 0 or
 * NAS_EPARSE/NAS_EINVAL with file:line:col.
 */
int nas_query_config_tiers(const char *config_yaml, nas_query_tier *out, int max, int *n, nas_err *err);

/*
 * Writes the architecture as a model preset in YAML (the format of
 * configs/models/NAME.yaml, loadable by nas_arch_load and `nas model info`). The
 * header comment names the source (free text, may be NULL). Doubles are
 * written in the shortest form that reads back to the same value, so
 * nas_arch_load(yaml) equals the exported architecture exactly.
 */
int nas_query_write_arch_yaml(FILE *out, const nas_arch *arch, const char *header_comment, nas_err *err);

#endif
