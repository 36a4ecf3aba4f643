/*
 * proto/curve.c - CURVE key directory and socket set-up; see curve.h.
 *
 * Secret files are written with umask 077 (and chmod 0600 afterwards, in case
 * they already existed) so that a key pair is never readable by other users,
 * not even for the moment between create and chmod.
 */
#include "proto/curve.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

struct nas_curve_server {
    zactor_t *auth; /* zauth actor; its ZAP handler checks every CURVE handshake */
};

int nas_curve_check_name(const char *name, nas_err *err) {
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > 64 || name[0] == '.')
        return nas_err_set(err, NAS_EINVAL,
                           "worker name '%s' must be 1 to 64 characters and not start with '.'",
                           name ? name : "");
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '_' || c == '-';
        if (!ok)
            return nas_err_set(err, NAS_EINVAL,
                               "worker name '%s' may only hold letters, digits, '.', '_' and '-' "
                               "(it becomes a file name)",
                               name);
    }
    return 0;
}

/* malloc'd "a/b[/c]"; NULL when out of memory. */
static char *join_path(const char *a, const char *b, const char *c) {
    nas_sb sb = {0};
    nas_sb_printf(&sb, "%s/%s", a, b);
    if (c) nas_sb_printf(&sb, "/%s", c);
    if (sb.failed) {
        nas_sb_free(&sb);
        return NULL;
    }
    return nas_sb_take(&sb);
}

static int make_dir(const char *path, mode_t mode, nas_err *err) {
    if (mkdir(path, mode) == 0 || errno == EEXIST) {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
        return nas_err_set(err, NAS_EIO, "%s exists but is not a directory", path);
    }
    return nas_err_set(err, NAS_EIO, "cannot create directory %s: %s", path, strerror(errno));
}

static bool file_exists(const char *path) { return access(path, F_OK) == 0; }

/* Saves cert's public part to public_path and, if secret_path is given, the
 * key pair there with owner-only permissions. */
static int save_cert(zcert_t *cert, const char *public_path, const char *secret_path, nas_err *err) {
    if (zcert_save_public(cert, public_path) != 0)
        return nas_err_set(err, NAS_EIO, "cannot write certificate %s: %s", public_path, strerror(errno));
    if (!secret_path) return 0;
    mode_t old_mask = umask(077);
    int rc = zcert_save_secret(cert, secret_path);
    umask(old_mask);
    if (rc != 0 || chmod(secret_path, 0600) != 0)
        return nas_err_set(err, NAS_EIO, "cannot write secret key %s: %s", secret_path, strerror(errno));
    return 0;
}

int nas_curve_keygen(const char *dir, const char *name, bool *server_created, nas_err *err) {
    int rc = nas_curve_check_name(name, err);
    if (rc) return rc;
    if (!zsys_has_curve())
        return nas_err_set(err, NAS_EUNSUPPORTED,
                           "this libzmq was built without CURVE support; install one with libsodium");
    *server_created = false;
    char *workers = join_path(dir, NAS_CURVE_WORKERS_DIR, NULL);
    char *allowed = join_path(dir, NAS_CURVE_ALLOWED_DIR, NULL);
    char *server_public = join_path(dir, NAS_CURVE_SERVER_CERT, NULL);
    char *server_secret = join_path(dir, NAS_CURVE_SERVER_CERT "_secret", NULL);
    nas_sb file = {0};
    nas_sb_printf(&file, "%s.cert", name);
    char *cert_file = nas_sb_take(&file);
    char *worker_public = cert_file ? join_path(workers, cert_file, NULL) : NULL;
    char *allowed_public = cert_file ? join_path(allowed, cert_file, NULL) : NULL;
    nas_sb_printf(&file, "%s.cert_secret", name);
    char *secret_file = nas_sb_take(&file);
    char *worker_secret = secret_file ? join_path(workers, secret_file, NULL) : NULL;
    zcert_t *server_cert = NULL, *worker_cert = NULL;
    if (!workers || !allowed || !server_public || !server_secret || !worker_public || !allowed_public ||
        !worker_secret) {
        rc = nas_err_set(err, NAS_ENOMEM, "out of memory building key file names");
        goto done;
    }
    if ((rc = make_dir(dir, 0700, err)) || (rc = make_dir(workers, 0700, err)) ||
        (rc = make_dir(allowed, 0755, err)))
        goto done;
    if (file_exists(worker_secret) || file_exists(worker_public)) {
        rc = nas_err_set(err, NAS_ESTATE,
                         "a worker named '%s' already has keys in %s; pick another --name or delete "
                         "its files first",
                         name, workers);
        goto done;
    }
    if (!file_exists(server_secret)) {
        server_cert = zcert_new();
        if (!server_cert) {
            rc = nas_err_set(err, NAS_ENOMEM, "cannot generate the server key pair");
            goto done;
        }
        zcert_set_meta(server_cert, "role", "nasd");
        if ((rc = save_cert(server_cert, server_public, server_secret, err))) goto done;
        *server_created = true;
    }
    worker_cert = zcert_new();
    if (!worker_cert) {
        rc = nas_err_set(err, NAS_ENOMEM, "cannot generate a worker key pair");
        goto done;
    }
    zcert_set_meta(worker_cert, "role", "nas-worker");
    zcert_set_meta(worker_cert, "name", "%s", name);
    if ((rc = save_cert(worker_cert, worker_public, worker_secret, err))) goto done;
    rc = save_cert(worker_cert, allowed_public, NULL, err);
done:
    zcert_destroy(&server_cert);
    zcert_destroy(&worker_cert);
    free(workers), free(allowed), free(server_public), free(server_secret), free(cert_file);
    free(worker_public), free(allowed_public), free(secret_file), free(worker_secret);
    return rc;
}

static int load_cert(const char *path, const char *what, zcert_t **out, nas_err *err) {
    if (!file_exists(path))
        return nas_err_set(err, NAS_ENOTFOUND, "%s %s does not exist; create it with `nas keygen --out DIR`",
                           what, path);
    *out = zcert_load(path);
    if (!*out) return nas_err_set(err, NAS_EIO, "cannot read %s %s (not a zcert file?)", what, path);
    return 0;
}

int nas_curve_server_new(zsock_t *router, const char *dir, nas_curve_server **out, nas_err *err) {
    *out = NULL;
    char *secret = join_path(dir, NAS_CURVE_SERVER_CERT "_secret", NULL);
    char *allowed = join_path(dir, NAS_CURVE_ALLOWED_DIR, NULL);
    nas_curve_server *server = calloc(1, sizeof *server);
    zcert_t *cert = NULL;
    int rc = 0;
    if (!secret || !allowed || !server) {
        rc = nas_err_set(err, NAS_ENOMEM, "out of memory setting up CURVE");
        goto done;
    }
    if ((rc = load_cert(secret, "server secret key", &cert, err))) goto done;
    if (!file_exists(allowed)) {
        rc = nas_err_set(err, NAS_ENOTFOUND,
                         "allow-list directory %s does not exist; `nas keygen --out %s --name W` "
                         "creates it with worker W's public key",
                         allowed, dir);
        goto done;
    }
    server->auth = zactor_new(zauth, NULL);
    if (!server->auth) {
        rc = nas_err_set(err, NAS_EIO, "cannot start the ZeroMQ authentication actor (zauth)");
        goto done;
    }
    /* Synchronous command: zauth answers once the allow-list is installed. */
    if (zstr_sendx(server->auth, "CURVE", allowed, NULL) != 0 || zsock_wait(server->auth) != 0) {
        rc = nas_err_set(err, NAS_EIO, "zauth refused the CURVE allow-list %s", allowed);
        goto done;
    }
    zcert_apply(cert, router);
    zsock_set_curve_server(router, 1);
    *out = server;
    server = NULL;
done:
    zcert_destroy(&cert);
    nas_curve_server_free(&server);
    free(secret);
    free(allowed);
    return rc;
}

void nas_curve_server_free(nas_curve_server **server) {
    if (!server || !*server) return;
    zactor_destroy(&(*server)->auth);
    free(*server);
    *server = NULL;
}

int nas_curve_client_setup(zsock_t *dealer, const char *dir, const char *name, nas_err *err) {
    int rc = nas_curve_check_name(name, err);
    if (rc) return rc;
    nas_sb file = {0};
    nas_sb_printf(&file, "%s/%s/%s.cert_secret", dir, NAS_CURVE_WORKERS_DIR, name);
    char *secret = nas_sb_take(&file);
    char *server_public = join_path(dir, NAS_CURVE_SERVER_CERT, NULL);
    zcert_t *cert = NULL, *server_cert = NULL;
    if (!secret || !server_public) {
        rc = nas_err_set(err, NAS_ENOMEM, "out of memory setting up CURVE");
        goto done;
    }
    if ((rc = load_cert(secret, "worker secret key", &cert, err)) ||
        (rc = load_cert(server_public, "server public key", &server_cert, err)))
        goto done;
    zcert_apply(cert, dealer);
    zsock_set_curve_serverkey(dealer, zcert_public_txt(server_cert));
done:
    zcert_destroy(&cert);
    zcert_destroy(&server_cert);
    free(secret);
    free(server_public);
    return rc;
}
