/* common/error.c - see error.h. */
#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int nas_err_set(nas_err *err, int code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

int nas_err_prefix(nas_err *err, const char *fmt, ...) {
    if (!err) return NAS_OK;
    char prefix[NAS_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[NAS_ERR_MSG_MAX];
    memcpy(old, err->msg, sizeof old);
    /* A long prefix may truncate the message; the bounded write keeps it safe. */
    if (snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old) >= (int)sizeof err->msg)
        err->msg[sizeof err->msg - 1] = '\0';
    return err->code;
}

void nas_err_clear(nas_err *err) {
    if (!err) return;
    err->code = NAS_OK;
    err->msg[0] = '\0';
}

const char *nas_err_name(int code) {
    switch (code) {
    case NAS_OK: return "OK";
    case NAS_EINVAL: return "EINVAL";
    case NAS_ENOMEM: return "ENOMEM";
    case NAS_EIO: return "EIO";
    case NAS_EPARSE: return "EPARSE";
    case NAS_ERANGE: return "ERANGE";
    case NAS_ENOTFOUND: return "ENOTFOUND";
    case NAS_EPROTO: return "EPROTO";
    case NAS_ESTATE: return "ESTATE";
    case NAS_EUNSUPPORTED: return "EUNSUPPORTED";
    case NAS_ETIMEOUT: return "ETIMEOUT";
    case NAS_EDB: return "EDB";
    case NAS_EDEVICE: return "EDEVICE";
    case NAS_EOOM_DEVICE: return "EOOM_DEVICE";
    default: return "EUNKNOWN";
    }
}
