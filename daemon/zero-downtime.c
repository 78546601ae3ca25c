/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "strv.h"
#include "zero-downtime.h"

/* How many missing change sets a reason names before "and N more". */
#define NAMED_MAX 5U

static const char *const check_table[_ZERO_DOWNTIME_CHECK_MAX] = {
        [ZERO_DOWNTIME_SETTING] = "setting",
        [ZERO_DOWNTIME_DATABASE] = "database",
        [ZERO_DOWNTIME_MIGRATIONS] = "migrations",
        [ZERO_DOWNTIME_PROXY] = "proxy",
        [ZERO_DOWNTIME_MEMORY] = "memory",
};

const char *zero_downtime_check_to_string(ZeroDowntimeCheck c) {
        return c >= 0 && c < _ZERO_DOWNTIME_CHECK_MAX ? check_table[c] : NULL;
}

/* 0 with the reason set, or -ENOMEM. */
static int fail_with(char **ret_reason, char *reason) {
        if (!reason)
                return -ENOMEM;
        *ret_reason = reason;
        return 0;
}

int zero_downtime_check_setting(const ZeroDowntimeFacts *f, char **ret_reason) {
        assert(f);
        if (!f->never)
                return 1;
        return fail_with(
                ret_reason,
                strdup("upgrade.zero_downtime is never (set it to auto to serve through the upgrade of a "
                       "release without migrations)"));
}

int zero_downtime_check_database(const ZeroDowntimeFacts *f, char **ret_reason) {
        assert(f);
        if (f->db_kind && (streq(f->db_kind, "postgres") || streq(f->db_kind, "mysql")))
                return 1;
        if (f->db_kind && streq(f->db_kind, "h2"))
                return fail_with(
                        ret_reason,
                        strdup("the application database is H2, which two Metabase processes can't open at once "
                               "(move it to PostgreSQL or MySQL/MariaDB with Metabase's load-from-h2 command)"));
        return fail_with(ret_reason, strdup("the kind of the application database is not known"));
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int zero_downtime_missing(char *const *jar, char *const *applied, char ***ret) {
        _cleanup_free_ char **sorted = NULL;
        _cleanup_strv_free_ char **missing = NULL;
        size_t n = strv_length(applied);

        assert(ret);
        if (n > 0) {
                sorted = malloc(n * sizeof(char *));
                if (!sorted)
                        return -ENOMEM;
                memcpy(sorted, applied, n * sizeof(char *));
                qsort(sorted, n, sizeof(char *), cmp_str);
        }
        for (size_t i = 0; jar && jar[i]; i++) {
                const char *key = jar[i];

                if (n > 0 && bsearch(&key, sorted, n, sizeof(char *), cmp_str))
                        continue;
                if (strv_extend(&missing, jar[i]) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(missing);
        return 0;
}

/* "v56.004, v56.005 and 3 more" */
static char *name_some(char *const *ids) {
        size_t n = strv_length(ids), shown = n < NAMED_MAX ? n : NAMED_MAX, len = 1;
        char *s, *p;

        for (size_t i = 0; i < shown; i++)
                len += strlen(ids[i]) + 2;
        len += 32;
        s = p = malloc(len);
        if (!s)
                return NULL;
        *p = '\0';
        for (size_t i = 0; i < shown; i++)
                p += sprintf(p, "%s%s", i > 0 ? ", " : "", ids[i]);
        if (n > shown)
                (void) sprintf(p, " and %zu more", n - shown);
        return s;
}

int zero_downtime_check_migrations(const ZeroDowntimeFacts *f, char **ret_reason) {
        _cleanup_strv_free_ char **missing = NULL;
        _cleanup_free_ char *named = NULL;
        int r;

        assert(f);
        /* (b) a passed rehearsal that left DATABASECHANGELOG as it was */
        if (f->rehearsal == ZERO_DOWNTIME_REHEARSAL_NO_CHANGE)
                return 1;
        if (f->rehearsal == ZERO_DOWNTIME_REHEARSAL_MIGRATED) {
                named = name_some(f->rehearsal_applied);
                return fail_with(
                        ret_reason,
                        named ? strdup_printf(
                                        "%s adds change sets to the application database: its rehearsal applied %s",
                                        strempty(f->to),
                                        isempty(named) ? "some" : named)
                              : NULL);
        }
        /* (a) every change set the JAR carries is applied already */
        if (!f->jar_changesets && !f->staged)
                return fail_with(
                        ret_reason,
                        strdup_printf(
                                "whether %s adds migrations is known once it is downloaded (staged) or rehearsed "
                                "(mbctl rehearse %s)",
                                strempty(f->to),
                                strempty(f->to)));
        if (!f->jar_changesets)
                return fail_with(
                        ret_reason,
                        strdup_printf(
                                "whether %s adds migrations is not known: its change sets were not recorded when it "
                                "was staged (stage it again, or rehearse it: mbctl rehearse %s)",
                                strempty(f->to),
                                strempty(f->to)));
        if (!f->applied)
                return fail_with(
                        ret_reason,
                        strdup("the application database's DATABASECHANGELOG could not be read, so whether the "
                               "release adds migrations is not known"));
        r = zero_downtime_missing(f->jar_changesets, f->applied, &missing);
        if (r < 0)
                return r;
        if (!missing)
                return 1;
        named = name_some(missing);
        return fail_with(
                ret_reason,
                named ? strdup_printf(
                                "%s adds %zu change set%s to the application database (%s): Metabase asks that "
                                "every instance on one database run one version, so a schema change takes the "
                                "usual path",
                                strempty(f->to),
                                strv_length(missing),
                                strv_length(missing) == 1 ? "" : "s",
                                named)
                      : NULL);
}

int zero_downtime_check_proxy(const ZeroDowntimeFacts *f, char **ret_reason) {
        assert(f);
        if (f->proxy >= 0)
                return 1;
        return fail_with(
                ret_reason,
                strdup(f->proxy_reason
                               ?: "the nginx integration is not installed (proxy.url and "
                                  "proxy.upstream_file, see mbupgraded.yaml(5))"));
}

int zero_downtime_check_memory(const ZeroDowntimeFacts *f, char **ret_reason) {
        _cleanup_free_ char *why = NULL;

        assert(f);
        if (!f->memory_ok)
                return fail_with(
                        ret_reason,
                        strdup("this mbupgraded can't check the memory for a second Metabase (no bridge)"));
        if (f->memory_ok(f->memory_userdata, &why))
                return 1;
        return fail_with(ret_reason, why ? TAKE_PTR(why) : strdup("not enough memory for a second Metabase"));
}

/* The checks before end, in order (see zero_downtime_decide()). */
static int decide_before(
        const ZeroDowntimeFacts *f, ZeroDowntimeCheck end, ZeroDowntimeCheck *ret_failed, char **ret_reason) {
        static int (*const checks[_ZERO_DOWNTIME_CHECK_MAX])(const ZeroDowntimeFacts *, char **) = {
                [ZERO_DOWNTIME_SETTING] = zero_downtime_check_setting,
                [ZERO_DOWNTIME_DATABASE] = zero_downtime_check_database,
                [ZERO_DOWNTIME_MIGRATIONS] = zero_downtime_check_migrations,
                [ZERO_DOWNTIME_PROXY] = zero_downtime_check_proxy,
                [ZERO_DOWNTIME_MEMORY] = zero_downtime_check_memory,
        };

        assert(f);
        assert(ret_reason);
        for (ZeroDowntimeCheck c = 0; c < end; c++) {
                int r = checks[c](f, ret_reason);

                if (r <= 0) {
                        if (r == 0 && ret_failed)
                                *ret_failed = c;
                        return r;
                }
        }
        return 1;
}

int zero_downtime_decide(const ZeroDowntimeFacts *f, ZeroDowntimeCheck *ret_failed, char **ret_reason) {
        return decide_before(f, _ZERO_DOWNTIME_CHECK_MAX, ret_failed, ret_reason);
}

static char *summary_before(const ZeroDowntimeFacts *f, ZeroDowntimeCheck end) {
        _cleanup_free_ char *reason = NULL;
        int r = decide_before(f, end, NULL, &reason);

        if (r < 0)
                return NULL;
        return r > 0 ? strdup("yes") : strdup_printf("no: %s", reason);
}

char *zero_downtime_summary(const ZeroDowntimeFacts *f) {
        return summary_before(f, _ZERO_DOWNTIME_CHECK_MAX);
}

char *zero_downtime_summary_rolling(const ZeroDowntimeFacts *f) {
        return summary_before(f, ZERO_DOWNTIME_PROXY);
}
