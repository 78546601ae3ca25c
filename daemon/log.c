/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

static int max_level = LOG_INFO;

void log_set_max_level(int level) {
        max_level = level;
}

void log_internal(int level, const char *fmt, ...) {
        static int prefix = -1;
        int saved = errno;
        va_list ap;

        if (level > max_level)
                return;
        if (prefix < 0)
                prefix = getenv("JOURNAL_STREAM") ? 1 : 0;
        if (prefix)
                fprintf(stderr, "<%d>", level);
        errno = saved;
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        errno = saved;
}
