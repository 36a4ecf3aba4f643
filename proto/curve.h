/*
 * proto/curve.h - CURVE certificates on disk and the socket set-up that uses them.
 *
 * `nas keygen --out DIR [--name N]` lays out a key directory:
 *
 *   DIR/server.cert            server public key   (every worker needs it)
 *   DIR/server.cert_secret     server key pair     (nasd only; mode 0600)
 *   DIR/workers/N.cert_secret  worker N's key pair (copy to that worker; 0600)
 *   DIR/workers/N.cert         worker N's public key
 *   DIR/allowed/N.cert         the allow-list: nasd accepts exactly the public
 *                              keys in this directory (zauth reloads it when it
 *                              changes, so deleting a file revokes a worker)
 *
 * Files are CZMQ zcert_save format (ZPL text), loadable by zcert_load. The
 * socket helpers are what nasd (`--keys DIR`) and nas-worker (`--keys DIR
 * --name N`) call; they sit in proto/ (the wire layer both daemons and `nas keygen` use), so
 * the layout has one owner and server/ and worker/ never include cli/.
 * A ROUTER with CURVE on and a key not in allowed/ never completes the
 * handshake, so an unauthorised worker's Hello never reaches nasd's code.
 */
#ifndef NAS_PROTO_CURVE_H
#define NAS_PROTO_CURVE_H

#include <czmq.h>
#include <stdbool.h>

#include "common/error.h"

#define NAS_CURVE_SERVER_CERT "server.cert"
#define NAS_CURVE_WORKERS_DIR "workers"
#define NAS_CURVE_ALLOWED_DIR "allowed"
#define NAS_CURVE_DEFAULT_NAME "worker"

/* A worker name becomes a file name: 1-64 characters of [A-Za-z0-9._-], not
 * starting with '.'. Returns 0 or NAS_EINVAL with a message. */
int nas_curve_check_name(const char *name, nas_err *err);

/*
 * Creates DIR (and its subdirectories) if needed; creates the server key pair
 * unless DIR/server.cert_secret exists (then *server_created = false and the
 * existing one is kept, so keygen can be run again to add workers); creates
 * worker `name`'s key pair and its allow-list entry. Refuses (NAS_ESTATE) to
 * overwrite an existing worker certificate of the same name.
 */
int nas_curve_keygen(const char *dir, const char *name, bool *server_created, nas_err *err);

/* The server side: one per nasd process. Owns the zauth actor (CZMQ installs
 * the ZAP handler process-wide; keep it alive as long as the socket). */
typedef struct nas_curve_server nas_curve_server;

/*
 * Loads DIR/server.cert_secret, starts zauth with DIR/allowed as the CURVE
 * allow-list, and makes `router` a CURVE server with that key. Call before
 * zsock_bind. Returns 0 with *out set, or NAS_ENOTFOUND/NAS_EIO with a message
 * that says which file is missing and that `nas keygen` makes it.
 */
int nas_curve_server_new(zsock_t *router, const char *dir, nas_curve_server **out, nas_err *err);
void nas_curve_server_free(nas_curve_server **server);

/*
 * The worker side: loads DIR/workers/NAME.cert_secret as the client key pair
 * and DIR/server.cert as the server's public key, and applies both to `dealer`.
 * Call before zsock_connect.
 */
int nas_curve_client_setup(zsock_t *dealer, const char *dir, const char *name, nas_err *err);

#endif
