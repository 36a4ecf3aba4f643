/* common/log.c - see log.h. */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static nas_log_level log_min_level = NAS_LOG_INFO;
static char log_tag[32] = "";

void nas_log_setup(nas_log_level min_level, const char *tag) {
    log_min_level = min_level;
    snprintf(log_tag, sizeof log_tag, "%s", tag ? tag : "");
}

int nas_log_level_parse(const char *name) {
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (name && strcasecmp(name, names[i]) == 0) return i;
    return -1;
}

void nas_log(nas_log_level level, const char *fmt, ...) {
    if (level < log_min_level) return;
    static const char *labels[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char stamp[40];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    char line[4096];
    int n = snprintf(line, sizeof line, "%s.%03ldZ %s %s%s%s", stamp, (long)(tv.tv_usec / 1000),
                     labels[level], log_tag, log_tag[0] ? "[" : "", "");
    if (log_tag[0]) n += snprintf(line + n, sizeof line - (size_t)n, "%d] ", (int)getpid());
    if (n < 0 || (size_t)n >= sizeof line) n = (int)sizeof line - 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    /* One fputs per line so concurrent processes sharing stderr do not interleave mid-line. */
    size_t len = strlen(line);
    if (len + 1 < sizeof line) { line[len] = '\n'; line[len + 1] = '\0'; }
    fputs(line, stderr);
    fflush(stderr);
}
