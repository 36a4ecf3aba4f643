/* common/util.c - see util.h. */
#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef NAS_SOURCE_CONFIG_DIR
#define NAS_SOURCE_CONFIG_DIR "configs"
#endif

double nas_now_monotonic(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double nas_now_wall(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool sb_reserve(nas_sb *sb, size_t extra) {
    if (sb->failed) return false;
    if (sb->len + extra + 1 <= sb->cap) return true;
    size_t cap = sb->cap ? sb->cap : 64;
    while (cap < sb->len + extra + 1) cap *= 2;
    char *d = realloc(sb->data, cap);
    if (!d) { sb->failed = true; return false; }
    sb->data = d;
    sb->cap = cap;
    return true;
}

void nas_sb_appendn(nas_sb *sb, const char *s, size_t n) {
    if (!sb_reserve(sb, n)) return;
    memcpy(sb->data + sb->len, s, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
}

void nas_sb_append(nas_sb *sb, const char *s) { nas_sb_appendn(sb, s, strlen(s)); }

void nas_sb_vprintf(nas_sb *sb, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0 || !sb_reserve(sb, (size_t)n)) return;
    vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
    sb->len += (size_t)n;
}

void nas_sb_printf(nas_sb *sb, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    nas_sb_vprintf(sb, fmt, ap);
    va_end(ap);
}

char *nas_sb_take(nas_sb *sb) {
    /* An untouched builder yields "" (sb_reserve can fail: then NULL). */
    if (!sb->data && !sb->failed && sb_reserve(sb, 0)) sb->data[0] = '\0';
    char *d = sb->data;
    memset(sb, 0, sizeof *sb);
    return d;
}

void nas_sb_free(nas_sb *sb) {
    free(sb->data);
    memset(sb, 0, sizeof *sb);
}

int nas_read_file(const char *path, size_t max_bytes, char **out, size_t *len, nas_err *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return nas_err_set(err, NAS_EIO, "%s: cannot open: %s", path, strerror(errno));
    nas_sb sb = {0};
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (sb.len + got > max_bytes) {
            fclose(f);
            nas_sb_free(&sb);
            return nas_err_set(err, NAS_EINVAL, "%s: larger than %zu bytes", path, max_bytes);
        }
        nas_sb_appendn(&sb, chunk, got);
    }
    bool bad = ferror(f) != 0;
    fclose(f);
    if (bad || sb.failed) {
        nas_sb_free(&sb);
        return nas_err_set(err, bad ? NAS_EIO : NAS_ENOMEM, "%s: cannot read", path);
    }
    if (len) *len = sb.len;
    *out = nas_sb_take(&sb);
    return 0;
}

void nas_omp_passive_reexec(char **argv) {
    if (getenv("OMP_WAIT_POLICY")) return;
    if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
    execv("/proc/self/exe", argv);
    /* exec failed (no /proc?): carry on with OpenMP's default policy. */
}

const char *nas_config_dir(void) {
    const char *env = getenv("NAS_CONFIG_DIR");
    return env && *env ? env : NAS_SOURCE_CONFIG_DIR;
}

static bool is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int nas_config_resolve(const char *name_or_path, const char *subdir, char **out, nas_err *err) {
    *out = NULL;
    if (is_file(name_or_path)) {
        *out = strdup(name_or_path);
        return *out ? 0 : nas_err_set(err, NAS_ENOMEM, "out of memory");
    }
    if (!strchr(name_or_path, '/')) {
        nas_sb sb = {0};
        nas_sb_printf(&sb, "%s/%s/%s.yaml", nas_config_dir(), subdir, name_or_path);
        char *p = nas_sb_take(&sb);
        if (p && is_file(p)) { *out = p; return 0; }
        free(p);
    }
    return nas_err_set(err, NAS_ENOTFOUND,
                       "'%s' is neither a file nor a name in %s/%s/ (set NAS_CONFIG_DIR to the "
                       "folder that holds models/ and spaces/)",
                       name_or_path, nas_config_dir(), subdir);
}
