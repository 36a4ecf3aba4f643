/*
 * tests/test_report.c - `nas report` on a store filled through the writer API.
 *
 * The fixture is an experiment of 240 trained results (a third of them from
 * the sim evaluator) from six workers over three hours, 30 latency-only
 * measurements over budget, failures with a reason that needs HTML escaping,
 * and two latency tiers. The test computes the Pareto front and the best
 * model per tier itself, by brute force over the fixture's own arrays, and
 * checks that the page lists exactly those; then it checks that the page is
 * self-contained, marks sim results, escapes text, and that the command
 * writes the file atomically and reports bad arguments.
 *
 * NAS_REPORT_KEEP=FILE keeps the fixture's page (used to look at it in a
 * browser: chromium --headless --screenshot ...).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/report.h"
#include "common/rng.h"
#include "common/util.h"
#include "store/store.h"

enum { TRAINED = 240, INFEASIBLE = 30, FAILED = 5, WORKERS = 6 };

typedef struct fixture {
    char dir[64], db[96];
    int64_t job[TRAINED];
    double top1[TRAINED], latency[TRAINED];
    bool sim[TRAINED];
} fixture;

static const char experiment_yaml[] =
    "name: report-fixture\n"
    "space: mini\n"
    "budget: {evaluations: 300}\n"
    "latency:\n"
    "  - {ms: 1.5, batch: 1, precision: fp16}\n"
    "  - {ms: 3.0, batch: 1, precision: fp16}\n";

static int64_t add_job(nas_store *store, int64_t experiment, nas_store_kind kind, int i) {
    char arch[64];
    snprintf(arch, sizeof arch, "{\"fixture\":%d}", i);
    nas_store_job job = {.experiment = experiment, .kind = kind, .arch_json = arch,
                         .recipe_json = "{}", .max_attempts = 3};
    snprintf(job.arch_hash, sizeof job.arch_hash, "%016llx", (unsigned long long)nas_mix64((uint64_t)i));
    int64_t id = 0;
    nas_err err = {0};
    if (nas_store_job_insert(store, &job, &id, &err) != 0) fail_msg("%s", err.msg);
    return id;
}

/* all_on_front: top-1 rises with latency, so every trained result is on the front. */
static void build_fixture(fixture *f, bool all_on_front) {
    snprintf(f->dir, sizeof f->dir, "/tmp/test_report.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof f->db, "%s/results.db", f->dir);
    nas_store *store = NULL;
    nas_err err = {0};
    if (nas_store_open(f->db, &store, &err) != 0) fail_msg("%s", err.msg);
    nas_store_experiment e = {.name = "report-fixture", .config_yaml = (char *)experiment_yaml,
                              .space = "mini", .strategy = "lamcts", .state = "running",
                              .budget_evaluations = 300};
    int64_t experiment = 0;
    bool created = false;
    assert_int_equal(nas_store_experiment_upsert(store, &e, &experiment, &created, &err), 0);
    char names[WORKERS][16];
    for (int w = 0; w < WORKERS; w++) {
        snprintf(names[w], sizeof names[w], "node%d-gpu%d", w / 2, w % 2);
        assert_int_equal(nas_store_worker_seen(store, names[w], "node", "NVIDIA A100-SXM4-80GB",
                                               "cuda", "0.1.0", "connected", &err), 0);
    }

    nas_rng rng;
    nas_rng_seed(&rng, 7);
    assert_int_equal(nas_store_begin(store, &err), 0);
    for (int i = 0; i < TRAINED; i++) {
        f->job[i] = add_job(store, experiment, NAS_STORE_TRAIN, i);
        f->latency[i] = 0.4 + 4.6 * nas_rng_uniform(&rng);
        f->top1[i] = 0.55 + 0.3 * (1 - exp(-f->latency[i])) - 0.08 * nas_rng_uniform(&rng);
        if (all_on_front) f->top1[i] = 0.5 + 0.05 * f->latency[i];
        f->sim[i] = i % 3 == 0;
        nas_store_result r = {.job = f->job[i], .attempt = 1, .worker = names[i % WORKERS],
                              .has_accuracy = true, .top1 = f->top1[i], .top5 = f->top1[i] + 0.1,
                              .loss = 1.0, .params = 1000000 + i, .macs = 300000000 + i,
                              .train_seconds = 30 + 20 * nas_rng_uniform(&rng),
                              .device = "NVIDIA A100-SXM4-80GB", .simulated = f->sim[i], .n_latency = 1};
        r.latency[0] = (nas_store_latency){.batch = 1, .precision = "fp16", .mean_ms = f->latency[i],
                                           .p50_ms = f->latency[i], .p90_ms = f->latency[i] * 1.1};
        bool inserted = false;
        if (nas_store_result_insert(store, &r, NAS_JOB_DONE, &inserted, &err) != 0) fail_msg("%s", err.msg);
        assert_true(inserted);
    }
    for (int i = 0; i < INFEASIBLE; i++) {
        int64_t id = add_job(store, experiment, NAS_STORE_MEASURE, TRAINED + i);
        nas_store_result r = {.job = id, .attempt = 1, .worker = names[i % WORKERS],
                              .train_seconds = 2, .device = "NVIDIA A100-SXM4-80GB", .n_latency = 1};
        r.latency[0] = (nas_store_latency){.batch = 1, .precision = "fp16", .mean_ms = 6 + i * 0.1};
        bool inserted = false;
        assert_int_equal(nas_store_result_insert(store, &r, NAS_JOB_INFEASIBLE, &inserted, &err), 0);
    }
    for (int i = 0; i < FAILED; i++) {
        int64_t id = add_job(store, experiment, NAS_STORE_TRAIN, TRAINED + INFEASIBLE + i);
        assert_int_equal(nas_store_job_finish(store, id, NAS_JOB_FAILED,
                                              i < 3 ? "CUDA out of memory <oom & crash>" : "lease expired",
                                              &err), 0);
    }
    assert_int_equal(nas_store_commit(store, &err), 0);
    /* The writer stamps results with the clock; spread them over three hours
     * (one every 45 s) as a real run would, so the time charts have a shape. */
    char *sql = sqlite3_mprintf("UPDATE results SET created_at = created_at - 10800 + "
                                "(job - (SELECT min(job) FROM results)) * 45");
    assert_int_equal(sqlite3_exec(nas_store_db(store), sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_free(sql);
    nas_store_close(&store);
}

static void remove_fixture(fixture *f) {
    char command[160];
    snprintf(command, sizeof command, "rm -rf '%s'", f->dir);
    assert_int_equal(system(command), 0);
}

static char *render(const fixture *f, const nas_report_opts *opts, bool keep_copy) {
    nas_store *store = NULL;
    nas_err err = {0};
    if (nas_store_open_readonly(f->db, &store, &err) != 0) fail_msg("%s", err.msg);
    nas_store_experiment exp;
    assert_int_equal(nas_store_experiment_find(store, NULL, &exp, &err), 0);
    char *html = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&html, &size);
    assert_non_null(out);
    int rc = nas_report_write_html(store, &exp, opts, out, &err);
    fclose(out);
    if (rc != 0) fail_msg("%s", err.msg);
    nas_store_experiment_release(&exp);
    nas_store_close(&store);
    const char *keep = getenv("NAS_REPORT_KEEP");
    if (keep_copy && keep && *keep) {
        FILE *copy = fopen(keep, "w");
        if (copy) {
            fputs(html, copy);
            fclose(copy);
        }
    }
    return html;
}

static int count_occurrences(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

/* Job ids of the rows of the table that follows `heading`, in order. */
static int table_job_ids(const char *html, const char *heading, int64_t *ids, int cap) {
    const char *start = strstr(html, heading);
    assert_non_null(start);
    const char *end = strstr(start, "</table>");
    assert_non_null(end);
    int n = 0;
    for (const char *p = strstr(start, "<tr><td>"); p && p < end; p = strstr(p + 1, "<tr><td>")) {
        const char *cell = p + strlen("<tr><td>");
        if (strncmp(cell, "&#8804;", 7) == 0) { /* tier tables start with the tier */
            cell = strstr(cell, "</td><td>");
            if (!cell || cell > end) break;
            cell += strlen("</td><td>");
        }
        char *after;
        long long id = strtoll(cell, &after, 10);
        if (after == cell) id = -1; /* "no trained model" */
        assert_true(n < cap);
        ids[n++] = id;
    }
    return n;
}

static void test_front_and_tiers_match_brute_force(void **state) {
    (void)state;
    static fixture f;
    build_fixture(&f, false);
    nas_report_opts opts = {.source = f.db, .generated_at = nas_now_wall()};
    char *html = render(&f, &opts, true);

    /* The front by brute force: not dominated by any other point. */
    int64_t expected[TRAINED];
    double expected_latency[TRAINED];
    int n_expected = 0;
    for (int i = 0; i < TRAINED; i++) {
        bool dominated = false;
        for (int j = 0; j < TRAINED && !dominated; j++)
            dominated = j != i && f.latency[j] <= f.latency[i] && f.top1[j] >= f.top1[i] &&
                        (f.latency[j] < f.latency[i] || f.top1[j] > f.top1[i]);
        if (!dominated) {
            int at = n_expected++;
            while (at > 0 && expected_latency[at - 1] > f.latency[i]) { /* insertion by latency */
                expected[at] = expected[at - 1];
                expected_latency[at] = expected_latency[at - 1];
                at--;
            }
            expected[at] = f.job[i];
            expected_latency[at] = f.latency[i];
        }
    }
    assert_true(n_expected >= 3);
    int64_t listed[TRAINED];
    int n_listed = table_job_ids(html, "<h2>Pareto front</h2>", listed, TRAINED);
    assert_int_equal(n_listed, n_expected);
    for (int i = 0; i < n_expected; i++) assert_int_equal(listed[i], expected[i]);

    /* Best per tier: highest top-1 with latency within the bound. */
    const double tiers[2] = {1.5, 3.0};
    int64_t tier_listed[4];
    assert_int_equal(table_job_ids(html, "Best model per latency tier", tier_listed, 4), 2);
    for (int t = 0; t < 2; t++) {
        int best = -1;
        for (int i = 0; i < TRAINED; i++)
            if (f.latency[i] <= tiers[t] && (best < 0 || f.top1[i] > f.top1[best])) best = i;
        assert_true(best >= 0);
        assert_int_equal(tier_listed[t], f.job[best]);
    }

    /* Charts: front, two best-so-far, busy workers, utilisation. */
    assert_int_equal(count_occurrences(html, "<svg class=\"chart\""), 5);
    assert_non_null(strstr(html, "240 trained results"));
    assert_non_null(strstr(html, "latency (ms, batch 1, fp16)"));
    assert_non_null(strstr(html, "6 workers, mean utilisation"));
    assert_non_null(strstr(html, "node2-gpu1"));
    /* sim results: banner, hollow points and tags. */
    assert_non_null(strstr(html, "<b>Simulated results.</b> 80 of the 240 evaluations"));
    assert_true(count_occurrences(html, "class=\"pt-sim\"") > 10);
    assert_true(count_occurrences(html, "class=\"pt-real\"") > 10);
    /* Failure reasons are escaped. */
    assert_non_null(strstr(html, "CUDA out of memory &lt;oom &amp; crash&gt;</td><td>3</td>"));
    assert_null(strstr(html, "<oom"));
    /* Self-contained: no scripts, nothing fetched. */
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "src="));
    assert_null(strstr(html, "href="));
    assert_int_equal(count_occurrences(html, "http"), count_occurrences(html, "http://www.w3.org/2000/svg"));
    assert_non_null(strstr(html, "</html>\n"));
    free(html);

    /* Another latency axis that has no measurements: a note, no points. */
    opts.batch = 64;
    opts.precision = "fp32";
    html = render(&f, &opts, false);
    assert_non_null(strstr(html, "No trained result has a latency at batch 64, fp32 yet."));
    assert_int_equal(count_occurrences(html, "class=\"pt-real\""), 1); /* the legend's swatch */
    free(html);
    remove_fixture(&f);
}

/* A front longer than the table's cap: evenly spread rows, fastest and most
 * accurate included, and a note saying so. */
static void test_long_front_is_sampled_in_the_table(void **state) {
    (void)state;
    static fixture f;
    build_fixture(&f, true);
    nas_report_opts opts = {.generated_at = nas_now_wall()};
    char *html = render(&f, &opts, false);
    assert_non_null(strstr(html, "240 trained results, 240 on the Pareto front"));
    assert_non_null(strstr(html, "40 of the 240 front points"));
    int64_t listed[TRAINED];
    int n = table_job_ids(html, "<h2>Pareto front</h2>", listed, TRAINED);
    assert_int_equal(n, 40);
    int fastest = 0, slowest = 0;
    for (int i = 1; i < TRAINED; i++) {
        if (f.latency[i] < f.latency[fastest]) fastest = i;
        if (f.latency[i] > f.latency[slowest]) slowest = i;
    }
    assert_int_equal(listed[0], f.job[fastest]);
    assert_int_equal(listed[39], f.job[slowest]);
    for (int i = 1; i < n; i++) assert_true(listed[i] != listed[i - 1]);
    free(html);
    remove_fixture(&f);
}

static void test_empty_experiment_renders(void **state) {
    (void)state;
    static fixture f;
    snprintf(f.dir, sizeof f.dir, "/tmp/test_report.XXXXXX");
    assert_non_null(mkdtemp(f.dir));
    snprintf(f.db, sizeof f.db, "%s/results.db", f.dir);
    nas_store *store = NULL;
    nas_err err = {0};
    assert_int_equal(nas_store_open(f.db, &store, &err), 0);
    nas_store_experiment e = {.name = "empty", .config_yaml = "name: empty\n", .space = "mini",
                              .strategy = "random", .state = "running"};
    int64_t id;
    bool created;
    assert_int_equal(nas_store_experiment_upsert(store, &e, &id, &created, &err), 0);
    nas_store_close(&store);
    nas_report_opts opts = {.generated_at = nas_now_wall()};
    char *html = render(&f, &opts, false);
    assert_non_null(strstr(html, "gpunas report: empty"));
    assert_non_null(strstr(html, "No trained result has a latency"));
    assert_non_null(strstr(html, "defines no latency tiers"));
    assert_non_null(strstr(html, "No job durations recorded yet"));
    assert_null(strstr(html, "Simulated results"));
    free(html);
    remove_fixture(&f);
}

static void test_command_writes_atomically_and_checks_arguments(void **state) {
    (void)state;
    static fixture f;
    build_fixture(&f, false);
    char out[128], tmp[140];
    snprintf(out, sizeof out, "%s/report.html", f.dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    char *ok_argv[] = {"report", "--db", f.db, "--out", out, "--x", "latency@1", NULL};
    assert_int_equal(nas_cmd_report(7, ok_argv), 0);
    assert_int_equal(access(out, R_OK), 0);
    assert_int_not_equal(access(tmp, F_OK), 0);

    char *no_out[] = {"report", "--db", f.db, NULL};
    assert_int_equal(nas_cmd_report(3, no_out), 2);
    char *bad_axis[] = {"report", "--db", f.db, "--out", out, "--x", "speed", NULL};
    assert_int_equal(nas_cmd_report(7, bad_axis), 2);
    char missing_db[128];
    snprintf(missing_db, sizeof missing_db, "%s/nothing.db", f.dir);
    char *no_db[] = {"report", "--db", missing_db, "--out", out, NULL};
    assert_int_equal(nas_cmd_report(5, no_db), 1);
    char *no_experiment[] = {"report", "--db", f.db, "--out", out, "--experiment", "other", NULL};
    assert_int_equal(nas_cmd_report(7, no_experiment), 1);
    char unwritable[160];
    snprintf(unwritable, sizeof unwritable, "%s/no/such/dir/report.html", f.dir);
    char *bad_out[] = {"report", "--db", f.db, "--out", unwritable, NULL};
    assert_int_equal(nas_cmd_report(5, bad_out), 1);
    remove_fixture(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_front_and_tiers_match_brute_force),
        cmocka_unit_test(test_long_front_is_sampled_in_the_table),
        cmocka_unit_test(test_empty_experiment_renders),
        cmocka_unit_test(test_command_writes_atomically_and_checks_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
