/* SPDX-License-Identifier: MIT */
#pragma once

/* Which releases of a feed the policy allows, and the plan (the hops, in order) to reach a target.
 * Pure: the caller passes the clock, the installed version and the site id; no I/O, no logging.
 *
 * Unattended decisions (mbctl upgrade window, policy.apply: immediately) apply every rule. An
 * admin's decision (mbctl upgrade now) ignores min_age, allow and staged rollouts; a hold still
 * applies unless forced, and policy.skip and releases.follow: latest (nothing newer than the
 * feed's "latest") unless the admin named that very version. When upgrades run at all
 * (policy.apply) is the caller's business. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "feed.h"
#include "version.h"

typedef enum PolicyMode {
        POLICY_UNATTENDED, /* every rule applies */
        POLICY_ADMIN,      /* min_age, allow and rollout do not apply */
        _POLICY_MODE_MAX,
        _POLICY_MODE_INVALID = -EINVAL,
} PolicyMode;

typedef struct PolicyInput {
        const Config *config; /* policy.{allow,min_age,hold,skip,stepwise}, releases.{edition,channel} */
        MbVersion installed;
        PolicyMode mode;
        bool hold;           /* the daemon's runtime hold (mbctl hold), OR'ed with policy.hold */
        bool force;          /* POLICY_ADMIN only (mbctl upgrade now --force): a hold does not apply */
        uint64_t now_usec;   /* CLOCK_REALTIME */
        const char *site_id; /* the installation's stable id, for staged rollouts; NULL = none */
} PolicyInput;

/* Why a release is not eligible; the first rule that fails, in this order. */
typedef enum VerdictKind {
        VERDICT_ELIGIBLE,
        VERDICT_INSTALLED,  /* "installed" */
        VERDICT_EDITION,    /* "other edition (enterprise)" */
        VERDICT_OLDER,      /* "older than the installed v0.56.2" */
        VERDICT_BETA,       /* "beta": a beta, and releases.channel is latest */
        VERDICT_SKIPPED,    /* "skipped (policy.skip)" */
        VERDICT_HOLD,       /* "upgrades are on hold" */
        VERDICT_TOO_NEW,    /* "too new: released 2025-01-05, min_age 7d, eligible from 2025-01-12", or
                             * "release date unknown, min_age 7d" */
        VERDICT_STEP,       /* "a major step; policy.allow is minor" */
        VERDICT_ROLLOUT,    /* "staged rollout at 20%; this installation's bucket is 63" */
        VERDICT_UNPROMOTED, /* "newer than latest v0.57.1: not promoted by Metabase yet", with
                             * releases.follow: latest (checked right after VERDICT_BETA) */
        _VERDICT_KIND_MAX,
        _VERDICT_KIND_INVALID = -EINVAL,
} VerdictKind;

typedef struct ReleaseVerdict {
        const Release *release; /* points into the feed */
        bool eligible;
        VerdictKind kind;
        char *reason; /* for people; NULL when eligible */
} ReleaseVerdict;

/* One verdict per release of the feed, in the feed's order (newest first). *ret is NULL when the
 * feed is empty. -ENOMEM. */
int policy_evaluate(const Feed *f, const PolicyInput *in, ReleaseVerdict **ret, size_t *ret_n);
ReleaseVerdict *release_verdicts_free(ReleaseVerdict *v, size_t n);

/* The versions to install, in order, as a NULL-terminated list (empty, not NULL, when there is
 * nothing to do: the target is installed or nothing newer is eligible). target_or_null NULL means
 * the newest eligible release: with releases.follow: latest, never one newer than the feed's
 * "latest" (the beta channel's beta aside); with newest, the newest in the feed.
 * With policy.stepwise and a target more than one major ahead, one hop per intermediate major (its
 * newest release that passes the rules, never a beta), then the target. Unattended, every hop must
 * be eligible; for an admin, only edition, beta, skip and hold apply to hops, and skip not to a
 * target the admin named.
 * Errors, with a message in *ret_error (if non-NULL) for all but -ENOMEM:
 *   -EINVAL the target is not a valid version;
 *   -ENOENT the target is not in the feed, or the feed has no usable release of an intermediate
 *           major;
 *   -EPERM  the policy does not allow it: "v0.57.2: upgrades are on hold". Also when target_or_null
 *           is NULL and a hold is all that stops the newest eligible release. */
int policy_plan(
        const Feed *f, const PolicyInput *in, const char *target_or_null, char ***ret_hops, char **ret_error);

/* The installation's staged-rollout bucket for the installed major, 0..99: the first 4 bytes
 * (big-endian) of SHA-256("{site_id}-{major}") modulo 100. 99 (the last to get anything) if hashing
 * fails. Metabase's own threshold (src/metabase/version/settings.clj, upgrade-threshold) is
 * hash("{site-uuid}-{current major}") mod 100 with Clojure's hash and Metabase's site-uuid: the
 * same rule, another draw. */
unsigned policy_rollout_bucket(const char *site_id, unsigned major);

/* How the "latest" entry's staged rollout applies to this installation. As in Metabase
 * (prevent-upgrade? in src/metabase/version/settings.clj) only the "latest" entry's rollout
 * counts, and only for a major upgrade: latest of the installed major is for everyone. Unlike
 * Metabase (which admits bucket <= R), a rollout of R admits the buckets below R: R% of
 * installations, none at 0%. */
typedef struct RolloutState {
        int rollout;     /* latest's, 0..100; -1: none */
        bool applies;    /* a rollout below 100 and a major upgrade from the installed version */
        bool has_bucket; /* there is a site id */
        unsigned bucket; /* policy_rollout_bucket(site_id, installed major) */
        bool admitted;   /* latest is not held back by its rollout */
} RolloutState;
void policy_rollout_state(const Release *latest, const PolicyInput *in, RolloutState *ret);

const char *policy_mode_to_string(PolicyMode m); /* "unattended", "admin" */
PolicyMode policy_mode_from_string(const char *s);
/* "eligible", "installed", "edition", "older", "beta", "skipped", "hold", "too-new", "step",
 * "rollout", "unpromoted" */
const char *verdict_kind_to_string(VerdictKind k);
VerdictKind verdict_kind_from_string(const char *s);
