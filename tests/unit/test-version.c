/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "macro.h"
#include "version.h"

static void test_parse_good(void **state) {
        static const struct {
                const char *s;
                MbVersion v;
        } good[] = {
                {"v0.56.3", {0, 56, 3, 0, false}},
                {"0.56.3", {0, 56, 3, 0, false}},
                {"v1.56.3", {1, 56, 3, 0, false}},
                {"v0.56.3.1", {0, 56, 3, 1, true}},
                {"v0.56.3.0", {0, 56, 3, 0, true}},
                {"v0.0.0", {0, 0, 0, 0, false}},
                {"v1.99999.99999.99999", {1, 99999, 99999, 99999, true}},
                {"v0.49.10", {0, 49, 10, 0, false}},
        };

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                MbVersion v = {77, 77, 77, 77, true};

                assert_int_equal(mb_version_parse(good[i].s, &v), 0);
                assert_int_equal(v.edition, good[i].v.edition);
                assert_int_equal(v.major, good[i].v.major);
                assert_int_equal(v.minor, good[i].v.minor);
                assert_int_equal(v.hotfix, good[i].v.hotfix);
                assert_int_equal(v.has_hotfix, good[i].v.has_hotfix);
                assert_true(mb_version_is_valid(good[i].s));
        }
}

static void test_parse_bad(void **state) {
        static const char *const bad[] = {
                "",
                "v",
                "v0.56",
                "v0.56.",
                "v0.56.3.",
                "v0.56.3.1.2",
                "v0..1",
                "v0.56..3",
                ".0.56.3",
                "v2.56.3",    /* edition 2 */
                "v10.56.3",   /* edition 10 */
                "v0.056.3",   /* leading zero */
                "v00.56.3",   /* leading zero in the edition */
                "v0.56.03",   /* leading zero */
                "v0.56.3.01", /* leading zero in the hotfix */
                "v0.100000.3",
                "v0.56.123456",
                "v0.56.3.100000",
                "v0.99999999999999999999.1", /* would overflow */
                " v0.56.3",
                "v0.56.3 ",
                "v0.56.3\n",
                "v0. 56.3",
                "\tv0.56.3",
                "V0.56.3",
                "vv0.56.3",
                "v0.56.3-beta",
                "v0.56.3-RC1",
                "v0.56.x",
                "v0.56.3/../../etc",
                "../v0.56.3",
                "v0/56/3",
                "v0.56.3%2F",
                "v-0.56.3",
                "v+0.56.3",
                "v0.-56.3",
                "v0.56.3\xc3\xa9",
                "v0.00000000000000000000000000056.3", /* longer than MB_VERSION_STRING_MAX */
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                MbVersion v = {7, 7, 7, 7, true};

                assert_int_equal(mb_version_parse(bad[i], &v), -EINVAL);
                assert_false(mb_version_is_valid(bad[i]));
                /* ret is untouched on failure */
                assert_int_equal(v.edition, 7);
                assert_int_equal(v.major, 7);
        }

        assert_int_equal(mb_version_parse(NULL, NULL), -EINVAL);
        assert_false(mb_version_is_valid(NULL));
}

static void test_parse_length_limit(void **state) {
        char s[64];

        /* Exactly MB_VERSION_STRING_MAX characters would need numbers over 99999, so the limit
         * only ever triggers together with another rule: check that both reject. */
        memset(s, '1', sizeof(s));
        s[0] = 'v';
        s[1] = '0';
        s[2] = '.';
        s[MB_VERSION_STRING_MAX] = '\0';
        assert_int_equal(mb_version_parse(s, NULL), -EINVAL);
        assert_int_equal(strlen("v1.99999.99999.99999"), 20U);
        assert_true(strlen("v1.99999.99999.99999") <= MB_VERSION_STRING_MAX);
}

static int cmp(const char *a, const char *b) {
        MbVersion va, vb;

        assert_int_equal(mb_version_parse(a, &va), 0);
        assert_int_equal(mb_version_parse(b, &vb), 0);
        return mb_version_compare(&va, &vb);
}

static void test_compare(void **state) {
        /* Sorted ascending: every earlier entry compares below every later one. */
        static const char *const sorted[] = {
                "v0.9.9",
                "v0.49.0",
                "v0.49.10",
                "v0.50.0",
                "v0.56.2",
                "v0.56.3",
                "v1.56.3",
                "v0.56.3.1",
                "v1.56.3.1",
                "v0.56.3.2",
                "v0.56.10",
                "v0.57.0",
        };

        for (size_t i = 0; i < ELEMENTSOF(sorted); i++)
                for (size_t j = 0; j < ELEMENTSOF(sorted); j++) {
                        int r = cmp(sorted[i], sorted[j]);

                        if (i < j)
                                assert_true(r < 0);
                        else if (i > j)
                                assert_true(r > 0);
                        else
                                assert_int_equal(r, 0);
                }

        /* Numbers compare as numbers, not as strings. */
        assert_true(cmp("v0.9.0", "v0.10.0") < 0);
        assert_true(cmp("v0.56.9", "v0.56.10") < 0);
        assert_int_equal(cmp("0.56.3", "v0.56.3"), 0);
        /* A .0 hotfix is a different string: ordered right after the plain release. */
        assert_true(cmp("v0.56.3", "v0.56.3.0") < 0);
        assert_true(cmp("v0.56.3.0", "v0.56.3.1") < 0);
}

static VersionStep step(const char *a, const char *b) {
        MbVersion va, vb;

        assert_int_equal(mb_version_parse(a, &va), 0);
        assert_int_equal(mb_version_parse(b, &vb), 0);
        return mb_version_step(&va, &vb);
}

static void test_step(void **state) {
        assert_int_equal(step("v0.56.3", "v0.56.3"), VERSION_STEP_NONE);
        assert_int_equal(step("v0.56.3", "v0.56.3.1"), VERSION_STEP_PATCH);
        assert_int_equal(step("v0.56.3.1", "v0.56.3.2"), VERSION_STEP_PATCH);
        assert_int_equal(step("v0.56.3.2", "v0.56.3"), VERSION_STEP_PATCH);
        assert_int_equal(step("v0.56.3", "v0.56.4"), VERSION_STEP_MINOR);
        assert_int_equal(step("v0.56.3.1", "v0.56.4"), VERSION_STEP_MINOR);
        assert_int_equal(step("v0.56.4", "v0.56.3"), VERSION_STEP_MINOR);
        assert_int_equal(step("v0.56.3", "v0.57.0"), VERSION_STEP_MAJOR);
        assert_int_equal(step("v0.57.0", "v0.56.3"), VERSION_STEP_MAJOR);
        assert_int_equal(step("v0.56.3", "v0.58.3"), VERSION_STEP_MAJOR);
        assert_int_equal(step("v0.56.3", "v1.57.0"), VERSION_STEP_MAJOR);
        /* The edition is not a step. */
        assert_int_equal(step("v0.56.3", "v1.56.3"), VERSION_STEP_NONE);
        assert_int_equal(step("v0.56.3", "v1.56.4"), VERSION_STEP_MINOR);
}

static void test_format(void **state) {
        static const char *const canonical[] = {
                "v0.56.3",
                "v1.56.3",
                "v0.56.3.1",
                "v0.56.3.0",
                "v0.0.0",
                "v1.99999.99999.99999",
        };
        char buf[MB_VERSION_STRING_MAX + 1];
        MbVersion v, w;

        for (size_t i = 0; i < ELEMENTSOF(canonical); i++) {
                assert_int_equal(mb_version_parse(canonical[i], &v), 0);
                assert_string_equal(mb_version_format(&v, buf), canonical[i]);
                assert_int_equal(mb_version_parse(buf, &w), 0);
                assert_int_equal(mb_version_compare(&v, &w), 0);
        }

        /* Without the 'v' it is written with it. */
        assert_int_equal(mb_version_parse("0.56.3.7", &v), 0);
        assert_string_equal(mb_version_format(&v, buf), "v0.56.3.7");
        assert_ptr_equal(mb_version_format(&v, buf), buf);
}

static void test_step_strings(void **state) {
        for (VersionStep s = 0; s < _VERSION_STEP_MAX; s++) {
                const char *n = version_step_to_string(s);

                assert_non_null(n);
                assert_int_equal(version_step_from_string(n), s);
        }
        assert_string_equal(version_step_to_string(VERSION_STEP_MINOR), "minor");
        assert_null(version_step_to_string(_VERSION_STEP_MAX));
        assert_null(version_step_to_string(_VERSION_STEP_INVALID));
        assert_int_equal(version_step_from_string("huge"), _VERSION_STEP_INVALID);
        assert_int_equal(version_step_from_string("Minor"), _VERSION_STEP_INVALID);
        assert_int_equal(version_step_from_string(""), _VERSION_STEP_INVALID);
        assert_int_equal(version_step_from_string(NULL), _VERSION_STEP_INVALID);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_good),
                cmocka_unit_test(test_parse_bad),
                cmocka_unit_test(test_parse_length_limit),
                cmocka_unit_test(test_compare),
                cmocka_unit_test(test_step),
                cmocka_unit_test(test_format),
                cmocka_unit_test(test_step_strings),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
