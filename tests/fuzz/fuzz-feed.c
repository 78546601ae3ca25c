/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the release feed: feed_parse() with and without the beta, then what the
 * policy makes of the result, and feed_checksum_parse() on the same bytes. Whatever the parser
 * keeps must be safe to use as is: canonical versions, sorted, bounded, printable. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "feed.h"
#include "macro.h"
#include "policy.h"
#include "strv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

DEFINE_POINTER_CLEANUP(Config, config_free, config_freep);

static void check_printable(const char *s) {
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if (*p < 0x20 || *p == 0x7f)
                        abort();
}

static void check_feed(const Feed *f, bool include_beta) {
        size_t n_latest = 0;

        if (f->n == 0 || f->n > FEED_RELEASES_MAX)
                abort();
        /* Exactly one "latest", never a beta. */
        for (size_t i = 0; i < f->n; i++)
                if (f->releases[i].latest) {
                        n_latest++;
                        if (f->releases[i].beta || feed_latest(f) != &f->releases[i])
                                abort();
                }
        if (n_latest != 1)
                abort();
        if ((f->n_rejected == 0) != (f->rejected_reason == NULL))
                abort();
        if (f->rejected_reason)
                check_printable(f->rejected_reason);

        for (size_t i = 0; i < f->n; i++) {
                const Release *r = &f->releases[i];
                char buf[MB_VERSION_STRING_MAX + 1];
                _cleanup_free_ char *url = NULL;
                MbVersion v;
                size_t n;

                /* Canonical, valid, and what feed_find() finds. */
                if (mb_version_parse(r->version, &v) < 0 || mb_version_compare(&v, &r->v) != 0)
                        abort();
                if (!streq(mb_version_format(&r->v, buf), r->version))
                        abort();
                if (feed_find(f, r->version) != r)
                        abort();
                /* Newest first, no duplicates. */
                if (i > 0 && mb_version_compare(&f->releases[i - 1].v, &r->v) <= 0)
                        abort();

                if (r->released && (strlen(r->released) != 10 || r->released_usec == 0))
                        abort();
                if (!r->released && r->released_usec != 0)
                        abort();
                if (r->rollout < -1 || r->rollout > 100)
                        abort();
                if (r->beta && !include_beta)
                        abort();
                if (r->announcement_url) {
                        if (strlen(r->announcement_url) > FEED_STRING_MAX)
                                abort();
                        check_printable(r->announcement_url);
                }
                n = strv_length(r->highlights);
                if (!r->highlights || n > FEED_HIGHLIGHTS_MAX)
                        abort();
                for (size_t j = 0; j < n; j++) {
                        if (strlen(r->highlights[j]) > FEED_STRING_MAX)
                                abort();
                        check_printable(r->highlights[j]);
                }

                /* A download URL stays below the base: one path component, the version. */
                url = feed_download_url(
                        "https://downloads.example",
                        r->v.edition ? EDITION_ENTERPRISE : EDITION_OSS,
                        r->version);
                if (!url || strstr(url, "..") || strchr(url, '?') || strchr(url, '#') || strchr(url, '%'))
                        abort();
        }
}

static void check_policy(const Feed *f, PolicyMode mode, bool stepwise, FollowMode follow) {
        _cleanup_(config_freep) Config *c = config_new();
        PolicyInput in = {
                .config = c,
                .mode = mode,
                .now_usec = (uint64_t) 1750377600 * USEC_PER_SEC,
                .site_id = "fuzz",
        };
        ReleaseVerdict *v = NULL;
        size_t n = 0;

        if (!c)
                return;
        c->policy.stepwise = stepwise;
        c->policy.allow = VERSION_STEP_MAJOR;
        c->releases.follow = follow;
        (void) mb_version_parse("v0.40.0", &in.installed);

        if (policy_evaluate(f, &in, &v, &n) >= 0) {
                if (n != f->n)
                        abort();
                for (size_t i = 0; i < n; i++)
                        if (v[i].eligible != (v[i].reason == NULL))
                                abort();
                release_verdicts_free(v, n);
        }

        for (size_t i = 0; i <= f->n && i < 4; i++) {
                _cleanup_strv_free_ char **hops = NULL;
                _cleanup_free_ char *error = NULL;
                const char *target = i < f->n ? f->releases[i].version : NULL;
                int r;

                r = policy_plan(f, &in, target, &hops, &error);
                if (r >= 0) {
                        /* Every hop is in the feed, newer than the one before, at most one major each
                         * when stepwise. */
                        MbVersion prev = in.installed;

                        if (error)
                                abort();
                        for (char **h = hops; *h; h++) {
                                const Release *rel = feed_find(f, *h);

                                if (!rel || mb_version_compare(&rel->v, &prev) <= 0)
                                        abort();
                                if (stepwise && rel->v.major > prev.major + 1)
                                        abort();
                                prev = rel->v;
                        }
                        /* Following latest, what is chosen (not named) is never past it. */
                        if (!target && follow == FOLLOW_LATEST && hops[0] &&
                            mb_version_compare(&prev, &feed_latest(f)->v) > 0)
                                abort();
                } else if (r != -ENOMEM && !error)
                        abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *s = (const char *) data;
        char hex[65];

        for (int beta = 0; beta < 2; beta++) {
                _cleanup_free_ char *error = NULL;
                Feed *f = NULL;
                int r;

                r = feed_parse(s, size, beta, &f, &error);
                if (r < 0) {
                        if (f || (r != -ENOMEM && !error))
                                abort();
                        continue;
                }
                if (error)
                        abort();
                check_feed(f, beta);
                if (beta) {
                        check_policy(f, POLICY_UNATTENDED, true, FOLLOW_LATEST);
                        check_policy(f, POLICY_UNATTENDED, true, FOLLOW_NEWEST);
                        check_policy(f, POLICY_ADMIN, true, FOLLOW_LATEST);
                        check_policy(f, POLICY_ADMIN, false, FOLLOW_NEWEST);
                }
                feed_free(f);
        }

        if (feed_checksum_parse(s, size, hex) >= 0) {
                if (strlen(hex) != 64 || strspn(hex, "0123456789abcdef") != 64)
                        abort();
        }

        return 0;
}
