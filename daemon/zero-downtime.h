/* SPDX-License-Identifier: MIT */
#pragma once

/* Whether an upgrade may take the zero-downtime path (issue 18: a bridge instance behind nginx),
 * decided before anything is touched, and why not. The one owner of that decision: pure (no I/O,
 * no Manager), from facts its caller gathered (zero-downtime-facts.c in the daemon, the unit test
 * by hand). Each condition is a named check with a reason an administrator can act on; the first
 * that fails, in the order of ZeroDowntimeCheck, is the answer:
 *
 *   setting     upgrade.zero_downtime is auto (never: the administrator chose the usual path)
 *   database    the application database is PostgreSQL or MySQL/MariaDB (H2 can't be opened by
 *               two Metabase processes)
 *   migrations  the release adds no change set to this database: every change set ID the new JAR
 *               carries (recorded when it was staged) is in its DATABASECHANGELOG, or a passed
 *               rehearsal of this release applied none to the scratch copy
 *   proxy       the nginx integration is installed (proxy.url, proxy.upstream_file in a directory
 *               only root can write, nginx's last reload did not fail)
 *   memory      there is memory for a second Metabase: asked last, through memory_ok (the
 *               bridge's check, bridge_memory_ok(), in zero-downtime-facts.c); none, no
 */

#include <stdbool.h>

typedef enum ZeroDowntimeCheck {
        ZERO_DOWNTIME_SETTING,
        ZERO_DOWNTIME_DATABASE,
        ZERO_DOWNTIME_MIGRATIONS,
        ZERO_DOWNTIME_PROXY,
        ZERO_DOWNTIME_MEMORY,
        _ZERO_DOWNTIME_CHECK_MAX,
} ZeroDowntimeCheck;

/* The memory condition's hook: true when a second Metabase fits; otherwise false and *ret_reason
 * (malloc'ed) says why. The daemon wraps bridge_memory_ok(m, &reason) in it. */
typedef bool (*ZeroDowntimeMemoryCheck)(void *userdata, char **ret_reason);

typedef enum ZeroDowntimeRehearsal {
        ZERO_DOWNTIME_REHEARSAL_NONE,      /* no passed rehearsal of this release on this database */
        ZERO_DOWNTIME_REHEARSAL_NO_CHANGE, /* passed, and DATABASECHANGELOG was the same after */
        ZERO_DOWNTIME_REHEARSAL_MIGRATED,  /* passed, and it applied change sets */
} ZeroDowntimeRehearsal;

typedef struct ZeroDowntimeFacts {
        bool never;          /* upgrade.zero_downtime: never */
        const char *to;      /* the release, for messages */
        const char *db_kind; /* "h2", "postgres", "mysql" */

        /* migrations, way (a): the new JAR's change set IDs (NULL: not recorded, staged before
         * mbupgraded read them) against the IDs this database has applied (NULL: not read). */
        char *const *jar_changesets;
        bool staged; /* the release is downloaded and verified (else jar_changesets can't be known) */
        char *const *applied;
        /* way (b): the newest passed rehearsal of this release, and what it applied */
        ZeroDowntimeRehearsal rehearsal;
        char *const *rehearsal_applied;

        /* proxy: proxy_installed()'s answer, 0 or a negative errno with a sentence */
        int proxy;
        const char *proxy_reason;

        ZeroDowntimeMemoryCheck memory_ok; /* NULL: no bridge in this daemon */
        void *memory_userdata;
} ZeroDowntimeFacts;

const char *zero_downtime_check_to_string(ZeroDowntimeCheck c);

/* Each condition alone: 1 holds; 0 does not, *ret_reason says why; -ENOMEM. */
int zero_downtime_check_setting(const ZeroDowntimeFacts *f, char **ret_reason);
int zero_downtime_check_database(const ZeroDowntimeFacts *f, char **ret_reason);
int zero_downtime_check_migrations(const ZeroDowntimeFacts *f, char **ret_reason);
int zero_downtime_check_proxy(const ZeroDowntimeFacts *f, char **ret_reason);
int zero_downtime_check_memory(const ZeroDowntimeFacts *f, char **ret_reason);

/* All of them, in order: 1 eligible; 0 not, *ret_failed the first that failed and *ret_reason its
 * reason; -ENOMEM. */
int zero_downtime_decide(const ZeroDowntimeFacts *f, ZeroDowntimeCheck *ret_failed, char **ret_reason);

/* "yes" or "no: <reason>" for the summary, mbctl list and the history. NULL on OOM. */
char *zero_downtime_summary(const ZeroDowntimeFacts *f);

/* Whether a fleet may roll the release node by node while the other nodes serve (docs/fleet.md):
 * the setting, the database and the migrations only (a fleet has its own load balancer: no
 * nginx switch, no bridge, no second Metabase on a node). "yes" or "no: <reason>"; NULL on OOM. */
char *zero_downtime_summary_rolling(const ZeroDowntimeFacts *f);

/* The JAR's change sets the database lacks, in the JAR's order (NULL when none). -ENOMEM. */
int zero_downtime_missing(char *const *jar, char *const *applied, char ***ret);
