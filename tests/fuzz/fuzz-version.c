/* SPDX-License-Identifier: MIT */
/* libFuzzer target for mb_version_parse(): whatever it accepts must format back to the same
 * string (parsing is strict: one spelling per version) and compare consistently. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "version.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char s[256], buf[MB_VERSION_STRING_MAX + 1];
        MbVersion v, w, zero = {};

        if (size >= sizeof(s))
                return 0;
        memcpy(s, data, size);
        s[size] = '\0';

        if (mb_version_parse(s, &v) < 0) {
                if (mb_version_is_valid(s))
                        abort();
                return 0;
        }
        /* (an input with a NUL is parsed up to it, like any C string) */
        if (!mb_version_is_valid(s))
                abort();
        if (v.edition > 1 || v.major > 99999 || v.minor > 99999 || v.hotfix > 99999 ||
            (!v.has_hotfix && v.hotfix != 0))
                abort();

        mb_version_format(&v, buf);
        if (!streq(buf + (s[0] == 'v' ? 0 : 1), s))
                abort();
        if (mb_version_parse(buf, &w) < 0 || mb_version_compare(&v, &w) != 0 || mb_version_compare(&w, &v) != 0)
                abort();
        if (mb_version_step(&v, &w) != VERSION_STEP_NONE)
                abort();

        /* Antisymmetry against a fixed version. */
        if ((mb_version_compare(&v, &zero) > 0) != (mb_version_compare(&zero, &v) < 0))
                abort();
        if (mb_version_step(&v, &zero) != mb_version_step(&zero, &v))
                abort();

        return 0;
}
