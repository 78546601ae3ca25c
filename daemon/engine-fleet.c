/* SPDX-License-Identifier: MIT */
/* A fleet's gates in the engine's step chain (docs/fleet.md): the engine waits at a gate
 * (op->fleet_gate) and fleet.c opens it with one of these, from the rollout's state. */
#include <inttypes.h>

#include "engine-internal.h"
#include "log.h"
#include "macro.h"
#include "strv.h"

int engine_fleet_join(
        Manager *m, const char *jar, const char *sha256, uint64_t rollout, const Initiator *who, Refusal *refusal) {
        return begin_upgrade(m, jar, sha256, 0, rollout, who, NULL, refusal);
}

int engine_fleet_converge(
        Manager *m, const char *jar, const char *sha256, const Initiator *who, Refusal *refusal) {
        return begin_upgrade(m, jar, sha256, ENGINE_FLEET_CONVERGE, 0, who, NULL, refusal);
}

/* Leaves gate g: false when the engine does not wait there (any more). */
static bool pass_gate(Manager *m, FleetGate g) {
        if (!m->op || m->op->fleet_gate != (int) g)
                return false;
        m->op->fleet_gate = FLEET_GATE_NONE;
        return true;
}

void engine_fleet_refused(Manager *m, const char *reason) {
        if (!pass_gate(m, FLEET_GATE_STAGED))
                return;
        (void) free_and_strdup(&m->op->reason, reason);
        engine_finish(m, RESULT_REFUSED);
}

void engine_fleet_stop(Manager *m) {
        if (!pass_gate(m, FLEET_GATE_STAGED))
                return;
        step_stop(m);
}

void engine_fleet_lead(Manager *m) {
        if (!pass_gate(m, FLEET_GATE_STOPPED))
                return;
        log_info(
                "Leading rollout %" PRIu64 ": %s",
                m->op->fleet_rollout,
                m->op->fleet_rolling ? "this node backs up the database while the others serve, and goes first"
                                     : "this node backs up the database and migrates it");
        step_backup(m);
}

void engine_fleet_follow(Manager *m) {
        if (!pass_gate(m, FLEET_GATE_STOPPED))
                return;
        log_info(
                "Following rollout %" PRIu64 ": the database is migrated, starting %s",
                m->op->fleet_rollout,
                m->op->to_version);
        step_swap(m);
}

void engine_fleet_commit(Manager *m) {
        Operation *op = m->op;

        if (!op || !op->fleet_rollout || step_is_rollback(op->step))
                return;
        switch (op->fleet_gate) {
        case FLEET_GATE_SETTLED:
                op->fleet_gate = FLEET_GATE_NONE;
                engine_finish(m, RESULT_COMMITTED);
                return;
        case FLEET_GATE_STAGED:
                /* Committed without this node: it catches up by itself afterwards. */
                op->fleet_gate = FLEET_GATE_NONE;
                (void) free_and_strdup(
                        &op->reason, "the fleet committed the rollout without this node; it catches up next");
                engine_finish(m, RESULT_CANCELED);
                return;
        case FLEET_GATE_STOPPED:
                op->fleet_commit = true;
                engine_fleet_follow(m);
                return;
        case FLEET_GATE_RESUMED:
                /* Where this node was is unknown: back to the previous version, then it catches up. */
                engine_fleet_rollback(
                        m, "the daemon stopped during the rollout, which the fleet committed meanwhile");
                return;
        default:
                op->fleet_commit = true; /* done when settled */
        }
}

void engine_fleet_rollback(Manager *m, const char *reason) {
        Operation *op = m->op;

        if (!op || !op->fleet_rollout || step_is_rollback(op->step) || op->step == STEP_DONE)
                return;
        switch (op->fleet_gate) {
        case FLEET_GATE_STAGED:
                op->fleet_gate = FLEET_GATE_NONE;
                (void) free_and_strdup(&op->reason, reason);
                engine_finish(m, RESULT_CANCELED);
                return;
        case FLEET_GATE_STOPPED:
        case FLEET_GATE_SETTLED:
        case FLEET_GATE_RESUMED:
                rollback_begin(m, reason);
                return;
        default:
                break;
        }
        if (op->step == STEP_PREFLIGHT) {
                m->engine->cancel_requested = true; /* pre-flight ends as canceled */
                return;
        }
        if ((op->step == STEP_VERIFY || op->step == STEP_SETTLE) && m->engine->verifier) {
                m->engine->verifier = verifier_free(m->engine->verifier);
                rollback_begin(m, reason);
                return;
        }
        /* A step is running (a stop, the backup, a start): the rollback comes after it. */
        (void) free_and_strdup(&op->fleet_rollback, reason);
}

void engine_fleet_restart(Manager *m, bool restore_db, const char *clone) {
        Operation *op = m->op;

        if (!pass_gate(m, FLEET_GATE_REVERTED))
                return;
        if (restore_db && op->backup_done && op_db_on_server(op)) {
                server_restore(m, op->backup_path, op->backup_clone);
                return;
        }
        if (clone) {
                /* The leader that took it is gone: the copy on the shared server goes back. */
                (void) free_and_strdup(&op->backup_clone, clone);
                engine_save(m);
                server_restore(m, NULL, clone);
                return;
        }
        rollback_start(m);
}

void engine_fleet_backup_recorded(Manager *m, const char *error) {
        if (!pass_gate(m, FLEET_GATE_RECORDED))
                return;
        if (error) {
                engine_fail(m, RESULT_FAILED, "cannot record the backup in the fleet's rollout: %s", error);
                return;
        }
        m->op->fleet_backup_recorded = true;
        step_swap(m);
}

const char *engine_fleet_step(Manager *m) {
        const Operation *op = m->op;

        if (!op || !op->fleet_rollout)
                return "-";
        switch (op->fleet_gate) {
        case FLEET_GATE_STAGED:
                return "staged";
        case FLEET_GATE_STOPPED:
                return "stopped";
        case FLEET_GATE_SETTLED:
                return "settled";
        case FLEET_GATE_REVERTED:
                return "reverted";
        case FLEET_GATE_RESUMED:
                return "resumed";
        default:
                break;
        }
        switch (op->step) {
        case STEP_PREFLIGHT:
                return "preparing";
        case STEP_STOP:
                return "stopping";
        case STEP_SETTLE:
                return "healthy";
        case STEP_ROLLBACK_STOP:
        case STEP_ROLLBACK_RESTORE:
                return "reverting";
        case STEP_ROLLBACK_START:
        case STEP_ROLLBACK_VERIFY:
                return "restarting";
        case STEP_DONE:
                return "done";
        default:
                return "starting";
        }
}
