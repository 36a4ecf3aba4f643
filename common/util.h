/*
 * common/util.h - time, growable strings and config-file lookup.
 *
 * Small helpers every subsystem needs; nothing here knows about NAS.
 */
#ifndef NAS_COMMON_UTIL_H
#define NAS_COMMON_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Monotonic seconds (for durations and deadlines). */
double nas_now_monotonic(void);
/* Wall-clock seconds since the epoch (for timestamps in the store). */
double nas_now_wall(void);

/* A growable NUL-terminated string. Zero-initialise, append, take or free. */
typedef struct nas_sb {
    char *data;
    size_t len, cap;
    bool failed; /* an allocation failed; data holds what fit */
} nas_sb;

void nas_sb_append(nas_sb *sb, const char *s);
void nas_sb_appendn(nas_sb *sb, const char *s, size_t n);
void nas_sb_printf(nas_sb *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void nas_sb_vprintf(nas_sb *sb, const char *fmt, va_list ap);
/* Returns the malloc'd string (never NULL unless failed) and resets sb. */
char *nas_sb_take(nas_sb *sb);
void nas_sb_free(nas_sb *sb);

/* Reads a whole file into a malloc'd NUL-terminated buffer (max_bytes cap). */
int nas_read_file(const char *path, size_t max_bytes, char **out, size_t *len, nas_err *err);

/* Makes sure OpenMP's idle threads sleep instead of spinning: when
 * OMP_WAIT_POLICY is unset, sets it to "passive" and re-executes the program
 * (/proc/self/exe) with the same argv. OpenMP reads the variable once, when
 * the library loads, so it cannot be changed later in the process. Spinning
 * threads made CPU training up to 4x slower when two workers or other jobs
 * share the cores (bench/RESULTS.md); a user who sets the variable keeps it.
 * Returns only when nothing had to be done or exec failed (then the program
 * goes on with the default policy). */
void nas_omp_passive_reexec(char **argv);

/* Directory holding the shipped configs (configs/models, configs/spaces):
 * $NAS_CONFIG_DIR if set, else the source tree's configs/ compiled in by meson. */
const char *nas_config_dir(void);

/* Resolves "name" or a path: if it names an existing file, that path; else
 * <config_dir>/<subdir>/<name>.yaml. Writes a malloc'd path to *out or returns
 * NAS_ENOTFOUND with a message listing where it looked. */
int nas_config_resolve(const char *name_or_path, const char *subdir, char **out, nas_err *err);

#endif
