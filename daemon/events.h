/* SPDX-License-Identifier: MIT */
#pragma once

/* What happened in the daemon, announced once by the module that owns it to the modules that
 * subscribed, so that the owner does not need to know who listens: the engine announces that an
 * operation finished, and the bus signal, the notifications, the metrics, the fleet and the
 * release plans each take it from there. Subscribers of one kind run in the order they gave
 * (lower first; equal orders as they subscribed), synchronously, from the event loop. A handler
 * may emit events itself; it may not subscribe or unsubscribe while an event is delivered.
 * Subscriptions are made once, when the modules are set up. */

#include <stdbool.h>
#include <stdint.h>

#include "operation.h"

struct Manager;

typedef enum EventKind {
        EVENT_STATE_CHANGED,      /* .names: the bus properties that changed */
        EVENT_STEP_BEGAN,         /* .op: the engine journaled a new step (op->step) */
        EVENT_OPERATION_FINISHED, /* .op: ended, in the history; the engine is idle again */
        EVENT_PLAN_FINISHED,      /* .op: a plan of several upgrades ended, summed up as one */
        EVENT_REHEARSAL_FINISHED, /* .rehearsal: a rehearsal ended (not one that never started) */
        EVENT_FLEET_PART,         /* .op, .fleet: this node's part of a rollout changed */
        EVENT_CHECK_FINISHED,     /* .ok: a read of the release feed ended */
        EVENT_RELEASE_STAGED,     /* .staged, .ok: what the policy takes unattended, staged ahead */
        EVENT_RELEASE_BLOCKED,    /* .blocked: a release the policy takes won't be applied unattended */
        _EVENT_KIND_MAX,
} EventKind;

/* A finished rehearsal's facts, as its owner (rehearse.c) announces them. */
typedef struct RehearsalEnd {
        uint64_t id;
        const char *version;      /* rehearsed */
        const char *from_version; /* installed while it ran */
        const char *result;       /* rehearsal_result_to_string() */
        int result_code;          /* RehearsalResult */
        bool verdict;             /* passed, failed or a warning: not canceled, not skipped */
        const char *database;     /* what was copied, for people */
        const char *reason;
        uint64_t started_usec, finished_usec;
        uint64_t migration_usec; /* from start to healthy; 0 when it never got there */
} RehearsalEnd;

/* A release the feed staged ahead of time (feed-watch.c): verified (.ok), or refused or failed.
 * Emitted after EVENT_CHECK_FINISHED's handlers ran. Who listens: plan.c at EVENT_ORDER_NEXT
 * (rehearses it with policy.rehearse, applies it with policy.apply: immediately); notifications
 * of it would come before, at EVENT_ORDER_TELL. EVENT_CHECK_FINISHED: the metrics at
 * EVENT_ORDER_RECORD, then plan.c at EVENT_ORDER_NEXT (an upgrade that waited for the feed). */
typedef struct StagedRelease {
        const char *version; /* NULL when the stage's path did not say */
        const char *jar;     /* the verified JAR under state_dir/staging */
        const char *sha256;  /* what it was verified with */
        bool refused;        /* not .ok: verification said no (bad content), else it failed */
        const char *error;
} StagedRelease;

/* A release that unattended upgrades will not apply, and why, as the plans (plan.c) find it: its
 * unattended upgrade failed (pre-flight refused it: a database server too old; it rolled back), a
 * failed rehearsal refuses it, it would not fit in policy.window_max. A failed rehearsal itself is
 * EVENT_REHEARSAL_FINISHED's, a refused stage EVENT_RELEASE_STAGED's. Who listens: the word of a
 * release (release-news.c). */
typedef struct BlockedRelease {
        const char *version;
        const char *reason;     /* for people */
        const char *what_to_do; /* for people: the command that would apply it anyway, or the fix */
} BlockedRelease;

/* What the engine asks of the fleet with EVENT_FLEET_PART. */
typedef enum FleetAsk {
        FLEET_ASK_TELL,    /* say this node's new step (a heartbeat now) */
        FLEET_ASK_PROPOSE, /* pre-flight passed: propose the rollout */
        FLEET_ASK_RECORD,  /* the leader's backup is taken: record where */
} FleetAsk;

typedef struct Event {
        EventKind kind;
        const Operation *op;
        const RehearsalEnd *rehearsal;
        const StagedRelease *staged;
        const BlockedRelease *blocked;
        char *const *names;
        FleetAsk fleet;
        bool ok;
} Event;

/* The orders the modules use, so that who runs before whom is read in one place. */
enum {
        EVENT_ORDER_RECORD = 10, /* what others read afterwards: metrics, the fleet's step */
        EVENT_ORDER_TELL = 20,   /* people: journal, webhook, command */
        EVENT_ORDER_SIGNAL = 30, /* D-Bus signals: a client waiting for the end sees the above done */
        EVENT_ORDER_NEXT = 90,   /* what starts new work (a plan's next hop, plan.c): last */
};

typedef void (*EventHandler)(struct Manager *m, const Event *e, void *userdata);

typedef struct Events Events;

int events_new(Events **ret);
Events *events_free(Events *e);
int events_subscribe(Events *e, EventKind kind, int order, EventHandler handler, void *userdata);
/* Delivers e to the subscribers of e->kind; nothing when m has no registry. */
void events_emit(struct Manager *m, const Event *e);
