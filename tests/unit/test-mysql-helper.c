/* SPDX-License-Identifier: MIT */
/* The pure parts of mbupgraded-db's MySQL mode (dbhelper/mysql.c): database names, identifier
 * quoting, and telling a complete dump from one cut short. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "macro.h"
#include "mysql-helper.h"

static void test_database_name(void **state) {
        char long_name[66];

        assert_true(mydb_database_name_is_valid("metabase"));
        assert_true(mydb_database_name_is_valid("mb-prod_2"));
        assert_true(mydb_database_name_is_valid("my db"));
        assert_true(mydb_database_name_is_valid("a`b"));
        assert_false(mydb_database_name_is_valid(NULL));
        assert_false(mydb_database_name_is_valid(""));
        /* an option to mysqldump, not a database */
        assert_false(mydb_database_name_is_valid("--all-databases"));
        assert_false(mydb_database_name_is_valid("-r/tmp/x"));
        assert_false(mydb_database_name_is_valid("trailing "));
        assert_false(mydb_database_name_is_valid("new\nline"));
        assert_false(mydb_database_name_is_valid("del\x7f"));

        memset(long_name, 'a', 64);
        long_name[64] = '\0';
        assert_true(mydb_database_name_is_valid(long_name));
        long_name[64] = 'a';
        long_name[65] = '\0';
        assert_false(mydb_database_name_is_valid(long_name));
}

static void test_quote_identifier(void **state) {
        static const struct {
                const char *in, *out;
        } cases[] = {
                {"DATABASECHANGELOG", "`DATABASECHANGELOG`"},
                {"", "``"},
                {"a`b", "`a``b`"},
                {"``", "``````"},
                {"x; DROP TABLE y", "`x; DROP TABLE y`"},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *q = mydb_quote_identifier(cases[i].in);
                assert_non_null(q);
                assert_string_equal(q, cases[i].out);
                free(q);
        }
}

#define HEAD_MARIADB                                                                      \
        "/*M!999999\\- enable the sandbox mode */ \n"                                     \
        "-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB, for debian-linux-gnu (x86_64)\n" \
        "--\n"
#define HEAD_MYSQL "-- MySQL dump 10.13  Distrib 8.0.36, for Linux (x86_64)\n--\n"

static void test_dump_head(void **state) {
        assert_null(mydb_dump_head_problem(HEAD_MARIADB, strlen(HEAD_MARIADB)));
        assert_null(mydb_dump_head_problem(HEAD_MYSQL, strlen(HEAD_MYSQL)));
        /* cut inside the header line: the prefix is all there is to check */
        assert_null(mydb_dump_head_problem("-- MySQL dump ", 14));
        assert_non_null(mydb_dump_head_problem("-- MySQL dum", 12));
        assert_non_null(mydb_dump_head_problem("", 0));
        assert_non_null(mydb_dump_head_problem("[Unit]\nDescription=x\n", 21));
        assert_non_null(mydb_dump_head_problem("PGDMP\x01\x0e", 7));
        /* not on one of the first lines */
        assert_non_null(mydb_dump_head_problem("\n\n\n-- MySQL dump 10.13\n", 22));
        /* a NUL does not end the search early nor read past n */
        assert_non_null(mydb_dump_head_problem("\0-- MySQL dump ", 15));
}

static void test_dump_tail(void **state) {
        static const char *const complete[] = {
                "INSERT INTO t VALUES (1);\n\n-- Dump completed on 2025-01-01 12:00:00\n",
                "-- Dump completed on 2025-01-01 12:00:00\n\n",
                "-- Dump completed\n",
                "x\r\n-- Dump completed on 2025-01-01\r\n",
                "-- Dump completed on 2025-01-01",
        };
        static const char *const cut[] = {
                "",
                "\n\n",
                "INSERT INTO t VALUES (1),(2",
                "-- Dump completed on 2025-01-01\nINSERT INTO t VALUES (1);\n",
                "-- Dump complet",
                "/*!40101 SET NAMES utf8mb4 */;\n",
                "  -- Dump completed\n",
        };

        for (size_t i = 0; i < ELEMENTSOF(complete); i++)
                assert_null(mydb_dump_tail_problem(complete[i], strlen(complete[i])));
        for (size_t i = 0; i < ELEMENTSOF(cut); i++)
                assert_non_null(mydb_dump_tail_problem(cut[i], strlen(cut[i])));
        /* only the n bytes given count */
        assert_non_null(mydb_dump_tail_problem("-- Dump completed\n", 10));
}

static void test_dump_client_command(void **state) {
        static const char *const clean[] = {
                "/*M!999999\\- enable the sandbox mode */ \n-- MariaDB dump 10.19\n",
                "INSERT INTO `t` VALUES (1,'a\\\\! b\\'\\n\\\\. c','system x');\n",
                "CREATE TABLE `t` (\n  `source` int,\n  `system` varchar(3) COMMENT 'tee \\\\'\n);\n",
                "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;\n",
                ("DELIMITER ;;\n/*!50003 CREATE*/ /*!50003 TRIGGER x BEFORE INSERT ON t FOR EACH ROW SET NEW.a = "
                 "'\\\\'; */;;\nDELIMITER ;\n"),
                "-- a comment with system words\n# and one more: source x\nSELECT 1;\n",
                "SELECT \"a\"\"b\", `c``d`;\nsystem_x;\n",
                "",
        };
        static const struct {
                const char *dump;
                size_t line;
        } tampered[] = {
                {"-- MariaDB dump\n\\! touch /tmp/CANARY\n", 2},
                {"SELECT 1;\n  system touch /tmp/CANARY\n", 2},
                {"SELECT 1;\nSYSTEM touch /tmp/CANARY\n", 2},
                {"SELECT 1; \\! touch /tmp/CANARY\n", 1},
                {"\\. /etc/evil.sql\n", 1},
                {"source /etc/evil.sql\n", 1},
                {"tee /etc/passwd\n", 1},
                {"INSERT INTO t VALUES ('it''s');\n\\!id\n", 2},
                {"/* a comment \\! id */\n", 1},
                {"/*M!999999\\- enable the sandbox mode */ \\! id\n", 1},
                {"x\n/*M!999999\\- enable the sandbox mode */\n", 2},
        };

        for (size_t i = 0; i < ELEMENTSOF(clean); i++)
                assert_int_equal(mydb_dump_client_command(clean[i], strlen(clean[i])), 0);
        for (size_t i = 0; i < ELEMENTSOF(tampered); i++)
                assert_int_equal(
                        mydb_dump_client_command(tampered[i].dump, strlen(tampered[i].dump)),
                        tampered[i].line);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_database_name),
                cmocka_unit_test(test_quote_identifier),
                cmocka_unit_test(test_dump_head),
                cmocka_unit_test(test_dump_tail),
                cmocka_unit_test(test_dump_client_command),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
