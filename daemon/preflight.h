/* SPDX-License-Identifier: MIT */
#pragma once

/* Pre-flight: everything that can be checked before the service is touched, in a worker thread
 * (preflight_run(), then for a server preflight_db_run() once mbupgraded-db answered): the JAR
 * (version, edition, the Java its classes need, supported-db-versions.edn), the Java the unit
 * runs, MB_DB_AUTOMIGRATE, disk space, the H2 file or the server, the backup to restore; then
 * the new JAR staged beside the installed one and the old one kept. The engine fills a
 * Preflight from the unit and the operation and acts on what it says (engine.c). Touches
 * nothing of the running service; what it refuses is said in ->error. */

#include <stdbool.h>
#include <sys/stat.h>

#include "jar.h"
#include "manager.h"
#include "operation.h"
#include "unit.h"

/* Free space pre-flight wants beyond what the backup or the JAR needs. */
#define DISK_MARGIN_BYTES (16u * 1024u * 1024u)

typedef struct Preflight {
        Manager *m;
        OperationKind kind;
        bool force, dry_run;
        char *source_jar, *jar_path, *java_path, *db_file, *backup_dir, *state_dir;
        char *expect_installed; /* rollback: the version the last upgrade installed */
        char *expect_sha256;    /* a staged release: the SHA-256 it was verified with */
        char *restore_path, *restore_sha256, *restore_version;
        char *db_desc;
        char *secret, *secret_file; /* a server's credentials, for mbupgraded-db */

        JarInfo *new_info, *old_info;
        unsigned java_major;
        char *unit;         /* for the Java fix message */
        char **exec_argv;   /* the unit's ExecStart, for --add-opens */
        char *java_warning; /* logged by on_preflight_done(), in the main thread */
        struct stat jar_st, db_st;
        bool db_exists;
        char *staged_path, *kept_jar;
        char *error;
        char *summary;
        char *automigrate;     /* "MB_DB_AUTOMIGRATE=..." or "-Dmb.db.automigrate=...", NULL when unset */
        char *db_versions_edn; /* the new JAR's supported-db-versions.edn, NULL when it has none */
        size_t db_versions_edn_size;
        /* The new JAR's Liquibase change set IDs (jar_read_changesets()), NULL when unreadable: read
         * from the copy staged beside the installed JAR (root's, its SHA-256 checked), or on a dry
         * run, which installs nothing, from the source */
        char **new_changesets;
} Preflight;

Preflight *preflight_free(Preflight *p);
static inline void preflight_freep(Preflight **p) {
        if (*p)
                preflight_free(*p);
}

/* The worker's part (worker_run()): 0 passed, else a negative errno and ->error. */
int preflight_run(void *userdata);
/* The same after mbupgraded-db's preflight said what the server is. */
int preflight_db_run(void *userdata);
/* The server's version against the new JAR's supported-db-versions.edn: 0, or a refusal. */
int preflight_check_db_version(Preflight *p, const char *db_kind, const char *server_version);
/* MB_DB_AUTOMIGRATE as Metabase would see it in the unit ("MB_DB_AUTOMIGRATE=..." or
 * "-Dmb.db.automigrate=..."), NULL when unset. */
char *unit_automigrate_setting(const UnitInfo *info);
/* The file still has the SHA-256 recorded when it was made: 0, -EBADMSG, or another error. */
int preflight_file_has_sha256(const char *path, const char *expect);
