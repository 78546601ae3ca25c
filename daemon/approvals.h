/* SPDX-License-Identifier: MIT */
#pragma once

/* state_dir/approved.json: the releases an admin approved with mbctl approve (policy.approve: true
 * makes a release wait for it before the window or apply: immediately may apply it). This module
 * is the only code that opens it: written atomically (root's, 0600), read with O_NOFOLLOW (its owner the
 * daemon's user) and a size limit; a damaged file is logged and counts as no approval at all. */

#include <stdbool.h>

#include "config.h"
#include "operation.h"

/* The newest approvals kept; an older one drops out (its release is long applied or skipped). */
#define APPROVALS_MAX 64U

/* Records that who approved version (valid); 0 also when it was approved already. */
int approvals_add(const char *state_dir, const char *version, const Initiator *who);

/* Whether version was approved. */
bool approvals_has(const char *state_dir, const char *version);

/* Whether version waits for an approval: policy.approve is set and nobody approved it. */
bool approvals_waiting(const Config *c, const char *version);

/* The first of versions (NULL-terminated) that waits for an approval, or NULL. */
const char *approvals_missing(const Config *c, char *const *versions);
