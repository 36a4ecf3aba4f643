/*
 * cli/cmd_run.c - `nas run`: the whole system on one machine.
 *
 * Starts nasd on a free loopback port and N nas-worker processes connected
 * to it, as real processes (the same binaries a cluster runs), forwards
 * Ctrl-C / SIGTERM to them, and returns when nasd does: when the budget is
 * spent nasd tells the workers to exit; stragglers are terminated. The
 * experiment can be resumed by running the same command again.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "common/cfg.h"
#include "common/util.h"

#define MAX_LOCAL_WORKERS 256

static volatile sig_atomic_t run_stop_signal = 0;

static void run_on_signal(int sig) { run_stop_signal = sig; }

static void run_usage(FILE *out) {
    fprintf(out,
            "usage: nas run EXPERIMENT.yaml [--workers N] [--db FILE] [--backend sim|cpu|cuda]\n"
            "\n"
            "Runs an experiment on this machine: starts nasd on a free 127.0.0.1 port and N\n"
            "nas-worker processes, prints nasd's progress, and stops everything when the\n"
            "budget is spent. Run the same command again to resume a stopped experiment.\n"
            "\n"
            "options:\n"
            "  -w, --workers N        local workers (default 2; with cuda, one per GPU 0..N-1)\n"
            "  -d, --db FILE          SQLite store (default results.db)\n"
            "  -b, --backend NAME     sim, cpu or cuda (default: the experiment's backend,\n"
            "                         or sim; sim results are SIMULATED and shown as sim)\n"
            "      --log-level LEVEL  nasd's log level (workers log warnings only)\n"
            "  -h, --help             this text\n"
            "\n"
            "Then: nas status --db FILE, nas pareto --db FILE.\n");
}

/* Finds a sibling program: $ENV_NAME, next to this executable, in the
 * build tree (../server, ../worker), or on PATH. */
static char *find_program(const char *env_name, const char *name, const char *build_subdir) {
    const char *env = getenv(env_name);
    if (env && *env) return strdup(env);
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *dir = dirname(self);
        const char *candidates[] = {"%s/%s", "%s/../%s/%s"};
        for (int i = 0; i < 2; i++) {
            nas_sb sb = {0};
            if (i == 0) nas_sb_printf(&sb, candidates[0], dir, name);
            else nas_sb_printf(&sb, candidates[1], dir, build_subdir, name);
            char *path = nas_sb_take(&sb);
            if (path && access(path, X_OK) == 0) return path;
            free(path);
        }
    }
    return strdup(name); /* execvp searches PATH */
}

static pid_t spawn(char *const argv[]) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGINT, SIG_IGN); /* Ctrl-C reaches us; we decide how to stop the children */
        execvp(argv[0], argv);
        fprintf(stderr, "nas run: cannot start %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

static bool reap(pid_t pid, int *status, double timeout) {
    double end = nas_now_monotonic() + timeout;
    do {
        int st;
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) {
            if (status) *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            return true;
        }
        if (w < 0 && errno != EINTR) return true;
        struct timespec ts = {.tv_nsec = 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    } while (nas_now_monotonic() < end);
    return false;
}

/* The experiment's `backend` key, or "sim". */
static const char *experiment_backend(const char *path, char *buf, size_t size) {
    snprintf(buf, size, "sim");
    nas_cfg *cfg = NULL;
    nas_err err;
    if (nas_cfg_load_file(path, &cfg, &err) == 0) {
        const nas_cfg_node *b = nas_cfg_get(cfg->root, "backend");
        if (b && b->type == NAS_CFG_SCALAR && strcmp(b->scalar, "any") != 0) snprintf(buf, size, "%s", b->scalar);
        nas_cfg_free(&cfg);
    }
    return buf;
}

int nas_cmd_run(int argc, char **argv) {
    long n_workers = 2;
    const char *db = "results.db", *backend = NULL, *log_level = "info";
    static const struct option options[] = {{"workers", required_argument, NULL, 'w'},
                                            {"db", required_argument, NULL, 'd'},
                                            {"backend", required_argument, NULL, 'b'},
                                            {"log-level", required_argument, NULL, 'L'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    optind = 1;
    int opt;
    char *end;
    while ((opt = getopt_long(argc, argv, "w:d:b:h", options, NULL)) != -1) {
        switch (opt) {
        case 'w':
            n_workers = strtol(optarg, &end, 10);
            if (*end || n_workers < 1 || n_workers > MAX_LOCAL_WORKERS) {
                fprintf(stderr, "nas run: --workers takes 1 to %d, not '%s'\n", MAX_LOCAL_WORKERS, optarg);
                return 2;
            }
            break;
        case 'd': db = optarg; break;
        case 'b': backend = optarg; break;
        case 'L': log_level = optarg; break;
        case 'h': run_usage(stdout); return 0;
        default: run_usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "nas run: give exactly one experiment file\n\n");
        run_usage(stderr);
        return 2;
    }
    const char *experiment = argv[optind];
    if (access(experiment, R_OK) != 0) {
        fprintf(stderr, "nas run: cannot read %s: %s\n", experiment, strerror(errno));
        return 1;
    }
    char backend_buf[32];
    if (!backend) backend = experiment_backend(experiment, backend_buf, sizeof backend_buf);
    if (strcmp(backend, "sim") != 0 && strcmp(backend, "cpu") != 0 && strcmp(backend, "cuda") != 0) {
        fprintf(stderr, "nas run: --backend takes sim, cpu or cuda, not '%s'\n", backend);
        return 2;
    }

    char dir[] = "/tmp/nas-run-XXXXXX";
    if (!mkdtemp(dir)) {
        fprintf(stderr, "nas run: cannot create a temporary folder: %s\n", strerror(errno));
        return 1;
    }
    char endpoint_file[64];
    snprintf(endpoint_file, sizeof endpoint_file, "%s/endpoint", dir);
    char *nasd = find_program("NAS_NASD", "nasd", "server");
    char *worker = find_program("NAS_WORKER", "nas-worker", "worker");
    pid_t workers[MAX_LOCAL_WORKERS] = {0};
    int status = 1;
    if (!nasd || !worker) goto out;

    struct sigaction sa = {.sa_handler = run_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    char *nasd_argv[] = {nasd, "--config", (char *)experiment, "--db", (char *)db, "--bind", "tcp://127.0.0.1:*",
                         "--endpoint-file", endpoint_file, "--log-level", (char *)log_level, NULL};
    pid_t nasd_pid = spawn(nasd_argv);
    if (nasd_pid < 0) goto out;
    char endpoint[256] = "";
    double deadline = nas_now_monotonic() + 60;
    while (!endpoint[0]) {
        int st = 0;
        if (reap(nasd_pid, &st, 0)) {
            fprintf(stderr, "nas run: nasd exited (status %d) before it was ready\n", st);
            goto out;
        }
        FILE *f = fopen(endpoint_file, "r");
        if (f) {
            if (!fgets(endpoint, sizeof endpoint, f)) endpoint[0] = '\0';
            endpoint[strcspn(endpoint, "\n")] = '\0';
            fclose(f);
        }
        if (run_stop_signal || nas_now_monotonic() > deadline) {
            kill(nasd_pid, SIGTERM);
            reap(nasd_pid, NULL, 10);
            fprintf(stderr, "nas run: nasd did not start listening\n");
            goto out;
        }
        if (!endpoint[0]) {
            struct timespec ts = {.tv_nsec = 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    fprintf(stderr, "nas run: nasd listening on %s; starting %ld %s worker(s)%s\n", endpoint, n_workers, backend,
            strcmp(backend, "sim") == 0 ? " (SIMULATED results, shown as sim)" : "");
    for (long i = 0; i < n_workers; i++) {
        char gpu[16];
        snprintf(gpu, sizeof gpu, "%ld", i);
        char *wargv[] = {worker, "--connect", endpoint, "--backend", (char *)backend, "--log-level", "warn",
                         strcmp(backend, "cuda") == 0 ? "--gpu" : NULL, gpu, NULL};
        workers[i] = spawn(wargv);
    }
    /* wait for nasd: it exits when the budget is spent (0) or after our SIGTERM */
    bool forwarded = false;
    int nasd_status = 1;
    while (!reap(nasd_pid, &nasd_status, 0.2)) {
        if (run_stop_signal && !forwarded) {
            fprintf(stderr, "nas run: stopping (run the same command again to resume)\n");
            kill(nasd_pid, SIGTERM);
            for (long i = 0; i < n_workers; i++)
                if (workers[i] > 0) kill(workers[i], SIGTERM);
            forwarded = true;
        }
    }
    /* After a finished run the workers got a final Shutdown and exit by
     * themselves; otherwise (or if they linger) they are asked, all at once,
     * then killed. */
    double grace_end = nas_now_monotonic() + (nasd_status == 0 ? 10 : 1);
    for (int round = 0; round < 3; round++) {
        bool left = false;
        for (long i = 0; i < n_workers; i++) {
            if (workers[i] <= 0) continue;
            double wait = grace_end - nas_now_monotonic();
            if (reap(workers[i], NULL, wait > 0 ? wait : 0)) workers[i] = 0;
            else left = true;
        }
        if (!left) break;
        for (long i = 0; i < n_workers; i++)
            if (workers[i] > 0) kill(workers[i], round == 0 ? SIGTERM : SIGKILL);
        grace_end = nas_now_monotonic() + 10;
    }
    status = nasd_status == 0 ? 0 : 1;
    if (status == 0) fprintf(stderr, "nas run: done; results in %s (nas status --db %s)\n", db, db);
out:
    for (long i = 0; i < n_workers; i++)
        if (workers[i] > 0) {
            kill(workers[i], SIGKILL);
            reap(workers[i], NULL, 5);
        }
    unlink(endpoint_file);
    rmdir(dir);
    free(nasd);
    free(worker);
    return status;
}
