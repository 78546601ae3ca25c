/* SPDX-License-Identifier: MIT */
#pragma once

/* The line protocol between the daemon and mbupgraded-db fleet-agent (dbhelper/pg-fleet.c has
 * it whole): space-separated tokens, "-" for an empty one, and a free-text REASON last. */

#include <string.h>

#include "macro.h"

static inline const char *fleet_token_to_string(const char *token) {
        return streq(token, "-") ? "" : token;
}

static inline const char *fleet_string_to_token(const char *s) {
        return isempty(s) ? "-" : s;
}

/* What follows the first n words of line (and the spaces after them): the REASON. */
static inline const char *fleet_after_words(const char *line, unsigned n) {
        for (unsigned i = 0; i < n; i++) {
                line += strspn(line, " ");
                line += strcspn(line, " ");
        }
        return line + strspn(line, " ");
}
