/* SPDX-License-Identifier: MIT */
#pragma once

/* Metabase version numbers: v0.56.3 (OSS), v1.56.3 (enterprise), v0.56.3.1 (hotfix).
 * The first number is the edition (0 or 1), "major" is the second, "minor" the third,
 * and the optional fourth is a hotfix. Parsing is strict, because a version from a feed
 * or a caller ends up in paths and URLs. */

#include <errno.h>
#include <stdbool.h>

/* Longest accepted version string, including the leading 'v', without the NUL. */
#define MB_VERSION_STRING_MAX 31

typedef struct MbVersion {
        unsigned edition; /* 0 = OSS, 1 = enterprise */
        unsigned major;
        unsigned minor;
        unsigned hotfix; /* 0 when absent */
        bool has_hotfix;
} MbVersion;

typedef enum VersionStep {
        VERSION_STEP_NONE,  /* same version */
        VERSION_STEP_PATCH, /* only the hotfix number differs: v0.56.3 -> v0.56.3.1 */
        VERSION_STEP_MINOR, /* the third number differs: v0.56.3 -> v0.56.4 */
        VERSION_STEP_MAJOR, /* the second number differs: v0.56.3 -> v0.57.0 */
        _VERSION_STEP_MAX,
        _VERSION_STEP_INVALID = -EINVAL,
} VersionStep;

/* Accepts "v0.56.3", "v0.56.3.1", "v1.56.3" and the same without the 'v'. Returns -EINVAL for
 * anything else: other characters, whitespace, leading zeros, numbers over 99999, an edition
 * other than 0 or 1, a string longer than MB_VERSION_STRING_MAX. */
int mb_version_parse(const char *s, MbVersion *ret);
bool mb_version_is_valid(const char *s);

/* Orders by major, minor, hotfix, then edition. Returns <0, 0, >0. */
int mb_version_compare(const MbVersion *a, const MbVersion *b);

/* The size of the step from 'from' to 'to', whichever direction. */
VersionStep mb_version_step(const MbVersion *from, const MbVersion *to);

/* Writes the canonical form ("v0.56.3", "v0.56.3.1") into buf, returns buf. */
char *mb_version_format(const MbVersion *v, char buf[static MB_VERSION_STRING_MAX + 1]);

const char *version_step_to_string(VersionStep s); /* "none", "patch", "minor", "major" */
VersionStep version_step_from_string(const char *s);
