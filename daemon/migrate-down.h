/* SPDX-License-Identifier: MIT */
#pragma once

/* Metabase's own `java -jar metabase.jar migrate down` (docs/metabase.md): the installed, newer
 * JAR takes its application database's schema one major back, keeping the data. It runs as the
 * transient unit mbupgraded-migrate-down.service with the Metabase unit's Java and options, user,
 * group, environment (its MB_DB_* settings) and working directory, hardened like a rehearsal, its
 * output in state_dir/migrate-down.log. Its exit status says little (a change set whose rollback
 * failed still exits 0): the caller judges it by the changelog afterwards. */

#include <systemd/sd-event.h>

#include "unit-command.h"
#include "unit.h"

#define MIGRATE_DOWN_UNIT "mbupgraded-migrate-down.service"

typedef struct MigrateDown MigrateDown;

/* When the command has ended: r < 0 when it could not be run or watched (why in message), else 0
 * with systemd's result for it ("success", "exit-code", "timeout", ...) and the lines of its
 * output that say the most (escaped for people). */
typedef void (*MigrateDownCallback)(int r, const char *result, const char *message, void *userdata);

/* The command as the unit runs Metabase: its Java and options with jar in place of its JAR, then
 * "migrate down"; its environment, working directory, user and group. -EINVAL when ExecStart has
 * no "-jar JAR". */
typedef MetabaseCommand MigrateDownCommand;
int migrate_down_command(const UnitInfo *info, const char *jar, MigrateDownCommand *ret);
void migrate_down_command_done(MigrateDownCommand *c);

/* Starts it; timeout_usec bounds it (RuntimeMaxSec=). */
int migrate_down_start(
        sd_event *e,
        Systemd *s,
        const MigrateDownCommand *c,
        const char *state_dir,
        uint64_t timeout_usec,
        MigrateDownCallback cb,
        void *userdata,
        MigrateDown **ret);

/* Stops watching; the unit, if it still runs, is stopped (in the background). */
MigrateDown *migrate_down_free(MigrateDown *d);

/* What an earlier daemon left: the environment file (it holds the database's password) is
 * removed, a migrate down still running stopped and forgotten; cb when it is gone. */
int migrate_down_cleanup(Systemd *s, const char *state_dir, JobCallback cb, void *userdata);

/* Before production: the same command on a scratch copy of appdb (mbupgraded-db scratch-copy,
 * <db>_mbup_rehearsal, while Metabase serves), its changelog read afterwards, the copy dropped.
 * cb's verdict: 1 the copy went to target_major's schema, 0 it did not (message says how), -1 it
 * could not be rehearsed (message says why). -EOPNOTSUPP for H2. */
typedef struct AppDb AppDb;
typedef struct MigrateDownRehearsal MigrateDownRehearsal;
typedef void (*MigrateDownRehearsalCallback)(int verdict, const char *message, void *userdata);
int migrate_down_rehearse(
        sd_event *e,
        Systemd *s,
        const UnitInfo *info,
        const AppDb *appdb,
        const char *jar,
        const char *secret_file,
        const char *state_dir,
        unsigned target_major,
        uint64_t timeout_usec,
        MigrateDownRehearsalCallback cb,
        void *userdata,
        MigrateDownRehearsal **ret);
MigrateDownRehearsal *migrate_down_rehearsal_free(MigrateDownRehearsal *r);
