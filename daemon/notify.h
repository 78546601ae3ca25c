/* SPDX-License-Identifier: MIT */
#pragma once

/* Telling people. Every finished operation that changed something or failed goes to the journal
 * (structured, with a MESSAGE_ID for "upgrade committed", "rolled back" and "rollback failed"), to
 * notify.webhook (a JSON POST through mbupgraded-fetch, retried with backoff) and to
 * notify.command (/bin/sh -c, the facts in its environment and the JSON on its stdin), each only
 * of the kinds its notify.*_events lists. The word of a release (release-news.c) goes the same way. None of
 * it delays or fails an operation: deliveries run as child processes watched from the event loop. */

#include "manager.h"
#include "operation.h"

typedef struct Notifier Notifier;

/* Also sends again the webhooks a previous run of the daemon had not delivered
 * (state_dir/notify/). Tells of the operations and rehearsals that finish (events.h). */
int notifier_new(Manager *m, Notifier **ret);
Notifier *notifier_free(Notifier *n);

/* Facts that are not an operation's (a rehearsal's, the word of a release): json has "text" and
 * the webhook's other fields. To the journal (with message_id, if not NULL, and the fields as
 * MBUP_*), and to the webhook and the command whose notify.*_events list kind. */
void notify_tell(Manager *m, NotifyEvent kind, uint64_t id, int level, const char *message_id, const char *json);

/* The facts of a finished operation, as the webhook's JSON (and, one by one, the command's
 * environment): text, host, operation, result, version_from, version_to, duration_sec,
 * downtime_sec, reason, id, time. NULL on OOM. */
char *notify_facts_json(const Operation *op, const char *host);
/* The same facts as the command's environment (MBUP_TEXT, MBUP_HOST, MBUP_OPERATION, MBUP_RESULT,
 * MBUP_VERSION_FROM, ...), of a finished operation or of one under way (the hooks, hooks.h). NULL
 * on OOM. */
char **notify_facts_env(const Operation *op);
/* One line for people ("Metabase on HOST: ..."), also the JSON's "text". */
char *notify_text(const Operation *op, const char *host);
