/*
 * cli/main.c - `nas`, the user's command: dispatches to subcommands.
 *
 * The table below is the single list of subcommands; `nas --help` prints it.
 */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "common/util.h"

typedef struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} subcommand;

static const subcommand subcommands[] = {
    {"run", nas_cmd_run, "run an experiment on this machine: nasd plus N local workers"},
    {"status", nas_cmd_status, "progress of an experiment: jobs, workers, best so far"},
    {"jobs", nas_cmd_jobs, "list jobs, optionally by state"},
    {"show", nas_cmd_show, "one job: architecture, attempts, result"},
    {"pareto", nas_cmd_pareto, "Pareto front of accuracy against latency (table, csv, json, svg)"},
    {"export", nas_cmd_export, "write a job's architecture as json, yaml or pytorch"},
    {"report", nas_cmd_report, "self-contained HTML report of an experiment"},
    {"model", nas_cmd_model, "model info: per-layer parameters, MACs and shapes"},
    {"train", nas_cmd_train, "train a model on a data set with the native trainer"},
    {"latency", nas_cmd_latency, "measure inference latency of a model"},
    {"keygen", nas_cmd_keygen, "create CURVE certificates for nasd and workers"},
    {"bench-search", nas_cmd_bench_search, "benchmark search strategies on test functions"},
};

static void usage(FILE *out) {
    fprintf(out,
            "usage: nas <command> [options]   (nas <command> --help for details)\n\n"
            "gpunas %s - distributed search for GPU-efficient networks\n\ncommands:\n",
            NAS_VERSION);
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        fprintf(out, "  %-14s %s\n", subcommands[i].name, subcommands[i].summary);
}

int main(int argc, char **argv) {
    nas_omp_passive_reexec(argv);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("gpunas %s\n", NAS_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        if (strcmp(argv[1], subcommands[i].name) == 0) return subcommands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "nas: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
