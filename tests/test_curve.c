/*
 * tests/test_curve.c - CURVE security: `nas keygen` output, the socket set-up
 * of cli/curve.c, and a real nasd started with --keys.
 *
 * An unauthorised worker is one whose key pair was made by keygen in another
 * key directory: it knows the server's public key (that is public) but its own
 * key is not in allowed/, so the handshake never completes and it receives
 * nothing. The nasd case is skipped (and says so) while nasd does not support
 * --keys yet. argv[1] is the `nas` program, argv[2] the `nasd` program.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <czmq.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto/curve.h"
#include "common/util.h"
#include "proto/proto.h"

static const char *nas_program, *nasd_program;

typedef struct fixture {
    char dir[64];
    char keys[128];   /* the real key directory */
    char rogue[128];  /* another one: its worker is not in keys/allowed */
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/nas-test-curve-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->keys, sizeof f->keys, "%s/keys", f->dir);
    snprintf(f->rogue, sizeof f->rogue, "%s/rogue", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...) {
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Makes keys/ with workers "good" and "spare", and rogue/ with "good" too
 * (same name, different key: the name is not what authorises). */
static void make_keys(fixture *f) {
    assert_int_equal(run("'%s' keygen --out %s --name good > /dev/null", nas_program, f->keys), 0);
    assert_int_equal(run("'%s' keygen --out %s --name spare > /dev/null", nas_program, f->keys), 0);
    assert_int_equal(run("'%s' keygen --out %s --name good > /dev/null", nas_program, f->rogue), 0);
    /* The rogue worker knows the real server's public key. */
    assert_int_equal(run("cp %s/server.cert %s/server.cert", f->keys, f->rogue), 0);
}

static void test_keygen_certificates_load(void **state) {
    fixture *f = *state;
    make_keys(f);
    char path[256];
    const char *files[] = {"server.cert", "server.cert_secret", "workers/good.cert", "workers/good.cert_secret",
                           "allowed/good.cert", "allowed/spare.cert"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", f->keys, files[i]);
        zcert_t *cert = zcert_load(path);
        if (!cert) fail_msg("%s does not load with zcert_load", path);
        assert_int_equal(strlen(zcert_public_txt(cert)), 40);
        zcert_destroy(&cert);
    }
    /* Secret files are for their owner only. */
    struct stat st;
    snprintf(path, sizeof path, "%s/server.cert_secret", f->keys);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0077, 0);
    /* The allow-list entry is worker good's public key, and keygen kept the
     * server pair when it ran the second time. */
    snprintf(path, sizeof path, "%s/workers/good.cert_secret", f->keys);
    zcert_t *pair = zcert_load(path);
    snprintf(path, sizeof path, "%s/allowed/good.cert", f->keys);
    zcert_t *allowed = zcert_load(path);
    assert_non_null(pair);
    assert_non_null(allowed);
    assert_string_equal(zcert_public_txt(pair), zcert_public_txt(allowed));
    assert_string_equal(zcert_meta(allowed, "name"), "good");
    zcert_destroy(&pair);
    zcert_destroy(&allowed);
    /* Same name again is refused; a bad name is a usage error. */
    assert_int_equal(run("'%s' keygen --out %s --name good 2> /dev/null", nas_program, f->keys), 1);
    assert_int_equal(run("'%s' keygen --out %s --name '../x' 2> /dev/null", nas_program, f->keys), 1);
    assert_int_equal(run("'%s' keygen 2> /dev/null", nas_program), 2);
}

/* Waits up to timeout_ms for a frame on sock; returns it or NULL. */
static zmsg_t *recv_within(zsock_t *sock, int timeout_ms) {
    zpoller_t *poller = zpoller_new(sock, NULL);
    zmsg_t *msg = zpoller_wait(poller, timeout_ms) ? zmsg_recv(sock) : NULL;
    zpoller_destroy(&poller);
    return msg;
}

static void test_router_accepts_only_allowed_keys(void **state) {
    fixture *f = *state;
    make_keys(f);
    nas_err err = {0};
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    assert_non_null(router);
    nas_curve_server *server = NULL;
    if (nas_curve_server_new(router, f->keys, &server, &err) != 0) fail_msg("%s", err.msg);
    assert_true(zsock_bind(router, "tcp://127.0.0.1:*") > 0);
    const char *endpoint = zsock_endpoint(router);

    zsock_t *good = zsock_new(ZMQ_DEALER), *rogue = zsock_new(ZMQ_DEALER), *plain = zsock_new(ZMQ_DEALER);
    assert_int_equal(nas_curve_client_setup(good, f->keys, "good", &err), 0);
    assert_int_equal(nas_curve_client_setup(rogue, f->rogue, "good", &err), 0);
    assert_int_equal(zsock_connect(good, "%s", endpoint), 0);
    assert_int_equal(zsock_connect(rogue, "%s", endpoint), 0);
    assert_int_equal(zsock_connect(plain, "%s", endpoint), 0); /* no CURVE at all */
    zstr_send(rogue, "from rogue");
    zstr_send(plain, "from plain");
    zstr_send(good, "from good");

    /* Only the allowed worker's frame arrives... */
    zmsg_t *msg = recv_within(router, 3000);
    assert_non_null(msg);
    zframe_t *peer = zmsg_pop(msg);
    char *text = zmsg_popstr(msg);
    assert_string_equal(text, "from good");
    free(text);
    zmsg_destroy(&msg);
    msg = recv_within(router, 700);
    assert_null(msg);
    /* ...and only it can be answered. */
    zframe_send(&peer, router, ZFRAME_MORE);
    zstr_send(router, "job for good");
    msg = recv_within(good, 3000);
    assert_non_null(msg);
    text = zmsg_popstr(msg);
    assert_string_equal(text, "job for good");
    free(text);
    zmsg_destroy(&msg);
    assert_null(recv_within(rogue, 300));

    zsock_destroy(&good);
    zsock_destroy(&rogue);
    zsock_destroy(&plain);
    zsock_destroy(&router);
    nas_curve_server_free(&server);
    assert_null(server);
}

static void test_setup_errors_name_the_file(void **state) {
    fixture *f = *state;
    nas_err err = {0};
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    nas_curve_server *server = NULL;
    assert_int_equal(nas_curve_server_new(router, f->keys, &server, &err), NAS_ENOTFOUND);
    assert_non_null(strstr(err.msg, "server.cert_secret"));
    assert_non_null(strstr(err.msg, "nas keygen"));
    assert_null(server);
    zsock_t *dealer = zsock_new(ZMQ_DEALER);
    assert_int_equal(nas_curve_client_setup(dealer, f->keys, "nobody", &err), NAS_ENOTFOUND);
    assert_non_null(strstr(err.msg, "workers/nobody.cert_secret"));
    assert_int_equal(nas_curve_client_setup(dealer, f->keys, "a/b", &err), NAS_EINVAL);
    zsock_destroy(&dealer);
    zsock_destroy(&router);
}

/* ---- a real nasd ------------------------------------------------------------ */

static bool nasd_supports_keys(void) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "'%s' --help 2>&1", nasd_program);
    FILE *p = popen(cmd, "r");
    if (!p) return false;
    char line[512];
    bool has = false, stub = false;
    while (fgets(line, sizeof line, p)) {
        if (strstr(line, "--keys")) has = true;
        if (strstr(line, "--keys") && strstr(line, "not implemented")) stub = true;
    }
    pclose(p);
    return has && !stub;
}

static int send_envelope(zsock_t *sock, nas_envelope *env) {
    uint8_t *buf = NULL;
    size_t len = 0;
    nas_err err;
    if (nas_proto_pack(env, &buf, &len, &err)) return -1;
    zframe_t *frame = zframe_new(buf, len);
    free(buf);
    return zframe_send(&frame, sock, 0);
}

static void say_hello_and_ready(zsock_t *sock, const char *id) {
    Nas__Hello hello = NAS__HELLO__INIT;
    hello.worker_id = (char *)id;
    hello.host = "test";
    hello.device_name = "test-sim";
    hello.backend = "sim";
    hello.version = NAS_VERSION;
    nas_envelope env = NAS__ENVELOPE__INIT;
    env.body_case = NAS__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    assert_int_equal(send_envelope(sock, &env), 0);
    Nas__Ready ready = NAS__READY__INIT;
    ready.slots = 1;
    nas_envelope renv = NAS__ENVELOPE__INIT;
    renv.body_case = NAS__ENVELOPE__BODY_READY;
    renv.ready = &ready;
    assert_int_equal(send_envelope(sock, &renv), 0);
}

/* Reads frames for up to timeout_ms; true if one of them is a Job. */
static bool receives_job(zsock_t *sock, int timeout_ms) {
    double end = nas_now_monotonic() + timeout_ms / 1000.0;
    while (nas_now_monotonic() < end) {
        zmsg_t *msg = recv_within(sock, (int)((end - nas_now_monotonic()) * 1000) + 1);
        if (!msg) continue;
        zframe_t *frame = zmsg_first(msg);
        nas_envelope *env = NULL;
        nas_err err;
        bool job = frame && nas_proto_decode(zframe_data(frame), zframe_size(frame), &env, &err) == 0 &&
                   env->body_case == NAS__ENVELOPE__BODY_JOB;
        nas_proto_free(&env);
        zmsg_destroy(&msg);
        if (job) return true;
    }
    return false;
}

static void test_nasd_gives_jobs_only_to_allowed_workers(void **state) {
    fixture *f = *state;
    if (!nasd_supports_keys()) {
        fprintf(stderr, "SKIP: %s does not support --keys yet (its --help says so); the socket-level test above "
                        "covers cli/curve.c\n", nasd_program);
        skip();
    }
    make_keys(f);
    char config[160], db[160], endpoint_file[160], log[160];
    snprintf(config, sizeof config, "%s/exp.yaml", f->dir);
    snprintf(db, sizeof db, "%s/results.db", f->dir);
    snprintf(endpoint_file, sizeof endpoint_file, "%s/endpoint", f->dir);
    snprintf(log, sizeof log, "%s/nasd.log", f->dir);
    FILE *cf = fopen(config, "w");
    assert_non_null(cf);
    fputs("name: curve-test\nspace: mini\nstrategy: {name: random, seed: 1}\nbudget: {evaluations: 50}\n"
          "backend: sim\n",
          cf);
    fclose(cf);
    pid_t nasd = fork();
    assert_true(nasd >= 0);
    if (nasd == 0) {
        if (!freopen(log, "w", stderr)) _exit(126);
        execl(nasd_program, nasd_program, "--config", config, "--db", db, "--bind", "tcp://127.0.0.1:*",
              "--endpoint-file", endpoint_file, "--keys", f->keys, (char *)NULL);
        _exit(127);
    }
    char endpoint[256] = "";
    for (int i = 0; i < 200 && !endpoint[0]; i++) {
        FILE *ef = fopen(endpoint_file, "r");
        if (ef) {
            if (fgets(endpoint, sizeof endpoint, ef)) endpoint[strcspn(endpoint, "\n")] = '\0';
            fclose(ef);
        }
        if (!endpoint[0]) usleep(50000);
    }
    if (!endpoint[0]) {
        kill(nasd, SIGKILL);
        waitpid(nasd, NULL, 0);
        fail_msg("nasd --keys did not start listening; see its log");
    }
    nas_err err = {0};
    zsock_t *rogue = zsock_new(ZMQ_DEALER), *good = zsock_new(ZMQ_DEALER);
    assert_int_equal(nas_curve_client_setup(rogue, f->rogue, "good", &err), 0);
    assert_int_equal(nas_curve_client_setup(good, f->keys, "good", &err), 0);
    assert_int_equal(zsock_connect(rogue, "%s", endpoint), 0);
    say_hello_and_ready(rogue, "rogue-1");
    bool rogue_got_job = receives_job(rogue, 2000);
    assert_int_equal(zsock_connect(good, "%s", endpoint), 0);
    say_hello_and_ready(good, "good-1");
    bool good_got_job = receives_job(good, 5000);
    bool rogue_got_job_later = receives_job(rogue, 300);
    zsock_destroy(&rogue);
    zsock_destroy(&good);
    kill(nasd, SIGTERM);
    int status = 0;
    waitpid(nasd, &status, 0);
    assert_false(rogue_got_job);
    assert_false(rogue_got_job_later);
    assert_true(good_got_job);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: test_curve PATH_TO_NAS PATH_TO_NASD\n");
        return 2;
    }
    nas_program = argv[1];
    nasd_program = argv[2];
    zsys_init();
    zsys_set_linger(0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_keygen_certificates_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_router_accepts_only_allowed_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_setup_errors_name_the_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nasd_gives_jobs_only_to_allowed_workers, setup, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    zsys_shutdown();
    return failed;
}
