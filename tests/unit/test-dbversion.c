/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dbversion.h"
#include "jar-fixture.h"
#include "jar.h"
#include "macro.h"

/* resources/metabase/app_db/supported-db-versions.edn of metabase/metabase, as it is */
static const char real[] = ";; Minimum supported versions for Metabase application databases.\n"
                           ";; Documentation reference:\n"
                           ";; "
                           "https://www.metabase.com/docs/latest/installation-and-operation/"
                           "migrating-from-h2#supported-databases-for-storing-your-metabase-application-data\n"
                           "{:h2       {:major 2 :minor 1 :patch 214}\n"
                           " :postgres {:major 14 :minor 0 :patch 0}\n"
                           " :mysql    {:major 8 :minor 4 :patch 0}\n"
                           " :mariadb  {:major 10 :minor 6 :patch 0}}\n";

static void lookup_ok(const char *text, const char *db, unsigned a, unsigned b, unsigned c) {
        DbVersion v;

        assert_int_equal(db_versions_edn_lookup(text, strlen(text), db, &v), 0);
        assert_int_equal(v.major, a);
        assert_int_equal(v.minor, b);
        assert_int_equal(v.patch, c);
}

static void test_good(void **state) {
        DbVersion v;

        lookup_ok(real, "postgres", 14, 0, 0);
        lookup_ok(real, "mysql", 8, 4, 0);
        lookup_ok(real, "mariadb", 10, 6, 0);
        lookup_ok(real, "h2", 2, 1, 214);
        assert_int_equal(db_versions_edn_lookup(real, strlen(real), "oracle", &v), -ENOENT);
        /* EDN commas are whitespace; order free; minor and patch may be missing */
        lookup_ok("{:postgres {:patch 1, :major 16}, :mysql{:major 8}}", "postgres", 16, 0, 1);
        assert_int_equal(db_versions_edn_lookup("{}", 2, "h2", &v), -ENOENT);
}

static void test_malformed(void **state) {
        static const char *const bad[] = {
                "",
                "{",
                "{:postgres {:major 14}",
                "{:postgres {:major 14}} trailing",
                "{:postgres {:major 14}} {}",
                "[:postgres {:major 14}]",
                "{postgres {:major 14}}",
                "{:postgres {:major \"14\"}}",
                "{:postgres {:major 14N}}",
                "{:postgres {:major 14.0}}",
                "{:postgres {:major -14}}",
                "{:postgres {:major 99999999999999999999}}",
                "{:postgres {:minor 1}}", /* no major */
                "{:postgres {:major 14 :major 15}}",
                "{:postgres {:major 14} :postgres {:major 15}}",
                "{:postgres {:major 14 :flavour 1}}",
                "{:postgres {:major 14 :minor}}",
                "{:postgres {{:major 14}}}",
                "{:: {:major 14}}",
                "{: {:major 14}}",
                "{:postgres #=(eval 1)}",
        };
        DbVersion v;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(db_versions_edn_lookup(bad[i], strlen(bad[i]), "postgres", &v), -EBADMSG);
        /* a NUL inside is not text */
        assert_int_equal(db_versions_edn_lookup("{}\0{:postgres {:major 1}}", 26, "postgres", &v), -EBADMSG);
}

static void test_huge(void **state) {
        size_t n = 1024 * 1024;
        char *s = malloc(n + 1);
        DbVersion v;

        assert_non_null(s);
        /* a deep nesting, long keywords, many keys, and plain size: all bounded */
        memset(s, '{', n);
        assert_int_equal(db_versions_edn_lookup(s, DB_VERSIONS_EDN_MAX, "postgres", &v), -EBADMSG);
        assert_int_equal(db_versions_edn_lookup(s, n, "postgres", &v), -EFBIG);
        s[0] = '{';
        s[1] = ':';
        memset(s + 2, 'a', 4096);
        strcpy(s + 2 + 4096, " {:major 1}}");
        assert_int_equal(db_versions_edn_lookup(s, strlen(s), "postgres", &v), -EBADMSG);
        strcpy(s, "{");
        for (int i = 0; i < 20; i++) {
                char k[32];
                snprintf(k, sizeof(k), ":db%d {:major 1} ", i);
                strcat(s, k);
        }
        strcat(s, "}");
        assert_int_equal(db_versions_edn_lookup(s, strlen(s), "postgres", &v), -EBADMSG);
        free(s);
}

static void test_server_versions(void **state) {
        const char *key, *product;
        DbVersion v;

        assert_int_equal(db_version_from_server("postgres", "150018", &v, &key, &product), 0);
        assert_true(v.major == 15 && v.minor == 18 && v.patch == 0);
        assert_string_equal(key, "postgres");
        assert_string_equal(product, "PostgreSQL");
        assert_int_equal(db_version_from_server("postgres", "90624", &v, &key, &product), 0);
        assert_true(v.major == 9 && v.minor == 6 && v.patch == 24);
        assert_int_equal(db_version_from_server("mysql", "8.0.35", &v, &key, &product), 0);
        assert_true(v.major == 8 && v.minor == 0 && v.patch == 35);
        assert_string_equal(key, "mysql");
        assert_int_equal(db_version_from_server("mysql", "10.11.6-MariaDB-0+deb12u1", &v, &key, &product), 0);
        assert_true(v.major == 10 && v.minor == 11 && v.patch == 6);
        assert_string_equal(key, "mariadb");
        assert_string_equal(product, "MariaDB");
        assert_int_equal(db_version_from_server("mysql", "5.5.5-10.3.39-MariaDB", &v, &key, &product), 0);
        assert_true(v.major == 10 && v.minor == 3 && v.patch == 39);
        assert_int_equal(db_version_from_server("postgres", "15.4", &v, &key, &product), -EBADMSG);
        assert_int_equal(db_version_from_server("postgres", "", &v, &key, &product), -EBADMSG);
        assert_int_equal(db_version_from_server("mysql", "MariaDB", &v, &key, &product), -EBADMSG);
        assert_int_equal(db_version_from_server("h2", "2.1", &v, &key, &product), -EINVAL);

        DbVersion a = {12, 4, 0}, b = {14, 0, 0}, c = {14, 0, 1};
        assert_true(db_version_compare(&a, &b) < 0);
        assert_true(db_version_compare(&c, &b) > 0);
        assert_true(db_version_compare(&b, &b) == 0);
}

static void test_read_resource(void **state) {
        char path[] = "/tmp/test-dbversion-XXXXXX";
        int fd = mkstemp(path);
        char *big = calloc(1, 64 * 1024);
        JarFixtureEntry e[] = {
                {.name = DB_VERSIONS_EDN_PATH, .data = real, .size = strlen(real)},
                {.name = "big", .data = big, .size = 64 * 1024},
        };
        char *text = NULL;
        size_t n;
        DbVersion v;

        assert_true(fd >= 0);
        close(fd);
        assert_non_null(big);
        assert_int_equal(jar_fixture_write(path, e, ELEMENTSOF(e)), 0);
        assert_int_equal(jar_read_resource(path, DB_VERSIONS_EDN_PATH, DB_VERSIONS_EDN_MAX, &text, &n), 0);
        assert_int_equal(n, strlen(real));
        assert_int_equal(db_versions_edn_lookup(text, n, "postgres", &v), 0);
        assert_int_equal(v.major, 14);
        free(text);
        /* the limit holds whatever the entry declares; absent is -ENOENT */
        assert_int_equal(jar_read_resource(path, "big", DB_VERSIONS_EDN_MAX, &text, &n), -EFBIG);
        assert_int_equal(jar_read_resource(path, "nope", DB_VERSIONS_EDN_MAX, &text, &n), -ENOENT);
        unlink(path);
        /* not a ZIP */
        assert_int_equal(jar_read_resource("/etc/hostname", "x", 10, &text, &n) < 0, true);
        free(big);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_good),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_huge),
                cmocka_unit_test(test_server_versions),
                cmocka_unit_test(test_read_resource),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
