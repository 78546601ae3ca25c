/* SPDX-License-Identifier: MIT */
#pragma once

/* The application database's password, copied for mbupgraded-db into state_dir (root's, 0700) as a
 * 0600 file that root opens and passes to the helper as a descriptor. This module names those
 * files, writes them and removes what a daemon that died left; who uses one removes it when done.
 * (A rehearsal keeps its own copy in its directory: rehearse.c's.) */

#include <stdbool.h>

#include "appdb.h"

typedef enum SecretUse {
        SECRET_OPERATION, /* appdb.secret: an operation's, from pre-flight to its end; in its journal */
        SECRET_DROP,      /* appdb.drop: dropping old clones in the background after an operation */
        SECRET_PROBE,     /* appdb.probe: the idle daemon's look at the database, until the helper has it */
        _SECRET_USE_MAX,
} SecretUse;

/* NULL on OOM. */
char *secret_path(const char *state_dir, SecretUse use);

/* The password of db written to path (temp, fsync, rename; 0600), the copy in memory wiped. */
int secret_write(const char *path, const AppDb *db);

/* At start, before anything runs the helper: the probe's and the drop's files are stale, and so is
 * the operation's when there is no operation to resume. */
void secrets_clear_stale(const char *state_dir, bool operation_pending);
