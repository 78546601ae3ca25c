/* SPDX-License-Identifier: MIT */
#pragma once

/* mbupgraded-db's report on stdout, one line each, read by the daemon (shared/dbserver.c). */

#include "macro.h"

/* One line, printable whatever the server's messages hold: control characters and runs of
 * whitespace become one space, none at either end. */
void report_line(const char *fmt, ...) _printf_(1, 2);

/* "KEY VALUE..." with each value (up to a NULL) one token of the line protocol (lineproto.h), cut
 * at LINEPROTO_VALUE_MAX bytes: what the database holds cannot add a line or a word. */
void report_values(const char *key, ...) __attribute__((sentinel));
#define report_value(key, ...) report_values(key, __VA_ARGS__, NULL)

/* "error KIND MESSAGE" as report_line() prints it; returns 1 (the helper's exit status). */
int report_failure(const char *kind, const char *fmt, ...) _printf_(2, 3);
