/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lineproto.h"
#include "macro.h"
#include "strv.h"

static void roundtrip(const char *v, size_t n) {
        _cleanup_free_ char *t = lineproto_encode(v, n), *d = NULL;
        size_t len = 0;

        assert_non_null(t);
        /* one token: printable ASCII, no space, no backslash other than an escape */
        for (const char *c = t; *c; c++)
                assert_true(*c > ' ' && *c < 0x7f);
        assert_int_equal(lineproto_decode(t, strlen(t), &d, &len), 0);
        assert_int_equal(len, n);
        assert_memory_equal(d, v, n);
        assert_int_equal(d[n], '\0');
}

static void test_roundtrip(void **state) {
        static const char nul[] = "a\0b";
        _cleanup_free_ char *big = malloc(100000);

        roundtrip("", 0);
        roundtrip("-", 1);
        roundtrip("--", 2);
        roundtrip("1::metabase", 11);
        roundtrip("x\ndatabase_size 0\n", 18);
        roundtrip("back\\slash \\x41", 15);
        roundtrip("tab\there\r\x7f\x1b[31m", 16);
        roundtrip("naïve 日本", strlen("naïve 日本"));
        roundtrip(nul, 3);
        assert_non_null(big);
        for (size_t i = 0; i < 100000; i++)
                big[i] = (char) (i % 256);
        roundtrip(big, 100000);
}

static void test_encode_is_one_token(void **state) {
        _cleanup_free_ char *t = lineproto_encode_str("x\ndatabase_size 0\ndone"),
                            *e = lineproto_encode_str(""), *dash = lineproto_encode_str("-");

        assert_string_equal(t, "x\\x0adatabase_size\\x200\\x0adone");
        assert_string_equal(e, "-");
        assert_string_equal(dash, "\\x2d");
}

static void test_decode_refuses(void **state) {
        static const char *const bad[] = {
                "a b",
                "a\nb",
                "\\",
                "\\x",
                "\\x4",
                "\\xg0",
                "\\n",
                "a\\",
                "tab\t",
                "\x7f",
                "\xc3\xa9",
        };
        char *d = NULL;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(lineproto_decode(bad[i], strlen(bad[i]), &d, NULL), -EBADMSG);
        assert_int_equal(lineproto_decode("", 0, &d, NULL), -EBADMSG);
        assert_null(d);
}

static void test_split(void **state) {
        _cleanup_strv_free_ char **w = NULL, **nul = NULL;
        _cleanup_free_ char *by = lineproto_encode_str("evil\ndatabase_size 0\n"),
                            *line = strdup_printf("lock held %s 2026-12-07", by);

        assert_int_equal(lineproto_split(line, &w), 0);
        assert_int_equal(strv_length(w), 4);
        assert_string_equal(w[0], "lock");
        assert_string_equal(w[1], "held");
        assert_string_equal(w[2], "evil\ndatabase_size 0\n");
        assert_string_equal(w[3], "2026-12-07");
        /* a NUL in a value of a line: refused, a C string cannot hold it */
        assert_int_equal(lineproto_split("changelog_latest a\\x00b", &nul), -EBADMSG);
        assert_int_equal(lineproto_split("two  spaces", &nul), -EBADMSG);
        assert_int_equal(lineproto_split("trailing ", &nul), -EBADMSG);
        assert_int_equal(lineproto_split("", &nul), -EBADMSG);
        assert_int_equal(lineproto_split("database_size 0\nx", &nul), -EBADMSG);
        assert_null(nul);
}

static void test_display(void **state) {
        _cleanup_free_ char *a = lineproto_display("x\ndatabase_size 0\n"),
                            *b = lineproto_display("a\\b\t\x1b"), *c = lineproto_display("plain text");

        assert_string_equal(a, "x\\ndatabase_size 0\\n");
        assert_string_equal(b, "a\\\\b\\t\\x1b");
        assert_string_equal(c, "plain text");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_roundtrip),
                cmocka_unit_test(test_encode_is_one_token),
                cmocka_unit_test(test_decode_refuses),
                cmocka_unit_test(test_split),
                cmocka_unit_test(test_display),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
