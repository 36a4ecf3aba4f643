/*
 * cli/cmd_bench_search.c - `nas bench-search`: strategies on analytic functions.
 *
 * Runs each strategy for --seeds seeds (seed = --seed + i) on one function
 * and prints, per strategy, the median and quartiles over seeds of the best f
 * after N/4, N/2 and N evaluations, and the milliseconds per proposal (mean
 * over the run, and over the last 10% of proposals, i.e. near N observations).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "common/cfg.h"
#include "search/bench.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: nas bench-search --func ackley|levy|rosenbrock|rastrigin --dims D --budget N\n"
            "                        --strategy S[,S2...] --seeds K [--workers W] [--seed S0]\n"
            "                        [--options YAML]\n"
            "  Strategies: random, evolution, bo, lamcts-bo (vector level; llr is NAS-only).\n"
            "  --workers W   W proposals outstanding (asynchronous workers); default 1\n"
            "  --seed S0     first seed (default 1); seeds S0..S0+K-1\n"
            "  --options Y   YAML map from strategy name to its options, e.g.\n"
            "                '{lamcts-bo: {cp: 0.5, leaf_size: 10}}' (default: every default)\n"
            "Prints median [q1, q3] over seeds of the best f after N/4, N/2, N evaluations\n"
            "and ms per proposal, process CPU time and wall time (mean over all proposals;\n"
            "mean over the last 10%%, i.e. with about N observations).\n");
}

static int parse_int(const char *s, const char *what, long lo, long hi, long *out) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || !end || *end || v < lo || v > hi) {
        fprintf(stderr, "nas bench-search: %s must be an integer in %ld..%ld, not '%s'\n", what, lo,
                hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Quantile with linear interpolation (numpy's default), v sorted. */
static double quantile(const double *v, int n, double q) {
    double pos = q * (n - 1);
    int lo = (int)pos;
    if (lo >= n - 1) return v[n - 1];
    return v[lo] + (pos - lo) * (v[lo + 1] - v[lo]);
}

static void print_stat(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    char cell[64];
    snprintf(cell, sizeof cell, "%.3g [%.3g, %.3g]", quantile(v, n, 0.5), quantile(v, n, 0.25),
             quantile(v, n, 0.75));
    printf(" %-26s", cell);
}

int nas_cmd_bench_search(int argc, char **argv) {
    static const struct option longopts[] = {
        {"func", required_argument, NULL, 'f'},   {"dims", required_argument, NULL, 'd'},
        {"budget", required_argument, NULL, 'n'}, {"strategy", required_argument, NULL, 's'},
        {"seeds", required_argument, NULL, 'k'},  {"workers", required_argument, NULL, 'w'},
        {"seed", required_argument, NULL, 'S'},   {"options", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    const char *func = NULL, *strategies = NULL, *options_yaml = NULL;
    long dims = 0, budget = 0, seeds = 0, workers = 1, seed0 = 1;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': func = optarg; break;
        case 's': strategies = optarg; break;
        case 'o': options_yaml = optarg; break;
        case 'd': if (parse_int(optarg, "--dims", 1, 256, &dims)) return 2; break;
        case 'n': if (parse_int(optarg, "--budget", 1, 100000, &budget)) return 2; break;
        case 'k': if (parse_int(optarg, "--seeds", 1, 10000, &seeds)) return 2; break;
        case 'w': if (parse_int(optarg, "--workers", 1, 10000, &workers)) return 2; break;
        case 'S': if (parse_int(optarg, "--seed", 0, 1L << 40, &seed0)) return 2; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!func || !strategies || !dims || !budget || !seeds || optind != argc) {
        usage(stderr);
        return 2;
    }
    const nas_testfunc *tf = nas_testfunc_find(func);
    if (!tf) {
        fprintf(stderr, "nas bench-search: unknown function '%s' (ackley, levy, rosenbrock, rastrigin)\n",
                func);
        return 2;
    }
    nas_err err = {0};
    nas_cfg *cfg = NULL;
    if (options_yaml) {
        if (nas_cfg_load_string(options_yaml, strlen(options_yaml), "--options", &cfg, &err) ||
            (cfg->root && nas_cfg_expect(cfg, cfg->root, NAS_CFG_MAP, "--options", &err))) {
            fprintf(stderr, "nas bench-search: %s\n", err.msg);
            nas_cfg_free(&cfg);
            return 2;
        }
    }
    /* the strategy names, split once: NULL-terminated for nas_cfg_check_keys */
    size_t n_names = 1;
    for (const char *c = strategies; *c; c++) n_names += *c == ',';
    char *list = strdup(strategies);
    const char **names = malloc(sizeof *names * (n_names + 1));
    double *q = malloc(sizeof(double) * (size_t)seeds * 5);
    if (!list || !names || !q) {
        fprintf(stderr, "nas bench-search: out of memory\n");
        free(list), free(names), free(q), nas_cfg_free(&cfg);
        return 1;
    }
    n_names = 0;
    for (char *save = NULL, *name = strtok_r(list, ",", &save); name;
         name = strtok_r(NULL, ",", &save))
        names[n_names++] = name;
    names[n_names] = NULL;
    /* every top-level key of --options must name a strategy being run: options
     * written without the strategy's name around them (a common slip) would
     * otherwise be ignored and the run would silently use the defaults */
    if (cfg && cfg->root && nas_cfg_check_keys(cfg, cfg->root, names, "--options", &err)) {
        fprintf(stderr,
                "nas bench-search: %s\n  (--options maps each strategy of --strategy to its "
                "options, e.g. '{lamcts-bo: {leaf_size: 10}}')\n",
                err.msg);
        free(list), free(names), free(q), nas_cfg_free(&cfg);
        return 2;
    }
    printf("function %s, %ld dims, budget %ld, %ld seeds (%ld..%ld), %ld worker%s\n", func, dims,
           budget, seeds, seed0, seed0 + seeds - 1, workers, workers == 1 ? "" : "s");
    char h1[32], h2[32], h3[32];
    snprintf(h1, sizeof h1, "best f @%ld", (budget + 3) / 4);
    snprintf(h2, sizeof h2, "best f @%ld", (budget + 1) / 2);
    snprintf(h3, sizeof h3, "best f @%ld", budget);
    printf("%-10s %-26s %-26s %-26s %s\n", "strategy", h1, h2, h3,
           "ms/proposal (mean; last 10%)");
    int status = 0;
    for (size_t i = 0; i < n_names; i++) {
        const char *name = names[i];
        const nas_cfg_node *opts = cfg && cfg->root ? nas_cfg_get(cfg->root, name) : NULL;
        double ms = 0, ms_last = 0, cpu = 0, cpu_last = 0;
        int k;
        for (k = 0; k < seeds; k++) {
            nas_bench_result r = {0};
            if (nas_bench_run(name, tf, (int)dims, (int)budget, (int)workers,
                              (uint64_t)(seed0 + k), cfg, opts, &r, &err)) {
                fprintf(stderr, "nas bench-search: %s (seed %ld): %s\n", name, seed0 + k, err.msg);
                status = 1;
                break;
            }
            q[k] = r.best_quarter;
            q[seeds + k] = r.best_half;
            q[2 * seeds + k] = r.best_final;
            ms += r.ms_per_proposal;
            ms_last += r.ms_per_proposal_last;
            cpu += r.cpu_ms_per_proposal;
            cpu_last += r.cpu_ms_per_proposal_last;
        }
        if (k < seeds) break;
        printf("%-10s", name);
        for (int col = 0; col < 3; col++) print_stat(q + (size_t)col * (size_t)seeds, (int)seeds);
        printf(" cpu %.2f; %.2f  wall %.2f; %.2f\n", cpu / seeds, cpu_last / seeds, ms / seeds,
               ms_last / seeds);
        fflush(stdout);
    }
    free(list);
    free(names);
    free(q);
    nas_cfg_free(&cfg);
    return status;
}
