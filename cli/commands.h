/*
 * cli/commands.h - the subcommands of `nas`, one function each.
 *
 * Each group lives in its own file (cmd_<group>.c). A command parses its own
 * arguments (argv[0] is the subcommand name), prints its own --help, and
 * returns the process exit status: 0 success, 1 failure, 2 usage error.
 */
#ifndef NAS_CLI_COMMANDS_H
#define NAS_CLI_COMMANDS_H

int nas_cmd_model(int argc, char **argv);        /* cmd_model.c: model info */
int nas_cmd_train(int argc, char **argv);        /* cmd_train.c */
int nas_cmd_latency(int argc, char **argv);      /* cmd_train.c */
int nas_cmd_run(int argc, char **argv);          /* cmd_run.c: nasd + local workers */
int nas_cmd_status(int argc, char **argv);       /* cmd_query.c */
int nas_cmd_jobs(int argc, char **argv);         /* cmd_query.c */
int nas_cmd_show(int argc, char **argv);         /* cmd_query.c */
int nas_cmd_pareto(int argc, char **argv);       /* cmd_query.c */
int nas_cmd_export(int argc, char **argv);       /* cmd_query.c */
int nas_cmd_keygen(int argc, char **argv);       /* cmd_keygen.c */
int nas_cmd_bench_search(int argc, char **argv); /* cmd_bench_search.c */
int nas_cmd_report(int argc, char **argv);       /* cmd_report.c */

#endif
