/*
 * cli/query.c - shared helpers of the `nas` query commands; see query.h.
 */
#include "cli/query.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cfg.h"

int nas_query_parse_target(int argc, char **argv, int *i, nas_query_target *t) {
    const char *arg = argv[*i];
    const char **slot = strcmp(arg, "--db") == 0           ? &t->db_path
                        : strcmp(arg, "--experiment") == 0 ? &t->experiment
                                                           : NULL;
    if (!slot) return 0;
    if (*i + 1 >= argc) return -1;
    *slot = argv[++*i];
    return 1;
}

int nas_query_open(const nas_query_target *t, nas_store **store, nas_store_experiment *exp,
                   nas_err *err) {
    memset(exp, 0, sizeof *exp);
    *store = NULL;
    if (!t->db_path) return nas_err_set(err, NAS_EINVAL, "--db FILE is required (the store nasd writes)");
    int rc = nas_store_open_readonly(t->db_path, store, err);
    if (rc) return rc;
    rc = nas_store_experiment_find(*store, t->experiment, exp, err);
    if (rc) {
        if (rc == NAS_ENOTFOUND && !t->experiment)
            nas_err_set(err, rc, "%s holds no experiment yet; start one with nasd or `nas run`", t->db_path);
        nas_store_close(store);
    }
    return rc;
}

int nas_query_prepare(nas_store *store, const char *sql, sqlite3_stmt **out, nas_err *err) {
    sqlite3 *db = nas_store_db(store);
    if (sqlite3_prepare_v2(db, sql, -1, out, NULL) != SQLITE_OK) {
        *out = NULL;
        return nas_err_set(err, NAS_EDB, "query failed: %s", sqlite3_errmsg(db));
    }
    return 0;
}

const char *nas_query_text(sqlite3_stmt *st, int col) {
    const unsigned char *text = sqlite3_column_text(st, col);
    return text ? (const char *)text : "";
}

void nas_query_format_time(double wall_seconds, char *buf, size_t cap) {
    if (wall_seconds <= 0) {
        snprintf(buf, cap, "-");
        return;
    }
    time_t t = (time_t)wall_seconds;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm) == 0) snprintf(buf, cap, "-");
}

void nas_query_format_age(double wall_seconds, double now_wall, char *buf, size_t cap) {
    if (wall_seconds <= 0) {
        snprintf(buf, cap, "never");
        return;
    }
    double age = now_wall - wall_seconds;
    if (age < 0) age = 0;
    if (age < 120) snprintf(buf, cap, "%.1f s ago", age);
    else if (age < 7200) snprintf(buf, cap, "%.0f min ago", age / 60);
    else snprintf(buf, cap, "%.1f h ago", age / 3600);
}

void nas_query_format_duration(double seconds, char *buf, size_t cap) {
    if (seconds < 0) seconds = 0;
    if (seconds < 120) snprintf(buf, cap, "%.0f s", seconds);
    else if (seconds < 7200) snprintf(buf, cap, "%.1f min", seconds / 60);
    else snprintf(buf, cap, "%.2f h", seconds / 3600);
}

int nas_query_parse_job_id(const char *text, int64_t *out, nas_err *err) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (end == text || *end != '\0' || errno == ERANGE || v <= 0)
        return nas_err_set(err, NAS_EINVAL, "'%s' is not a job id (a positive integer, see `nas jobs`)", text);
    *out = v;
    return 0;
}

int nas_query_parse_latency_axis(const char *text, int *batch, nas_err *err) {
    static const char prefix[] = "latency";
    if (strncmp(text, prefix, sizeof prefix - 1) != 0) goto bad;
    const char *rest = text + sizeof prefix - 1;
    if (*rest == '\0') {
        *batch = 0;
        return 0;
    }
    if (*rest != '@') goto bad;
    char *end = NULL;
    errno = 0;
    long v = strtol(rest + 1, &end, 10);
    if (end == rest + 1 || *end != '\0' || errno == ERANGE || v < 1 || v > 65536) goto bad;
    *batch = (int)v;
    return 0;
bad:
    return nas_err_set(err, NAS_EINVAL,
                       "--x '%s' is not supported: use latency or latency@BATCH (batch 1..65536)", text);
}

/* Shortest decimal form that reads back to exactly v. */
static void format_double_exact(double v, char *buf, size_t cap) {
    for (int digits = 6; digits <= 17; digits++) {
        snprintf(buf, cap, "%.*g", digits, v);
        if (strtod(buf, NULL) == v) break;
    }
    /* "1" would read back as an integer in YAML; keep it visibly a float. */
    if (!strpbrk(buf, ".eEn")) strncat(buf, ".0", cap - strlen(buf) - 1);
}

int nas_query_write_arch_yaml(FILE *out, const nas_arch *arch, const char *header_comment, nas_err *err) {
    if (header_comment) {
        fputs("# ", out);
        for (const char *c = header_comment; *c; c++) {
            fputc(*c, out);
            if (*c == '\n' && c[1]) fputs("# ", out);
        }
        if (header_comment[0] && header_comment[strlen(header_comment) - 1] != '\n') fputc('\n', out);
    }
    char bn_eps[40], dropout[40], ratio[40];
    format_double_exact(arch->bn_eps, bn_eps, sizeof bn_eps);
    format_double_exact(arch->dropout, dropout, sizeof dropout);
    fprintf(out, "resolution: %d\nin_channels: %d\nclasses: %d\nbn_eps: %s\ndropout: %s\nstages:\n",
            arch->resolution, arch->in_channels, arch->classes, bn_eps, dropout);
    for (int i = 0; i < arch->n_stages; i++) {
        const nas_stage *s = &arch->stages[i];
        format_double_exact(s->ratio, ratio, sizeof ratio);
        fprintf(out,
                "  - {kind: %s, depth: %d, width: %d, stride: %d, kernel: %d, ratio: %s, act: %s, se: %s, "
                "pad: %s}\n",
                nas_block_kind_name(s->kind), s->depth, s->width, s->stride, s->kernel, ratio,
                nas_act_name(s->act), s->se ? "true" : "false", nas_pad_name(s->pad));
    }
    if (fflush(out) != 0 || ferror(out))
        return nas_err_set(err, NAS_EIO, "could not write the YAML model (disk full or pipe closed?)");
    return 0;
}

int nas_query_config_tiers(const char *config_yaml, nas_query_tier *out, int max, int *n, nas_err *err) {
    *n = 0;
    if (!config_yaml || !*config_yaml) return 0;
    nas_cfg *cfg = NULL;
    int rc = nas_cfg_load_string(config_yaml, strlen(config_yaml), "stored experiment", &cfg, err);
    if (rc) return rc;
    const nas_cfg_node *seq = cfg->root ? nas_cfg_get(cfg->root, "latency") : NULL;
    if (seq && (rc = nas_cfg_expect(cfg, seq, NAS_CFG_SEQ, "latency", err)) == 0) {
        for (size_t i = 0; i < seq->n && *n < max && !rc; i++) {
            const nas_cfg_node *t = seq->items[i];
            nas_query_tier tier = {.batch = 1};
            long batch = 1;
            const char *precision = "fp16";
            if ((rc = nas_cfg_expect(cfg, t, NAS_CFG_MAP, "latency tier", err)) ||
                (rc = nas_cfg_get_double(cfg, t, "ms", true, 0, 1e-9, 1e9, &tier.ms, err)) ||
                (rc = nas_cfg_get_int(cfg, t, "batch", false, 1, 1, 65536, &batch, err)) ||
                (rc = nas_cfg_get_string(cfg, t, "precision", false, "fp16", &precision, err)))
                break;
            tier.batch = (int)batch;
            snprintf(tier.precision, sizeof tier.precision, "%s", precision);
            out[(*n)++] = tier;
        }
    }
    nas_cfg_free(&cfg);
    return rc;
}
