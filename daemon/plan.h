/* SPDX-License-Identifier: MIT */
#pragma once

/* Plans: an upgrade from the release feed (mbctl upgrade now, mbctl upgrade window, policy.apply:
 * immediately) is one or more hops (stepwise across majors), each staged (staging.c) and then a
 * full upgrade by the engine that must commit before the next; the plan ends with
 * EVENT_PLAN_FINISHED, summed up as one. Also mbctl rehearse (the release staged, then rehearsed)
 * and the unattended rehearsal of what the feed staged ahead (policy.rehearse). Above the feed
 * (feed-watch.c): it asks it for the policy's hops, and learns by events that a read ended
 * (EVENT_CHECK_FINISHED: an upgrade that waited for the first feed begins), that what the policy
 * takes unattended is staged (EVENT_RELEASE_STAGED), that an operation ended (the next hop) and
 * that a rehearsal ended (a window that waited for its verdict goes on). */

#include <stdbool.h>
#include <stdint.h>

#include "manager.h"
#include "reply.h"

typedef struct Planner Planner;

/* Subscribes to the events above, last among the listeners (EVENT_ORDER_NEXT). */
int planner_new(Manager *m, Planner **ret);
Planner *planner_free(Planner *p);

/* mbctl upgrade now [--to VERSION] (version may be ""), and mbctl upgrade window. Both answer
 * with (t id, s summary); id 0 means nothing was started (nothing to do, or a dry run). */
/* who: what asked (operation.h), handed to each hop's operation. */
int plan_upgrade(
        Manager *m, const char *version, uint64_t flags, const Initiator *who, Reply *reply, Refusal *refusal);
int plan_window(Manager *m, uint64_t flags, const Initiator *who, Reply *reply, Refusal *refusal);

/* mbctl rehearse [VERSION] (version may be "": the newest allowed, else the newest): the release
 * staged, then rehearsed; answers (t id, s summary) once the rehearsal started. */
int plan_rehearse(Manager *m, const char *version, Reply *reply, Refusal *refusal);

/* What the window would apply now (the word of a release): the hops, empty when nothing; or why it
 * would refuse them. Starts nothing. */
int plan_window_preview(Manager *m, char ***ret_hops, Refusal *refusal);

/* A plan runs (the State property says "staging"). */
bool plan_busy(Manager *m);
