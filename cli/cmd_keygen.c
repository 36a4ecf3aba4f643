/*
 * cli/cmd_keygen.c - `nas keygen`: CURVE certificates for nasd and workers.
 *
 * Only argument handling and messages live here; the key directory layout and
 * the certificate files belong to cli/curve.c.
 */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "proto/curve.h"

static void keygen_usage(FILE *out) {
    fprintf(out,
            "usage: nas keygen --out DIR [--name NAME]\n\n"
            "Creates CURVE certificates (CZMQ zcert format) in DIR:\n"
            "  server.cert, server.cert_secret   nasd's key pair, made once and kept on later runs\n"
            "  workers/NAME.cert_secret          worker NAME's key pair (copy to that worker)\n"
            "  allowed/NAME.cert                 allow-list entry: nasd accepts the keys in allowed/\n"
            "Run it again with another --name for each worker (default name: %s).\n"
            "Delete allowed/NAME.cert to revoke a worker.\n"
            "Then: nasd --keys DIR ...   and   nas-worker --keys DIR --name NAME ...\n",
            NAS_CURVE_DEFAULT_NAME);
}

int nas_cmd_keygen(int argc, char **argv) {
    const char *dir = NULL, *name = NAS_CURVE_DEFAULT_NAME;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            keygen_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) {
            name = argv[++i];
        } else {
            fprintf(stderr, "nas keygen: unknown or incomplete option '%s'\n", argv[i]);
            keygen_usage(stderr);
            return 2;
        }
    }
    if (!dir) {
        fprintf(stderr, "nas keygen: --out DIR is required\n");
        keygen_usage(stderr);
        return 2;
    }
    nas_err err = {0};
    bool server_created = false;
    if (nas_curve_keygen(dir, name, &server_created, &err) != 0) {
        fprintf(stderr, "nas keygen: %s\n", err.msg);
        return 1;
    }
    if (server_created)
        printf("created server key pair %s/%s (keep %s/%s_secret on the nasd host only)\n", dir,
               NAS_CURVE_SERVER_CERT, dir, NAS_CURVE_SERVER_CERT);
    else
        printf("kept existing server key pair %s/%s\n", dir, NAS_CURVE_SERVER_CERT);
    printf("created worker '%s': %s/%s/%s.cert_secret, allowed by %s/%s/%s.cert\n", name, dir,
           NAS_CURVE_WORKERS_DIR, name, dir, NAS_CURVE_ALLOWED_DIR, name);
    return 0;
}
