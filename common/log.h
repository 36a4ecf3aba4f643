/*
 * common/log.h - timestamped log lines on stderr.
 *
 * Daemons (nasd, nas-worker) log "2026-11-23T14:55:01.123Z INFO  message".
 * The level threshold and an optional component tag are process-wide settings
 * made once in main(); logging itself takes no locks beyond stdio's own.
 */
#ifndef NAS_COMMON_LOG_H
#define NAS_COMMON_LOG_H

typedef enum { NAS_LOG_DEBUG = 0, NAS_LOG_INFO, NAS_LOG_WARN, NAS_LOG_ERROR } nas_log_level;

/* Sets the minimum level printed (default INFO) and a tag such as "nasd". */
void nas_log_setup(nas_log_level min_level, const char *tag);

/* Parses "debug|info|warn|error"; returns -1 if unknown. */
int nas_log_level_parse(const char *name);

void nas_log(nas_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define nas_debug(...) nas_log(NAS_LOG_DEBUG, __VA_ARGS__)
#define nas_info(...) nas_log(NAS_LOG_INFO, __VA_ARGS__)
#define nas_warn(...) nas_log(NAS_LOG_WARN, __VA_ARGS__)
#define nas_error(...) nas_log(NAS_LOG_ERROR, __VA_ARGS__)

#endif
