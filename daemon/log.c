/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include "strv.h"

#include "log.h"

#define LOG_STRUCT_FIELDS_MAX 16U

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

/* Whether stderr is the journal stream systemd connected us to: JOURNAL_STREAM says which one
 * ("DEVICE:INODE"), and stderr must still be it (not redirected since). */
static bool stderr_is_journal(void) {
        static int cached = -1;
        unsigned long long dev, ino;
        const char *e;
        struct stat st;

        if (cached >= 0)
                return cached;
        e = getenv("JOURNAL_STREAM");
        cached = e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) >= 0 &&
                (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
        return cached;
}

void log_struct(int level, const char *message_id, char *const fields[], const char *fmt, ...) {
        _cleanup_free_ char *message = NULL, *msg_field = NULL, *prio = NULL, *id = NULL;
        int saved = errno;
        size_t n = 0, k = strv_length((char **) fields);
        va_list ap;

        if (level > max_level)
                return;
        va_start(ap, fmt);
        if (vasprintf(&message, fmt, ap) < 0)
                message = NULL;
        va_end(ap);
        if (!message)
                return;

        if (stderr_is_journal() && k <= LOG_STRUCT_FIELDS_MAX) {
                struct iovec iov[LOG_STRUCT_FIELDS_MAX + 4];

                msg_field = strdup_printf("MESSAGE=%s", message);
                prio = strdup_printf("PRIORITY=%d", level);
                id = message_id ? strdup_printf("MESSAGE_ID=%s", message_id) : NULL;
                if (msg_field && prio && (id || !message_id)) {
                        iov[n++] = (struct iovec){msg_field, strlen(msg_field)};
                        iov[n++] = (struct iovec){prio, strlen(prio)};
                        iov[n++] = (struct iovec){
                                (char *) "SYSLOG_IDENTIFIER=mbupgraded",
                                strlen("SYSLOG_IDENTIFIER=mbupgraded")};
                        if (id)
                                iov[n++] = (struct iovec){id, strlen(id)};
                        for (size_t i = 0; i < k; i++)
                                iov[n++] = (struct iovec){fields[i], strlen(fields[i])};
                        if (sd_journal_sendv(iov, (int) n) >= 0) {
                                errno = saved;
                                return;
                        }
                }
        }
        /* Not the journal, or it failed: the plain line. */
        log_internal(level, "%s", message);
        errno = saved;
}
