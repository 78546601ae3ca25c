/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <time.h>

#include "macro.h"
#include "policy.h"
#include "strv.h"

/* How the rules are applied to one release. */
typedef struct Rules {
        bool named;       /* the admin named this very release: skip and channel don't apply */
        bool ignore_hold; /* looking for what a hold holds back */
        bool hop;         /* an intermediate step of a stepwise plan: never a beta */
} Rules;

unsigned policy_rollout_bucket(const char *site_id, unsigned major) {
        unsigned char md[EVP_MAX_MD_SIZE];
        _cleanup_free_ char *s = NULL;
        unsigned n = 0;
        uint32_t v;

        s = strdup_printf("%s-%u", strempty(site_id), major);
        if (!s || EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL) != 1 || n < 4)
                return 99;

        v = (uint32_t) md[0] << 24 | (uint32_t) md[1] << 16 | (uint32_t) md[2] << 8 | (uint32_t) md[3];
        return v % 100;
}

static bool policy_holds(const PolicyInput *in) {
        return (in->hold || in->config->policy.hold) && !(in->mode == POLICY_ADMIN && in->force);
}

static bool is_skipped(const Config *c, const MbVersion *v) {
        for (size_t i = 0; c->policy.skip && c->policy.skip[i]; i++) {
                MbVersion s;

                if (mb_version_parse(c->policy.skip[i], &s) >= 0 && mb_version_compare(&s, v) == 0)
                        return true;
        }
        return false;
}

/* The first second of the year 10000. */
#define DATE_SECONDS_MAX UINT64_C(253402300800)

/* "2025-01-12", or "2025-01-12 06:00:00 UTC" when not at midnight. */
static void format_date(uint64_t usec, char *buf, size_t n) {
        time_t t = (time_t) (usec / USEC_PER_SEC);
        struct tm tm;

        if (usec / USEC_PER_SEC >= DATE_SECONDS_MAX || !gmtime_r(&t, &tm)) {
                (void) snprintf(buf, n, "a date too far away");
                return;
        }
        if (strftime(buf, n, (usec / USEC_PER_SEC) % 86400 == 0 ? "%Y-%m-%d" : "%Y-%m-%d %H:%M:%S UTC", &tm) ==
            0)
                (void) snprintf(buf, n, "?");
}

static int verdict_set(VerdictKind kind, VerdictKind *ret_kind, char **ret_reason, const char *fmt, ...)
        _printf_(4, 5);
static int verdict_set(VerdictKind kind, VerdictKind *ret_kind, char **ret_reason, const char *fmt, ...) {
        va_list ap;
        char *s;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0) {
                va_end(ap);
                return -ENOMEM;
        }
        va_end(ap);
        *ret_kind = kind;
        *ret_reason = s;
        return 0;
}

void policy_rollout_state(const Release *latest, const PolicyInput *in, RolloutState *ret) {
        assert(in);
        assert(ret);

        *ret = (RolloutState){.rollout = latest ? latest->rollout : -1, .admitted = true};
        if (!latest)
                return;
        if (in->site_id) {
                ret->has_bucket = true;
                ret->bucket = policy_rollout_bucket(in->site_id, in->installed.major);
        }
        /* Metabase: "it's the same or a minor release" -> shown to everyone. */
        ret->applies = latest->rollout >= 0 && latest->rollout < 100 && latest->v.major != in->installed.major;
        if (ret->applies)
                ret->admitted = ret->has_bucket && ret->bucket < (unsigned) latest->rollout;
}

/* The first rule the release fails, with a reason for people (NULL when eligible). latest is the
 * feed's "latest" entry. -ENOMEM. */
static int release_verdict(
        const Release *r,
        const Release *latest,
        const PolicyInput *in,
        const Rules *rules,
        VerdictKind *ret_kind,
        char **ret_reason) {

        char installed[MB_VERSION_STRING_MAX + 1], dur[64];
        const Config *c = in->config;
        bool admin = in->mode == POLICY_ADMIN;
        unsigned want_edition = c->releases.edition == EDITION_ENTERPRISE ? 1 : 0;
        VersionStep step;
        int cmp;

        cmp = mb_version_compare(&r->v, &in->installed);
        if (cmp == 0)
                return verdict_set(VERDICT_INSTALLED, ret_kind, ret_reason, "installed");
        if (r->v.edition != want_edition)
                return verdict_set(
                        VERDICT_EDITION,
                        ret_kind,
                        ret_reason,
                        "other edition (%s)",
                        edition_to_string(r->v.edition == 1 ? EDITION_ENTERPRISE : EDITION_OSS));
        if (cmp < 0)
                return verdict_set(
                        VERDICT_OLDER,
                        ret_kind,
                        ret_reason,
                        "older than the installed %s",
                        mb_version_format(&in->installed, installed));
        if (r->beta && (rules->hop || (c->releases.channel != CHANNEL_BETA && !rules->named)))
                return verdict_set(VERDICT_BETA, ret_kind, ret_reason, "beta");
        /* Metabase recommends "latest" (its UI offers that entry only); a release in "older" that is
         * newer was not promoted yet, and a hotfix never is (release/src/version-info.ts). */
        if (c->releases.follow == FOLLOW_LATEST && !r->beta && !rules->named && !rules->hop && latest &&
            mb_version_compare(&r->v, &latest->v) > 0)
                return verdict_set(
                        VERDICT_UNPROMOTED,
                        ret_kind,
                        ret_reason,
                        r->v.has_hotfix
                                ? "a hotfix newer than latest %s: Metabase never promotes hotfixes "
                                  "(releases.follow: newest takes them)"
                                : "newer than latest %s: not promoted by Metabase yet (releases.follow: latest)",
                        latest->version);
        if (!rules->named && is_skipped(c, &r->v))
                return verdict_set(VERDICT_SKIPPED, ret_kind, ret_reason, "skipped (policy.skip)");
        if (!rules->ignore_hold && policy_holds(in))
                return verdict_set(VERDICT_HOLD, ret_kind, ret_reason, "upgrades are on hold");

        if (!admin) {
                uint64_t min_age = c->policy.min_age_usec;

                if (min_age > 0) {
                        (void) format_duration(min_age, dur, sizeof(dur));

                        /* Without a date its age can't be told: wait for a feed that has one. */
                        if (r->released_usec == 0)
                                return verdict_set(
                                        VERDICT_TOO_NEW,
                                        ret_kind,
                                        ret_reason,
                                        "release date unknown, min_age %s",
                                        dur);

                        if (in->now_usec < r->released_usec || in->now_usec - r->released_usec < min_age) {
                                char from[64];
                                uint64_t t = r->released_usec > UINT64_MAX - min_age
                                        ? UINT64_MAX
                                        : r->released_usec + min_age;

                                format_date(t, from, sizeof(from));
                                return verdict_set(
                                        VERDICT_TOO_NEW,
                                        ret_kind,
                                        ret_reason,
                                        "too new: released %s, min_age %s, eligible from %s",
                                        strempty(r->released),
                                        dur,
                                        from);
                        }
                }

                step = mb_version_step(&in->installed, &r->v);
                if (step > c->policy.allow)
                        return verdict_set(
                                VERDICT_STEP,
                                ret_kind,
                                ret_reason,
                                "a %s step; policy.allow is %s",
                                version_step_to_string(step),
                                version_step_to_string(c->policy.allow));

                if (r->latest) {
                        RolloutState rs;

                        policy_rollout_state(r, in, &rs);
                        if (rs.applies && !rs.admitted && !rs.has_bucket)
                                return verdict_set(
                                        VERDICT_ROLLOUT,
                                        ret_kind,
                                        ret_reason,
                                        "staged rollout at %d%%; this installation has no site id",
                                        rs.rollout);
                        if (rs.applies && !rs.admitted)
                                return verdict_set(
                                        VERDICT_ROLLOUT,
                                        ret_kind,
                                        ret_reason,
                                        "staged rollout at %d%%; this installation's bucket is %u",
                                        rs.rollout,
                                        rs.bucket);
                }
        }

        *ret_kind = VERDICT_ELIGIBLE;
        *ret_reason = NULL;
        return 0;
}

ReleaseVerdict *release_verdicts_free(ReleaseVerdict *v, size_t n) {
        if (!v)
                return NULL;
        for (size_t i = 0; i < n; i++)
                free(v[i].reason);
        free(v);
        return NULL;
}

static void assert_input(const PolicyInput *in) {
        assert(in);
        assert(in->config);
        assert(in->mode == POLICY_UNATTENDED || in->mode == POLICY_ADMIN);
}

int policy_evaluate(const Feed *f, const PolicyInput *in, ReleaseVerdict **ret, size_t *ret_n) {
        ReleaseVerdict *v = NULL;
        int r;

        assert(f);
        assert_input(in);
        assert(ret);
        assert(ret_n);

        if (f->n > 0) {
                v = calloc(f->n, sizeof(ReleaseVerdict));
                if (!v)
                        return -ENOMEM;
        }

        for (size_t i = 0; i < f->n; i++) {
                v[i].release = &f->releases[i];
                r = release_verdict(
                        &f->releases[i], feed_latest(f), in, &(const Rules){}, &v[i].kind, &v[i].reason);
                if (r < 0) {
                        release_verdicts_free(v, f->n);
                        return r;
                }
                v[i].eligible = v[i].kind == VERDICT_ELIGIBLE;
        }

        *ret = v;
        *ret_n = f->n;
        return 0;
}

/* The newest release of one major that may be an intermediate hop. -ENOENT when the feed has no
 * release of that major in our edition, -EPERM when none passes, with the newest one's reason. */
static int pick_hop(
        const Feed *f,
        const PolicyInput *in,
        unsigned major,
        const char *target,
        const Release **ret,
        char **ret_error) {

        unsigned want_edition = in->config->releases.edition == EDITION_ENTERPRISE ? 1 : 0;
        _cleanup_free_ char *first_reason = NULL;
        const Release *first = NULL;
        int r;

        for (size_t i = 0; i < f->n; i++) {
                const Release *rel = &f->releases[i];
                _cleanup_free_ char *reason = NULL;
                VerdictKind kind;

                if (rel->v.major < major) /* newest first: no more of this major */
                        break;
                if (rel->v.major != major || rel->v.edition != want_edition)
                        continue;

                r = release_verdict(rel, feed_latest(f), in, &(const Rules){.hop = true}, &kind, &reason);
                if (r < 0)
                        return r;
                if (kind == VERDICT_ELIGIBLE) {
                        *ret = rel;
                        return 0;
                }
                if (!first) {
                        first = rel;
                        first_reason = TAKE_PTR(reason);
                }
        }

        if (!first)
                return set_error_message(
                        ret_error,
                        -ENOENT,
                        "the feed has no release of major %u to step through on the way to %s (policy.stepwise)",
                        major,
                        target);
        return set_error_message(
                ret_error,
                -EPERM,
                "no release of major %u can be a step on the way to %s (policy.stepwise); the newest, %s: %s",
                major,
                target,
                first->version,
                first_reason);
}

int policy_plan(
        const Feed *f, const PolicyInput *in, const char *target_or_null, char ***ret_hops, char **ret_error) {

        _cleanup_strv_free_ char **hops = NULL;
        const Release *target = NULL;
        int r;

        assert(f);
        assert_input(in);
        assert(ret_hops);

        hops = calloc(1, sizeof(char *));
        if (!hops)
                return -ENOMEM;

        if (target_or_null) {
                _cleanup_free_ char *reason = NULL;
                VerdictKind kind;

                if (!mb_version_is_valid(target_or_null)) {
                        _cleanup_free_ char *q = strndup_sanitized(target_or_null, strlen(target_or_null), 40);

                        if (!q)
                                return -ENOMEM;
                        return set_error_message(ret_error, -EINVAL, "'%s' is not a valid version", q);
                }
                target = feed_find(f, target_or_null);
                if (!target)
                        return set_error_message(
                                ret_error, -ENOENT, "%s is not in the release feed", target_or_null);

                r = release_verdict(
                        target,
                        feed_latest(f),
                        in,
                        &(const Rules){.named = in->mode == POLICY_ADMIN},
                        &kind,
                        &reason);
                if (r < 0)
                        return r;
                if (kind == VERDICT_INSTALLED) {
                        *ret_hops = TAKE_PTR(hops);
                        return 0;
                }
                if (kind != VERDICT_ELIGIBLE)
                        return set_error_message(ret_error, -EPERM, "%s: %s", target->version, reason);
        } else {
                /* Find what would be installed without a hold, to tell that a hold is what stops it. */
                for (size_t i = 0; i < f->n && !target; i++) {
                        _cleanup_free_ char *reason = NULL;
                        VerdictKind kind;

                        r = release_verdict(
                                &f->releases[i],
                                feed_latest(f),
                                in,
                                &(const Rules){.ignore_hold = true},
                                &kind,
                                &reason);
                        if (r < 0)
                                return r;
                        if (kind == VERDICT_ELIGIBLE)
                                target = &f->releases[i];
                }
                if (!target) {
                        *ret_hops = TAKE_PTR(hops);
                        return 0;
                }
                if (policy_holds(in))
                        return set_error_message(
                                ret_error, -EPERM, "%s: upgrades are on hold", target->version);
        }

        if (in->config->policy.stepwise && target->v.major > in->installed.major + 1)
                for (unsigned m = in->installed.major + 1; m < target->v.major; m++) {
                        const Release *hop = NULL;

                        r = pick_hop(f, in, m, target->version, &hop, ret_error);
                        if (r < 0)
                                return r;
                        r = strv_extend(&hops, hop->version);
                        if (r < 0)
                                return r;
                }

        r = strv_extend(&hops, target->version);
        if (r < 0)
                return r;

        *ret_hops = TAKE_PTR(hops);
        return 0;
}

static const char *const policy_mode_table[_POLICY_MODE_MAX] = {
        [POLICY_UNATTENDED] = "unattended",
        [POLICY_ADMIN] = "admin",
};

static const char *const verdict_kind_table[_VERDICT_KIND_MAX] = {
        [VERDICT_ELIGIBLE] = "eligible",
        [VERDICT_INSTALLED] = "installed",
        [VERDICT_EDITION] = "edition",
        [VERDICT_OLDER] = "older",
        [VERDICT_BETA] = "beta",
        [VERDICT_SKIPPED] = "skipped",
        [VERDICT_HOLD] = "hold",
        [VERDICT_TOO_NEW] = "too-new",
        [VERDICT_STEP] = "step",
        [VERDICT_ROLLOUT] = "rollout",
        [VERDICT_UNPROMOTED] = "unpromoted",
};

const char *policy_mode_to_string(PolicyMode m) {
        return m >= 0 && m < _POLICY_MODE_MAX ? policy_mode_table[m] : NULL;
}

PolicyMode policy_mode_from_string(const char *s) {
        return (PolicyMode) string_table_lookup(policy_mode_table, ELEMENTSOF(policy_mode_table), s);
}

const char *verdict_kind_to_string(VerdictKind k) {
        return k >= 0 && k < _VERDICT_KIND_MAX ? verdict_kind_table[k] : NULL;
}

VerdictKind verdict_kind_from_string(const char *s) {
        return (VerdictKind) string_table_lookup(verdict_kind_table, ELEMENTSOF(verdict_kind_table), s);
}
