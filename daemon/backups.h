/* SPDX-License-Identifier: MIT */
#pragma once

/* The backups under backup.dir: one directory each, <time>-<operation>-<version>/, holding the
 * backup (metabase.db.mv.db, metabase.dump or metabase.sql) and backup.json describing it. */

#include <stdbool.h>
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
        char *clone; /* backup.postgres: clone: the copy's database name; file is a marker naming it */
        uint64_t size;
        uint64_t operation;
        uint64_t created_usec;
} BackupInfo;

BackupInfo *backup_info_free(BackupInfo *b);
static inline void backup_info_freep(BackupInfo **b) {
        backup_info_free(*b);
}

/* The file name of a backup of a database of this kind; a clone's marker file is BACKUP_CLONE_FILE. */
const char *backup_file_name(const char *db_kind);
#define BACKUP_CLONE_FILE "metabase.clone"
/* Whether path is a backup (or a clone's marker) of a database of kind db_kind. */
bool backup_file_matches(const char *path, const char *db_kind);

/* name: a backup's id, or an absolute path to its directory or file under backup.dir.
 * -ENOENT, -EINVAL (not under backup.dir) or -EBADMSG (no readable backup.json), with a message
 * in *ret_error. */
int backups_find(Manager *m, const char *name, BackupInfo **ret, char **ret_error);

/* How many backups there are and their size in all (backup.json's sizes; a clone's is the size of
 * the database it copied). */
void backups_usage(Manager *m, uint64_t *ret_count, uint64_t *ret_bytes);

/* All backups as a JSON array, oldest first; "needed" marks the one mbctl rollback needs. */
int backups_list_json(Manager *m, char **ret);

/* Keeps the newest backup.keep backups and older ones that the last committed upgrade or the
 * operation in flight need. Clones live in the database server: their directories are left for
 * the caller, who gets "DIR", "CLONE" pairs in *ret_clones to drop and then remove. */
void backups_prune(Manager *m, const char *in_flight_file, char ***ret_clones);
/* Removes a pruned backup's directory, once its clone (if any) is dropped. */
void backups_remove_dir(Manager *m, const char *dir);
/* Drops the clones of backups_prune()'s pairs (taken over) with mbupgraded-db, in the background,
 * removing each directory after its clone is gone; secret_file (a PGPASSFILE of its own) is
 * removed at the end. */
void backups_drop_clones(Manager *m, char **pairs, const char *conninfo, const char *secret_file);
/* Stops that, at exit. */
void backups_cancel(Manager *m);
