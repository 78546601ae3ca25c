/* SPDX-License-Identifier: MIT */
#pragma once

/* The release feed as the daemon follows it: read through mbupgraded-fetch every check_every (with
 * jitter) and on mbctl check, the last good one kept (state_dir/feed.json) with what it lists and
 * the policy's verdicts on them for this installation (its site-id). After every good read the
 * release the policy takes unattended is staged ahead of time (staging.c), unless an operation or a
 * staging runs. It tells what happened by events: EVENT_CHECK_FINISHED when a read ended, then
 * EVENT_RELEASE_STAGED when what it staged ahead is staged (or not). What is then applied, and
 * when, is plan.c's, above it. The parsing itself is common/feed.c's, the verdicts common/policy.c's. */

#include "feed.h"
#include "manager.h"
#include "policy.h"
#include "reply.h"

typedef struct FeedWatch FeedWatch;

/* Reads the cached feed and the site-id (made once) and arms the first check. */
int feed_watch_new(Manager *m, FeedWatch **ret);
FeedWatch *feed_watch_free(FeedWatch *fw);

/* mbctl check (reply), or the timer and an upgrade that needs a feed (reply NULL): reads the feed;
 * answers reply with (s last check) when the read ended. Returns 1 when the read runs (or already
 * ran), a negative errno and why in refusal when it could not start. */
int feed_watch_check(Manager *m, Reply *reply, Refusal *refusal);

/* The last good feed, NULL before the first; why the last read failed, "" when it did not. */
const Feed *feed_watch_feed(Manager *m);
const char *feed_watch_error(Manager *m);
/* The policy's plan on the last good feed for this installation: the hops from the installed
 * version to version (NULL: to what the policy takes), as policy_plan() says; -ENOENT with no
 * feed. */
int feed_watch_plan(
        Manager *m, PolicyMode mode, bool force, const char *version, char ***ret_hops, char **ret_error);

/* The policy's unattended verdict on version (in the last good feed): its kind and, when not
 * eligible, why (for people; NULL when eligible). -ENOENT when the feed does not list it. */
int feed_watch_verdict(Manager *m, const char *version, VerdictKind *ret_kind, char **ret_reason);

/* mbctl list: a JSON array, one object per release with the policy's verdict. */
int feed_watch_list_json(Manager *m, char **ret);

/* For the D-Bus properties; never NULL. */
const char *feed_watch_newest_available(Manager *m);
const char *feed_watch_newest_allowed(Manager *m);
const char *feed_watch_last_check(Manager *m);
/* Fleet: why this node's own policy, unattended, refuses version; NULL when it takes it. */
char *feed_watch_policy_refuses(Manager *m, const char *version);
