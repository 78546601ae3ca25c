/* SPDX-License-Identifier: MIT */
#pragma once

/* What engine.c shares with engine-fleet.c alone: the engine's state and the steps a fleet's gate
 * goes on with. Nothing else includes this: the rest of the daemon sees engine.h. */

#include "engine.h"
#include "hooks.h"
#include "migrate-down.h"
#include "reply.h"
#include "verify.h"

/* An internal flag of engine_begin(): catch up with the fleet's committed version alone (a node
 * joining a rollout is told by the rollout's id instead). */
enum {
        ENGINE_FLEET_CONVERGE = 1 << 8,
};

struct Engine {
        Reply *reply;                /* who waits for pre-flight's answer */
        Verifier *verifier;          /* the start being watched */
        struct DbRun *db_run;        /* mbupgraded-db, while it runs for the operation */
        char *expect_sha256;         /* the staged JAR's verified SHA-256, for the next pre-flight */
        bool dry_run;                /* pre-flight only: no trace but the answer */
        bool cancel_requested;       /* mbctl cancel during pre-flight */
        char *status_before_dry_run; /* a dry run's status lines are undone when it ends */

        /* A keep-data rollback's migrate down, its rehearsal on a scratch copy, whether that had
         * its say, what the output said (for the reason if it failed). */
        MigrateDown *migrate_down;
        MigrateDownRehearsal *migrate_down_rehearsal;
        bool migrate_down_rehearsed;
        char *migrate_down_said;

        /* Metabase's port held by another process: the start waits (port_wait()). */
        sd_event_source *port_wait;
        uint64_t port_wait_since; /* CLOCK_MONOTONIC of the first look that found it held; 0 */

        /* The administrator's gates (hooks.h): the pre-upgrade hooks passed (pre-flight goes on);
         * the new version settled while its verify hooks still ran. */
        HookRun *hook;
        bool hooks_passed, settled;

        /* The zero-downtime path's end (engine-internal: handback_start()): nginx back on the unit's
         * own port, then the bridge stopped, then the end proper with handback_result. */
        bool handback_done;
        Result handback_result;
};

/* engine.c: the end, a failure, the journal */
void engine_finish(Manager *m, Result result);
void engine_fail(Manager *m, Result before_stop_result, const char *fmt, ...) _printf_(3, 4);
int engine_save(Manager *m);

/* engine.c: the steps */
int begin_upgrade(
        Manager *m,
        const char *jar,
        const char *expect_sha256,
        uint64_t flags,
        uint64_t rollout,
        const Initiator *who,
        Reply *reply,
        Refusal *refusal);
void step_stop(Manager *m);
void step_backup(Manager *m);
void step_swap(Manager *m);
bool step_is_rollback(Step s);
bool op_db_on_server(const Operation *op);
void server_restore(Manager *m, char *dump, const char *clone);
void rollback_begin(Manager *m, const char *reason);
void rollback_start(Manager *m);
void resume_online_backup(Manager *m, Operation *op);
void resume_at_step(Manager *m, Operation *op);
