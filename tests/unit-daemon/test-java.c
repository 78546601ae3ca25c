/* SPDX-License-Identifier: MIT */
/* Which Java the unit runs: from the JDK's release file beside the resolved binary, through
 * symlinks like /usr/bin/java -> /etc/alternatives/java -> .../bin/java. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "java.h"
#include "strv.h"

static void test_parse(void **state) {
        unsigned v;

        assert_int_equal(java_parse_version("17.0.15", &v), 0);
        assert_int_equal(v, 17);
        assert_int_equal(java_parse_version("21", &v), 0);
        assert_int_equal(v, 21);
        assert_int_equal(java_parse_version("1.8.0_392", &v), 0);
        assert_int_equal(v, 8);
        assert_int_equal(java_parse_version("", &v), -EINVAL);
        assert_int_equal(java_parse_version("abc", &v), -EINVAL);
        assert_int_equal(java_parse_version("0.1", &v), -EINVAL);
}

static void test_release_file_through_symlinks(void **state) {
        char t[] = "/tmp/test-java-XXXXXX";
        const char *d = mkdtemp(t);
        _cleanup_free_ char *bin = NULL, *java = NULL, *release = NULL, *link1 = NULL, *link2 = NULL,
                            *err = NULL, *cmd = NULL;
        unsigned v = 0;
        FILE *f;

        assert_non_null(d);
        bin = strdup_printf("%s/jdk-21/bin", d);
        assert_int_equal(mkdir_parents_and_self(bin, 0755), 0);
        java = path_join(bin, "java");
        f = fopen(java, "we");
        fputs("#!/bin/sh\nexit 1\n", f);
        fclose(f);
        chmod(java, 0755);
        release = strdup_printf("%s/jdk-21/release", d);
        f = fopen(release, "we");
        fputs("IMPLEMENTOR=\"Debian\"\nJAVA_VERSION=\"21.0.5\"\nJAVA_VERSION_DATE=\"2024-10-15\"\n", f);
        fclose(f);
        link1 = strdup_printf("%s/alternatives-java", d);
        link2 = strdup_printf("%s/usr-bin-java", d);
        assert_int_equal(symlink(java, link1), 0);
        assert_int_equal(symlink(link1, link2), 0);

        assert_int_equal(java_feature_version(link2, &v, &err), 0);
        assert_int_equal(v, 21);

        /* relative paths and missing binaries are errors with a message */
        assert_true(java_feature_version("java", &v, &err) < 0);
        assert_non_null(err);
        free(err);
        err = NULL;
        assert_true(java_feature_version("/nonexistent/bin/java", &v, &err) < 0);
        assert_non_null(err);

        cmd = strdup_printf("rm -rf '%s'", d);
        assert_int_equal(system(cmd), 0);
}

static void test_real_java_if_present(void **state) {
        _cleanup_free_ char *err = NULL;
        unsigned v = 0;

        if (access("/usr/bin/java", X_OK) < 0)
                skip();
        assert_int_equal(java_feature_version("/usr/bin/java", &v, &err), 0);
        assert_true(v >= 11);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_release_file_through_symlinks),
                cmocka_unit_test(test_real_java_if_present),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
