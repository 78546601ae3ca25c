/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "macro.h"
#include "mblog.h"

/* Texts as Metabase prints them (metabase/metabase):
 *  - src/metabase/app_db/liquibase.clj wait-for-migration-lock: "Database has migration lock;
 *    cannot run migrations. You can force-release these locks by running `java [--add-opens
 *    java.base/java.nio=ALL-UNNAMED] -jar metabase.jar migrate release-locks`." (and its
 *    force-release-locks! refuses any database but H2 in the newest source: "Database %s does not
 *    support forcing migration locks. The lock is always automatically removed when the process
 *    performing the migration completes or fails.")
 *  - src/metabase/app_db/setup.clj error-if-downgrade-required!: "Database has migrations from
 *    v%d but this binary only knows up to v%d:" then "ERROR: Downgrade detected." (wrapped in
 *    colour escapes, so matched as a substring);
 *  - setup.clj print-migrations-and-quit-if-needed!: "Database Upgrade Required" ... "Database
 *    requires manual upgrade.";
 *  - setup.clj verify-db-connection: "Metabase {0} DB version not supported (found {1},
 *    required {2}). Please upgrade your database to a supported version and try again.";
 *  - src/metabase/core/core.clj init!: "Metabase Initialization FAILED";
 *  - the JVM: "java.lang.UnsupportedClassVersionError: ... has been compiled by a more recent
 *    version of the Java Runtime". */
static const struct {
        const char *needle;
        MbLogCondition condition;
} patterns[] = {
        {"Database has migration lock; cannot run migrations", MB_LOG_MIGRATION_LOCK},
        {"Downgrade detected.", MB_LOG_DOWNGRADE},
        {"but this binary only knows up to v", MB_LOG_DOWNGRADE},
        {"Database requires manual upgrade.", MB_LOG_MANUAL_UPGRADE},
        {"Database Upgrade Required", MB_LOG_MANUAL_UPGRADE},
        {"DB version not supported (found ", MB_LOG_DB_VERSION_UNSUPPORTED},
        {"UnsupportedClassVersionError", MB_LOG_JAVA_TOO_OLD},
        {"Metabase Initialization FAILED", MB_LOG_INIT_FAILED},
};

static const char *const names[_MB_LOG_CONDITION_MAX] = {
        [MB_LOG_MIGRATION_LOCK] = "migration lock held",
        [MB_LOG_DOWNGRADE] = "downgrade detected",
        [MB_LOG_MANUAL_UPGRADE] = "manual database upgrade required (MB_DB_AUTOMIGRATE=false)",
        [MB_LOG_DB_VERSION_UNSUPPORTED] = "database server version not supported",
        [MB_LOG_JAVA_TOO_OLD] = "Java too old for this release",
        [MB_LOG_INIT_FAILED] = "Metabase initialization failed",
};

static const char *const explanations[_MB_LOG_CONDITION_MAX] = {
        [MB_LOG_MIGRATION_LOCK] =
                "Metabase found the migration lock of its application database held: another Metabase is "
                "migrating the same database, or an earlier migration was interrupted. Make sure no other "
                "Metabase runs against it; on H2 release the lock with `java --add-opens "
                "java.base/java.nio=ALL-UNNAMED -jar metabase.jar migrate release-locks` (as the unit's user, "
                "with its environment); on PostgreSQL or MySQL newer releases refuse that command (the lock "
                "goes with the process that took it), and a lock row an older release left behind is cleared "
                "with UPDATE DATABASECHANGELOGLOCK SET LOCKED = FALSE, LOCKGRANTED = NULL, LOCKEDBY = NULL "
                "WHERE ID = 1. Then retry.",
        [MB_LOG_DOWNGRADE] =
                "The application database was migrated by a newer Metabase than this JAR. Either start "
                "the newer release again, or downgrade the database first with `java --add-opens "
                "java.base/java.nio=ALL-UNNAMED -jar metabase.jar migrate down` run with the NEWER "
                "JAR, or restore the backup taken before the upgrade.",
        [MB_LOG_MANUAL_UPGRADE] =
                "MB_DB_AUTOMIGRATE is false: Metabase printed the SQL of its migrations and stopped "
                "instead of migrating. Run that SQL on the application database by hand (`java "
                "--add-opens java.base/java.nio=ALL-UNNAMED -jar metabase.jar migrate print` prints "
                "it), or set MB_DB_AUTOMIGRATE=true in the unit's environment for the upgrade.",
        [MB_LOG_DB_VERSION_UNSUPPORTED] =
                "The application database server is older than this Metabase release supports. "
                "Upgrade the database server first, then retry.",
        [MB_LOG_JAVA_TOO_OLD] = "The Java that runs Metabase is older than this release needs "
                                "(UnsupportedClassVersionError). Install the Java the release needs (21 for v0.53 "
                                "and later) and point the unit's ExecStart= at it.",
        [MB_LOG_INIT_FAILED] = "Metabase's start-up failed; the lines before \"Metabase Initialization FAILED\" in "
                               "the unit's journal say why.",
};

MbLogCondition mb_log_classify(const char *line) {
        if (!line)
                return MB_LOG_NONE;
        for (size_t i = 0; i < ELEMENTSOF(patterns); i++)
                if (strstr(line, patterns[i].needle))
                        return patterns[i].condition;
        return MB_LOG_NONE;
}

MbLogCondition mb_log_classify_text(const char *text, size_t n) {
        MbLogCondition found = MB_LOG_NONE;
        size_t i = 0;

        if (!text)
                return MB_LOG_NONE;
        while (i < n) {
                const char *start = text + i, *nl = memchr(start, '\n', n - i);
                size_t len = nl ? (size_t) (nl - start) : n - i;
                char line[1024];
                MbLogCondition c;

                /* Lines longer than the buffer are looked at in their first 1023 bytes: every
                 * text above is near the start of its line (after a log prefix). */
                if (len >= sizeof(line))
                        len = sizeof(line) - 1;
                memcpy(line, start, len);
                line[len] = '\0';
                /* a NUL inside the text ends that line early; strstr stops there: fine */
                c = mb_log_classify(line);
                if (c != MB_LOG_NONE && c != MB_LOG_INIT_FAILED)
                        return c;
                if (c == MB_LOG_INIT_FAILED)
                        found = c;
                i = nl ? (size_t) (nl - text) + 1 : n;
        }
        return found;
}

const char *mb_log_condition_to_string(MbLogCondition c) {
        if (c <= MB_LOG_NONE || c >= _MB_LOG_CONDITION_MAX)
                return NULL;
        return names[c];
}

const char *mb_log_condition_explain(MbLogCondition c) {
        if (c <= MB_LOG_NONE || c >= _MB_LOG_CONDITION_MAX)
                return NULL;
        return explanations[c];
}
