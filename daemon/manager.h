/* SPDX-License-Identifier: MIT */
#pragma once

/* The daemon's state: configuration, connections, what is installed and running, and the one
 * operation that may be in progress. */

#include <sys/stat.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bus-names.h"
#include "config.h"
#include "events.h"
#include "macro.h"
#include "operation.h"
#include "unit.h"
#include "verify.h"

typedef struct Manager {
        sd_event *event;
        sd_bus *bus;
        Systemd *systemd;
        Config *config;
        Events *events; /* who listens to what happened (events.h) */

        UnitInfo *unit; /* last known */
        bool unit_refreshing;
        char *jar_path;             /* the JAR the unit runs */
        char *installed_version;    /* version.properties of that JAR */
        struct stat jar_stat;       /* of the JAR when installed_version was read */
        bool jar_reading;           /* a worker reads the JAR */
        unsigned jar_generation;    /* of the last read asked for */
        sd_event_source *jar_retry; /* the JAR could not be read: read again later */
        char *running_version;      /* what Metabase itself last reported */
        char *previous_version;     /* what a rollback would return to */

        bool hold; /* mbctl hold (persisted) or policy.hold */
        char *hold_reason;
        /* The journal of an interrupted operation could not be read (engine_resume()): held, the
         * maintenance flag kept, the status saying what to check; until a person clears it. */
        bool journal_damaged;

        /* The release feed (its reads, what it lists, the verdicts), and the plans of upgrades. */
        struct FeedWatch *feed_watch;
        struct Planner *planner;
        struct Staging *staging;   /* releases downloaded and verified ahead of time */
        struct Notifier *notifier; /* journal, webhook and command for finished operations */
        struct Hooks *hooks;       /* the post-commit and post-rollback hooks running */
        struct Metrics *metrics;   /* metrics_file */
        struct Proxy *proxy;       /* proxy.upstream_file: where nginx sends requests */
        struct Bridge *bridge;     /* mbupgraded-bridge.service: the new Metabase beside it */
        struct Fleet *fleet;       /* fleet.enabled: the agent and the last list of nodes */
        /* In a fleet a single node rehearses releases for all of them (they share the database):
         * the first by name of those up. fleet.c keeps it from each answer of the fleet. */
        bool fleet_rehearses;
        Operation *op;          /* the operation in progress, NULL when idle */
        struct Engine *engine;  /* the operation's own state (engine.c) */
        struct DbRun *probe;    /* mbupgraded-db reading the schema for status */
        struct DbRun *drop_run; /* mbupgraded-db dropping pruned backup clones */
        struct DropClones *drop_clones;
        bool probe_app_db;   /* read it at the next refresh */
        char *app_db;        /* "PostgreSQL metabase@host:5432/metabase", no password */
        char *app_db_schema; /* its newest DATABASECHANGELOG entry, NULL when unknown */
        /* every applied change set ID (the last whole read), NULL unknown */
        char **app_db_changelog;
        uint64_t last_op_id;
        char *last_result;
        char *status_text;

        /* rehearse.c: the new JAR on a copy of the database (issue 8) */
        struct Rehearsal *rehearsal;

        /* release-news.c: the word of a release (available, staged, due, blocked) */
        struct ReleaseNews *release_news;
} Manager;

/* The daemon's view of Metabase's unit, which it keeps up to date: watches the unit, reads it,
 * its JAR and the hold (daemon_startup() calls it once the bus is up). */
int manager_load(Manager *m);
/* Frees what manager.c itself keeps in m (daemon_free() the rest). */
void manager_done(Manager *m);

/* Paths under state_dir. Return newly allocated strings. */
char *manager_state_path(Manager *m, const char *name);

/* Sets the status line (sd_notify STATUS= and the StatusText property) and logs it. */
void manager_set_status(Manager *m, const char *fmt, ...) _printf_(2, 3);
/* Emits PropertiesChanged for the named properties (NULL-terminated). */
void manager_properties_changed(Manager *m, ...) __attribute__((sentinel));

/* Re-reads the unit and installed JAR after an operation or when systemd says the unit changed. */
void manager_refresh(Manager *m);

int manager_set_hold(Manager *m, bool hold, const char *reason);

/* The last-upgrade record (last-upgrade.h): what `mbctl rollback` would return to. */
int manager_last_upgrade(
        Manager *m,
        char **ret_from,
        char **ret_to,
        char **ret_kept_jar,
        char **ret_backup,
        char **ret_backup_sha256);

/* The application database: backup.app_db, or what the unit tells Metabase. */
typedef struct AppDb AppDb;
int manager_app_db(Manager *m, const UnitInfo *info, AppDb **ret, char **ret_error);
/* Sets the AppDatabase and AppDatabaseSchema properties. */
void manager_set_app_db(Manager *m, const char *desc, const char *schema);
/* Keeps the applied change set IDs of a preflight report, when it has them all. */
void manager_set_app_db_changelog(Manager *m, char *const *ids, size_t n, uint64_t count);
