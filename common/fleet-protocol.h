/* SPDX-License-Identifier: MIT */
#pragma once

/* The line protocol between the daemon and mbupgraded-db fleet-agent (dbhelper/pg-fleet.c has
 * it whole).
 *
 * The daemon's lines to the agent: space-separated tokens, "-" for an empty one, and a free-text
 * REASON last (the daemon's own values, made printable by it).
 *
 * The agent's lines to the daemon carry what any writer of the coordination database wrote (a
 * node's name, version, reason...): "KEY VALUE...", each value one token of common/lineproto.h
 * (escaped, so that nothing a row holds can add a line or a word), written by fleet_line_format()
 * and read by fleet_line_parse(), one struct for every kind of line; and "error KIND MESSAGE",
 * free text made one line as every helper's (dbhelper/report.c). */

#include <stdint.h>
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

/* A value that is a token (a name, a version, a state, a SHA-256...): at most this many bytes,
 * each of them 0x21..0x7e; a line with another is refused. A reason is anything, cut so that the
 * line fits in FLEET_LINE_MAX bytes, and kept escaped for people (lineproto_display()). */
#define FLEET_TOKEN_MAX 128U
#define FLEET_LINE_MAX 4000U

typedef enum FleetLineKind {
        FLEET_LINE_READY,     /* ready: connected */
        FLEET_LINE_CREATED,   /* created DATABASE (name) */
        FLEET_LINE_NOTIFY,    /* notify: another node changed something */
        FLEET_LINE_ROLLOUT,   /* rollout ID FROM TO SHA256 STATE LEADER BACKUP MODE WHY REASON */
        FLEET_LINE_COMMITTED, /* committed ID TO SHA256 */
        FLEET_LINE_ENDED,     /* ended ID STATE REASON */
        FLEET_LINE_NODE,      /* node NAME VERSION STATE STAGED AGE_MS ROLLOUT STEP REASON (id: ROLLOUT) */
        FLEET_LINE_FLEET,     /* fleet N (id: N) */
        FLEET_LINE_FORGED,    /* forged ID */
        FLEET_LINE_RESTORED,  /* restored ID */
        FLEET_LINE_PROPOSED,  /* proposed ID */
        FLEET_LINE_LEADER,    /* leader ID */
        FLEET_LINE_FOLLOWER,  /* follower ID LEADER */
        FLEET_LINE_SET,       /* set ID STATE */
        FLEET_LINE_BACKUP,    /* backup ID */
        FLEET_LINE_BACKUP_OK, /* backup-ok ID */
        FLEET_LINE_ERROR,     /* error KIND MESSAGE (name: KIND, reason: MESSAGE) */
        _FLEET_LINE_MAX,
} FleetLineKind;

/* One line of the agent, decoded. The strings are the line's own (malloc'd, "" for none); what a
 * kind does not have is NULL. */
typedef struct FleetLine {
        FleetLineKind kind;
        uint64_t id;
        uint64_t age_ms;
        char *name, *from, *to, *sha256, *state, *leader, *backup, *version, *staged, *step, *reason;
        /* A rollout's mode, fixed when it was proposed: "rolling" (node by node, docs/fleet.md) or
         * "all-stop" ("" in rows older than modes: all-stop); why (escaped like a reason). */
        char *mode, *mode_reason;
} FleetLine;

const char *fleet_line_kind_to_string(FleetLineKind k);

/* l as one line of the protocol, without its newline (malloc'd); NULL on OOM or for a kind that
 * is no such line (ERROR: the helpers' report_failure()). */
char *fleet_line_format(const FleetLine *l);

/* line into *ret (fleet_line_done() after); -EBADMSG for a line that is no line of the agent's:
 * an unknown key, a value that does not decode, a number that is none, a token that is none, a
 * value too many or too few. */
int fleet_line_parse(const char *line, FleetLine *ret);

void fleet_line_done(FleetLine *l);
