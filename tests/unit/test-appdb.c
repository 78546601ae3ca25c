/* SPDX-License-Identifier: MIT */
/* The application database from the unit's environment: every way Metabase takes it, the
 * password kept out of descriptions, and libpq strings quoted so a value can't add options. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "appdb.h"
#include "macro.h"
#include "strv.h"

static AppDb *from_env(const char *const *env, const char *wd) {
        AppDb *db = NULL;
        char *err = NULL;
        int r = appdb_from_environment((char *const *) env, wd, &db, &err);
        if (r < 0)
                fail_msg("unexpected error: %s", strempty(err));
        free(err);
        return db;
}

static void expect_error(const char *const *env, const char *needle) {
        AppDb *db = NULL;
        char *err = NULL;

        assert_int_equal(appdb_from_environment((char *const *) env, "/opt/metabase", &db, &err), -EINVAL);
        assert_null(db);
        assert_non_null(err);
        if (!strstr(err, needle))
                fail_msg("'%s' not in '%s'", needle, err);
        free(err);
}

static void test_h2(void **state) {
        const char *none[] = {NULL};
        const char *rel[] = {"MB_DB_FILE=data/metabase.db", NULL};
        const char *abs[] = {"MB_DB_TYPE=h2", "MB_DB_FILE=/srv/mb/metabase.db.mv.db", NULL};
        AppDb *db;

        db = from_env(none, "/opt/metabase");
        assert_int_equal(db->kind, APPDB_H2);
        assert_string_equal(db->h2_file, "/opt/metabase/metabase.db.mv.db");
        appdb_free(db);
        db = from_env(rel, "/opt/metabase");
        assert_string_equal(db->h2_file, "/opt/metabase/data/metabase.db.mv.db");
        appdb_free(db);
        db = from_env(abs, "");
        assert_string_equal(db->h2_file, "/srv/mb/metabase.db.mv.db");
        char *d = appdb_describe(db);
        assert_string_equal(d, "H2 /srv/mb/metabase.db.mv.db");
        free(d);
        appdb_free(db);
}

static void test_postgres_uri_forms(void **state) {
        const char *a[] = {
                "MB_DB_TYPE=postgres",
                "MB_DB_CONNECTION_URI=postgres://metabase:s%40cret@db.example.com:5433/mb?sslmode=require",
                NULL};
        const char *b[] = {
                "MB_DB_CONNECTION_URI=jdbc:postgresql://127.0.0.1/metabase?user=mb&password=pw&ssl=true",
                NULL};
        const char *c[] = {
                "MB_DB_CONNECTION_URI=postgres://127.0.0.1:5432/metabase",
                "MB_DB_USER=u",
                "MB_DB_PASS=p'q\\r",
                NULL};
        AppDb *db;
        char *s;

        db = from_env(a, NULL);
        assert_int_equal(db->kind, APPDB_POSTGRES);
        assert_string_equal(db->host, "db.example.com");
        assert_int_equal(db->port, 5433);
        assert_string_equal(db->dbname, "mb");
        assert_string_equal(db->user, "metabase");
        assert_string_equal(db->password, "s@cret");
        s = appdb_describe(db);
        assert_string_equal(s, "PostgreSQL metabase@db.example.com:5433/mb");
        assert_null(strstr(s, "cret"));
        free(s);
        s = appdb_libpq_conninfo(db, false);
        assert_string_equal(
                s, "host='db.example.com' port='5433' dbname='mb' user='metabase' sslmode='require'");
        free(s);
        appdb_free(db);

        db = from_env(b, NULL);
        assert_int_equal(db->kind, APPDB_POSTGRES);
        assert_int_equal(db->port, 5432);
        assert_string_equal(db->user, "mb");
        assert_string_equal(db->password, "pw");
        s = appdb_libpq_conninfo(db, true);
        /* ssl=true is a JDBC option, not libpq's */
        assert_string_equal(s, "host='127.0.0.1' port='5432' dbname='metabase' user='mb' password='pw'");
        free(s);
        appdb_free(db);

        /* MB_DB_USER/PASS complete the URI; quotes and backslashes can't break out of the value */
        db = from_env(c, NULL);
        s = appdb_libpq_conninfo(db, true);
        assert_string_equal(s, "host='127.0.0.1' port='5432' dbname='metabase' user='u' password='p\\'q\\\\r'");
        free(s);
        s = appdb_pgpass_line(db);
        assert_string_equal(s, "127.0.0.1:5432:*:u:p'q\\\\r\n");
        free(s);
        appdb_free(db);
}

static void test_host_variables(void **state) {
        const char *pg[] = {
                "MB_DB_TYPE=postgres",
                "MB_DB_HOST=10.0.0.5",
                "MB_DB_PORT=6432",
                "MB_DB_DBNAME=metabase",
                "MB_DB_USER=metabase",
                "MB_DB_PASS=hunter2",
                NULL};
        const char *my[] = {"MB_DB_TYPE=mysql", "MB_DB_DBNAME=metabase", NULL};
        AppDb *db;
        char *s;

        db = from_env(pg, NULL);
        assert_int_equal(db->kind, APPDB_POSTGRES);
        assert_string_equal(db->host, "10.0.0.5");
        assert_int_equal(db->port, 6432);
        assert_string_equal(db->password, "hunter2");
        s = appdb_describe(db);
        assert_null(strstr(s, "hunter2"));
        free(s);
        appdb_free(db);

        db = from_env(my, NULL);
        assert_int_equal(db->kind, APPDB_MYSQL);
        assert_string_equal(db->host, "localhost");
        assert_int_equal(db->port, 3306);
        assert_null(appdb_libpq_conninfo(db, true));
        appdb_free(db);
}

static void test_mysql_defaults(void **state) {
        const char *my[] = {
                "MB_DB_TYPE=mysql",
                "MB_DB_HOST=db.internal",
                "MB_DB_PORT=3307",
                "MB_DB_DBNAME=metabase",
                "MB_DB_USER=mb",
                "MB_DB_PASS=a\"b'c\\d",
                NULL};
        const char *pg[] = {"MB_DB_TYPE=postgres", "MB_DB_DBNAME=metabase", NULL};
        AppDb *db;
        char *s;

        db = from_env(my, NULL);
        s = appdb_mysql_defaults(db);
        /* the password can't end its value or start another option line */
        assert_non_null(strstr(
                s, "[client]\nhost=\"db.internal\"\nport=3307\nuser=\"mb\"\npassword=\"a\\\"b\\'c\\\\d\"\n"));
        free(s);
        appdb_free(db);

        db = from_env(pg, NULL);
        errno = 0;
        assert_null(appdb_mysql_defaults(db));
        assert_int_equal(errno, EINVAL);
        appdb_free(db);
}

static void test_errors(void **state) {
        const char *e1[] = {"MB_DB_TYPE=oracle", NULL};
        const char *e2[] = {"MB_DB_TYPE=postgres", NULL};
        const char *e3[] = {"MB_DB_TYPE=postgres", "MB_DB_DBNAME=x", "MB_DB_PORT=99999", NULL};
        const char *e4[] = {"MB_DB_CONNECTION_URI=redis://x/y", NULL};
        const char *e5[] = {"MB_DB_TYPE=mysql", "MB_DB_CONNECTION_URI=postgres://h/db", NULL};
        const char *e6[] = {"MB_DB_CONNECTION_URI=postgres://h", NULL};
        const char *e7[] = {"MB_DB_CONNECTION_URI=postgres://u:p%zz@h/db", NULL};
        const char *e8[] = {"MB_DB_CONNECTION_URI=postgres://h o/db", NULL};
        const char *e9[] = {"MB_DB_TYPE=postgres", "MB_DB_HOST=a b", "MB_DB_DBNAME=x", NULL};

        expect_error(e1, "not h2, postgres or mysql");
        expect_error(e2, "MB_DB_DBNAME is not set");
        expect_error(e3, "not a port number");
        expect_error(e4, "must start with postgres://");
        expect_error(e5, "MB_DB_TYPE says mysql");
        expect_error(e6, "names no database");
        expect_error(e7, "bad user or password");
        expect_error(e8, "bad host");
        expect_error(e9, "not a valid host name");
}

static void test_from_string(void **state) {
        AppDb *db = NULL;
        char *err = NULL;

        assert_int_equal(appdb_from_string("h2:/var/lib/metabase/metabase.db", &db, &err), 0);
        assert_string_equal(db->h2_file, "/var/lib/metabase/metabase.db.mv.db");
        appdb_free(db);
        assert_int_equal(appdb_from_string("postgresql://mb@[::1]:5432/metabase", &db, &err), 0);
        assert_string_equal(db->host, "[::1]");
        assert_int_equal(db->port, 5432);
        appdb_free(db);
        assert_int_equal(appdb_from_string("h2:relative.db", &db, &err), -EINVAL);
        free(err);
        err = NULL;
        assert_int_equal(appdb_from_string("", &db, &err), -EINVAL);
        free(err);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_h2),
                cmocka_unit_test(test_postgres_uri_forms),
                cmocka_unit_test(test_host_variables),
                cmocka_unit_test(test_mysql_defaults),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_from_string),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
