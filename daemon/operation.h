/* SPDX-License-Identifier: MIT */
#pragma once

/* One upgrade or rollback, as the engine runs it and as the journal persists it
 * (state_dir/operation.json, rewritten atomically before every step). */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "hash.h"
#include "macro.h"

typedef enum OperationKind {
        OPERATION_UPGRADE,
        OPERATION_ROLLBACK, /* back to the version before the last upgrade, with its backup */
        OPERATION_BACKUP,   /* mbctl backup: the database now (H2: with the service stopped) */
        OPERATION_RESTORE,  /* mbctl restore: a backup put back, the current state kept first */
        _OPERATION_KIND_MAX,
        _OPERATION_KIND_INVALID = -EINVAL,
} OperationKind;

typedef enum Step {
        STEP_PREFLIGHT, /* nothing touched yet */
        /* The zero-downtime path (issue 18), before the stop: the old version serves throughout. */
        STEP_ONLINE_BACKUP, /* pg_dump / mariadb-dump of the live database */
        STEP_BRIDGE,        /* the new JAR as mbupgraded-bridge.service, verified */
        STEP_SWITCH,        /* nginx switched to the bridge */
        STEP_BRIDGE_SETTLE, /* the bridge settles under real traffic, the verify hooks run */
        STEP_STOP,
        STEP_BACKUP,
        STEP_SWAP,
        STEP_RESTORE_DB,   /* rollback operations only: put the older database back */
        STEP_MIGRATE_DOWN, /* keep-data rollbacks one major back: Metabase's migrate down */
        STEP_START,
        STEP_VERIFY,
        STEP_SETTLE,
        STEP_ROLLBACK_STOP,
        STEP_ROLLBACK_RESTORE,
        STEP_ROLLBACK_START,
        STEP_ROLLBACK_VERIFY,
        STEP_SWITCH_BACK, /* the end of a bridged operation: nginx back to the unit, the bridge stopped */
        STEP_DONE,        /* finished; result says how */
        _STEP_MAX,
        _STEP_INVALID = -EINVAL,
} Step;

typedef enum Result {
        RESULT_NONE,            /* still running */
        RESULT_COMMITTED,       /* new version serving */
        RESULT_REFUSED,         /* pre-flight said no: service untouched */
        RESULT_FAILED,          /* failed before the stop: service untouched */
        RESULT_CANCELED,        /* canceled before the stop */
        RESULT_ROLLED_BACK,     /* failed after the stop, previous version serving again */
        RESULT_ROLLBACK_FAILED, /* needs a person */
        _RESULT_MAX,
        _RESULT_INVALID = -EINVAL,
} Result;

/* Who or what started an operation, as the history, the journal and the notifications name it.
 * Set by whoever starts it (bus-api.c for mbctl, releases.c for the window, apply: immediately and
 * a plan's hops, fleet.c for a rollout); the engine carries it without looking at it. */
typedef enum InitiatorKind {
        INITIATOR_UNKNOWN, /* a journal or history entry from before it was recorded */
        INITIATOR_MBCTL,   /* an admin: uid and user */
        INITIATOR_WINDOW,  /* the maintenance window (mbctl upgrade window: uid and user of the caller) */
        INITIATOR_IMMEDIATELY, /* policy.apply: immediately */
        INITIATOR_FLEET,       /* this node's part of a fleet rollout (rollout), or its catching up */
        _INITIATOR_KIND_MAX,
        _INITIATOR_KIND_INVALID = -EINVAL,
} InitiatorKind;

#define INITIATOR_USER_MAX 64

typedef struct Initiator {
        InitiatorKind kind;
        uid_t uid;                     /* the D-Bus caller's (mbctl, window) */
        char user[INITIATOR_USER_MAX]; /* its name, "" when it has none */
        uint64_t rollout;              /* INITIATOR_FLEET: the rollout, 0 when catching up */
        uint64_t plan;                 /* a plan's hop: the plan's id, else 0 */
        unsigned hop, hops;            /* a plan's hop: which (from 1) of how many */
        bool force, dry_run;           /* mbctl's --force and --dry-run */
} Initiator;

/* The initiator of a caller with uid (its user name looked up). */
Initiator initiator_for_uid(InitiatorKind kind, uid_t uid);
const char *initiator_kind_to_string(InitiatorKind k);
InitiatorKind initiator_kind_from_string(const char *s);
/* For people: "by alice (uid 1001), --force", "by the window timer", ...; NULL on OOM. */
char *initiator_describe(const Initiator *who);

typedef struct Operation {
        uint64_t id;
        OperationKind kind;
        Step step;
        Result result;
        bool force;
        Initiator initiator; /* persisted: a resumed operation keeps it */

        char *unit;
        char *from_version;
        char *to_version;
        char *from_sha256; /* the JAR installed before */
        char *to_sha256;
        char *source_jar;  /* what the caller gave (or the kept previous JAR for a rollback) */
        char *jar_path;    /* the JAR the unit runs */
        char *staged_path; /* the new JAR beside jar_path, waiting for the rename */
        char *kept_jar;    /* state_dir/releases/<from>/metabase.jar */
        uid_t jar_uid;
        gid_t jar_gid;
        mode_t jar_mode;
        bool swapped;   /* jar_path holds the new JAR */
        bool keep_data; /* rollback operations: the database is kept (migrate down), not restored */
        /* upgrades on the zero-downtime path: the backup was taken online and a bridge served
         * while the unit was upgraded; a rollback puts the JAR back but never that backup (the
         * live database kept taking writes, and the release changed no schema) */
        bool bridged;

        char *health_url;
        char *db_kind;     /* "h2", "none" (no H2 file yet), "postgres" or "mysql" */
        char *db_file;     /* the H2 file, metabase.db.mv.db */
        char *db_desc;     /* for people: "PostgreSQL metabase@127.0.0.1:5432/metabase", never a password */
        char *db_conninfo; /* servers: what mbupgraded-db connects to (dbserver_conninfo()) */
        char *db_secret;   /* servers: the 0600 credentials file, removed when the operation ends */
        char *db_schema;   /* the newest DATABASECHANGELOG entry at pre-flight */
        char *db_name;     /* servers: the database's name (for backup.postgres: clone) */
        uid_t db_uid;
        gid_t db_gid;
        mode_t db_mode;
        /* upgrades: the zero-downtime decision at pre-flight, "yes" or "no: <reason>" */
        char *zero_downtime;
        char *backup_path;  /* the copy (H2) or dump taken after the stop */
        char *backup_clone; /* backup.postgres: clone: the database copied from the application's */
        char *backup_sha256;
        uint64_t backup_size;
        bool backup_done;
        char *restore_path; /* rollback operations: the backup to put back */
        char *restore_sha256;
        char *restore_version; /* restore operations: the version the backup belongs to */
        char *restore_clone;   /* restore operations: the clone database restore_path names */

        /* Fleet (docs/fleet.md): the rollout this upgrade is this node's part of (0: none); a
         * node catching up with the version its fleet committed (no backup: the database is
         * the fleet's, migrated already). */
        uint64_t fleet_rollout;
        bool fleet_converge;
        int fleet_gate;             /* not persisted: FleetGate, where the engine waits for the fleet */
        char *fleet_rollback;       /* not persisted: the fleet rolls back, at the next step */
        bool fleet_commit;          /* not persisted: the fleet committed; finish once settled */
        bool fleet_backup_recorded; /* not persisted: the rollout knows where the backup is */
        bool fleet_rolling;         /* not persisted: the rollout goes node by node (fleet.c sets it
                                     * from the rollout's mode): no clone, no restore, no waiting */

        uint32_t main_pid; /* after our start job, to notice restarts */
        uint32_t n_restarts;
        uint64_t started_usec; /* CLOCK_REALTIME */
        uint64_t stopped_usec;
        uint64_t serving_usec; /* health ok again */
        /* Downtime as users saw it: every period in which Metabase did not answer healthy, from
         * the first stop to the end. down_usec: the periods closed so far; down_at_usec: the
         * start of the open one (the engine stopped the unit, or saw Metabase crash or stop
         * answering), 0 while Metabase answers healthy. Both persisted: a resumed daemon keeps
         * counting (operation_down_resumed()). */
        uint64_t down_usec;
        uint64_t down_at_usec;
        uint64_t up_usec;        /* the healthy answer that closed the last period */
        uint32_t down_watch_pid; /* not persisted: resumed with no period open, Metabase's main PID then */
        uint64_t finished_usec;
        char *reason; /* why it failed, rolled back or was refused */
        char *hooks;  /* what the pre-upgrade and verify hooks did (hooks.h), for the history */
} Operation;

Operation *operation_free(Operation *op);
static inline void operation_freep(Operation **p) {
        if (*p)
                operation_free(*p);
}

#define OPERATION_JOURNAL_MAX (1024 * 1024)

/* The journal's text (pretty JSON). */
char *operation_format(const Operation *op);
/* -EINVAL, and nothing written, for an operation operation_parse() would refuse. */
int operation_save(const Operation *op, const char *path);
/* The journal's text back: -EBADMSG for anything the daemon could not have written (bad JSON,
 * trailing bytes, unknown kind/step/result, paths that are not canonical (path_is_canonical()),
 * invalid versions or checksums). */
int operation_parse(const char *text, size_t n, Operation **ret);
/* -ENOENT when there is no journal. */
int operation_load(const char *path, Operation **ret);

/* The history entry for a finished operation, as a JSON object string. */
char *operation_to_history_json(const Operation *op);
/* The history entry of mbctl approve: kind "approve", result "approved", to: version, initiator: who. */
char *operation_approval_history_json(const char *version, const Initiator *who);

const char *operation_kind_to_string(OperationKind k);
OperationKind operation_kind_from_string(const char *s);
const char *step_to_string(Step s);
Step step_from_string(const char *s);
const char *result_to_string(Result r);
Result result_from_string(const char *s);
/* mbctl's exit code for a result (docs/architecture.md §4, mbctl(1)). */
int result_to_exit_status(Result r);

/* A down period begins at now (the unit stopped, Metabase crashed or stopped answering), unless
 * one is open already. */
void operation_down_begin(Operation *op, uint64_t now);
/* Metabase answered healthy at now: the open period, if any, ends. */
void operation_down_end(Operation *op, uint64_t now);
/* A daemon resumed the operation at now: it cannot know whether Metabase answered while nobody
 * watched, so it counts conservatively. An open period runs on through the time the daemon was
 * dead (counted as down); a closed one (Metabase was healthy, settling) opens again at now, and
 * the resumed verification's first healthy answer closes it; but see operation_down_started(). */
void operation_down_resumed(Operation *op, uint64_t now);
/* The unit's main PID after the first start job since the resume (0: unknown): a Metabase that is
 * not the process the daemon last saw healthy went down while nobody watched, when is unknown, so
 * the period counts from that last healthy answer (up_usec). */
void operation_down_started(Operation *op, uint32_t main_pid);
/* How long Metabase was down, as users saw it: every period from the first stop to the end in
 * which it did not answer healthy (for a rolled-back upgrade, the stop to the new version's first
 * healthy answer plus its crash to the old version's healthy answer). A period still open counts
 * to finished_usec, or to now while the operation runs. 0 without a stop. */
uint64_t operation_downtime_usec(const Operation *op);

uint64_t now_realtime_usec(void);
