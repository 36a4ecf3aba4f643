/*
 * cli/stubs.c - TEMPORARY weak definitions of subcommands not built yet.
 *
 * Each prints that the command is not implemented and fails. A cmd_*.c file
 * that defines the real function overrides the weak one at link time. This
 * file is deleted once every command exists.
 */
#include <stdio.h>

#include "cli/commands.h"

#define NAS_STUB(fn, what)                                                                      \
    __attribute__((weak)) int fn(int argc, char **argv) {                                      \
        (void)argc;                                                                             \
        fprintf(stderr, "nas %s: not implemented yet in this build\n", what);                   \
        (void)argv;                                                                             \
        return 1;                                                                               \
    }

NAS_STUB(nas_cmd_model, "model")
NAS_STUB(nas_cmd_train, "train")
NAS_STUB(nas_cmd_latency, "latency")
NAS_STUB(nas_cmd_run, "run")
NAS_STUB(nas_cmd_status, "status")
NAS_STUB(nas_cmd_jobs, "jobs")
NAS_STUB(nas_cmd_show, "show")
NAS_STUB(nas_cmd_pareto, "pareto")
NAS_STUB(nas_cmd_export, "export")
NAS_STUB(nas_cmd_keygen, "keygen")
NAS_STUB(nas_cmd_bench_search, "bench-search")
NAS_STUB(nas_cmd_report, "report")
