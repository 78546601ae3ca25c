/* SPDX-License-Identifier: MIT */
#pragma once

/* Releases: polls the feed (every check_every, with jitter, and on mbctl check), decides with the
 * policy, stages and verifies JARs ahead of time under state_dir/staging, and runs plans: one or
 * more hops, each a full upgrade by the engine that must commit before the next. */

#include "child.h"
#include "manager.h"
#include "reply.h"
#include "staging.h"

typedef struct Releases Releases;

int releases_new(Manager *m, Releases **ret);
Releases *releases_free(Releases *r);

/* mbctl check: answers reply (NULL for the timer) with (s last check) when the feed has been read. */
int releases_check(Manager *m, Reply *reply, Refusal *refusal);
/* mbctl upgrade now [--to VERSION] (version may be ""), and mbctl upgrade window. Both answer
 * with (t id, s summary); id 0 means nothing was started (nothing to do, or a dry run). */
/* who: what asked (operation.h), handed to each hop's operation. */
int releases_upgrade(
        Manager *m, const char *version, uint64_t flags, const Initiator *who, Reply *reply, Refusal *refusal);
int releases_window(Manager *m, uint64_t flags, const Initiator *who, Reply *reply, Refusal *refusal);

/* mbctl list: a JSON array, one object per release with the policy's verdict. */
int releases_list_json(Manager *m, char **ret);

/* mbctl rehearse [VERSION] (version may be "": the newest allowed, else the newest): the release
 * staged, then rehearsed; answers (t id, s summary) once the rehearsal started. */
int releases_rehearse(Manager *m, const char *version, Reply *reply, Refusal *refusal);
/* releases_new() listens to operations ending (a plan goes on with its next hop) and to
 * rehearsals ending (a window that waited for one goes on; with policy.apply: immediately a
 * passed release is applied). */

/* For the D-Bus properties; never NULL. */
const char *releases_newest_available(Manager *m);
const char *releases_newest_allowed(Manager *m);
const char *releases_last_check(Manager *m);
bool releases_busy(Manager *m);
/* Fleet: why this node's own policy, unattended, refuses version; NULL when it takes it. */
char *releases_policy_refuses(Manager *m, const char *version);
