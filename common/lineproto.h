/* SPDX-License-Identifier: MIT */
#pragma once

/* The values in the line protocol of the helpers (mbupgraded-db) and the daemon: a line is a key
 * and then values, each one token separated by one space. A value is encoded so that whatever a
 * database holds (a DATABASECHANGELOG.ID or LOCKEDBY with a newline, NUL, spaces, escapes) stays
 * one token: the bytes 0x21..0x7e other than '\' as they are, every other byte as "\xHH"; the
 * empty value is "-", and a value that is "-" is "\x2d". One encoder, one decoder, for both ends. */

#include <stddef.h>
#include <string.h>

/* A value longer than this is cut by the helper (the line stays below the daemon's line limit,
 * 4096 bytes, even when every byte needs an escape). */
#define LINEPROTO_VALUE_MAX 512

/* n bytes of p as one token (malloc'd); NULL on OOM. */
char *lineproto_encode(const void *p, size_t n);
static inline char *lineproto_encode_str(const char *s) {
        return lineproto_encode(s, s ? strlen(s) : 0);
}

/* Decodes the token of n bytes at t: a malloc'd buffer of *ret_len bytes and a NUL after them.
 * -EBADMSG when t is no token the encoder makes (a byte outside 0x21..0x7e, a bad escape). */
int lineproto_decode(const char *t, size_t n, char **ret, size_t *ret_len);

/* Splits a line into its decoded words (the key too): a strv. -EBADMSG on a word that does not
 * decode or decodes to a string with a NUL, or on two spaces in a row. */
int lineproto_split(const char *line, char ***ret);

/* s for a person: printable ASCII as it is, every other byte escaped ("\n", "\t", "\\", "\xHH"),
 * so a value shows what it holds and cannot break a line, a log or a D-Bus string. */
char *lineproto_display(const char *s);
