/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "rehearsal.h"
#include "strv.h"

#define GIB (1ULL << 30)

static RehearsalHost host(RehearseMode mode) {
        return (RehearsalHost){
                .mode = mode,
                .memory_max = 3 * GIB,
                .max_copy_size = 20 * GIB,
                .memory_available = 8 * GIB,
                .db_kind = APPDB_POSTGRES,
                .db_size = GIB,
                .disk_free = 100 * GIB,
        };
}

static int decide(const RehearsalHost *h, const char *expect_in_reason) {
        char *reason = NULL;
        int r = rehearsal_decide(h, &reason);

        assert_non_null(reason);
        if (!strstr(reason, expect_in_reason))
                fail_msg("reason '%s' does not contain '%s'", reason, expect_in_reason);
        free(reason);
        return r;
}

static void test_decide(void **state) {
        RehearsalHost h;

        h = host(REHEARSE_NEVER);
        assert_int_equal(decide(&h, "policy.rehearse is never"), 0);
        h = host(REHEARSE_ALWAYS);
        h.memory_available = 1;
        h.db_size = 100 * GIB;
        assert_int_equal(decide(&h, "always"), 1);

        h = host(REHEARSE_AUTO);
        assert_int_equal(decide(&h, "auto"), 1);
        /* not the memory for a second Metabase */
        h.memory_available = 2 * GIB;
        assert_int_equal(decide(&h, "only 2.0G of memory is available"), 0);
        assert_int_equal(decide(&h, "rehearsal.memory_max (3G)"), 0);
        h.memory_available = 3 * GIB;
        assert_int_equal(decide(&h, "auto"), 1);
        h.memory_available = REHEARSAL_SIZE_UNKNOWN;
        assert_int_equal(decide(&h, "auto"), 1);
        /* a server database too big to copy */
        h.db_size = 21 * GIB;
        assert_int_equal(decide(&h, "more than rehearsal.max_copy_size (20G)"), 0);
        h.max_copy_size = 0; /* no limit */
        assert_int_equal(decide(&h, "auto"), 1);
        h.db_size = REHEARSAL_SIZE_UNKNOWN;
        h.max_copy_size = 20 * GIB;
        assert_int_equal(decide(&h, "auto"), 1);
        /* H2: the copy must fit in state_dir, with room to spare; max_copy_size is for servers */
        h = host(REHEARSE_AUTO);
        h.db_kind = APPDB_H2;
        h.db_size = 30 * GIB;
        h.disk_free = 40 * GIB;
        assert_int_equal(decide(&h, "auto"), 1);
        h.disk_free = 30 * GIB + (32U << 20);
        assert_int_equal(decide(&h, "does not fit in state_dir"), 0);
        h.disk_free = GIB;
        assert_int_equal(decide(&h, "does not fit in state_dir"), 0);
        h.disk_free = REHEARSAL_SIZE_UNKNOWN;
        assert_int_equal(decide(&h, "auto"), 1);
}

static bool has(char **env, const char *assignment) {
        return strv_contains(env, assignment);
}

static bool has_key(char **env, const char *key) {
        size_t n = strlen(key);
        for (char **e = env; e && *e; e++)
                if (strncmp(*e, key, n) == 0 && (*e)[n] == '=')
                        return true;
        return false;
}

static void test_environment(void **state) {
        char *unit_env[] = {
                "MB_DB_TYPE=postgres",
                "MB_DB_CONNECTION_URI=postgres://prod:5432/metabase?user=u&password=p",
                "MB_DB_HOST=prod",
                "MB_JETTY_PORT=3000",
                "MB_JETTY_SSL=true",
                "MB_JETTY_SSL_PORT=8443",
                "MB_SITE_NAME=Ours",
                "JAVA_TOOL_OPTIONS=-Xmx2g",
                "MB_SITE_NAME=Ours, later",
                "MB_DB_AUTOMIGRATE=true",
                "MB_DISABLE_SCHEDULER=false",
                NULL,
        };
        char *options[] = {"sslmode=require", NULL};
        AppDb pg = {
                .kind = APPDB_POSTGRES,
                .host = "db.example.com",
                .port = 5433,
                .dbname = "metabase_mbup_rehearsal",
                .user = "mb",
                .password = "s3cret",
        };
        AppDb h2 = {.kind = APPDB_H2, .h2_file = "/var/lib/mbupgraded/rehearsal/metabase.db.mv.db"};
        char **env;

        env = rehearsal_environment(unit_env, &pg, 23456);
        assert_non_null(env);
        assert_true(has(env, "MB_DB_TYPE=postgres"));
        assert_true(has(env, "MB_DB_HOST=db.example.com"));
        assert_true(has(env, "MB_DB_PORT=5433"));
        assert_true(has(env, "MB_DB_DBNAME=metabase_mbup_rehearsal"));
        assert_true(has(env, "MB_DB_USER=mb"));
        assert_true(has(env, "MB_DB_PASS=s3cret"));
        assert_false(has_key(env, "MB_DB_CONNECTION_URI")); /* production's, gone */
        assert_true(has(env, "MB_JETTY_HOST=127.0.0.1"));
        assert_true(has(env, "MB_JETTY_PORT=23456"));
        assert_false(has_key(env, "MB_JETTY_SSL"));
        assert_false(has_key(env, "MB_JETTY_SSL_PORT"));
        assert_true(has(env, "MB_DISABLE_SCHEDULER=true"));
        assert_true(has(env, "MB_EMAIL_SMTP_HOST=127.0.0.1"));
        assert_true(has(env, "MB_EMAIL_SMTP_PORT=9"));
        assert_true(has(env, "MB_CHECK_FOR_UPDATES=false"));
        assert_true(has(env, "MB_SITE_NAME=Ours, later")); /* the unit's own, the later one */
        assert_false(has(env, "MB_SITE_NAME=Ours"));
        assert_true(has(env, "JAVA_TOOL_OPTIONS=-Xmx2g"));
        assert_true(has(env, "MB_DB_AUTOMIGRATE=true"));
        strv_free(env);

        /* options only fit in a URI: the credentials beside it */
        pg.options = options;
        env = rehearsal_environment(unit_env, &pg, 23456);
        assert_non_null(env);
        assert_true(has(
                env,
                "MB_DB_CONNECTION_URI=postgres://db.example.com:5433/metabase_mbup_rehearsal?sslmode=require"));
        assert_false(has_key(env, "MB_DB_HOST"));
        assert_true(has(env, "MB_DB_PASS=s3cret"));
        strv_free(env);

        env = rehearsal_environment(unit_env, &h2, 20001);
        assert_non_null(env);
        assert_true(has(env, "MB_DB_TYPE=h2"));
        assert_true(has(env, "MB_DB_FILE=/var/lib/mbupgraded/rehearsal/metabase.db"));
        assert_false(has_key(env, "MB_DB_HOST"));
        strv_free(env);
        env = rehearsal_environment(NULL, &h2, 20001);
        assert_non_null(env);
        strv_free(env);
}

static void test_environment_file(void **state) {
        char *env[] = {
                "A=plain", "B=with \"quotes\" and \\ and $HOME and `x`", "=nokey", "1X=bad", "NOEQ", "C=", NULL};
        char *text = rehearsal_environment_file(env);

        assert_non_null(text);
        assert_string_equal(
                text,
                "A=\"plain\"\n"
                "B=\"with \\\"quotes\\\" and \\\\ and \\$HOME and \\`x\\`\"\n"
                "C=\"\"\n");
        free(text);
}

static void test_log_excerpt(void **state) {
        static const char log[] =
                "2026 INFO metabase.core :: Metabase v0.56.6 starting\n"
                "2026 INFO metabase.core :: Running migration v56.006\n"
                "2026 ERROR metabase.core :: Migration failed: liquibase.exception.MigrationFailedException: x\n"
                "\tat liquibase.changelog\x1b[31m\n"
                "Caused by: org.postgresql.util.PSQLException: ERROR: relation exists\n";
        static const char quiet[] = "one\ntwo\nthree\nfour\nfive\nsix\nseven\n";
        char *s;

        s = rehearsal_log_excerpt(log, strlen(log), 1024);
        assert_non_null(s);
        assert_string_equal(
                s,
                "2026 ERROR metabase.core :: Migration failed: liquibase.exception.MigrationFailedException: x\n"
                "Caused by: org.postgresql.util.PSQLException: ERROR: relation exists");
        free(s);
        /* no error lines: the last five */
        s = rehearsal_log_excerpt(quiet, strlen(quiet), 1024);
        assert_string_equal(s, "three\nfour\nfive\nsix\nseven");
        free(s);
        /* bounded, control characters replaced */
        s = rehearsal_log_excerpt(log, strlen(log), 10);
        assert_int_equal(strlen(s), 10);
        free(s);
        s = rehearsal_log_excerpt("\x01\x02 FATAL\n", 9, 100);
        assert_string_equal(s, "   FATAL");
        free(s);
        s = rehearsal_log_excerpt("", 0, 100);
        assert_string_equal(s, "");
        free(s);
}

static void test_pick_port(void **state) {
        for (int i = 0; i < 20; i++) {
                struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
                unsigned port = 0;
                int fd, other;

                assert_int_equal(rehearsal_pick_port(&port), 0);
                assert_true(port >= 20000 && port < 32000);
                /* it is free: a listener can have it, and then it is no longer free */
                fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                a.sin_port = htons((uint16_t) port);
                assert_int_equal(bind(fd, (struct sockaddr *) &a, sizeof(a)), 0);
                assert_int_equal(listen(fd, 1), 0);
                other = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                assert_int_not_equal(bind(other, (struct sockaddr *) &a, sizeof(a)), 0);
                close(other);
                close(fd);
        }
}

static void test_format_size(void **state) {
        char b[32];

        assert_string_equal(format_size(3ULL << 30, b, sizeof(b)), "3G");
        assert_string_equal(format_size(1536ULL << 20, b, sizeof(b)), "1536M");
        assert_string_equal(format_size(1000, b, sizeof(b)), "1000");
        assert_string_equal(format_size(2ULL << 40, b, sizeof(b)), "2T");
        assert_string_equal(format_size(0, b, sizeof(b)), "0");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_decide),
                cmocka_unit_test(test_environment),
                cmocka_unit_test(test_environment_file),
                cmocka_unit_test(test_log_excerpt),
                cmocka_unit_test(test_pick_port),
                cmocka_unit_test(test_format_size),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
