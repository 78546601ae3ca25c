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
