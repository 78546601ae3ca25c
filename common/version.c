/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "version.h"

#define MB_VERSION_NUMBER_MAX 99999U

/* Parses one decimal number of at most five digits without a leading zero at *p, and moves *p past
 * it. Anything that is not a digit ends the number. */
static int parse_number(const char **p, unsigned *ret) {
        const char *s = *p;
        unsigned v = 0;
        size_t n = 0;

        while (s[n] >= '0' && s[n] <= '9') {
                if (n >= 5) /* more than 99999 */
                        return -EINVAL;
                v = v * 10 + (unsigned) (s[n] - '0');
                n++;
        }
        if (n == 0)
                return -EINVAL;
        if (n > 1 && s[0] == '0') /* "07" would name the same release as "7": only one spelling */
                return -EINVAL;
        if (v > MB_VERSION_NUMBER_MAX)
                return -EINVAL;

        *p = s + n;
        *ret = v;
        return 0;
}

int mb_version_parse(const char *s, MbVersion *ret) {
        unsigned numbers[4];
        size_t n = 0;
        const char *p;
        int r;

        if (!s)
                return -EINVAL;
        if (strnlen(s, MB_VERSION_STRING_MAX + 1) > MB_VERSION_STRING_MAX)
                return -EINVAL;

        p = s[0] == 'v' ? s + 1 : s;
        for (;;) {
                if (n >= ELEMENTSOF(numbers))
                        return -EINVAL;
                r = parse_number(&p, &numbers[n++]);
                if (r < 0)
                        return r;
                if (*p == '\0')
                        break;
                if (*p != '.')
                        return -EINVAL;
                p++;
        }

        if (n < 3)
                return -EINVAL;
        if (numbers[0] > 1)
                return -EINVAL;

        if (ret)
                *ret = (MbVersion){
                        .edition = numbers[0],
                        .major = numbers[1],
                        .minor = numbers[2],
                        .hotfix = n > 3 ? numbers[3] : 0,
                        .has_hotfix = n > 3,
                };
        return 0;
}

bool mb_version_is_valid(const char *s) {
        return mb_version_parse(s, NULL) >= 0;
}

#define CMP(a, b) ((a) < (b) ? -1 : (a) > (b) ? 1 : 0)

int mb_version_compare(const MbVersion *a, const MbVersion *b) {
        int r;

        assert(a);
        assert(b);

        r = CMP(a->major, b->major);
        if (r != 0)
                return r;
        r = CMP(a->minor, b->minor);
        if (r != 0)
                return r;
        r = CMP(a->hotfix, b->hotfix);
        if (r != 0)
                return r;
        r = CMP(a->edition, b->edition);
        if (r != 0)
                return r;
        /* Only so that 0 means "the same string": v0.56.3 sorts before v0.56.3.0. */
        return CMP(a->has_hotfix, b->has_hotfix);
}

VersionStep mb_version_step(const MbVersion *from, const MbVersion *to) {
        assert(from);
        assert(to);

        /* The edition is not a step: v0.56.3 and v1.56.3 are the same release. */
        if (from->major != to->major)
                return VERSION_STEP_MAJOR;
        if (from->minor != to->minor)
                return VERSION_STEP_MINOR;
        if (from->hotfix != to->hotfix || from->has_hotfix != to->has_hotfix)
                return VERSION_STEP_PATCH;
        return VERSION_STEP_NONE;
}

char *mb_version_format(const MbVersion *v, char buf[static MB_VERSION_STRING_MAX + 1]) {
        assert(v);

        if (v->has_hotfix)
                (void) snprintf(
                        buf, MB_VERSION_STRING_MAX + 1, "v%u.%u.%u.%u", v->edition, v->major, v->minor, v->hotfix);
        else
                (void) snprintf(buf, MB_VERSION_STRING_MAX + 1, "v%u.%u.%u", v->edition, v->major, v->minor);
        return buf;
}

static const char *const version_step_table[_VERSION_STEP_MAX] = {
        [VERSION_STEP_NONE] = "none",
        [VERSION_STEP_PATCH] = "patch",
        [VERSION_STEP_MINOR] = "minor",
        [VERSION_STEP_MAJOR] = "major",
};

const char *version_step_to_string(VersionStep s) {
        if (s < 0 || s >= _VERSION_STEP_MAX)
                return NULL;
        return version_step_table[s];
}

VersionStep version_step_from_string(const char *s) {
        if (!s)
                return _VERSION_STEP_INVALID;
        for (size_t i = 0; i < ELEMENTSOF(version_step_table); i++)
                if (streq(version_step_table[i], s))
                        return (VersionStep) i;
        return _VERSION_STEP_INVALID;
}
