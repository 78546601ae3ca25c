/* SPDX-License-Identifier: MIT */
#pragma once

/* Metabase run another way beside its unit, as the unit runs it: the unit's Java and options with
 * another JAR in place of its own, its environment (its MB_DB_* settings), working directory, user
 * and group, as a hardened transient service (migrate-down.c's `migrate down`, bridge.c's second
 * Metabase). */

#include <stdint.h>

#include "unit.h"

typedef struct MetabaseCommand {
        char **argv, **env;
        char *working_directory, *user, *group;
} MetabaseCommand;

/* The unit's command line with jar in place of its JAR; command NULL: the unit's own arguments
 * after the JAR follow, else command's ("migrate", "down"). -EINVAL when ExecStart has no
 * "-jar JAR". */
int metabase_command(const UnitInfo *info, const char *jar, char *const *command, MetabaseCommand *ret);
void metabase_command_done(MetabaseCommand *c);

typedef struct MetabaseUnit {
        const char *name, *description;
        const char *env_path; /* where the environment goes: 0600, it holds the database's password */
        const char *log_path; /* its stdout and stderr, truncated first */
        uint64_t runtime_max_usec;
} MetabaseUnit;

/* Writes c's environment to u->env_path (read by systemd before it drops privileges), then starts
 * u->name as c says, hardened: it writes only Metabase's working directory (./plugins), if any. cb
 * when the start job ends. */
int metabase_command_start(
        Systemd *s, const MetabaseCommand *c, const MetabaseUnit *u, JobCallback cb, void *userdata);
