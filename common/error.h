/*
 * common/error.h - error codes and the caller-owned error message buffer.
 *
 * Every fallible function in gpunas returns 0 on success or a negative NAS_E*
 * code, and fills a caller's nas_err with one sentence a user can act on.
 * The buffer has a fixed size but every write is bounded (vsnprintf), so user
 * input can truncate a message but never overflow it.
 */
#ifndef NAS_COMMON_ERROR_H
#define NAS_COMMON_ERROR_H

#include <stddef.h>

enum {
    NAS_OK = 0,
    NAS_EINVAL = -1,      /* invalid argument or value (config, wire, CLI) */
    NAS_ENOMEM = -2,      /* allocation failed */
    NAS_EIO = -3,         /* file or socket I/O failed */
    NAS_EPARSE = -4,      /* malformed YAML/JSON/protobuf */
    NAS_ERANGE = -5,      /* value outside its allowed range */
    NAS_ENOTFOUND = -6,   /* named thing (preset, job, file) does not exist */
    NAS_EPROTO = -7,      /* protocol violation */
    NAS_ESTATE = -8,      /* operation not valid in the current state */
    NAS_EUNSUPPORTED = -9,/* feature not built or not available here */
    NAS_ETIMEOUT = -10,   /* deadline passed */
    NAS_EDB = -11,        /* SQLite error */
    NAS_EDEVICE = -12,    /* GPU / accelerator error */
    NAS_EOOM_DEVICE = -13 /* accelerator out of memory (non-retryable job failure) */
};

#define NAS_ERR_MSG_MAX 1024

/* A caller-owned error: code plus a human-readable sentence. */
typedef struct nas_err {
    int code;
    char msg[NAS_ERR_MSG_MAX];
} nas_err;

/* Sets err (if not NULL) to code and a printf-formatted message; returns code,
 * so callers can write `return nas_err_set(err, NAS_EINVAL, "...")`. */
int nas_err_set(nas_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to an existing message (adds context on the way up). */
int nas_err_prefix(nas_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Clears err to NAS_OK with an empty message. */
void nas_err_clear(nas_err *err);

/* Short stable name of a code, e.g. "EINVAL". */
const char *nas_err_name(int code);

#endif
