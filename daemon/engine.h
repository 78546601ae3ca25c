/* SPDX-License-Identifier: MIT */
#pragma once

/* The upgrade engine: a state machine over the steps of operation.h. Every step is persisted
 * in the journal before it is acted on, so a restarted daemon resumes or rolls back. */

#include <stdint.h>
#include <systemd/sd-bus.h>

#include "manager.h"

enum {
        ENGINE_FORCE = 1 << 0,       /* allow the same or an older version, ignore a hold */
        ENGINE_DRY_RUN = 1 << 1,     /* pre-flight only */
        ENGINE_IGNORE_HOLD = 1 << 2, /* internal: rollbacks are never held */
};

/* Both answer 'call' once pre-flight has decided: with (t id, s summary) or a D-Bus error. */
/* expect_sha256: for a staged release, the SHA-256 it was verified with; pre-flight refuses a JAR
 * that no longer has it (changed on disk, or torn by a power loss). NULL for a JAR given by hand. */
int engine_upgrade(
        Manager *m,
        const char *jar,
        const char *expect_sha256,
        uint64_t flags,
        sd_bus_message *call,
        sd_bus_error *error);
int engine_rollback(Manager *m, uint64_t flags, sd_bus_message *call, sd_bus_error *error);
/* mbctl backup: a backup of the application database now; H2 only with the service stopped. */
int engine_backup(Manager *m, uint64_t flags, sd_bus_message *call, sd_bus_error *error);
/* mbctl restore: backup (an id or a path under backup.dir) put back, after a backup of the
 * database as it is; the service is stopped and started again. */
int engine_restore(Manager *m, const char *backup, uint64_t flags, sd_bus_message *call, sd_bus_error *error);
int engine_cancel(Manager *m, sd_bus_error *error);

/* At start-up: finish or roll back what an earlier instance left in the journal. */
int engine_resume(Manager *m);
