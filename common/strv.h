/* SPDX-License-Identifier: MIT */
#pragma once

/* NULL-terminated string arrays and a few string helpers. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

char **strv_free(char **l);
size_t strv_length(char *const *l);
/* Appends a copy of s; -ENOMEM on failure, l untouched. */
int strv_extend(char ***l, const char *s);
bool strv_contains(char *const *l, const char *s);
char **strv_copy(char *const *l);

/* Returns a newly allocated printf-formatted string, NULL on OOM. */
char *strdup_printf(const char *fmt, ...) _printf_(1, 2);

/* Replaces *p with a copy of s (NULL allowed). -ENOMEM on failure, *p untouched. */
int free_and_strdup(char **p, const char *s);
/* *p replaced by the formatted text (NULL when out of memory). */
void free_and_printf(char **p, const char *fmt, ...) _printf_(2, 3);

/* Checked unsigned parsing: the whole string must be a decimal number that fits. */
int safe_atou64(const char *s, uint64_t *ret);
int safe_atou(const char *s, unsigned *ret);

bool startswith(const char *s, const char *prefix);

/* The index of s in a table of names (NULL entries allowed), or -EINVAL: for the
 * foo_from_string() functions. */
int string_table_lookup(const char *const *table, size_t n, const char *s);

/* Sets *ret_error (if ret_error is non-NULL) to a formatted message and returns r; -ENOMEM if
 * the message can't be made. */
int set_error_message(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
bool endswith(const char *s, const char *suffix);

/* A copy of the first n bytes of s that is safe to put in a message for a person: every byte
 * outside printable ASCII (NUL included) becomes '?', and when there are more than max bytes the
 * copy is cut there and ends with "...". NULL on OOM. */
char *strndup_sanitized(const char *s, size_t n, size_t max);

/* s holds a character a terminal may act on: a C0 control, DEL, or a C1 control (U+0080..U+009F,
 * in UTF-8 0xC2 0x80..0x9F). For strings from callers that end up in logs, status and messages. */
bool string_has_control_chars(const char *s);
