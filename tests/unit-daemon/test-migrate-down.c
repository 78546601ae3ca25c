/* SPDX-License-Identifier: MIT */
/* Metabase's migrate down as the unit would run it: the unit's Java (made absolute) and options,
 * the JAR given in place of the unit's, "migrate down" in place of whatever followed the JAR; its
 * environment, working directory, user and group; refused without a "-jar JAR". */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "migrate-down.h"
#include "strv.h"

static void test_command(void **state) {
        UnitInfo info = {
                .exec_path = (char *) "/usr/lib/jvm/java-17/bin/java",
                .exec_argv =
                        (char *[]){
                                "java",
                                "--add-opens",
                                "java.base/java.nio=ALL-UNNAMED",
                                "-Xmx2g",
                                "-jar",
                                "/opt/metabase/metabase.jar",
                                "--some-server-flag",
                                NULL},
                .environment = (char *[]){"MB_DB_TYPE=postgres", "MB_DB_PASS=secret", NULL},
                .working_directory = (char *) "/var/lib/metabase",
                .user = (char *) "metabase",
        };
        MigrateDownCommand c = {};

        assert_int_equal(migrate_down_command(&info, "/opt/metabase/newer.jar", &c), 0);
        assert_int_equal(strv_length(c.argv), 8);
        assert_string_equal(c.argv[0], "/usr/lib/jvm/java-17/bin/java");
        assert_string_equal(c.argv[1], "--add-opens");
        assert_string_equal(c.argv[3], "-Xmx2g");
        assert_string_equal(c.argv[4], "-jar");
        assert_string_equal(c.argv[5], "/opt/metabase/newer.jar");
        assert_string_equal(c.argv[6], "migrate");
        assert_string_equal(c.argv[7], "down");
        assert_true(strv_contains(c.env, "MB_DB_PASS=secret"));
        assert_string_equal(c.working_directory, "/var/lib/metabase");
        assert_string_equal(c.user, "metabase");
        assert_null(c.group);
        migrate_down_command_done(&c);
        assert_null(c.argv);

        /* the rehearsal's use: the unit's arguments after the JAR stay */
        char **argv = unit_info_argv_with_jar(&info, "/opt/metabase/metabase.jar", "/x/staged.jar", NULL);
        assert_non_null(argv);
        assert_int_equal(strv_length(argv), 7);
        assert_string_equal(argv[5], "/x/staged.jar");
        assert_string_equal(argv[6], "--some-server-flag");
        strv_free(argv);

        /* "-jar" with another JAR, or none at all: no command */
        UnitInfo other = info;
        other.exec_argv = (char *[]){
                "/usr/bin/java", "-cp", "/opt/metabase/metabase.jar", "metabase.core", NULL};
        assert_int_equal(migrate_down_command(&other, "/opt/metabase/newer.jar", &c), -EINVAL);
        assert_null(c.argv);
        assert_null(unit_info_argv_with_jar(&info, "/opt/other.jar", "/x.jar", NULL));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_command),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
