/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "macro.h"
#include "mblog.h"

/* Lines as Metabase logs them (log4j2 pattern of its default config, then the message text of
 * src/metabase/app_db/liquibase.clj, src/metabase/app_db/setup.clj and
 * src/metabase/core/core.clj), colour escapes included where Metabase adds them. */
static const struct {
        const char *line;
        MbLogCondition expected;
} lines[] = {
        {"2026-12-07 16:05:01,123 ERROR app-db.liquibase :: liquibase.exception.LockException: Database has "
         "migration lock; cannot run migrations. You can force-release these locks by running `java "
         "--add-opens java.base/java.nio=ALL-UNNAMED -jar metabase.jar migrate release-locks`.",
         MB_LOG_MIGRATION_LOCK},
        {"Database has migration lock; cannot run migrations. You can force-release these locks by running "
         "`java -jar metabase.jar migrate release-locks`.",
         MB_LOG_MIGRATION_LOCK},
        {"2026-12-07 16:05:01,123 WARN app-db.setup :: \x1b[31mDatabase has migrations from v57 but this "
         "binary only knows up to v56:\x1b[0m",
         MB_LOG_DOWNGRADE},
        {"clojure.lang.ExceptionInfo: \x1b[31mERROR: Downgrade detected.\x1b[0m", MB_LOG_DOWNGRADE},
        {"2026-12-07 16:05:01,123 INFO app-db.setup :: Database Upgrade Required", MB_LOG_MANUAL_UPGRADE},
        {"java.lang.Exception: Database requires manual upgrade.", MB_LOG_MANUAL_UPGRADE},
        {"clojure.lang.ExceptionInfo: Metabase postgres DB version not supported (found 12.4.0 (12.4), required "
         "13.0.0). Please upgrade your database to a supported version and try again.",
         MB_LOG_DB_VERSION_UNSUPPORTED},
        {"Exception in thread \"main\" java.lang.UnsupportedClassVersionError: metabase/core/bootstrap has been "
         "compiled by a more recent version of the Java Runtime (class file version 65.0), this version of the "
         "Java Runtime only recognizes class file versions up to 61.0",
         MB_LOG_JAVA_TOO_OLD},
        {"2026-12-07 16:05:01,123 ERROR core.core :: Metabase Initialization FAILED", MB_LOG_INIT_FAILED},
        /* ordinary start-up lines */
        {"2026-12-07 16:05:01,123 INFO app-db.setup :: Running Database Migrations...", MB_LOG_NONE},
        {"2026-12-07 16:05:01,123 INFO app-db.liquibase :: No migration lock found.", MB_LOG_NONE},
        {"2026-12-07 16:05:01,123 INFO app-db.liquibase :: Migration lock acquired.", MB_LOG_NONE},
        {"2026-12-07 16:05:01,123 INFO core.core :: Metabase Initialization COMPLETE", MB_LOG_NONE},
        {"Checking if a database downgrade is required...", MB_LOG_NONE},
        {"Successfully verified PostgreSQL 15.4 application database connection. ✅", MB_LOG_NONE},
        {"", MB_LOG_NONE},
};

static void test_classify_lines(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(lines); i++)
                assert_int_equal(mb_log_classify(lines[i].line), lines[i].expected);
        assert_int_equal(mb_log_classify(NULL), MB_LOG_NONE);
}

static void test_classify_text(void **state) {
        /* the real order: the cause, then the generic failure: the cause wins */
        const char lock[] =
                "INFO app-db.setup :: Running Database Migrations...\n"
                "INFO app-db.setup :: Setting up Liquibase...\n"
                "ERROR core.core :: Metabase Initialization FAILED\n"
                "liquibase.exception.LockException: Database has migration lock; cannot run migrations. "
                "You can force-release these locks by running `java -jar metabase.jar migrate release-locks`.\n";
        const char generic[] = "INFO x :: starting\nERROR core.core :: Metabase Initialization FAILED\n"
                               "java.net.ConnectException: Connection refused";
        const char none[] = "INFO x :: Metabase Initialization COMPLETE\n";
        /* a NUL in the middle and no final newline do not derail it */
        const char embedded[] = "a\0b\nERROR: Downgrade detected.";

        assert_int_equal(mb_log_classify_text(lock, strlen(lock)), MB_LOG_MIGRATION_LOCK);
        assert_int_equal(mb_log_classify_text(generic, strlen(generic)), MB_LOG_INIT_FAILED);
        assert_int_equal(mb_log_classify_text(none, strlen(none)), MB_LOG_NONE);
        assert_int_equal(mb_log_classify_text(embedded, sizeof(embedded) - 1), MB_LOG_DOWNGRADE);
        /* n bounds the search: the downgrade line lies beyond it */
        assert_int_equal(mb_log_classify_text(embedded, 4), MB_LOG_NONE);
        assert_int_equal(mb_log_classify_text(NULL, 10), MB_LOG_NONE);
}

static void test_huge_line(void **state) {
        size_t n = 1024 * 1024;
        char *s = malloc(n + 64);

        assert_non_null(s);
        memset(s, 'x', n);
        strcpy(s + n, "\nDatabase requires manual upgrade.");
        assert_int_equal(mb_log_classify_text(s, strlen(s)), MB_LOG_MANUAL_UPGRADE);
        free(s);
}

static void test_explain(void **state) {
        for (MbLogCondition c = MB_LOG_NONE + 1; c < _MB_LOG_CONDITION_MAX; c++) {
                assert_non_null(mb_log_condition_explain(c));
                assert_non_null(mb_log_condition_to_string(c));
        }
        assert_null(mb_log_condition_explain(MB_LOG_NONE));
        assert_null(mb_log_condition_explain(_MB_LOG_CONDITION_MAX));
        assert_null(mb_log_condition_explain(_MB_LOG_CONDITION_INVALID));
        /* Metabase's own commands, with the option v0.53+ needs */
        assert_non_null(strstr(
                mb_log_condition_explain(MB_LOG_MIGRATION_LOCK),
                "java --add-opens java.base/java.nio=ALL-UNNAMED -jar metabase.jar migrate release-locks"));
        assert_non_null(
                strstr(mb_log_condition_explain(MB_LOG_DOWNGRADE),
                       "java --add-opens java.base/java.nio=ALL-UNNAMED -jar metabase.jar migrate down"));
        assert_non_null(strstr(mb_log_condition_explain(MB_LOG_MANUAL_UPGRADE), "MB_DB_AUTOMIGRATE"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_classify_lines),
                cmocka_unit_test(test_classify_text),
                cmocka_unit_test(test_huge_line),
                cmocka_unit_test(test_explain),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
