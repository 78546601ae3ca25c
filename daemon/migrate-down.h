/* SPDX-License-Identifier: MIT */
#pragma once

/* Metabase's own `java -jar metabase.jar migrate down` (docs/metabase.md): the installed, newer
 * JAR takes its application database's schema one major back, keeping the data. It runs as the
 * transient unit mbupgraded-migrate-down.service with the Metabase unit's Java and options, user,
 * group, environment (its MB_DB_* settings) and working directory, hardened like a rehearsal, its
 * output in state_dir/migrate-down.log. Its exit status says little (a change set whose rollback
 * failed still exits 0): the caller judges it by the changelog afterwards. */

#include <systemd/sd-event.h>

#include "unit.h"

#define MIGRATE_DOWN_UNIT "mbupgraded-migrate-down.service"

typedef struct MigrateDown MigrateDown;

/* When the command has ended: r < 0 when it could not be run or watched (why in message), else 0
 * with systemd's result for it ("success", "exit-code", "timeout", ...) and the lines of its
 * output that say the most (escaped for people). */
typedef void (*MigrateDownCallback)(int r, const char *result, const char *message, void *userdata);

/* Starts it for the unit described by info with jar in place of the JAR its ExecStart runs.
 * timeout_usec bounds it (RuntimeMaxSec=). */
int migrate_down_start(
        sd_event *e,
        Systemd *s,
        const UnitInfo *info,
        const char *jar,
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
