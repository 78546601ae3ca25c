/* SPDX-License-Identifier: MIT */
#pragma once

/* state_dir/last-upgrade.json: the last committed upgrade, what `mbctl rollback` returns to (the
 * version before it, the JAR kept of it, the database backup taken before it). Written atomically
 * when an upgrade commits, removed when a rollback commits. This module is the only code that
 * opens it. */

#include <stdint.h>

typedef struct LastUpgrade {
        uint64_t id;
        char *from, *to;
        char *kept_jar;      /* "" when none was kept */
        char *backup;        /* "" when the upgrade took no backup */
        char *backup_sha256; /* "" with no backup */
} LastUpgrade;

void last_upgrade_done(LastUpgrade *u);

/* Writes the record (temp file, fsync, rename; 0600). NULL strings are written as "". */
int last_upgrade_write(const char *state_dir, const LastUpgrade *u);

/* -ENOENT when there is none, -EBADMSG when it is no record with two valid versions. */
int last_upgrade_read(const char *state_dir, LastUpgrade *ret);

/* Removes it and syncs the directory; -ENOENT when there was none. */
int last_upgrade_remove(const char *state_dir);
