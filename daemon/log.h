/* SPDX-License-Identifier: MIT */
#pragma once

/* Logging to stderr. Under systemd the journal reads the "<N>" priority prefix (SyslogLevelPrefix=
 * is on by default); run by hand, the prefix is left out. The *_errno variants set errno from r so
 * that %m works, and return r. */

#include <errno.h>
#include <syslog.h>

#include "macro.h"

void log_set_max_level(int level);
void log_internal(int level, const char *fmt, ...) _printf_(2, 3);

#define log_full_errno(level, r, ...)             \
        ({                                        \
                int _r_ = (r);                    \
                errno = _r_ < 0 ? -_r_ : _r_;     \
                log_internal(level, __VA_ARGS__); \
                _r_ < 0 ? _r_ : -_r_;             \
        })

#define log_debug(...) log_internal(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_internal(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_internal(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_internal(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_internal(LOG_ERR, __VA_ARGS__)
#define log_error_errno(r, ...) log_full_errno(LOG_ERR, r, __VA_ARGS__)
#define log_warning_errno(r, ...) log_full_errno(LOG_WARNING, r, __VA_ARGS__)

/* Fixed MESSAGE_IDs, so that `journalctl MESSAGE_ID=...` finds every one of these events. */
#define MESSAGE_ID_UPGRADE_COMMITTED "0207a5fcdc8749d5a4cc5df14b489860"
#define MESSAGE_ID_ROLLED_BACK "61ebd1e5ea354dc2b440215c454b3ccc"
#define MESSAGE_ID_ROLLBACK_FAILED "f8043dd99ee3445296bb6c04c46fd745"
#define MESSAGE_ID_NEW_RELEASE "0c6cb5f8b335419eb7e59752749ba5bb"

/* A message with a MESSAGE_ID and fields of its own (NULL-terminated "KEY=value" strings): sent to
 * the journal natively when stderr is a journal stream (JOURNAL_STREAM names it), otherwise
 * printed like any other line. message_id may be NULL. */
void log_struct(int level, const char *message_id, char *const fields[], const char *fmt, ...) _printf_(4, 5);
