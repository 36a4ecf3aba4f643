/*
 * tests/test_query.c - the `nas` query commands against a real store:
 * pareto as csv/json (parsed back) and svg (well-formed, one circle per
 * result), export yaml/json read back by nas_arch_load, status/jobs/show,
 * a read-only reader while a writer process keeps writing, and the time of
 * `nas pareto` at 1e4 results (the 1e6 figure is in bench/RESULTS.md).
 *
 * The store is filled through the store's writer API, the commands run as
 * the real `nas` program (its path is argv[1], given by meson).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/rng.h"
#include "common/util.h"
#include "space/arch.h"
#include "store/store.h"
#include "tests/test_query_xml.h"

static const char *nas_program;

typedef struct fixture {
    char dir[64];
    char db[128];
    nas_arch arch;
    char *arch_json;
    char arch_hash[17];
    int64_t experiment;
    const char *config_yaml; /* stored with the experiment; NULL: a plain one */
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/nas-test-query-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof f->db, "%s/results.db", f->dir);
    nas_err err = {0};
    assert_int_equal(nas_arch_load("genet-light", &f->arch, &err), 0);
    f->arch_json = nas_arch_to_json(&f->arch);
    assert_non_null(f->arch_json);
    snprintf(f->arch_hash, sizeof f->arch_hash, "%016" PRIx64, nas_arch_hash(&f->arch));
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f->arch_json);
    free(f);
    return 0;
}

static nas_store *open_writer(fixture *f) {
    nas_store *s = NULL;
    nas_err err = {0};
    assert_int_equal(nas_store_open(f->db, &s, &err), 0);
    if (f->experiment == 0) {
        nas_store_experiment e = {.name = "demo", .config_yaml = f->config_yaml ? (char *)f->config_yaml : "name: demo\n",
                                  .space = "genet",
                                  .strategy = "random", .budget_evaluations = 100};
        bool created = false;
        assert_int_equal(nas_store_experiment_upsert(s, &e, &f->experiment, &created, &err), 0);
    }
    return s;
}

/* One trained job with a result at (batch 1, fp32) and (batch 8, fp32). */
static int64_t add_result(nas_store *s, fixture *f, double latency_ms, double top1, bool simulated) {
    nas_store_job job = {.experiment = f->experiment, .kind = NAS_STORE_TRAIN, .arch_json = f->arch_json,
                         .recipe_json = "{}", .max_attempts = 3};
    memcpy(job.arch_hash, f->arch_hash, sizeof job.arch_hash);
    int64_t id = 0;
    nas_err err = {0};
    assert_int_equal(nas_store_job_insert(s, &job, &id, &err), 0);
    nas_store_result r = {.job = id, .attempt = 1, .worker = "w-1", .has_accuracy = true, .top1 = top1,
                          .top5 = fmin(1.0, top1 + 0.1), .loss = 1.0, .params = 1000 + id, .macs = 5000 + id,
                          .device = simulated ? "sim-a100" : "A100", .simulated = simulated, .n_latency = 2};
    r.latency[0] = (nas_store_latency){.batch = 1, .precision = "fp32", .mean_ms = latency_ms,
                                       .p50_ms = latency_ms, .p90_ms = latency_ms * 1.1};
    r.latency[1] = (nas_store_latency){.batch = 8, .precision = "fp32", .mean_ms = latency_ms * 4,
                                       .p50_ms = latency_ms * 4, .p90_ms = latency_ms * 4.4};
    bool inserted = false;
    assert_int_equal(nas_store_result_insert(s, &r, NAS_JOB_DONE, &inserted, &err), 0);
    assert_true(inserted);
    return id;
}

/* The hand-worked set of test_pareto.c: front (0.5,0.2) (1,0.5) (2,0.7) (4,0.9). */
static const double hand_latency[] = {1.0, 2.0, 2.0, 3.0, 4.0, 0.5};
static const double hand_top1[] = {0.5, 0.7, 0.6, 0.65, 0.9, 0.2};
enum { N_HAND = 6 };

/* Fills the hand set (jobs 1..6, job 5 measured for real, the rest sim),
 * a measure-only job, a failed job, a leased job, a worker and an event. */
static void fill_hand_set(fixture *f, int64_t ids[N_HAND]) {
    nas_store *s = open_writer(f);
    nas_err err = {0};
    for (int i = 0; i < N_HAND; i++) ids[i] = add_result(s, f, hand_latency[i], hand_top1[i], i != 4);
    nas_store_job job = {.experiment = f->experiment, .kind = NAS_STORE_MEASURE, .arch_json = f->arch_json,
                         .recipe_json = "{}", .max_attempts = 3};
    memcpy(job.arch_hash, f->arch_hash, sizeof job.arch_hash);
    int64_t measure = 0, failed = 0, leased = 0;
    assert_int_equal(nas_store_job_insert(s, &job, &measure, &err), 0);
    nas_store_result m = {.job = measure, .attempt = 1, .worker = "w-1", .device = "sim-a100", .simulated = true,
                          .n_latency = 1};
    m.latency[0] = (nas_store_latency){.batch = 1, .precision = "fp32", .mean_ms = 0.1};
    bool inserted = false;
    assert_int_equal(nas_store_result_insert(s, &m, NAS_JOB_INFEASIBLE, &inserted, &err), 0);
    job.kind = NAS_STORE_TRAIN;
    assert_int_equal(nas_store_job_insert(s, &job, &failed, &err), 0);
    assert_int_equal(nas_store_job_lease(s, failed, "w-2", 1, nas_now_wall() + 60, &err), 0);
    assert_int_equal(nas_store_job_finish(s, failed, NAS_JOB_FAILED, "out of device memory", &err), 0);
    assert_int_equal(nas_store_job_insert(s, &job, &leased, &err), 0);
    assert_int_equal(nas_store_job_lease(s, leased, "w-1", 1, nas_now_wall() + 60, &err), 0);
    assert_int_equal(nas_store_worker_seen(s, "w-1", "node-a", "sim-a100", "sim", "0.1.0", "connected", &err), 0);
    assert_int_equal(nas_store_event(s, f->experiment, "warn", "lease_expired", ids[0], "w-9", "lease expired", &err), 0);
    nas_store_close(&s);
}

/* Runs `nas ARGS` and returns its stdout (malloc'd); *status is the exit code. */
static char *run_nas(const char *args, int *status) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' %s", nas_program, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    nas_sb out = {0};
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) nas_sb_appendn(&out, buf, n);
    int rc = pclose(p);
    *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    char *text = nas_sb_take(&out);
    return text ? text : strdup("");
}

static char *run_nas_ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *run_nas_ok(const char *fmt, ...) {
    char args[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    int status = -1;
    char *out = run_nas(args, &status);
    if (status != 0) fail_msg("nas %s exited with %d; output:\n%s", args, status, out);
    return out;
}

static void test_pareto_csv_parses_back(void **state) {
    fixture *f = *state;
    int64_t ids[N_HAND];
    fill_hand_set(f, ids);
    char *csv = run_nas_ok("pareto --db %s --format csv", f->db);
    /* header + the four front points in increasing latency */
    const int64_t front_jobs[] = {ids[5], ids[0], ids[1], ids[4]};
    char *line = strtok(csv, "\n");
    assert_non_null(line);
    assert_string_equal(line, "job,latency_ms,top1,batch,precision,on_front,sim");
    int rows = 0;
    while ((line = strtok(NULL, "\n"))) {
        long long job;
        double latency, top1;
        int batch, on_front, sim;
        char precision[16];
        assert_int_equal(sscanf(line, "%lld,%lf,%lf,%d,%15[^,],%d,%d", &job, &latency, &top1, &batch, precision,
                                &on_front, &sim),
                         7);
        assert_true(rows < 4);
        assert_int_equal(job, front_jobs[rows]);
        int hand_index = (int)(job - ids[0]);
        assert_true(fabs(latency - hand_latency[hand_index]) < 1e-9);
        assert_true(fabs(top1 - hand_top1[hand_index]) < 1e-9);
        assert_int_equal(batch, 1);
        assert_string_equal(precision, "fp32");
        assert_int_equal(sim, hand_index != 4);
        rows++;
    }
    assert_int_equal(rows, 4);
    free(csv);

    /* --all lists every trained result; the measure-only job has no top-1. */
    char *all = run_nas_ok("pareto --db %s --format csv --all", f->db);
    assert_int_equal(xml_count(all, "\n"), 1 + N_HAND);
    assert_int_equal(xml_count(all, ",1,1\n") + xml_count(all, ",1,0\n"), 4); /* on_front=1 rows */
    free(all);
}

/* Job ids far apart (jobs without results in between) take the binary-search
 * path of the in-memory join instead of the dense table: same front. */
static void test_pareto_sparse_job_ids(void **state) {
    fixture *f = *state;
    nas_store *s = open_writer(f);
    nas_err err = {0};
    nas_store_job job = {.experiment = f->experiment, .kind = NAS_STORE_TRAIN, .arch_json = f->arch_json,
                         .recipe_json = "{}", .max_attempts = 3};
    memcpy(job.arch_hash, f->arch_hash, sizeof job.arch_hash);
    int64_t ids[N_HAND], unused = 0;
    assert_int_equal(nas_store_begin(s, &err), 0);
    for (int i = 0; i < N_HAND; i++) {
        for (int k = 0; k < 2000; k++) assert_int_equal(nas_store_job_insert(s, &job, &unused, &err), 0);
        ids[i] = add_result(s, f, hand_latency[i], hand_top1[i], true);
    }
    assert_int_equal(nas_store_commit(s, &err), 0);
    nas_store_close(&s);
    char *csv = run_nas_ok("pareto --db %s --format csv", f->db);
    char expected[512];
    snprintf(expected, sizeof expected,
             "job,latency_ms,top1,batch,precision,on_front,sim\n%" PRId64 ",0.5,0.2,1,fp32,1,1\n%" PRId64
             ",1,0.5,1,fp32,1,1\n%" PRId64 ",2,0.7,1,fp32,1,1\n%" PRId64 ",4,0.9,1,fp32,1,1\n",
             ids[5], ids[0], ids[1], ids[4]);
    assert_string_equal(csv, expected);
    free(csv);
}

static const cJSON *json_get(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) fail_msg("JSON has no key '%s'", key);
    return v;
}

static void test_pareto_json_hypervolume_and_tiers(void **state) {
    fixture *f = *state;
    int64_t ids[N_HAND];
    fill_hand_set(f, ids);
    char *text = run_nas_ok("pareto --db %s --format json --hv-ref 5 --tiers 0.1,1.5,3.99,100", f->db);
    cJSON *doc = cJSON_Parse(text);
    assert_non_null(doc);
    assert_int_equal((int)json_get(doc, "results")->valuedouble, N_HAND);
    assert_int_equal((int)json_get(doc, "simulated_results")->valuedouble, N_HAND - 1);
    const cJSON *front = json_get(doc, "front");
    assert_int_equal(cJSON_GetArraySize(front), 4);
    assert_int_equal((int64_t)json_get(cJSON_GetArrayItem(front, 3), "job")->valuedouble, ids[4]);
    assert_false(cJSON_IsTrue(json_get(cJSON_GetArrayItem(front, 3), "sim"))); /* the measured one */
    assert_true(cJSON_IsTrue(json_get(cJSON_GetArrayItem(front, 0), "sim")));
    /* hand-computed: 0.5*0.2 + 1*0.5 + 2*0.7 + 1*0.9 = 2.9 against (5 ms, 0) */
    const cJSON *hv = json_get(doc, "hypervolume");
    assert_true(fabs(json_get(hv, "value")->valuedouble - 2.9) < 1e-9);
    assert_true(fabs(json_get(hv, "normalized")->valuedouble - 2.9 / 5) < 1e-9);
    const cJSON *tiers = json_get(doc, "tiers");
    assert_int_equal(cJSON_GetArraySize(tiers), 4);
    assert_true(cJSON_IsNull(json_get(cJSON_GetArrayItem(tiers, 0), "job")));
    assert_int_equal((int64_t)json_get(cJSON_GetArrayItem(tiers, 1), "job")->valuedouble, ids[0]);
    assert_int_equal((int64_t)json_get(cJSON_GetArrayItem(tiers, 2), "job")->valuedouble, ids[1]);
    assert_int_equal((int64_t)json_get(cJSON_GetArrayItem(tiers, 3), "job")->valuedouble, ids[4]);
    cJSON_Delete(doc);
    free(text);

    /* --max-latency bounds the results and is the default reference:
     * 0.5*0.2 + 1*0.5 + 1*0.7 = 1.3 against (3 ms, 0). */
    text = run_nas_ok("pareto --db %s --format json --max-latency 3", f->db);
    doc = cJSON_Parse(text);
    assert_non_null(doc);
    assert_int_equal((int)json_get(doc, "results")->valuedouble, 5);
    assert_int_equal(cJSON_GetArraySize(json_get(doc, "front")), 3);
    assert_true(fabs(json_get(json_get(doc, "hypervolume"), "value")->valuedouble - 1.3) < 1e-9);
    cJSON_Delete(doc);
    free(text);

    /* --y top5 ranks by top-5 (here top1 + 0.1, capped at 1): same order, same front. */
    text = run_nas_ok("pareto --db %s --format json --y top5 --hv-ref 5", f->db);
    doc = cJSON_Parse(text);
    assert_non_null(doc);
    assert_int_equal(cJSON_GetArraySize(json_get(doc, "front")), 4);
    assert_true(fabs(json_get(cJSON_GetArrayItem(json_get(doc, "front"), 3), "top5")->valuedouble - 1.0) < 1e-9);
    /* 0.5*0.3 + 1*0.6 + 2*0.8 + 1*1.0 = 3.35 */
    assert_true(fabs(json_get(json_get(doc, "hypervolume"), "value")->valuedouble - 3.35) < 1e-9);
    cJSON_Delete(doc);
    free(text);

    /* Another batch is another axis: latencies at batch 8 are 4x. */
    text = run_nas_ok("pareto --db %s --format json --x latency@8 --hv-ref 20", f->db);
    doc = cJSON_Parse(text);
    assert_non_null(doc);
    assert_int_equal((int)json_get(doc, "batch")->valuedouble, 8);
    assert_true(fabs(json_get(cJSON_GetArrayItem(json_get(doc, "front"), 0), "latency_ms")->valuedouble - 2.0) < 1e-9);
    assert_true(fabs(json_get(json_get(doc, "hypervolume"), "value")->valuedouble - 4 * 2.9) < 1e-9);
    cJSON_Delete(doc);
    free(text);

    int status = 0;
    free(run_nas(("pareto --db /nonexistent/x.db"), &status));
    assert_int_equal(status, 1);
    free(run_nas("pareto --format xml --db x.db", &status));
    assert_int_equal(status, 2);
}

/* The experiment's latency budgets pick the axis and are the default tiers. */
static void test_pareto_tiers_from_experiment(void **state) {
    fixture *f = *state;
    f->config_yaml = "name: demo\nspace: genet\nlatency:\n"
                     "  - {ms: 6.0, batch: 8, precision: fp32}\n  - {ms: 16, batch: 8, precision: fp32}\n";
    int64_t ids[N_HAND];
    fill_hand_set(f, ids);
    char *text = run_nas_ok("pareto --db %s --format json", f->db);
    cJSON *doc = cJSON_Parse(text);
    assert_non_null(doc);
    assert_int_equal((int)json_get(doc, "batch")->valuedouble, 8); /* from the budgets, not the smallest batch */
    assert_string_equal(json_get(doc, "tiers_source")->valuestring, "the experiment's latency budgets");
    const cJSON *tiers = json_get(doc, "tiers");
    assert_int_equal(cJSON_GetArraySize(tiers), 2);
    /* batch-8 latencies are 4x: within 6 ms the best is (4 ms, 0.5) = ids[0];
     * within 16 ms it is (16 ms, 0.9) = ids[4]. */
    assert_int_equal((int64_t)json_get(cJSON_GetArrayItem(tiers, 0), "job")->valuedouble, ids[0]);
    assert_int_equal((int64_t)json_get(cJSON_GetArrayItem(tiers, 1), "job")->valuedouble, ids[4]);
    /* The largest budget is the hypervolume's reference: at batch 8 the front
     * is (2,.2) (4,.5) (8,.7) (16,.9): 2*0.2 + 4*0.5 + 8*0.7 = 8.0 within 16 ms. */
    const cJSON *hv = json_get(doc, "hypervolume");
    assert_true(fabs(json_get(hv, "ref_latency_ms")->valuedouble - 16.0) < 1e-12);
    assert_true(fabs(json_get(hv, "value")->valuedouble - 8.0) < 1e-9);
    cJSON_Delete(doc);
    free(text);
}

static void test_pareto_table_and_svg(void **state) {
    fixture *f = *state;
    int64_t ids[N_HAND];
    fill_hand_set(f, ids);
    char svg_path[160];
    snprintf(svg_path, sizeof svg_path, "%s/front.svg", f->dir);
    char *table = run_nas_ok("pareto --db %s --svg %s", f->db, svg_path);
    assert_non_null(strstr(table, "Pareto front"));
    assert_non_null(strstr(table, "best per latency tier"));
    assert_non_null(strstr(table, "hypervolume"));
    assert_non_null(strstr(table, "measured")); /* job 5 is not sim */
    assert_true(xml_count(table, " sim") >= 3);
    free(table);
    char *svg = NULL;
    size_t len = 0;
    nas_err err = {0};
    assert_int_equal(nas_read_file(svg_path, 1 << 20, &svg, &len, &err), 0);
    char why[256] = "";
    if (!xml_well_formed(svg, why, sizeof why)) fail_msg("SVG is not well-formed: %s", why);
    /* every result, each front point again, two legend marks */
    assert_int_equal(xml_count(svg, "<circle"), N_HAND + 4 + 2);
    free(svg);
}

static void test_export_reads_back(void **state) {
    fixture *f = *state;
    int64_t ids[N_HAND];
    fill_hand_set(f, ids);
    char yaml_path[160], json_path[160];
    snprintf(yaml_path, sizeof yaml_path, "%s/exported.yaml", f->dir);
    snprintf(json_path, sizeof json_path, "%s/exported.json", f->dir);
    free(run_nas_ok("export %" PRId64 " --db %s --format yaml --out %s", ids[2], f->db, yaml_path));
    char *json = run_nas_ok("export %" PRId64 " --db %s --format json", ids[2], f->db);
    FILE *jf = fopen(json_path, "w");
    assert_non_null(jf);
    fputs(json, jf);
    fclose(jf);
    free(json);
    nas_arch from_yaml, from_json;
    nas_err err = {0};
    if (nas_arch_load(yaml_path, &from_yaml, &err) != 0) fail_msg("exported YAML does not load: %s", err.msg);
    assert_true(nas_arch_equal(&from_yaml, &f->arch));
    if (nas_arch_load(json_path, &from_json, &err) != 0) fail_msg("exported JSON does not load: %s", err.msg);
    assert_true(nas_arch_equal(&from_json, &f->arch));
    char *python = run_nas_ok("export %" PRId64 " --db %s --format pytorch", ids[2], f->db);
    assert_non_null(strstr(python, "def build_model("));
    free(python);
    int status = 0;
    free(run_nas("export 1 --db x.db --format onnx", &status));
    assert_int_equal(status, 2);
    char args[256];
    snprintf(args, sizeof args, "export 999999 --db %s", f->db);
    free(run_nas(args, &status));
    assert_int_equal(status, 1);
}

static void test_status_jobs_show(void **state) {
    fixture *f = *state;
    int64_t ids[N_HAND];
    fill_hand_set(f, ids);
    char *status_text = run_nas_ok("status --db %s", f->db);
    assert_non_null(strstr(status_text, "experiment  demo"));
    /* 6 done + 1 failed train jobs spend the budget; the measure job does not. */
    assert_non_null(strstr(status_text, "7 evaluations spent (train jobs done or failed) of 100 (7.0%)"));
    assert_non_null(strstr(status_text, "out of device memory")); /* failure reason */
    assert_non_null(strstr(status_text, "node-a"));                /* the worker's host */
    assert_non_null(strstr(status_text, "lease_expired"));         /* a recent warning */
    assert_non_null(strstr(status_text, "sim"));
    /* best so far: job ids[4] with 90% heads the list */
    char best[64];
    snprintf(best, sizeof best, "%8" PRId64 "    90.00", ids[4]);
    assert_non_null(strstr(status_text, best));
    free(status_text);

    char *jobs = run_nas_ok("jobs --db %s --state done", f->db);
    assert_int_equal(xml_count(jobs, " done "), N_HAND);
    assert_int_equal(xml_count(jobs, " sim"), N_HAND - 1);
    free(jobs);
    jobs = run_nas_ok("jobs --db %s --limit 2", f->db);
    assert_int_equal(xml_count(jobs, "\n"), 1 + 2 + 1); /* header, 2 rows, "first 2 shown" */
    free(jobs);

    char *show = run_nas_ok("show %" PRId64 " --db %s", ids[0], f->db);
    assert_non_null(strstr(show, "top1 50.00%"));
    assert_non_null(strstr(show, "[sim"));
    assert_non_null(strstr(show, "lease expired")); /* the event */
    assert_non_null(strstr(show, "xx"));            /* genet-light's stages */
    free(show);
    int status = 0;
    char args[256];
    snprintf(args, sizeof args, "jobs --db %s --state bogus", f->db);
    free(run_nas(args, &status));
    assert_int_equal(status, 2);
}

/* A child keeps writing results in short transactions while the parent
 * reads with `nas pareto`: every read succeeds (WAL: readers never block on
 * the writer) and sees a growing, consistent set. */
static void test_reader_while_writer_writes(void **state) {
    fixture *f = *state;
    nas_store *s = open_writer(f);
    nas_store_close(&s);
    pid_t writer = fork();
    assert_true(writer >= 0);
    if (writer == 0) {
        nas_store *w = open_writer(f);
        nas_rng rng;
        nas_rng_seed(&rng, 3);
        nas_err err = {0};
        /* Writes for about 1.5 s (and at least 40 transactions), so that
         * several reads overlap it on any machine. */
        double until = nas_now_monotonic() + 1.5;
        for (int batch = 0; batch < 40 || nas_now_monotonic() < until; batch++) {
            if (nas_store_begin(w, &err) != 0) _exit(3);
            for (int i = 0; i < 25; i++) {
                double lat = 0.5 + 10 * nas_rng_uniform(&rng);
                nas_store_job job = {.experiment = f->experiment, .kind = NAS_STORE_TRAIN,
                                     .arch_json = f->arch_json, .recipe_json = "{}", .max_attempts = 1};
                memcpy(job.arch_hash, f->arch_hash, sizeof job.arch_hash);
                int64_t id = 0;
                bool inserted = false;
                nas_store_result r = {.attempt = 1, .has_accuracy = true, .top1 = nas_rng_uniform(&rng),
                                      .simulated = true, .n_latency = 1};
                r.latency[0] = (nas_store_latency){.batch = 1, .precision = "fp32", .mean_ms = lat};
                if (nas_store_job_insert(w, &job, &id, &err) != 0) _exit(4);
                r.job = id;
                if (nas_store_result_insert(w, &r, NAS_JOB_DONE, &inserted, &err) != 0) _exit(5);
            }
            if (nas_store_commit(w, &err) != 0) _exit(6);
            usleep(2000);
        }
        nas_store_close(&w);
        _exit(0);
    }
    double last_count = 0;
    int reads = 0, growing = 0;
    for (;;) {
        int child_status = 0;
        bool done = waitpid(writer, &child_status, WNOHANG) == writer;
        char *text = run_nas_ok("pareto --db %s --format json", f->db);
        cJSON *doc = cJSON_Parse(text);
        assert_non_null(doc);
        double count = json_get(doc, "results")->valuedouble;
        assert_true(count >= last_count);
        assert_true(fmod(count, 25) == 0); /* whole transactions only */
        growing += count > last_count;
        last_count = count;
        reads++;
        cJSON_Delete(doc);
        free(text);
        if (done) {
            assert_true(WIFEXITED(child_status) && WEXITSTATUS(child_status) == 0);
            break;
        }
    }
    /* The read after the writer exited saw everything it committed. */
    nas_store *reader = NULL;
    nas_err err = {0};
    int64_t stored = 0;
    assert_int_equal(nas_store_open_readonly(f->db, &reader, &err), 0);
    assert_int_equal(nas_store_result_count(reader, f->experiment, -1, &stored, &err), 0);
    nas_store_close(&reader);
    assert_int_equal((int64_t)last_count, stored);
    assert_true(stored >= 40 * 25);
    assert_true(reads >= 2);
    assert_true(growing >= 1);
}

/* 1e4 results: `nas pareto` (sanitized build) must stay well under a second
 * or two; the 1e6 figure (optimised build) is in bench/RESULTS.md. */
static void test_pareto_time_at_1e4(void **state) {
    fixture *f = *state;
    nas_store *s = open_writer(f);
    nas_err err = {0};
    nas_rng rng;
    nas_rng_seed(&rng, 11);
    assert_int_equal(nas_store_begin(s, &err), 0);
    for (int i = 0; i < 10000; i++) {
        double lat = 0.2 + 20 * nas_rng_uniform(&rng);
        add_result(s, f, lat, 0.9 * (1 - exp(-lat / 4)) * (0.8 + 0.2 * nas_rng_uniform(&rng)), true);
    }
    assert_int_equal(nas_store_commit(s, &err), 0);
    nas_store_close(&s);
    double start = nas_now_monotonic();
    char *text = run_nas_ok("pareto --db %s --format json", f->db);
    double seconds = nas_now_monotonic() - start;
    cJSON *doc = cJSON_Parse(text);
    assert_non_null(doc);
    assert_int_equal((int)json_get(doc, "results")->valuedouble, 10000);
    assert_true(cJSON_GetArraySize(json_get(doc, "front")) > 3);
    cJSON_Delete(doc);
    free(text);
    fprintf(stderr, "nas pareto over 1e4 results: %.3f s\n", seconds);
    assert_true(seconds < 5.0);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_query PATH_TO_NAS\n");
        return 2;
    }
    nas_program = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pareto_csv_parses_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pareto_json_hypervolume_and_tiers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pareto_sparse_job_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pareto_tiers_from_experiment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pareto_table_and_svg, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_reads_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_jobs_show, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_while_writer_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pareto_time_at_1e4, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
