/* SPDX-License-Identifier: MIT */
#pragma once

/* How the modules answer a request: at once with an outcome and a reason (a Refusal), or later,
 * once they decided (an upgrade after its pre-flight), through the Reply the request came with.
 * Only reply.c and bus-api.c know that the requests come over D-Bus: below them the modules speak
 * outcomes and reasons. */

#include <stdint.h>

#include "macro.h"

typedef enum Outcome {
        OUTCOME_OK,
        OUTCOME_FAILED,   /* it went wrong (org.freedesktop.DBus.Error.Failed) */
        OUTCOME_REFUSED,  /* a rule said no; nothing changed (mbctl's exit code 5) */
        OUTCOME_BUSY,     /* another operation runs */
        OUTCOME_NOTHING,  /* nothing to do */
        OUTCOME_TOO_LATE, /* past the point where it could be done */
        OUTCOME_INVALID,  /* the request itself is wrong */
        OUTCOME_CONFIRM,  /* it loses data: only if the caller confirms (mbctl's exit code 5) */
        _OUTCOME_MAX,
} Outcome;

/* A request refused or failed at once: why, for the caller. */
typedef struct Refusal {
        Outcome outcome;
        char *reason;
} Refusal;

#define REFUSAL_NULL ((Refusal){.outcome = OUTCOME_OK})

/* Sets outcome and reason (formatted); returns err, a negative errno (-EPERM when 0). */
int refusal_set(Refusal *r, Outcome outcome, int err, const char *fmt, ...) _printf_(4, 5);
void refusal_done(Refusal *r);

/* One caller waiting for the answer to its request. */
typedef struct Reply Reply;
struct sd_bus_message;

/* For bus-api.c: the answer will go to call. */
Reply *reply_new(struct sd_bus_message *call);
Reply *reply_ref(Reply *r);
Reply *reply_unref(Reply *r);
DEFINE_POINTER_CLEANUP(Reply, reply_unref, reply_unrefp)

/* The answer: the first of these for a Reply goes to the caller, the others are ignored; nothing
 * when r is NULL (nobody waits). The holders' references are theirs to drop. */
void reply_accepted(Reply *r, uint64_t id, const char *summary); /* (t id, s summary) */
void reply_text(Reply *r, const char *text);                     /* (s text) */
void reply_done(Reply *r);                                       /* () */
void reply_refused(Reply *r, Outcome outcome, const char *reason);
/* A refusal that was said at once (r < 0), as the answer; returns r. */
int reply_refusal(Reply *reply, int r, const Refusal *refusal);

/* The D-Bus error name of an outcome (NULL for OUTCOME_OK). */
const char *outcome_to_error_name(Outcome o);
