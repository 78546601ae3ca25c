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
        char *kept_jar;       /* "" when none was kept */
        char *backup;         /* "" when the upgrade took no backup */
        char *backup_sha256;  /* "" with no backup */
        uint64_t backup_usec; /* CLOCK_REALTIME: the stop, the database as the backup has it; 0: unknown */
        uint64_t committed_usec; /* when the upgrade committed; 0: unknown (an older daemon's record) */
} LastUpgrade;

void last_upgrade_done(LastUpgrade *u);

/* Writes the record (temp file, fsync, rename; 0600). NULL strings are written as "". */
int last_upgrade_write(const char *state_dir, const LastUpgrade *u);

/* -ENOENT when there is none, -EBADMSG when it is no record with two valid versions. */
int last_upgrade_read(const char *state_dir, LastUpgrade *ret);

/* Whether a rollback to u->from, asked at now, must be confirmed by the caller: 1 once the new
 * version has served past settle_usec after its commit (or the record does not say when), with
 * *ret_why the words for people: when the backup was taken, that everything written to the
 * application database since will be lost, and to pass --yes. 0 within settle: a rollback right
 * after the upgrade loses next to nothing. */
int last_upgrade_rollback_loses_data(const LastUpgrade *u, uint64_t settle_usec, uint64_t now, char **ret_why);

/* Removes it and syncs the directory; -ENOENT when there was none. */
int last_upgrade_remove(const char *state_dir);
