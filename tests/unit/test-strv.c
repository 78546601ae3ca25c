/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "macro.h"
#include "strv.h"

static void test_control_chars(void **state) {
        static const char *const clean[] = {
                "",
                "/opt/metabase/metabase.jar",
                "quarter-end reports, until 3 April",
                "Ünïcödé: naïve café 日本語",
                "\xc2\xa0 (no-break space, U+00A0)",
                "\xc3\x82\xc2\xa0",
        };
        static const char *const dirty[] = {
                "a\nb",
                "\t",
                "\x1b[31mred",
                "del\x7f",
                "csi\xc2\x9b\0631m", /* C1 CSI, then "31m" (\063 is 3) */
                "nel\xc2\x85",
                "\xc2\x80",
                "end\x01",
        };

        for (size_t i = 0; i < ELEMENTSOF(clean); i++)
                assert_false(string_has_control_chars(clean[i]));
        for (size_t i = 0; i < ELEMENTSOF(dirty); i++)
                assert_true(string_has_control_chars(dirty[i]));
        /* a lone 0xc2 at the end does not read past the terminator */
        assert_false(string_has_control_chars("\xc2"));
}

static void test_sanitized(void **state) {
        char *s;

        s = strndup_sanitized("a\x1b[1mb\xc2\x9b", 8, 100);
        assert_string_equal(s, "a?[1mb??");
        free(s);
        s = strndup_sanitized("0123456789", 10, 4);
        assert_string_equal(s, "0123...");
        free(s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_control_chars),
                cmocka_unit_test(test_sanitized),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
