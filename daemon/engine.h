/* SPDX-License-Identifier: MIT */
#pragma once

/* The upgrade engine: a state machine over the steps of operation.h. Every step is persisted
 * in the journal before it is acted on, so a restarted daemon resumes or rolls back. */

#include <stdint.h>

#include "manager.h"
#include "reply.h"

enum {
        ENGINE_FORCE = 1 << 0,       /* allow the same or an older version, ignore a hold */
        ENGINE_DRY_RUN = 1 << 1,     /* pre-flight only */
        ENGINE_IGNORE_HOLD = 1 << 2, /* internal: rollbacks are never held */
        ENGINE_CONFIRMED = 1 << 3,   /* a rollback past settle: what was written since may go */
        ENGINE_KEEP_DATA = 1 << 4,   /* a rollback that keeps the data: Metabase's migrate down */
};

/* The engine's own state: who waits for pre-flight's answer, the verifier, mbupgraded-db's run,
 * what a dry run undoes. The operation itself is Manager.op, which the others read. */
typedef struct Engine Engine;
int engine_new(Manager *m, Engine **ret);
Engine *engine_free(Engine *e);

/* Each starts an operation and returns 1, or refuses it at once: a negative errno, why in
 * *refusal (OUTCOME_BUSY, OUTCOME_REFUSED, ...). Once pre-flight has decided, reply (when not
 * NULL) is answered: accepted with (id, summary), or refused with the reason. */
/* who: what started it (operation.h), kept in the journal and the history, never interpreted. */
/* expect_sha256: for a staged release, the SHA-256 it was verified with; pre-flight refuses a JAR
 * that no longer has it (changed on disk, or torn by a power loss). NULL for a JAR given by hand. */
int engine_upgrade(
        Manager *m,
        const char *jar,
        const char *expect_sha256,
        uint64_t flags,
        const Initiator *who,
        Reply *reply,
        Refusal *refusal);
int engine_rollback(Manager *m, uint64_t flags, const Initiator *who, Reply *reply, Refusal *refusal);
/* mbctl backup: a backup of the application database now; H2 only with the service stopped. */
int engine_backup(Manager *m, uint64_t flags, const Initiator *who, Reply *reply, Refusal *refusal);
/* mbctl restore: backup (an id or a path under backup.dir) put back, after a backup of the
 * database as it is; the service is stopped and started again. */
int engine_restore(
        Manager *m, const char *backup, uint64_t flags, const Initiator *who, Reply *reply, Refusal *refusal);
/* 0 when canceled (or the rehearsal that ran), else a negative errno and why. */
int engine_cancel(Manager *m, Refusal *refusal);

/* At start-up: finish or roll back what an earlier instance left in the journal. */
int engine_resume(Manager *m);

/* Fleet (docs/fleet.md). With fleet.enabled an upgrade is this node's part of a rollout: the
 * node that was asked proposes it once pre-flight passed; the others join it. The engine then
 * waits at gates for the fleet to say go, and fleet.c, which reads the rollout's record, opens
 * them. */
typedef enum FleetGate {
        FLEET_GATE_NONE,
        FLEET_GATE_STAGED,   /* pre-flight passed: waiting for the rollout's stopping */
        FLEET_GATE_STOPPED,  /* stopped: waiting to lead, or for this follower's turn */
        FLEET_GATE_SETTLED,  /* healthy and settled: waiting for the commit */
        FLEET_GATE_REVERTED, /* rolled back but not started: waiting for the database */
        FLEET_GATE_RESUMED,  /* the daemon restarted mid-rollout: waiting to hear of the fleet */
        FLEET_GATE_RECORDED, /* the leader's backup taken: waiting for the fleet to record where */
} FleetGate;

/* Joins rollout `rollout` with the staged jar, verified with sha256. */
int engine_fleet_join(
        Manager *m, const char *jar, const char *sha256, uint64_t rollout, const Initiator *who, Refusal *refusal);
/* Upgrades this node alone to the version its fleet committed: no backup, no gates. */
int engine_fleet_converge(Manager *m, const char *jar, const char *sha256, const Initiator *who, Refusal *refusal);
/* The proposal failed (another rollout is open, the agent is gone): refused, nothing changed. */
void engine_fleet_refused(Manager *m, const char *reason);
void engine_fleet_stop(Manager *m);   /* FLEET_GATE_STAGED: stop now */
void engine_fleet_lead(Manager *m);   /* FLEET_GATE_STOPPED: back up, swap, start, verify */
void engine_fleet_follow(Manager *m); /* FLEET_GATE_STOPPED: swap, start, verify */
/* The rollout committed: done once settled. */
void engine_fleet_commit(Manager *m);
/* The rollout rolls back or was aborted: before the stop this node cancels, after it it rolls
 * back (at the next step if one is running); reason says why. */
void engine_fleet_rollback(Manager *m, const char *reason);
/* FLEET_GATE_REVERTED: start the previous version; first restore the database, from this node's
 * backup (restore_db) or from the fleet's clone (clone, when not NULL). */
void engine_fleet_restart(Manager *m, bool restore_db, const char *clone);
/* FLEET_GATE_RECORDED: the rollout records where the leader's backup is (else error says why
 * not): only then does the leader migrate, so that whoever ends the rollout can put it back. */
void engine_fleet_backup_recorded(Manager *m, const char *error);
/* This node's step in its rollout, for the heartbeat: a token, never NULL. */
const char *engine_fleet_step(Manager *m);
