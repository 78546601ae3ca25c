/* SPDX-License-Identifier: MIT */
#pragma once

/* The backups under backup.dir: one directory each, <time>-<operation>-<version>/, holding the
 * backup (metabase.db.mv.db, metabase.dump or metabase.sql) and backup.json describing it. */

#include <stdint.h>

#include "manager.h"

typedef struct BackupInfo {
        char *id;   /* the directory's name */
        char *dir;  /* backup.dir/id */
        char *file; /* the backup itself */
        char *kind; /* "h2", "postgres", "mysql" */
        char *version;
        char *database;
        char *schema;
        char *sha256;
        uint64_t size;
        uint64_t operation;
        uint64_t created_usec;
} BackupInfo;

BackupInfo *backup_info_free(BackupInfo *b);
static inline void backup_info_freep(BackupInfo **b) {
        backup_info_free(*b);
}

/* The file name of a backup of a database of this kind. */
const char *backup_file_name(const char *db_kind);

/* name: a backup's id, or an absolute path to its directory or file under backup.dir.
 * -ENOENT, -EINVAL (not under backup.dir) or -EBADMSG (no readable backup.json), with a message
 * in *ret_error. */
int backups_find(Manager *m, const char *name, BackupInfo **ret, char **ret_error);

/* All backups as a JSON array, oldest first; "needed" marks the one mbctl rollback needs. */
int backups_list_json(Manager *m, char **ret);

/* Keeps the newest backup.keep backups, never the last committed upgrade's nor skip_dir's. */
void backups_prune(Manager *m, const char *in_flight_file);
