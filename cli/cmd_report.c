/*
 * cli/cmd_report.c - `nas report`: argument handling for the HTML report.
 *
 * The page itself is cli/report.c's; this file opens the store read-only,
 * writes the page to OUT.tmp and renames it over OUT, so a browser
 * refreshing the file while nasd runs never sees half a report.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/query.h"
#include "cli/report.h"
#include "common/util.h"

static void report_usage(FILE *out) {
    fputs("usage: nas report --db results.db --out report.html [options]\n"
          "\n"
          "Writes one self-contained HTML page (inline SVG charts, no scripts, nothing\n"
          "fetched) about an experiment: top-1 against latency with the Pareto front and\n"
          "the latency tiers, best top-1 so far over evaluations and over time, worker\n"
          "utilisation, the best model per tier, the front and failures by reason.\n"
          "Results of the sim evaluator are marked `sim`. Safe while nasd runs.\n"
          "\n"
          "options:\n"
          "  --db FILE            the store nasd writes (required)\n"
          "  --out FILE           the HTML file to write (required)\n"
          "  --experiment NAME    which experiment (default: the most recent)\n"
          "  --x latency@BATCH    latency axis batch size (default: the first tier's,\n"
          "                       else the batch measured most often)\n"
          "  --precision P        latency precision (fp16, fp32, ...; default as above)\n"
          "  -h, --help           this text\n",
          out);
}

int nas_cmd_report(int argc, char **argv) {
    nas_query_target target = {0};
    nas_report_opts opts = {0};
    const char *out_path = NULL;
    nas_err err = {0};
    for (int i = 1; i < argc; i++) {
        int consumed = nas_query_parse_target(argc, argv, &i, &target);
        if (consumed == 1) continue;
        if (consumed < 0) {
            fprintf(stderr, "nas report: %s needs a value\n", argv[i]);
            return 2;
        }
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            report_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
            out_path = argv[++i];
        } else if (strcmp(argv[i], "--precision") == 0 && i + 1 < argc) {
            opts.precision = argv[++i];
        } else if (strcmp(argv[i], "--x") == 0 && i + 1 < argc) {
            if (nas_query_parse_latency_axis(argv[++i], &opts.batch, &err) != 0) {
                fprintf(stderr, "nas report: %s\n", err.msg);
                return 2;
            }
        } else {
            fprintf(stderr, "nas report: unknown or incomplete option '%s'\n\n", argv[i]);
            report_usage(stderr);
            return 2;
        }
    }
    if (!target.db_path || !out_path) {
        fprintf(stderr, "nas report: --db and --out are required\n\n");
        report_usage(stderr);
        return 2;
    }

    nas_store *store = NULL;
    nas_store_experiment exp;
    if (nas_query_open(&target, &store, &exp, &err) != 0) {
        fprintf(stderr, "nas report: %s\n", err.msg);
        return 1;
    }
    nas_sb tmp_name = {0};
    nas_sb_printf(&tmp_name, "%s.tmp", out_path);
    char *tmp_path = nas_sb_take(&tmp_name);
    int status = 1;
    FILE *out = tmp_path ? fopen(tmp_path, "w") : NULL;
    if (out == NULL) {
        fprintf(stderr, "nas report: cannot write %s: %s\n", tmp_path ? tmp_path : out_path,
                tmp_path ? strerror(errno) : "out of memory");
    } else {
        opts.source = target.db_path;
        opts.generated_at = nas_now_wall();
        int rc = nas_report_write_html(store, &exp, &opts, out, &err);
        if (fclose(out) != 0 && rc == 0) rc = nas_err_set(&err, NAS_EIO, "writing %s failed", tmp_path);
        if (rc == 0 && rename(tmp_path, out_path) != 0)
            rc = nas_err_set(&err, NAS_EIO, "cannot rename %s to %s: %s", tmp_path, out_path, strerror(errno));
        if (rc != 0) {
            fprintf(stderr, "nas report: %s\n", err.msg);
            remove(tmp_path);
        } else {
            printf("wrote %s (experiment %s)\n", out_path, exp.name);
            status = 0;
        }
    }
    free(tmp_path);
    nas_store_experiment_release(&exp);
    nas_store_close(&store);
    return status;
}
