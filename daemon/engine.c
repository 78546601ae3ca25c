/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "backups.h"
#include "bridge.h"
#include "dbserver.h"
#include "engine-internal.h"
#include "engine.h"
#include "fileio.h"
#include "history.h"
#include "hooks.h"
#include "journal.h"
#include "http.h"
#include "last-upgrade.h"
#include "log.h"
#include "macro.h"
#include "maintenance.h"
#include "migrate-down.h"
#include "preflight.h"
#include "proxy.h"
#include "rehearse.h"
#include "secrets.h"
#include "sockowner.h"
#include "strv.h"
#include "test-hook.h"
#include "version.h"
#include "worker.h"
#include "zero-downtime-facts.h"

static void step_restore_db(Manager *m);
static void step_migrate_down(Manager *m);
static void step_start(Manager *m);
static void step_verify(Manager *m);
static void rollback_restore(Manager *m);
static int handback_start(Manager *m, Result result);
static bool zero_downtime_taken(Manager *m);
static void step_online_backup(Manager *m);
static void step_bridge(Manager *m);
static bool cancel_due(Manager *m);

int engine_new(Manager *m, Engine **ret) {
        Engine *e = calloc(1, sizeof(Engine));

        if (!e)
                return -ENOMEM;
        *ret = e;
        return 0;
}

Engine *engine_free(Engine *e) {
        if (!e)
                return NULL;
        e->verifier = verifier_free(e->verifier);
        e->hook = hook_run_free(e->hook);
        e->port_wait = sd_event_source_disable_unref(e->port_wait);
        e->db_run = dbserver_cancel(e->db_run);
        e->migrate_down = migrate_down_free(e->migrate_down);
        e->migrate_down_rehearsal = migrate_down_rehearsal_free(e->migrate_down_rehearsal);
        free(e->migrate_down_said);
        reply_unref(e->reply);
        free(e->expect_sha256);
        free(e->status_before_dry_run);
        free(e);
        return NULL;
}

/* The application database is on a server (PostgreSQL, MySQL): mbupgraded-db does the work. */
bool op_db_on_server(const Operation *op) {
        return op->db_kind && (streq(op->db_kind, "postgres") || streq(op->db_kind, "mysql"));
}

/* How many majors from newer back to older (v0.57.2 -> v0.56.3: 1), -EINVAL when either is no
 * version or older is the newer one. */
static int majors_back(const char *newer, const char *older) {
        MbVersion n, o;

        if (mb_version_parse(strempty(newer), &n) < 0 || mb_version_parse(strempty(older), &o) < 0 ||
            o.major > n.major)
                return -EINVAL;
        return (int) (n.major - o.major);
}

/* A keep-data rollback that runs Metabase's migrate down (one major back); the same major needs
 * no change to the database (an older patch release starts on a newer schema). */
static bool op_migrates_down(const Operation *op) {
        return op->kind == OPERATION_ROLLBACK && op->keep_data &&
                majors_back(op->from_version, op->to_version) == 1;
}

/* An upgrade that is this node's part of a fleet's rollout, with its gates. */
static bool op_in_rollout(Manager *m) {
        return m->config->fleet.enabled && m->op && m->op->kind == OPERATION_UPGRADE && !m->op->fleet_converge;
}

/* The fleet decided to roll back while a step ran: at the next step, the rollback. */
static bool fleet_rollback_due(Manager *m) {
        _cleanup_free_ char *reason = TAKE_PTR(m->op->fleet_rollback);

        if (!reason)
                return false;
        rollback_begin(m, reason);
        return true;
}

/* The fleet (fleet.c, which listens) hears of this node's part. */
static void fleet_ask(Manager *m, FleetAsk ask) {
        events_emit(m, &(Event){.kind = EVENT_FLEET_PART, .op = m->op, .fleet = ask});
}

/* Waits at gate g, with the status saying for what, and tells the fleet this node's new step. */
static void fleet_wait(Manager *m, FleetGate g, const char *fmt, ...) _printf_(3, 4);
static void fleet_wait(Manager *m, FleetGate g, const char *fmt, ...) {
        _cleanup_free_ char *text = NULL;
        va_list ap;

        m->op->fleet_gate = g;
        va_start(ap, fmt);
        if (vasprintf(&text, fmt, ap) < 0)
                text = NULL;
        va_end(ap);
        if (text)
                manager_set_status(m, "%s", text);
        fleet_ask(m, FLEET_ASK_TELL);
}

/* mbupgraded-db ARGS for the operation's database; cb when it is done. When it can't even be
 * started, the operation fails here (and the caller only cleans up what is its own). */
static int db_helper(Manager *m, char *const args[], DbHelperCallback cb, void *userdata) {
        int r;

        r = dbserver_run(
                m->event,
                m->op->db_kind,
                m->op->db_conninfo,
                m->op->db_secret,
                args,
                cb,
                userdata,
                &m->engine->db_run);
        if (r < 0)
                engine_fail(m, RESULT_FAILED, "cannot run %s: %s", dbserver_helper_path(), strerror(-r));
        return r;
}

int engine_save(Manager *m) {
        int r;

        r = journal_save(m->config->state_dir, m->op);
        if (r < 0)
                log_error_errno(r, "Failed to write the journal in %s, continuing: %m", m->config->state_dir);
        return r;
}

/* The test builds' crash point for a step, once the journal has it. */
static void crash_point_step(Step s) {
        char name[64];

        (void) snprintf(name, sizeof(name), "step:%s", step_to_string(s));
        test_hook_crash_point(name);
}

/* Returns whether the journal has the step: past the stop, the engine goes on without it anyway
 * (nothing better to do); step_stop() does not stop without it. */
static int engine_set_step(Manager *m, Step s) {
        int r;

        m->op->step = s;
        r = engine_save(m);
        crash_point_step(s);
        events_emit(m, &(Event){.kind = EVENT_STEP_BEGAN, .op = m->op});
        return r;
}

bool step_is_rollback(Step s) {
        return s >= STEP_ROLLBACK_STOP && s <= STEP_ROLLBACK_VERIFY;
}

/* The zero-downtime path's steps before the stop: the old version serves, untouched. */
static bool step_bridged_before_stop(Step s) {
        return s >= STEP_ONLINE_BACKUP && s <= STEP_BRIDGE_SETTLE;
}

/* nginx sends users elsewhere than the unit's own port (the bridge): the unit being stopped is no
 * downtime for them, and no maintenance page may hide the bridge from them. */
static bool users_on_bridge(Manager *m) {
        uint16_t port = m->proxy ? proxy_port(m->proxy) : 0;

        return m->op && m->op->bridged && port != 0 && port != proxy_own_port(m);
}

/* A failure in the current step: before the stop nothing changed; after it we roll back; during
 * the rollback, a person is needed. */
void engine_fail(Manager *m, Result before_stop_result, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);

        /* Before the stop: the caller says refused or failed, and on the zero-downtime path failed or
         * rolled back (its users were on the bridge; nginx goes back to the old version at the end). */
        bool before_stop = m->op->step == STEP_PREFLIGHT || step_bridged_before_stop(m->op->step);

        if (before_stop || (m->op->kind == OPERATION_BACKUP && !m->op->stopped_usec)) {
                (void) free_and_strdup(&m->op->reason, msg);
                engine_finish(m, before_stop ? before_stop_result : RESULT_FAILED);
        } else if (!step_is_rollback(m->op->step))
                rollback_begin(m, msg);
        else {
                Operation *op = m->op;
                /* The database step of the manual recovery, when there is a backup to put back. */
                _cleanup_free_ char *restore_db = NULL;
                if (!op->backup_done)
                        restore_db = strdup("");
                else if (streq_ptr(op->db_kind, "postgres"))
                        restore_db = strdup_printf(
                                "as the database's owner: psql -c 'DROP OWNED BY CURRENT_USER' and pg_restore "
                                "--no-owner --single-transaction --dbname=<the database of %s> %s; ",
                                strempty(op->db_desc),
                                op->backup_path);
                else if (streq_ptr(op->db_kind, "mysql"))
                        restore_db = strdup_printf(
                                "drop the tables of %s and load %s into it with mariadb --sandbox; ",
                                strempty(op->db_desc),
                                op->backup_path);
                else
                        restore_db = strdup_printf("cp %s %s; ", op->backup_path, op->db_file);
                _cleanup_free_ char *full = strdup_printf(
                        "%s (rolling back because: %s). The service %s may be stopped. %s holds %s; the "
                        "database backup taken before the upgrade is %s. To recover by hand: systemctl stop %s; "
                        "cp %s %s; %ssystemctl start %s",
                        strempty(msg),
                        strempty(op->reason),
                        op->unit,
                        op->jar_path,
                        op->swapped ? "the new JAR" : "the previous JAR",
                        op->backup_done ? op->backup_path : "(none was taken)",
                        op->unit,
                        strempty(op->kept_jar),
                        op->jar_path,
                        strempty(restore_db),
                        op->unit);
                (void) free_and_strdup(&m->op->reason, full ?: msg);
                engine_finish(m, RESULT_ROLLBACK_FAILED);
        }
}

/* History, journal, retention */

/* may_exist: the operation was already done when the daemon stopped, so its entry may be written;
 * only then is the history read to look for it. */
static int history_record(Manager *m, const Operation *op, bool may_exist) {
        _cleanup_free_ char *line = operation_to_history_json(op);

        if (!line)
                return -ENOMEM;
        if (may_exist)
                return history_append_once(m->config->state_dir, line);
        return history_append(m->config->state_dir, line);
}

static int write_last_upgrade(Manager *m, const Operation *op) {
        const LastUpgrade u = {
                .id = op->id,
                .from = op->from_version,
                .to = op->to_version,
                .kept_jar = op->kept_jar,
                .backup = op->backup_done ? op->backup_path : NULL,
                .backup_sha256 = op->backup_done ? op->backup_sha256 : NULL,
                /* the database as the backup has it: an online backup's began after the start */
                .backup_usec = !op->backup_done ? 0
                        : op->bridged           ? op->started_usec
                                                : op->stopped_usec,
                .committed_usec = op->finished_usec,
        };

        return last_upgrade_write(m->config->state_dir, &u);
}

/* What watched or ran for the operation that ends. */
static void engine_release(Engine *e) {
        e->verifier = verifier_free(e->verifier);
        e->hook = hook_run_free(e->hook);
        e->hooks_passed = e->settled = false;
        e->migrate_down = migrate_down_free(e->migrate_down);
        e->migrate_down_said = mfree_str(e->migrate_down_said);
        e->migrate_down_rehearsal = migrate_down_rehearsal_free(e->migrate_down_rehearsal);
        e->migrate_down_rehearsed = false;
}

void engine_finish(Manager *m, Result result) {
        Operation *op = m->op;
        int r;

        /* A bridged operation ends with nginx on the unit's own port and no bridge: that first. */
        if (handback_start(m, result) > 0)
                return;
        m->engine->handback_done = false;
        engine_release(m->engine);
        /* a start waiting for its port */
        m->engine->port_wait = sd_event_source_disable_unref(m->engine->port_wait);
        m->engine->port_wait_since = 0;
        op->result = result;
        op->finished_usec = now_realtime_usec();

        /* A staged JAR that was never swapped in is of no use any more. */
        if (op->staged_path && !op->swapped)
                (void) unlink(op->staged_path);
        m->engine->db_run = dbserver_cancel(m->engine->db_run);
        if (m->engine->dry_run && op->db_secret)
                (void) unlink(op->db_secret);

        /* Pre-flight never got to answer: say why. */
        reply_refused(
                m->engine->reply, result == RESULT_REFUSED ? OUTCOME_REFUSED : OUTCOME_FAILED, op->reason);
        m->engine->reply = reply_unref(m->engine->reply);

        if (m->engine->dry_run) {
                /* A dry run leaves no trace but its answer: not even "Pre-flight checks for ..." as
                 * the status of an idle daemon. */
                if (m->engine->status_before_dry_run)
                        manager_set_status(m, "%s", m->engine->status_before_dry_run);
                m->engine->status_before_dry_run = mfree_str(m->engine->status_before_dry_run);
                m->op = operation_free(m->op);
                m->engine->dry_run = false;
                manager_properties_changed(m, "State", "Step", NULL);
                return;
        }

        bool was_done = op->step == STEP_DONE; /* resumed from a journal that said so */
        op->step = STEP_DONE;
        engine_save(m);
        test_hook_crash_point("done");
        r = history_record(m, op, was_done);
        if (r < 0)
                log_error_errno(r, "Failed to append to the history, continuing: %m");
        test_hook_crash_point("history");

        if (result == RESULT_COMMITTED && op->kind == OPERATION_UPGRADE) {
                r = write_last_upgrade(m, op);
                if (r < 0)
                        log_error_errno(r, "Failed to record the upgrade for a later rollback: %m");
        } else if (result == RESULT_COMMITTED && op->kind == OPERATION_ROLLBACK)
                (void) last_upgrade_remove(m->config->state_dir);

        journal_remove(m->config->state_dir);

        const char *verb = result_to_string(result);
        switch (result) {
        case RESULT_COMMITTED:
                if (op->kind == OPERATION_BACKUP)
                        manager_set_status(
                                m, "Idle; %s backed up to %s", strempty(op->db_desc), op->backup_path);
                else if (op->kind == OPERATION_RESTORE)
                        manager_set_status(
                                m, "Idle; %s restored from %s", strempty(op->db_desc), op->restore_path);
                else
                        manager_set_status(m, "Idle; %s -> %s committed", op->from_version, op->to_version);
                break;
        case RESULT_ROLLED_BACK:
                manager_set_status(
                        m,
                        "Idle; %s rolled back to %s: %s",
                        strempty(op->to_version),
                        strempty(op->from_version),
                        strempty(op->reason));
                break;
        case RESULT_ROLLBACK_FAILED:
                manager_set_status(m, "Rollback failed, needs a person: %s", strempty(op->reason));
                break;
        default:
                manager_set_status(
                        m,
                        "Idle; last %s %s: %s",
                        operation_kind_to_string(op->kind),
                        verb,
                        strempty(op->reason));
        }

        /* Verification just asked Metabase itself: no need to ask again. */
        if (result == RESULT_COMMITTED)
                (void) free_and_strdup(&m->running_version, op->to_version);
        else if (result == RESULT_ROLLED_BACK)
                (void) free_and_strdup(&m->running_version, op->from_version);
        (void) free_and_strdup(&m->last_result, verb);
        m->last_op_id = op->id;
        /* Retention before the signal: who waits for the end sees the backups as they stay. */
        _cleanup_strv_free_ char **clones = NULL;
        backups_prune(m, op->backup_path, &clones);
        if (clones && streq_ptr(op->db_kind, "postgres") && op->db_secret && op->db_conninfo) {
                /* The clones are dropped in the background, with a password file of their own. */
                _cleanup_free_ char *drop_secret = secret_path(m->config->state_dir, SECRET_DROP);
                if (drop_secret && rename(op->db_secret, drop_secret) >= 0)
                        backups_drop_clones(m, TAKE_PTR(clones), op->db_conninfo, drop_secret);
        }
        /* Nor the database password's copy. */
        if (op->db_secret)
                (void) unlink(op->db_secret);
        maintenance_end(m);
        m->probe_app_db = true;
        m->op = NULL;
        m->engine->cancel_requested = false;
        manager_refresh(m);
        manager_properties_changed(m, "State", "Step", "LastResult", "OperationId", NULL);
        /* The engine is idle: the fleet's step, the metrics, the journal entry (with its
         * MESSAGE_ID), the webhook and the command, the signal, and last a plan's next hop. The
         * history has the operation already, so a crash from here on tells them again rather
         * than never. */
        events_emit(m, &(Event){.kind = EVENT_OPERATION_FINISHED, .op = op});
        operation_free(op);
}

static void preflight_passed(Preflight *p);

/* The rehearsal of a keep-data rollback's migrate down had its say: a failure refuses it with
 * nothing touched; one that could not be done (no CREATEDB, say) leaves the fresh backup and the
 * changelog check as the guards, and the summary says so. */
static void on_migrate_down_rehearsed(int verdict, const char *message, void *userdata) {
        Preflight *p = userdata;
        Manager *m = p->m;
        _cleanup_free_ char *summary = NULL;

        m->engine->migrate_down_rehearsed = true;
        if (verdict == 0) {
                engine_fail(
                        m,
                        RESULT_REFUSED,
                        "%s's migrate down was rehearsed and failed: %s. Nothing was changed; 'mbctl rollback' "
                        "without --keep-data restores the backup taken before the upgrade (what was written since "
                        "is lost)",
                        m->op->from_version,
                        strempty(message));
                preflight_free(p);
                return;
        }
        if (verdict < 0)
                log_warning("Keep-data rollback: migrate down not rehearsed: %s", strempty(message));
        else
                log_info("Keep-data rollback: migrate down rehearsed: %s", strempty(message));
        summary = strdup_printf(
                "%s; migrate down %s: %s",
                p->summary,
                verdict > 0 ? "rehearsed" : "NOT rehearsed",
                strempty(message));
        if (summary)
                free_and_replace(p->summary, summary);
        preflight_passed(p);
}

/* 1 when the rehearsal runs (p is its), 0 when there is none to run. */
static int migrate_down_rehearse_start(Manager *m, Preflight *p) {
        _cleanup_(appdb_freep) AppDb *appdb = NULL;
        _cleanup_free_ char *error = NULL;
        Operation *op = m->op;
        MbVersion older;
        int r;

        if (!op_migrates_down(op) || m->engine->migrate_down_rehearsed)
                return 0;
        r = m->unit ? manager_app_db(m, m->unit, &appdb, &error) : -ENOENT;
        if (r >= 0)
                r = mb_version_parse(op->to_version, &older);
        if (r >= 0) {
                manager_set_status(
                        m, "Rehearsing %s's migrate down on a copy of %s", op->from_version, op->db_desc);
                r = migrate_down_rehearse(
                        m->event,
                        m->systemd,
                        m->unit,
                        appdb,
                        op->jar_path,
                        op->db_secret,
                        m->config->state_dir,
                        older.major,
                        m->config->service.start_timeout_usec,
                        on_migrate_down_rehearsed,
                        p,
                        &m->engine->migrate_down_rehearsal);
        }
        if (r < 0) {
                _cleanup_free_ char *why = strdup_printf("cannot start it: %s", error ?: strerror(-r));
                on_migrate_down_rehearsed(-1, why, p);
                return 1;
        }
        return 1;
}

static void on_pre_upgrade_hooks(bool ok, const char *reason, void *userdata) {
        Preflight *p = userdata;

        p->m->engine->hook = NULL;
        if (!ok) {
                engine_fail(p->m, RESULT_REFUSED, "%s", reason);
                preflight_free(p);
                return;
        }
        p->m->engine->hooks_passed = true;
        preflight_passed(p);
}

/* An upgrade's summary says whether it takes the zero-downtime path, and why not (zero-downtime.h);
 * the history keeps it. */
static void zero_downtime_note(Preflight *p) {
        Operation *op = p->m->op;
        _cleanup_free_ char *summary = NULL;

        if (op->kind != OPERATION_UPGRADE || op->zero_downtime || !op->to_version)
                return;
        op->zero_downtime = zero_downtime_assess(p->m, op->to_version, p->new_changesets);
        summary = op->zero_downtime ? strdup_printf("%s; zero downtime: %s", p->summary, op->zero_downtime)
                                    : NULL;
        if (summary)
                free_and_replace(p->summary, summary);
}

/* The last of pre-flight, once the database said yes too. */
static void preflight_passed(Preflight *p) {
        Manager *m = p->m;
        Operation *op = m->op;
        int r;

        zero_downtime_note(p);
        if (m->engine->cancel_requested) {
                (void) free_and_strdup(&op->reason, "canceled before the service was stopped");
                engine_finish(m, RESULT_CANCELED);
                goto finish;
        }
        if (m->engine->dry_run) {
                /* Gone before the answer: whoever got it may look (postgres-upgrade-commits did,
                 * and once in a while found it still there). */
                if (op->db_secret)
                        (void) unlink(op->db_secret);
                reply_accepted(m->engine->reply, 0, p->summary);
                engine_finish(m, RESULT_NONE);
                goto finish;
        }
        /* A keep-data rollback's migrate down, on a scratch copy first. */
        if (migrate_down_rehearse_start(m, p) > 0)
                return;
        /* Last, the administrator's pre-upgrade hooks: they may refuse it. */
        if (!m->engine->hooks_passed) {
                manager_set_status(m, "Running the pre-upgrade hooks");
                r = hook_gate_start(m, HOOK_PRE_UPGRADE, op, on_pre_upgrade_hooks, p, &m->engine->hook);
                if (r > 0)
                        return;
                if (r < 0) {
                        engine_fail(m, RESULT_FAILED, "cannot run the pre-upgrade hooks: %s", strerror(-r));
                        goto finish;
                }
        }
        m->engine->hooks_passed = false;
        log_info("Pre-flight passed: %s", p->summary);
        reply_accepted(m->engine->reply, op->id, p->summary);
        if (op_in_rollout(m)) {
                /* The fleet says when: once every node has staged. */
                if (op->fleet_rollout == 0) {
                        op->fleet_gate = FLEET_GATE_STAGED;
                        manager_set_status(m, "Proposing the rollout of %s to the fleet", op->to_version);
                        fleet_ask(m, FLEET_ASK_PROPOSE);
                } else
                        fleet_wait(
                                m,
                                FLEET_GATE_STAGED,
                                "Staged %s for rollout %" PRIu64 "; waiting for every node",
                                op->to_version,
                                op->fleet_rollout);
        } else if (op->kind == OPERATION_BACKUP && op_db_on_server(op))
                step_backup(m); /* pg_dump and mysqldump read a consistent snapshot of a live database */
        else if (zero_downtime_taken(m))
                step_online_backup(m);
        else
                step_stop(m);
finish:
        preflight_free(p);
}

static void on_db_preflight(int r, DbReport *report, void *userdata) {
        Preflight *p = userdata;
        Manager *m = p->m;
        Operation *op = m->op;
        uint64_t free_bytes;
        dev_t dev;

        if (r < 0) {
                if (streq_ptr(report->error_kind, "connect"))
                        engine_fail(
                                m,
                                RESULT_REFUSED,
                                "cannot connect to the application database %s: %s; check the MB_DB_* settings "
                                "of %s (or backup.app_db) and that the server is up",
                                op->db_desc,
                                report->error,
                                op->unit);
                else
                        engine_fail(
                                m,
                                RESULT_REFUSED,
                                "the application database %s can't be backed up: %s",
                                op->db_desc,
                                report->error);
                preflight_free(p);
                return;
        }
        (void) free_and_strdup(&op->db_schema, report->changelog_latest);
        manager_set_app_db(m, op->db_desc, report->changelog_latest);
        manager_set_app_db_changelog(
                m, report->changelog_ids, report->n_changelog_ids, report->changelog_count);
        if (report->lock_holder && !op->force) {
                engine_fail(
                        m,
                        RESULT_REFUSED,
                        "Metabase's migration lock (DATABASECHANGELOGLOCK) in %s is held by %s: a Metabase is "
                        "migrating this database now, or one was stopped in the middle of a migration. When no "
                        "Metabase runs against it, release the lock with 'java --add-opens "
                        "java.base/java.nio=ALL-UNNAMED -jar metabase.jar migrate release-locks' (or UPDATE DATABASECHANGELOGLOCK SET LOCKED = FALSE, LOCKGRANTED = NULL, "
                        "LOCKEDBY = NULL WHERE ID = 1) and try again, or use --force",
                        op->db_desc,
                        report->lock_holder);
                preflight_free(p);
                return;
        }
        if (preflight_check_db_version(p, op->db_kind, report->server_version) < 0) {
                engine_fail(m, RESULT_REFUSED, "%s", strempty(p->error));
                preflight_free(p);
                return;
        }
        if (report->lock_holder)
                log_warning("Upgrading with the migration lock held by %s (--force)", report->lock_holder);
        /* A dump is smaller than the database; the database's size is the bound that can't fail. */
        if (report->have_database_size && disk_free_bytes(p->backup_dir, &free_bytes, &dev) >= 0 &&
            report->database_size + DISK_MARGIN_BYTES > free_bytes) {
                engine_fail(
                        m,
                        RESULT_REFUSED,
                        "not enough free disk under %s for a backup of %s: it is %" PRIu64 " MiB, %" PRIu64
                        " MiB free; free some space or move backup.dir",
                        p->backup_dir,
                        op->db_desc,
                        report->database_size >> 20,
                        free_bytes >> 20);
                preflight_free(p);
                return;
        }
        /* PostgreSQL says 150020 for 15.20. */
        unsigned v;
        _cleanup_free_ char *server = streq(op->db_kind, "postgres") &&
                        safe_atou(strempty(report->server_version), &v) >= 0
                ? strdup_printf("PostgreSQL %u.%u", v / 10000, v % 10000)
                : strdup(strempty(report->server_version));
        _cleanup_free_ char *summary = strdup_printf(
                "%s; server %s, %" PRIu64 " MiB, schema %s",
                p->summary,
                strempty(server),
                report->database_size >> 20,
                report->changelog_latest ?: "empty");
        if (summary)
                free_and_replace(p->summary, summary);
        preflight_passed(p);
}

/* A keep-data rollback says what it will do with the database, or is refused where mbupgraded
 * can't judge Metabase's migrate down (H2: no reader for its changelog). Returns false when it
 * was refused (and p freed). */
static bool keep_data_planned(Manager *m, Preflight *p) {
        Operation *op = m->op;
        _cleanup_free_ char *plan = NULL;

        if (!op->keep_data)
                return true;
        if (op_migrates_down(op) && !op_db_on_server(op)) {
                engine_fail(
                        m,
                        RESULT_REFUSED,
                        "--keep-data from %s back to %s needs Metabase's migrate down, and mbupgraded judges it by "
                        "the changelog of a PostgreSQL or MySQL database only, not of H2 (%s). Nothing was "
                        "changed. 'mbctl rollback' without --keep-data restores the backup taken before the "
                        "upgrade (what was written since is lost)",
                        op->from_version,
                        op->to_version,
                        strempty(op->db_desc));
                preflight_free(p);
                return false;
        }
        if (op_migrates_down(op))
                plan = strdup_printf(
                        "%s; keeping the data: a fresh backup, then %s's migrate down takes %s to %s's schema",
                        p->summary,
                        op->from_version,
                        strempty(op->db_desc),
                        op->to_version);
        else
                plan = strdup_printf(
                        "%s; keeping the data: %s and %s are the same major, so only the JAR goes back, the "
                        "database is not restored (a fresh backup is taken all the same)",
                        p->summary,
                        op->from_version,
                        op->to_version);
        if (plan)
                free_and_replace(p->summary, plan);
        return true;
}

static void on_preflight_done(int r, void *userdata) {
        Preflight *p = userdata;
        Manager *m = p->m;
        Operation *op = m->op;

        /* Even a failed pre-flight may have staged a copy: engine_finish() removes it. */
        op->staged_path = TAKE_PTR(p->staged_path);
        op->kept_jar = TAKE_PTR(p->kept_jar);
        if (p->java_warning)
                log_warning("Pre-flight: %s", p->java_warning);
        if (r < 0) {
                engine_fail(m, RESULT_REFUSED, "%s", p->error ?: strerror(-r));
                preflight_free(p);
                return;
        }
        /* A backup or a restore keeps the installed version. */
        const JarInfo *to = p->new_info ?: p->old_info;
        op->from_version = strdup(p->old_info->tag);
        op->to_version = strdup(to->tag);
        op->from_sha256 = strdup(p->old_info->sha256);
        op->to_sha256 = strdup(to->sha256);
        op->jar_uid = p->jar_st.st_uid;
        op->jar_gid = p->jar_st.st_gid;
        op->jar_mode = p->jar_st.st_mode & 07777;
        if (!op->db_kind)
                op->db_kind = strdup(p->db_exists ? "h2" : "none");
        op->db_uid = p->db_st.st_uid;
        op->db_gid = p->db_st.st_gid;
        op->db_mode = p->db_exists ? (p->db_st.st_mode & 07777) : 0644;
        manager_properties_changed(m, "Step", NULL);
        if (!keep_data_planned(m, p))
                return;

        if (op_db_on_server(op)) {
                /* Connect, read the schema and the migration lock: a wrong password or a held lock
                 * refuses here, before the stop. */
                manager_set_status(m, "Pre-flight checks of %s", op->db_desc);
                if (db_helper(m, STRV_MAKE("preflight"), on_db_preflight, p) < 0)
                        preflight_free(p);
                return;
        }
        preflight_passed(p);
}

static char *health_url_from_unit(Manager *m, const UnitInfo *u) {
        const char *port = unit_info_getenv(u, "MB_JETTY_PORT"), *host = unit_info_getenv(u, "MB_JETTY_HOST");

        if (!isempty(m->config->service.health_url))
                return strdup(m->config->service.health_url);
        if (isempty(host) || streq(host, "0.0.0.0") || streq(host, "::"))
                host = "127.0.0.1";
        return strdup_printf("http://%s:%s/api/health", host, isempty(port) ? "3000" : port);
}

/* The JAR the unit runs and its application database, each path canonical ("/opt/x/../metabase.jar"
 * resolved): the journal holds no other kind (operation.c), so a crash after the stop always
 * resumes. A refusal says why in *ret_why. */
static int unit_paths(Manager *m, const UnitInfo *info, char **ret_jar, AppDb **ret_appdb, char **ret_why) {
        _cleanup_(appdb_freep) AppDb *appdb = NULL;
        _cleanup_free_ char *db_error = NULL;
        const char *jar;
        int r;

        jar = !isempty(m->config->service.jar) ? m->config->service.jar : unit_info_jar(info);
        if (isempty(jar) || jar[0] != '/') {
                *ret_why = strdup_printf(
                        "cannot tell which JAR %s runs (no absolute '-jar PATH' in ExecStart); set service.jar",
                        m->config->service.unit);
                return -EINVAL;
        }
        r = path_make_canonical(jar, ret_jar);
        if (r < 0) {
                *ret_why = strdup_printf("cannot make the JAR path %s canonical: %s", jar, strerror(-r));
                return r;
        }
        r = manager_app_db(m, info, &appdb, &db_error);
        if (r < 0) {
                *ret_why = strdup_printf(
                        "cannot tell the application database: %s (set backup.app_db)",
                        db_error ?: strerror(-r));
                return r;
        }
        if (appdb->kind == APPDB_H2 && appdb->h2_file && !path_is_canonical(appdb->h2_file)) {
                char *c = NULL;
                r = path_make_canonical(appdb->h2_file, &c);
                if (r < 0) {
                        *ret_why = strdup_printf(
                                "cannot make the H2 file %s canonical: %s", appdb->h2_file, strerror(-r));
                        return r;
                }
                free(appdb->h2_file);
                appdb->h2_file = c;
        }
        *ret_appdb = TAKE_PTR(appdb);
        return 0;
}

/* A Preflight for op from the unit: its JAR, Java, command line and database (the same facts
 * recorded in op for the journal). NULL when out of memory. */
static Preflight *
preflight_from_unit(Manager *m, Operation *op, const UnitInfo *info, const char *jar, const AppDb *appdb) {
        _cleanup_(preflight_freep) Preflight *p = calloc(1, sizeof(Preflight));

        if (!p)
                return NULL;
        p->m = m;
        p->kind = op->kind;
        p->force = op->force;
        p->dry_run = m->engine->dry_run;
        p->jar_path = strdup(jar);
        p->java_path = strdup(strempty(info->exec_path));
        p->exec_argv = strv_copy(info->exec_argv);
        p->unit = strdup(strempty(op->unit));
        p->backup_dir = strdup(m->config->backup.dir);
        p->state_dir = strdup(m->config->state_dir);
        free(op->jar_path); /* "" until now, for the journal */
        op->jar_path = strdup(jar);
        op->health_url = health_url_from_unit(m, info);
        p->db_desc = appdb_describe(appdb);
        op->db_desc = appdb_describe(appdb);
        if (appdb->kind == APPDB_H2) {
                p->db_file = strdup(appdb->h2_file);
                op->db_file = strdup(appdb->h2_file);
                if (!p->db_file)
                        return NULL;
        } else {
                op->db_kind = strdup(appdb_kind_to_string(appdb->kind));
                op->db_conninfo = dbserver_conninfo(appdb);
                op->db_name = strdup(appdb->dbname);
                op->db_secret = secret_path(m->config->state_dir, SECRET_OPERATION);
                p->secret = dbserver_secret(appdb);
                p->secret_file = op->db_secret ? strdup(op->db_secret) : NULL;
                if (!op->db_kind || !op->db_conninfo || !p->secret || !p->secret_file)
                        return NULL;
        }
        p->automigrate = unit_automigrate_setting(info);
        if (!p->jar_path || !p->java_path || !p->backup_dir || !p->state_dir || !op->jar_path ||
            !op->health_url || !op->db_desc)
                return NULL;
        return TAKE_PTR(p);
}

/* A rollback returns to the last committed upgrade's kept JAR and backup; a restore puts back a
 * backup of the database the unit uses now. A refusal says why in *ret_why. */
static int preflight_restore_source(Manager *m, Operation *op, Preflight *p, char **ret_why) {
        _cleanup_free_ char *last_to = NULL, *last_from = NULL, *kept = NULL, *backup = NULL,
                            *backup_sha = NULL;
        int r;

        if (op->kind == OPERATION_RESTORE) {
                if (!backup_file_matches(op->restore_path, op->db_kind ?: "h2")) {
                        *ret_why = strdup_printf(
                                "the backup %s is not of the kind of application database the unit uses now (%s)",
                                op->restore_path,
                                op->db_desc);
                        return -EINVAL;
                }
                p->restore_path = strdup(op->restore_path);
                p->restore_sha256 = strdup(op->restore_sha256);
                p->restore_version = strdup(strempty(op->restore_version));
                return 0;
        }
        if (op->kind != OPERATION_ROLLBACK)
                return 0;
        r = manager_last_upgrade(m, &last_from, &last_to, &kept, &backup, &backup_sha);
        if (r < 0) {
                *ret_why = strdup("there is no committed upgrade to roll back (see mbctl history)");
                return r;
        }
        if (op->keep_data) {
                /* The database stays: no backup of the last upgrade's is put back. */
                op->source_jar = strdup(kept);
                p->expect_installed = TAKE_PTR(last_to);
                return op->source_jar && p->expect_installed ? 0 : -ENOMEM;
        }
        if (isempty(backup)) {
                *ret_why = strdup_printf(
                        "the last upgrade (%s -> %s) has no database backup to return to", last_from, last_to);
                return -ENOENT;
        }
        if (!backup_file_matches(backup, op->db_kind ?: "h2")) {
                *ret_why = strdup_printf(
                        "the last upgrade's backup %s is not of the application database the unit uses now (%s); "
                        "restore it by hand or roll back with 'mbctl upgrade now --jar %s --force'",
                        backup,
                        op->db_desc,
                        kept);
                return -EINVAL;
        }
        op->source_jar = strdup(kept);
        op->restore_path = strdup(backup);
        op->restore_sha256 = strdup(backup_sha);
        p->expect_installed = TAKE_PTR(last_to);
        p->restore_path = strdup(backup);
        p->restore_sha256 = TAKE_PTR(backup_sha);
        return 0;
}

static void on_preflight_unit(int r, UnitInfo *info, const char *error, void *userdata) {
        Manager *m = userdata;
        Operation *op = m->op;
        _cleanup_(appdb_freep) AppDb *appdb = NULL;
        _cleanup_free_ char *jar = NULL, *why = NULL;
        Preflight *p;

        if (r < 0) {
                engine_fail(
                        m, RESULT_REFUSED, "cannot read %s from systemd: %s", op->unit, error ?: strerror(-r));
                return;
        }
        unit_info_free(m->unit);
        m->unit = info;
        if (!info->load_state || !streq(info->load_state, "loaded")) {
                engine_fail(
                        m,
                        RESULT_REFUSED,
                        "%s is not loaded (%s); check service.unit in the config",
                        op->unit,
                        strempty(info->load_state));
                return;
        }
        r = unit_paths(m, info, &jar, &appdb, &why);
        if (r < 0) {
                engine_fail(m, RESULT_REFUSED, "%s", why ?: strerror(-r));
                return;
        }
        p = preflight_from_unit(m, op, info, jar, appdb);
        if (!p) {
                engine_fail(m, RESULT_FAILED, "out of memory");
                return;
        }
        r = preflight_restore_source(m, op, p, &why);
        if (r < 0) {
                preflight_free(p);
                engine_fail(m, RESULT_REFUSED, "%s", why ?: strerror(-r));
                return;
        }
        p->source_jar = strdup(strempty(op->source_jar));
        p->expect_sha256 = op->kind == OPERATION_UPGRADE && m->engine->expect_sha256
                ? strdup(m->engine->expect_sha256)
                : NULL;
        if (!p->source_jar) {
                preflight_free(p);
                engine_fail(m, RESULT_FAILED, "out of memory");
                return;
        }
        if (op->kind == OPERATION_BACKUP || op->kind == OPERATION_RESTORE) {
                manager_set_status(m, "Pre-flight checks for the %s", operation_kind_to_string(op->kind));
                r = worker_run(m->event, preflight_db_run, on_preflight_done, p);
        } else {
                manager_set_status(m, "Pre-flight checks for %s", op->source_jar);
                r = worker_run(m->event, preflight_run, on_preflight_done, p);
        }
        if (r < 0) {
                preflight_free(p);
                engine_fail(m, RESULT_FAILED, "cannot start the pre-flight worker: %s", strerror(-r));
        }
}

static int engine_begin(
        Manager *m,
        OperationKind kind,
        const char *jar,
        const BackupInfo *restore,
        uint64_t flags,
        uint64_t rollout,
        const Initiator *who,
        Reply *reply,
        Refusal *refusal) {
        _cleanup_(operation_freep) Operation *op = NULL;
        int r;

        if (m->op)
                return refusal_set(
                        refusal,
                        OUTCOME_BUSY,
                        -EBUSY,
                        "An operation is already running (%s, step %s); wait for it, or see mbctl status",
                        operation_kind_to_string(m->op->kind),
                        step_to_string(m->op->step));
        if (m->hold && !(flags & (ENGINE_FORCE | ENGINE_IGNORE_HOLD)))
                return refusal_set(
                        refusal,
                        OUTCOME_REFUSED,
                        -EPERM,
                        "Upgrades are on hold%s%s; run 'mbctl unhold' or use --force",
                        m->hold_reason ? ": " : "",
                        strempty(m->hold_reason));

        /* In a fleet the nodes upgrade together (docs/fleet.md); a rollback or a restore by one
         * node alone would leave the others on another version than the database. */
        if (m->config->fleet.enabled && (kind == OPERATION_ROLLBACK || kind == OPERATION_RESTORE))
                return refusal_set(
                        refusal,
                        OUTCOME_REFUSED,
                        -EPERM,
                        "fleet.enabled is set: one node alone must not %s, the others would run another version "
                        "than the database. A failed rollout rolls the whole fleet back by itself; to go back "
                        "after a committed one, stop every node, %s on one, then start the others (or upgrade the "
                        "fleet to a fixed release with mbctl upgrade now --to VERSION)",
                        kind == OPERATION_ROLLBACK ? "roll back" : "restore a backup",
                        kind == OPERATION_ROLLBACK ? "roll back" : "restore");

        op = calloc(1, sizeof(Operation));
        if (!op)
                return -ENOMEM;
        op->kind = kind;
        op->step = STEP_PREFLIGHT;
        op->force = flags & ENGINE_FORCE;
        op->keep_data = kind == OPERATION_ROLLBACK && (flags & ENGINE_KEEP_DATA);
        op->initiator = *who; /* carried, never interpreted */
        op->started_usec = now_realtime_usec();
        op->fleet_rollout = rollout;
        op->fleet_converge = flags & ENGINE_FLEET_CONVERGE;
        /* Unique across restarts and readable: the start time in milliseconds. */
        op->id = op->started_usec / 1000;
        if (op->id <= m->last_op_id)
                op->id = m->last_op_id + 1;
        m->last_op_id = op->id;
        op->unit = strdup(m->config->service.unit);
        op->source_jar = jar ? strdup(jar) : NULL;
        if (!op->unit || (jar && !op->source_jar))
                return -ENOMEM;
        if (restore) {
                op->restore_path = strdup(restore->file);
                op->restore_sha256 = strdup(restore->sha256);
                op->restore_version = strdup(restore->version);
                if (!op->restore_path || !op->restore_sha256 || !op->restore_version)
                        return -ENOMEM;
        }

        /* A rehearsal is a copy's business: the real thing goes first (issue 8). */
        if (!(flags & ENGINE_DRY_RUN))
                rehearse_cancel(m, "an operation was asked for");

        m->op = TAKE_PTR(op);
        m->engine->dry_run = flags & ENGINE_DRY_RUN;
        if (m->engine->dry_run)
                (void) free_and_strdup(&m->engine->status_before_dry_run, m->status_text);
        m->engine->cancel_requested = false;
        reply_unref(m->engine->reply);
        m->engine->reply = reply_ref(reply);
        if (!m->engine->dry_run) {
                /* jar_path is filled in by pre-flight; the journal needs one to be valid. */
                m->op->jar_path = strdup("");
                engine_save(m);
                crash_point_step(STEP_PREFLIGHT);
        }
        manager_properties_changed(m, "State", "Step", "OperationId", NULL);
        r = unit_info_load(m->systemd, m->op->unit, on_preflight_unit, m);
        if (r < 0) {
                m->engine->reply = reply_unref(m->engine->reply);
                engine_fail(
                        m,
                        RESULT_FAILED,
                        "cannot ask systemd about %s: %s",
                        m->config->service.unit,
                        strerror(-r));
                return refusal_set(
                        refusal, OUTCOME_FAILED, r, "Cannot ask systemd about the unit: %s", strerror(-r));
        }
        return 1;
}

/* An upgrade to jar, which pre-flight checks against expect_sha256 when given. */
int begin_upgrade(
        Manager *m,
        const char *jar,
        const char *expect_sha256,
        uint64_t flags,
        uint64_t rollout,
        const Initiator *who,
        Reply *reply,
        Refusal *refusal) {
        int r;

        r = free_and_strdup(&m->engine->expect_sha256, expect_sha256);
        if (r < 0)
                return r;
        return engine_begin(m, OPERATION_UPGRADE, jar, NULL, flags, rollout, who, reply, refusal);
}

int engine_upgrade(
        Manager *m,
        const char *jar,
        const char *expect_sha256,
        uint64_t flags,
        const Initiator *who,
        Reply *reply,
        Refusal *refusal) {
        return begin_upgrade(m, jar, expect_sha256, flags, 0, who, reply, refusal);
}

/* --keep-data: Metabase's migrate down goes one major back per run, with the newer JAR only
 * (docs/metabase.md); further back it can't, and nothing is touched. */
static int keep_data_refusal(Manager *m, Refusal *refusal) {
        _cleanup_(last_upgrade_done) LastUpgrade u = {};
        int back;

        if (m->op || last_upgrade_read(m->config->state_dir, &u) < 0)
                return 0; /* busy, or nothing to roll back: engine_begin() and pre-flight say so */
        /* its scratch copy would be the keep-data rehearsal's (a start-up's look for a leftover
         * unit, which names no version, touches no copy) */
        if (rehearse_running_version(m))
                return refusal_set(
                        refusal,
                        OUTCOME_BUSY,
                        -EBUSY,
                        "A rehearsal of %s is running or being cleaned up, and --keep-data rehearses migrate down "
                        "on the same scratch copy; wait for it or stop it (mbctl cancel)",
                        rehearse_running_version(m));
        back = majors_back(u.to, u.from);
        if (back < 0 || back > 1)
                return refusal_set(
                        refusal,
                        OUTCOME_REFUSED,
                        -EPERM,
                        "--keep-data can't go from %s back to %s: Metabase's migrate down takes the schema one "
                        "major back only, run by the newer JAR. Nothing was changed. 'mbctl rollback' without "
                        "--keep-data restores the backup taken before the upgrade (what was written since is lost)",
                        u.to,
                        u.from);
        return 0;
}

int engine_rollback(Manager *m, uint64_t flags, const Initiator *who, Reply *reply, Refusal *refusal) {
        _cleanup_(last_upgrade_done) LastUpgrade u = {};
        _cleanup_free_ char *why = NULL;
        int r;

        if (flags & ENGINE_KEEP_DATA) {
                r = keep_data_refusal(m, refusal);
                if (r < 0)
                        return r;
        }
        /* Past settle, what users wrote since the backup goes with it: only if the caller says so. A
         * keep-data rollback loses nothing. */
        if (!(flags & (ENGINE_CONFIRMED | ENGINE_DRY_RUN | ENGINE_KEEP_DATA)) && !m->op &&
            !m->config->fleet.enabled && last_upgrade_read(m->config->state_dir, &u) >= 0 &&
            last_upgrade_rollback_loses_data(&u, m->config->service.settle_usec, now_realtime_usec(), &why) > 0)
                return refusal_set(refusal, OUTCOME_CONFIRM, -EPERM, "%s", why);
        m->engine->expect_sha256 = mfree_str(m->engine->expect_sha256);
        return engine_begin(m, OPERATION_ROLLBACK, NULL, NULL, flags, 0, who, reply, refusal);
}

int engine_backup(Manager *m, uint64_t flags, const Initiator *who, Reply *reply, Refusal *refusal) {
        m->engine->expect_sha256 = mfree_str(m->engine->expect_sha256);
        /* Taking a backup is never held. */
        return engine_begin(
                m, OPERATION_BACKUP, NULL, NULL, flags | ENGINE_IGNORE_HOLD, 0, who, reply, refusal);
}

int engine_restore(
        Manager *m, const char *backup, uint64_t flags, const Initiator *who, Reply *reply, Refusal *refusal) {
        _cleanup_(backup_info_freep) BackupInfo *b = NULL;
        _cleanup_free_ char *msg = NULL;
        int r;

        r = backups_find(m, backup, &b, &msg);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return refusal_set(refusal, OUTCOME_REFUSED, r, "%s", strempty(msg));
        m->engine->expect_sha256 = mfree_str(m->engine->expect_sha256);
        /* Like a rollback, a restore is how an admin gets out of trouble: never held. */
        return engine_begin(m, OPERATION_RESTORE, NULL, b, flags | ENGINE_IGNORE_HOLD, 0, who, reply, refusal);
}

int engine_cancel(Manager *m, Refusal *refusal) {
        if (!m->op && rehearse_running(m)) {
                /* A rehearsal touches no production: it ends with no verdict, its copy dropped. */
                rehearse_cancel(m, "canceled by an admin (mbctl cancel)");
                return 0;
        }
        if (!m->op)
                return refusal_set(
                        refusal, OUTCOME_NOTHING, -ENOENT, "No operation is running, nor a rehearsal");
        if (step_bridged_before_stop(m->op->step)) {
                /* The zero-downtime path before the stop: what runs ends now (a switch of nginx
                 * first finishes, then its callback sees the request), nginx goes back. */
                if (!m->engine->cancel_requested) {
                        m->engine->cancel_requested = true;
                        if (m->op->step != STEP_SWITCH)
                                (void) cancel_due(m);
                }
                return 0;
        }
        if (m->op->step != STEP_PREFLIGHT)
                return refusal_set(
                        refusal,
                        OUTCOME_TOO_LATE,
                        -EBUSY,
                        "Too late to cancel: %s is already stopped (step %s); the operation will finish or roll back",
                        m->op->unit,
                        step_to_string(m->op->step));
        if (m->op->fleet_gate == FLEET_GATE_STAGED) {
                /* Waiting for the fleet: this node leaves the rollout, which aborts it. */
                m->op->fleet_gate = FLEET_GATE_NONE;
                (void) free_and_strdup(&m->op->reason, "canceled on this node before the service was stopped");
                engine_finish(m, RESULT_CANCELED);
                return 0;
        }
        m->engine->cancel_requested = true;
        return 0;
}

/* The steps after pre-flight. */

static void on_stopped(int r, const char *result, const char *error, void *userdata) {
        Manager *m = userdata;

        if (r < 0) {
                engine_fail(m, RESULT_FAILED, "stopping %s failed: %s", m->op->unit, error ?: strerror(-r));
                return;
        }
        if (op_in_rollout(m)) {
                if (fleet_rollback_due(m))
                        return;
                /* Every node stops first: the leader migrates alone. */
                fleet_wait(
                        m,
                        FLEET_GATE_STOPPED,
                        "Stopped %s for rollout %" PRIu64 "; waiting for the fleet",
                        m->op->unit,
                        m->op->fleet_rollout);
                return;
        }
        step_backup(m);
}

/* maintenance_flag says what Metabase is down for. */
static void maintenance_flag_set(Manager *m) {
        const Operation *op = m->op;
        _cleanup_free_ char *what = NULL;

        if (users_on_bridge(m))
                return; /* the bridge serves them: a maintenance page would hide it */

        if (step_is_rollback(op->step))
                what = strdup_printf(
                        "rolling back %s to %s", strempty(op->to_version), strempty(op->from_version));
        else if (op->kind == OPERATION_BACKUP || op->kind == OPERATION_RESTORE)
                what = strdup_printf("%s of the application database", operation_kind_to_string(op->kind));
        else
                what = strdup_printf(
                        "%s %s to %s",
                        op->kind == OPERATION_ROLLBACK ? "rolling back" : "upgrading",
                        strempty(op->from_version),
                        strempty(op->to_version));
        maintenance_begin(m, what ?: "an operation");
}

/* A squatted port (issue 15, item 4): any local user may bind Metabase's port (>= 1024) while it
 * is stopped, and then neither the new version nor the old one can bind it. Checked before the
 * stop (nothing is stopped then) and right before each start, which waits for the port, saying
 * whose it is; a new version's start gives up after service.start_timeout (at most
 * PORT_WAIT_USEC_MAX) and rolls back, whose start waits as long as it takes: it is all there is. */
#define PORT_WAIT_USEC_MAX (5 * 60 * USEC_PER_SEC)
#define PORT_RECHECK_USEC (1 * USEC_PER_SEC)

/* Whether a process outside the unit's control group holds Metabase's port: 1 with *ret_reason
 * naming it; 0 when none does, or when it can't be told (logged: the verification still counts
 * only the unit's own listener). The control group as last read: a running unit's listener is its
 * own (a start resumed after a crash finds Metabase running); a stopped unit has no cgroup2
 * directory any more, so that every listener is another's. */
static int port_squatted(Manager *m, char **ret_reason) {
        _cleanup_free_ char *host = NULL, *path = NULL, *why = NULL;
        uint16_t port;
        int r;

        *ret_reason = NULL;
        if (isempty(m->op->health_url) || http_url_parse(m->op->health_url, &host, &port, &path) < 0)
                return 0;
        r = sockowner_port_held(host, port, m->unit ? m->unit->control_group : NULL, &why);
        if (r < 0)
                log_warning(
                        "Cannot tell whether another process holds %s's port: %s", m->op->unit, strempty(why));
        if (r <= 0)
                return 0;
        *ret_reason = TAKE_PTR(why);
        return 1;
}

static int on_port_wait(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        m->engine->port_wait = sd_event_source_disable_unref(m->engine->port_wait);
        if (!m->op)
                return 0;
        if (step_is_rollback(m->op->step))
                rollback_start(m);
        else
                step_start(m);
        return 0;
}

/* Right before a start: true while the port is another's (the start comes again a second later,
 * or the upgrade rolls back), false to start now. */
static bool port_wait(Manager *m) {
        Operation *op = m->op;
        _cleanup_free_ char *squatter = NULL, *reason = NULL;
        bool rollback = step_is_rollback(op->step);
        uint64_t now = 0, limit = m->config->service.start_timeout_usec;
        char buf[64];

        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        if (limit > PORT_WAIT_USEC_MAX)
                limit = PORT_WAIT_USEC_MAX;

        if (port_squatted(m, &squatter) <= 0) {
                if (m->engine->port_wait_since)
                        log_notice("%s's port is free again: starting it", op->unit);
                m->engine->port_wait_since = 0;
                return false;
        }
        if (!m->engine->port_wait_since) {
                m->engine->port_wait_since = now;
                log_warning(
                        "%s: %s is not started with %s until it is free; stop that process (mbctl doctor says how "
                        "to keep other users off the port)",
                        squatter,
                        op->unit,
                        rollback ? op->from_version : op->to_version);
        } else if (!rollback && now - m->engine->port_wait_since >= limit) {
                m->engine->port_wait_since = 0;
                reason = strdup_printf(
                        "%s for %s: %s could not have bound it; stop that process (mbctl doctor says how to keep "
                        "other users off the port)",
                        squatter,
                        format_duration(limit, buf, sizeof(buf)),
                        op->to_version);
                rollback_begin(m, reason ?: squatter);
                return true;
        }
        manager_set_status(
                m,
                "Waiting to start %s with %s: %s; stop that process",
                op->unit,
                rollback ? op->from_version : op->to_version,
                squatter);
        m->engine->port_wait = sd_event_source_disable_unref(m->engine->port_wait);
        if (sd_event_add_time_relative(
                    m->event, &m->engine->port_wait, CLOCK_MONOTONIC, PORT_RECHECK_USEC, 0, on_port_wait, m) <
            0)
                return false; /* no timer: start, and let the verification say whose the port is */
        return true;
}

void step_stop(Manager *m) {
        _cleanup_free_ char *squatter = NULL;
        int r;

        /* The unit's own listener is no squatter; another's would keep Metabase from binding again. */
        if (port_squatted(m, &squatter) > 0) {
                engine_fail(
                        m,
                        RESULT_REFUSED,
                        "%s, so %s was not stopped: it could not bind its port again; stop that process, then try "
                        "again (mbctl doctor says how to keep other users off the port)",
                        squatter,
                        m->op->unit);
                return;
        }
        m->op->stopped_usec = now_realtime_usec();
        if (!users_on_bridge(m))
                operation_down_begin(m->op, m->op->stopped_usec);
        r = engine_set_step(m, STEP_STOP);
        if (r < 0) {
                /* A daemon that dies after the stop resumes from the journal: without it, no stop. */
                m->op->step = STEP_PREFLIGHT;
                m->op->stopped_usec = m->op->down_at_usec = 0;
                engine_fail(
                        m,
                        RESULT_FAILED,
                        "cannot write the journal under %s (%s), so %s was not stopped; free some space there",
                        m->config->state_dir,
                        strerror(-r),
                        m->op->unit);
                return;
        }
        manager_set_status(m, "Stopping %s", m->op->unit);
        maintenance_flag_set(m);
        r = unit_job(m->systemd, "StopUnit", m->op->unit, on_stopped, m);
        if (r < 0)
                engine_fail(m, RESULT_FAILED, "cannot ask systemd to stop %s: %s", m->op->unit, strerror(-r));
}

/* backup.dir/<time>-<operation>-<version>/, where the backup and its backup.json go. */
static char *backup_dir_new(Manager *m) {
        Operation *op = m->op;
        char stamp[32];
        struct tm tm;
        time_t t = (time_t) (now_realtime_usec() / USEC_PER_SEC);

        (void) gmtime_r(&t, &tm);
        (void) strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
        return strdup_printf("%s/%s-%" PRIu64 "-%s", m->config->backup.dir, stamp, op->id, op->from_version);
}

/* backup.json beside the backup: what mbctl backups lists and a restore checks. */
static int backup_meta_write(Manager *m) {
        Operation *op = m->op;
        _cleanup_free_ char *dir = path_dirname(op->backup_path), *meta = NULL;
        json_object *o = json_object_new_object();
        const char *s;
        int r;

        meta = dir ? path_join(dir, "backup.json") : NULL;
        if (!meta || !o) {
                json_object_put(o);
                return -ENOMEM;
        }
        json_object_object_add(o, "kind", json_object_new_string(op->db_kind));
        json_object_object_add(o, "version", json_object_new_string(op->from_version));
        json_object_object_add(o, "database", json_object_new_string(strempty(op->db_desc)));
        if (op->db_file)
                json_object_object_add(o, "source", json_object_new_string(op->db_file));
        if (op->db_schema)
                json_object_object_add(o, "schema", json_object_new_string(op->db_schema));
        json_object_object_add(o, "file", json_object_new_string(op->backup_path));
        json_object_object_add(
                o,
                "method",
                json_object_new_string(
                        op->backup_clone              ? "clone"
                                : op_db_on_server(op) ? "dump"
                                                      : "copy"));
        if (op->backup_clone)
                json_object_object_add(o, "clone", json_object_new_string(op->backup_clone));
        json_object_object_add(o, "sha256", json_object_new_string(op->backup_sha256));
        json_object_object_add(o, "size", json_object_new_uint64(op->backup_size));
        json_object_object_add(o, "operation", json_object_new_uint64(op->id));
        json_object_object_add(o, "created_usec", json_object_new_uint64(now_realtime_usec()));
        s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
        r = write_file_atomic(meta, s, strlen(s), 0600);
        json_object_put(o);
        return r;
}

/* A backup that failed leaves nothing behind: its file, if any, and the directory made for it (a
 * directory without backup.json is no backup: nothing lists it, nothing prunes it). */
static void backup_discard(const char *dir, const char *file) {
        if (file)
                (void) unlink(file);
        if (dir)
                (void) rmdir(dir);
}

/* H2: a copy of the file, checksummed while it is written. */
static int backup_h2_run(void *userdata) {
        Manager *m = userdata;
        Operation *op = m->op;
        _cleanup_free_ char *dir = backup_dir_new(m), *file = NULL;
        char sha[SHA256_HEX_SIZE];
        /* the H2 file as pre-flight saw it: a regular file of its owner, never a link or a FIFO
         * put in its place since (copy_file_atomic() opens it O_NOFOLLOW|O_NONBLOCK) */
        CopyOptions o = {
                .mode = 0600, .uid = (uid_t) -1, .gid = (gid_t) -1, .check_owner = true, .owner = op->db_uid};
        int r;

        if (!dir)
                return -ENOMEM;
        r = mkdir_parents_and_self(dir, 0700);
        if (r < 0)
                return r;
        file = path_join(dir, backup_file_name("h2"));
        if (!file)
                return -ENOMEM;
        r = copy_file_atomic(op->db_file, file, &o, sha, &op->backup_size, NULL);
        if (r < 0) {
                backup_discard(dir, NULL); /* the copy removed its temporary file */
                return r;
        }
        free_and_replace(op->backup_path, file);
        r = free_and_strdup(&op->backup_sha256, sha);
        if (r >= 0)
                r = backup_meta_write(m);
        if (r < 0)
                backup_discard(dir, op->backup_path);
        return r;
}

static void on_backup_done(int r, void *userdata) {
        Manager *m = userdata;

        if (r < 0) {
                engine_fail(m, RESULT_FAILED, "backing up %s failed: %s", m->op->db_desc, strerror(-r));
                return;
        }
        m->op->backup_done = true;
        engine_save(m);
        log_info("Backed up %s to %s (sha256 %s)", m->op->db_desc, m->op->backup_path, m->op->backup_sha256);
        switch (m->op->kind) {
        case OPERATION_BACKUP:
                if (m->op->stopped_usec)
                        step_start(m);
                else
                        engine_finish(m, RESULT_COMMITTED);
                break;
        case OPERATION_RESTORE:
                step_restore_db(m);
                break;
        default:
                if (m->op->step == STEP_ONLINE_BACKUP)
                        step_bridge(m);
                else if (op_migrates_down(m->op))
                        step_migrate_down(m);
                else
                        step_swap(m);
        }
}

static int backup_meta_run(void *userdata) {
        Manager *m = userdata;
        _cleanup_free_ char *dir = m->op->backup_path ? path_dirname(m->op->backup_path) : NULL;
        int r;

        r = backup_meta_write(m);
        if (r < 0)
                backup_discard(dir, m->op->backup_path);
        return r;
}

static void on_server_backup(int r, DbReport *report, void *userdata) {
        Manager *m = userdata;

        if (r < 0) {
                _cleanup_free_ char *dir = m->op->backup_path ? path_dirname(m->op->backup_path) : NULL;
                backup_discard(dir, NULL); /* mbupgraded-db removed its temporary file */
                engine_fail(m, RESULT_FAILED, "backing up %s failed: %s", m->op->db_desc, report->error);
                return;
        }
        (void) free_and_strdup(&m->op->backup_sha256, report->sha256);
        m->op->backup_size = report->size;
        r = worker_run(m->event, backup_meta_run, on_backup_done, m);
        if (r < 0)
                engine_fail(m, RESULT_FAILED, "cannot record the backup: %s", strerror(-r));
}

/* pg_dump or mysqldump, in mbupgraded-db: a child, so the loop keeps answering. */
static void server_dump(Manager *m) {
        Operation *op = m->op;
        _cleanup_free_ char *dir = backup_dir_new(m);
        int r;

        if (!dir) {
                engine_fail(m, RESULT_FAILED, "out of memory");
                return;
        }
        r = mkdir_parents_and_self(dir, 0700);
        if (r < 0) {
                engine_fail(m, RESULT_FAILED, "cannot create %s: %s", dir, strerror(-r));
                return;
        }
        free(op->backup_path);
        op->backup_path = path_join(dir, backup_file_name(op->db_kind));
        engine_save(m);
        manager_set_status(m, "Backing up %s to %s", op->db_desc, op->backup_path);
        if (db_helper(m, STRV_MAKE("backup", op->backup_path), on_server_backup, m) >= 0)
                test_hook_crash_point("dump"); /* the dump running, the journal naming its file */
}

/* backup.postgres: clone. The backup directory holds a marker naming the copy, checksummed like
 * any backup file, and backup.json. */
static int clone_record_run(void *userdata) {
        Manager *m = userdata;
        Operation *op = m->op;
        _cleanup_free_ char *dir = backup_dir_new(m), *text = NULL;
        int r;

        if (!dir)
                return -ENOMEM;
        r = mkdir_parents_and_self(dir, 0700);
        if (r < 0)
                return r;
        free(op->backup_path);
        op->backup_path = path_join(dir, BACKUP_CLONE_FILE);
        text = strdup_printf("%s\n", op->backup_clone);
        if (!op->backup_path || !text)
                return -ENOMEM;
        r = write_file_atomic(op->backup_path, text, strlen(text), 0600);
        if (r < 0)
                return r;
        char sha[SHA256_HEX_SIZE];
        _cleanup_close_ int fd = open(op->backup_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return negative_errno();
        r = sha256_fd(fd, sha, NULL);
        if (r < 0)
                return r;
        r = free_and_strdup(&op->backup_sha256, sha);
        if (r < 0)
                return r;
        return backup_meta_write(m);
}

static void on_cloned(int r, DbReport *report, void *userdata) {
        Manager *m = userdata;

        if (r < 0) {
                log_warning(
                        "Cloning %s as %s failed (%s); taking a pg_dump instead",
                        m->op->db_desc,
                        m->op->backup_clone,
                        report->error);
                m->op->backup_clone = mfree_str(m->op->backup_clone);
                server_dump(m);
                return;
        }
        m->op->backup_size = report->size;
        r = worker_run(m->event, clone_record_run, on_backup_done, m);
        if (r < 0)
                engine_fail(m, RESULT_FAILED, "cannot record the backup: %s", strerror(-r));
}

static void on_clone_check(int r, DbReport *report, void *userdata) {
        Manager *m = userdata;
        Operation *op = m->op;
        _cleanup_free_ char *name = NULL;

        if (r < 0 || report->clone != 1) {
                log_warning(
                        "backup.postgres is clone, but %s can't be cloned: %s; taking a pg_dump instead",
                        op->db_desc,
                        r < 0 ? report->error : strempty(report->clone_reason));
                server_dump(m);
                return;
        }
        name = strdup_printf("%s_mbup_%" PRIu64, strempty(op->db_name), op->id);
        if (!name || strlen(name) > 63) {
                log_warning(
                        "The name of a clone of %s would be too long; taking a pg_dump instead", op->db_desc);
                server_dump(m);
                return;
        }
        free_and_replace(op->backup_clone, name);
        engine_save(m);
        manager_set_status(m, "Backing up %s as the database %s", op->db_desc, op->backup_clone);
        (void) db_helper(m, STRV_MAKE("clone", op->backup_clone), on_cloned, m);
}

void step_backup(Manager *m) {
        Operation *op = m->op;
        int r;

        if (fleet_rollback_due(m))
                return;
        /* A node catching up with its fleet: the database is the fleet's, migrated already. On the
         * zero-downtime path it was backed up online before the bridge. */
        if (op->fleet_converge || op->bridged) {
                step_swap(m);
                return;
        }
        engine_set_step(m, STEP_BACKUP);
        /* A clone needs the database without sessions: only with Metabase stopped. In a rollout it
         * is the backup of choice: on the shared server, any node can put it back; not in one that
         * rolls node by node, where the other nodes serve (a pg_dump then). */
        if (streq_ptr(op->db_kind, "postgres") &&
            (m->config->backup.postgres == PG_BACKUP_CLONE || op->fleet_rollout) && op->stopped_usec &&
            !isempty(op->db_name) && !op->fleet_rolling) {
                (void) db_helper(m, STRV_MAKE("clone-check"), on_clone_check, m);
                return;
        }
        if (op_db_on_server(op)) {
                server_dump(m);
                return;
        }
        if (!streq(strempty(op->db_kind), "h2")) {
                log_info("No application database file at %s yet: nothing to back up", strempty(op->db_file));
                if (op->kind == OPERATION_RESTORE) /* there is no JAR to swap */
                        step_restore_db(m);
                else
                        step_swap(m);
                return;
        }
        manager_set_status(m, "Backing up %s", op->db_file);
        r = worker_run(m->event, backup_h2_run, on_backup_done, m);
        if (r < 0)
                engine_fail(m, RESULT_FAILED, "cannot start the backup: %s", strerror(-r));
}

void step_swap(Manager *m) {
        int r;

        if (fleet_rollback_due(m))
                return;
        if (op_in_rollout(m) && m->op->backup_done && !m->op->fleet_backup_recorded) {
                /* Nothing is migrated before the fleet knows where the backup is. */
                m->op->fleet_gate = FLEET_GATE_RECORDED;
                fleet_ask(m, FLEET_ASK_RECORD);
                return;
        }
        engine_set_step(m, STEP_SWAP);
        manager_set_status(m, "Installing %s as %s", m->op->to_version, m->op->jar_path);
        r = rename_and_sync(m->op->staged_path, m->op->jar_path);
        if (r < 0) {
                engine_fail(
                        m,
                        RESULT_FAILED,
                        "cannot move %s over %s: %s",
                        m->op->staged_path,
                        m->op->jar_path,
                        strerror(-r));
                return;
        }
        test_hook_crash_point("swapped");
        m->op->swapped = true;
        engine_save(m);
        if (m->op->kind == OPERATION_ROLLBACK && !m->op->keep_data)
                step_restore_db(m);
        else
                step_start(m);
}

/* The zero-downtime path (issue 18; docs/architecture.md §4). The old version serves while an
 * online backup is taken and the new JAR starts beside it as the bridge (bridge.h); nginx is
 * switched to the bridge (proxy.h), which settles under real traffic with the verify hooks; only
 * then is the unit stopped, swapped, started and verified as on the usual path. At the end, whatever
 * the result, handback_start() switches nginx back to the unit's own port and stops the bridge.
 * Before the stop, a failure or a cancel ends the operation with nginx on the old version, which
 * never stopped; after it, a rollback puts the old JAR back but not the online backup (the live
 * database took writes through the bridge, and the release changed no schema). */

#define SWITCH_TIMEOUT_USEC (60 * USEC_PER_SEC)

/* Pre-flight's decision said yes (zero-downtime.h), and the upgrade is no fleet's: a fleet rolls
 * its nodes one by one instead (docs/fleet.md). */
static bool zero_downtime_taken(Manager *m) {
        const Operation *op = m->op;

        return op->kind == OPERATION_UPGRADE && !m->config->fleet.enabled && !op->fleet_converge &&
                m->bridge && m->proxy && startswith(strempty(op->zero_downtime), "yes") &&
                op_db_on_server(op);
}

/* mbctl cancel came while a step of the path ran: it ends here, before the stop. */
static bool cancel_due(Manager *m) {
        if (!m->engine->cancel_requested)
                return false;
        (void) free_and_strdup(
                &m->op->reason,
                "canceled before the service was stopped; it kept serving the previous version");
        engine_finish(m, RESULT_CANCELED);
        return true;
}

/* An online backup interrupted (a cancel, a daemon that died) is no backup: its files go. */
static void online_backup_discard(Operation *op) {
        _cleanup_free_ char *dir = NULL, *tmp = NULL, *meta = NULL;

        if (!op->backup_path || op->backup_done)
                return;
        dir = path_dirname(op->backup_path);
        tmp = strdup_printf("%s.tmp", op->backup_path);
        meta = dir ? path_join(dir, "backup.json") : NULL;
        if (tmp)
                (void) unlink(tmp);
        if (meta)
                (void) unlink(meta);
        backup_discard(dir, op->backup_path);
        op->backup_path = mfree_str(op->backup_path);
}

static void step_online_backup(Manager *m) {
        int r;

        m->op->bridged = true;
        r = engine_set_step(m, STEP_ONLINE_BACKUP);
        if (r < 0) {
                /* Without it, a daemon that died with nginx on the bridge would never switch back. */
                engine_fail(
                        m,
                        RESULT_FAILED,
                        "cannot write the journal under %s (%s), so nothing was changed; free some space there",
                        m->config->state_dir,
                        strerror(-r));
                return;
        }
        server_dump(m); /* pg_dump and mariadb-dump read a consistent snapshot of a live database */
}

static void step_switch(Manager *m);
static void step_bridge_settle(Manager *m);

static void on_bridge_up(int r, const char *message, uint16_t port, const char *control_group, void *userdata) {
        Manager *m = userdata;

        if (r < 0) {
                engine_fail(
                        m,
                        RESULT_FAILED,
                        "the bridge %s did not come up, so nginx was not switched and %s kept serving %s: %s",
                        m->op->to_version,
                        m->op->unit,
                        m->op->from_version,
                        strempty(message));
                return;
        }
        if (!cancel_due(m))
                step_switch(m);
}

static void step_bridge(Manager *m) {
        int r;

        if (cancel_due(m))
                return;
        engine_set_step(m, STEP_BRIDGE);
        manager_set_status(
                m, "Starting %s beside %s as %s", m->op->to_version, m->op->from_version, BRIDGE_UNIT);
        r = bridge_start(m->bridge, m->op->staged_path, m->op->to_version, on_bridge_up, m);
        if (r < 0)
                engine_fail(m, RESULT_FAILED, "cannot start the bridge: %s", strerror(-r));
}

static void on_switched(int r, const char *message, void *userdata) {
        Manager *m = userdata;

        if (r < 0) {
                engine_fail(
                        m,
                        RESULT_FAILED,
                        "nginx could not be switched to the bridge (%s), so users stay on %s",
                        strempty(message),
                        m->op->from_version);
                return;
        }
        if (!cancel_due(m))
                step_bridge_settle(m);
}

static void step_switch(Manager *m) {
        int r;

        engine_set_step(m, STEP_SWITCH);
        manager_set_status(m, "Switching nginx to the bridge %s", m->op->to_version);
        r = proxy_switch(
                m->proxy,
                bridge_port(m->bridge),
                m->op->to_version,
                bridge_control_group(m->bridge),
                SWITCH_TIMEOUT_USEC,
                on_switched,
                m);
        if (r < 0)
                engine_fail(m, RESULT_FAILED, "cannot switch nginx to the bridge: %s", strerror(-r));
}

/* Both the watch and the verify hooks have passed: the unit's turn. */
static void bridge_settle_done(Manager *m) {
        if (!m->engine->settled || m->engine->hook)
                return;
        m->engine->settled = false;
        if (!cancel_due(m))
                step_stop(m);
}

static void on_bridge_settled(int r, const char *message, void *userdata) {
        Manager *m = userdata;

        if (r < 0) {
                m->engine->hook = hook_run_free(m->engine->hook);
                engine_fail(
                        m,
                        RESULT_ROLLED_BACK,
                        "the bridge %s failed under traffic (%s); nginx goes back to %s, which never stopped",
                        m->op->to_version,
                        strempty(message),
                        m->op->from_version);
                return;
        }
        m->engine->settled = true;
        bridge_settle_done(m);
}

static void on_bridge_hooks(bool ok, const char *reason, void *userdata) {
        Manager *m = userdata;

        m->engine->hook = NULL;
        if (!ok) {
                bridge_unwatch(m->bridge);
                m->engine->settled = false;
                engine_fail(m, RESULT_ROLLED_BACK, "%s", reason);
                return;
        }
        bridge_settle_done(m);
}

static void step_bridge_settle(Manager *m) {
        char buf[32];
        int r;

        engine_set_step(m, STEP_BRIDGE_SETTLE);
        manager_set_status(
                m,
                "nginx sends users to %s on the bridge; settling for %s",
                m->op->to_version,
                format_duration(m->config->service.settle_usec, buf, sizeof(buf)));
        m->engine->settled = false;
        r = bridge_watch(m->bridge, m->config->service.settle_usec, on_bridge_settled, m);
        if (r < 0) {
                engine_fail(m, RESULT_ROLLED_BACK, "cannot watch the bridge: %s", strerror(-r));
                return;
        }
        /* The administrator's verify hooks, on the new version as users reach it. */
        m->engine->hook = hook_run_free(m->engine->hook);
        if (hook_gate_start(m, HOOK_VERIFY, m->op, on_bridge_hooks, m, &m->engine->hook) < 0) {
                bridge_unwatch(m->bridge);
                engine_fail(m, RESULT_ROLLED_BACK, "cannot run the verify hooks: out of memory");
        }
}

/* The end of a bridged operation. */

static void handback_end(Manager *m) {
        m->engine->handback_done = true;
        engine_finish(m, m->engine->handback_result);
}

static void on_handback_bridge_stopped(int r, const char *message, void *userdata) {
        if (r < 0)
                log_warning("%s; stop %s by hand", strempty(message), BRIDGE_UNIT);
        handback_end(userdata);
}

static void handback_stop_bridge(Manager *m) {
        int r;

        if (bridge_busy(m->bridge)) {
                manager_set_status(m, "Stopping the bridge");
                r = bridge_stop(m->bridge, on_handback_bridge_stopped, m);
                if (r >= 0)
                        return;
                log_warning("Cannot stop %s (%s): stop it by hand", BRIDGE_UNIT, strerror(-r));
        }
        handback_end(m);
}

static void on_switched_back(int r, const char *message, void *userdata) {
        Manager *m = userdata;
        Operation *op = m->op;
        _cleanup_free_ char *reason = NULL;

        if (r >= 0) {
                log_info("nginx sends users to %s again", op->unit);
                handback_stop_bridge(m);
                return;
        }
        /* The unit does not answer through nginx: the bridge is all users have, so it is kept. */
        reason = strdup_printf(
                "%s%snginx could not be switched back to %s (%s), so it still sends users to the bridge %s "
                "(%s), which is kept running: once %s serves, run 'systemctl reload nginx' after pointing %s "
                "at its port, then 'systemctl stop %s'",
                strempty(op->reason),
                isempty(op->reason) ? "" : "; ",
                op->unit,
                strempty(message),
                op->to_version,
                BRIDGE_UNIT,
                op->unit,
                m->config->proxy.upstream_file,
                BRIDGE_UNIT);
        log_error("%s", strempty(reason));
        if (reason)
                free_and_replace(op->reason, reason);
        handback_end(m);
}

/* 1 when the end waits for the hand-back (engine_finish() is called again once it is done), 0 when
 * there is nothing to hand back. The result goes into the journal with the step: a daemon that
 * dies meanwhile ends it the same way. */
static int handback_start(Manager *m, Result result) {
        Operation *op = m->op;
        uint16_t own, port;
        const char *version;
        int r;

        if (!op->bridged || m->engine->handback_done || m->engine->dry_run || !m->proxy)
                return 0;
        /* an online backup cut short (a failure, a cancel) is no backup */
        m->engine->db_run = dbserver_cancel(m->engine->db_run);
        online_backup_discard(op);
        own = proxy_own_port(m);
        port = proxy_port(m->proxy);
        if ((port == 0 || port == own) && !bridge_busy(m->bridge))
                return 0;
        m->engine->handback_result = op->result = result;
        bridge_unwatch(m->bridge);
        m->engine->hook = hook_run_free(m->engine->hook);
        m->engine->verifier = verifier_free(m->engine->verifier);
        engine_set_step(m, STEP_SWITCH_BACK);
        if (port == 0 || port == own) {
                handback_stop_bridge(m);
                return 1;
        }
        /* What the unit serves now: the new version once committed, else the previous one. */
        version = result == RESULT_COMMITTED ? op->to_version : op->from_version;
        manager_set_status(m, "Switching nginx back to %s (%s)", op->unit, version);
        r = proxy_switch(
                m->proxy,
                own,
                version,
                m->unit ? m->unit->control_group : NULL,
                SWITCH_TIMEOUT_USEC,
                on_switched_back,
                m);
        if (r < 0)
                on_switched_back(r, strerror(-r), m);
        return 1;
}

/* Copies src over dst atomically with the given owner and mode, if src still has the SHA-256 it
 * had when it was recorded. */
static int
restore_file(const char *src, const char *expect_sha256, const char *dst, uid_t uid, gid_t gid, mode_t mode) {
        CopyOptions o = {.mode = mode, .uid = uid, .gid = gid, .no_replace = true};
        _cleanup_free_ char *tmp = NULL;
        char sha[SHA256_HEX_SIZE];
        int r;

        r = copy_file_atomic(src, dst, &o, sha, NULL, &tmp);
        if (r < 0)
                return r;
        if (expect_sha256 && !streq(sha, expect_sha256)) {
                (void) unlink(tmp);
                return -EBADMSG;
        }
        r = rename_and_sync(tmp, dst);
        if (r < 0)
                (void) unlink(tmp);
        return r;
}

/* A server's database, put back from a dump by mbupgraded-db; then the start of the version
 * the dump belongs to. */
static void on_server_restored(int r, DbReport *report, void *userdata) {
        Manager *m = userdata;

        if (r < 0) {
                engine_fail(
                        m,
                        RESULT_FAILED,
                        "restoring %s from %s failed: %s",
                        m->op->db_desc,
                        strempty(step_is_rollback(m->op->step) ? m->op->backup_path : m->op->restore_path),
                        report->error);
                return;
        }
        log_info("Restored %s", m->op->db_desc);
        if (step_is_rollback(m->op->step))
                rollback_start(m);
        else
                step_start(m);
}

void server_restore(Manager *m, char *dump, const char *clone) {
        _cleanup_free_ char *keep_as = NULL;

        if (clone) {
                /* The database as the newer version left it is renamed, never dropped. */
                keep_as = strdup_printf("%s_mbup_%" PRIu64 "_new", strempty(m->op->db_name), m->op->id);
                if (!keep_as) {
                        engine_fail(m, RESULT_FAILED, "out of memory");
                        return;
                }
                manager_set_status(
                        m,
                        "Restoring %s from its copy %s (the current one is kept as %s)",
                        m->op->db_desc,
                        clone,
                        keep_as);
                (void) db_helper(m, STRV_MAKE("restore-clone", (char *) clone, keep_as), on_server_restored, m);
        } else {
                manager_set_status(m, "Restoring %s from %s", m->op->db_desc, dump);
                (void) db_helper(m, STRV_MAKE("restore", dump), on_server_restored, m);
        }
}

static int restore_db_run(void *userdata) {
        Manager *m = userdata;
        Operation *op = m->op;
        int r;

        if (op_db_on_server(op)) {
                r = preflight_file_has_sha256(op->restore_path, op->restore_sha256);
                if (r < 0 || !endswith(op->restore_path, "/" BACKUP_CLONE_FILE))
                        return r;
                /* A clone's marker: the copy's name, one line. */
                _cleanup_free_ char *text = NULL;
                r = read_full_file(op->restore_path, 256, &text, NULL);
                if (r < 0)
                        return r;
                text[strcspn(text, "\n")] = '\0';
                return free_and_strdup(&op->restore_clone, text);
        }
        return restore_file(
                op->restore_path, op->restore_sha256, op->db_file, op->db_uid, op->db_gid, op->db_mode);
}

static void on_restore_db_done(int r, void *userdata) {
        Manager *m = userdata;

        if (r < 0) {
                engine_fail(
                        m,
                        RESULT_FAILED,
                        "restoring %s from %s failed: %s",
                        m->op->db_file,
                        m->op->restore_path,
                        r == -EBADMSG ? "the backup does not match its SHA-256" : strerror(-r));
                return;
        }
        if (op_db_on_server(m->op))
                server_restore(m, m->op->restore_path, m->op->restore_clone);
        else
                step_start(m);
}

static void step_restore_db(Manager *m) {
        int r;

        engine_set_step(m, STEP_RESTORE_DB);
        manager_set_status(m, "Restoring the database of %s from %s", m->op->to_version, m->op->restore_path);
        r = worker_run(m->event, restore_db_run, on_restore_db_done, m);
        if (r < 0)
                engine_fail(m, RESULT_FAILED, "cannot start the restore: %s", strerror(-r));
}

/* A keep-data rollback one major back: the installed, newer JAR's own migrate down, judged by the
 * changelog afterwards (it exits 0 even when a change set's rollback failed): no change set of a
 * major above the older version's may be left. Any failure rolls back: the fresh backup and the
 * newer JAR go back (rollback_restore()). */
static void on_changelog_after_down(int r, DbReport *report, void *userdata) {
        Manager *m = userdata;
        Operation *op = m->op;
        MbVersion older;

        if (r < 0) {
                engine_fail(
                        m, RESULT_FAILED, "cannot read the changelog after migrate down: %s", report->error);
                return;
        }
        if (mb_version_parse(op->to_version, &older) < 0 || report->changelog_major < 0 ||
            (unsigned) report->changelog_major > older.major) {
                engine_fail(
                        m,
                        RESULT_FAILED,
                        "Metabase's migrate down left %s with change sets of v%d (newest %s), above %s's; its "
                        "output (state_dir/migrate-down.log): %s",
                        strempty(op->db_desc),
                        report->changelog_major,
                        strempty(report->changelog_latest),
                        op->to_version,
                        strempty(m->engine->migrate_down_said));
                return;
        }
        log_info(
                "Metabase's migrate down took %s back to v%d's schema (newest change set %s)",
                strempty(op->db_desc),
                report->changelog_major,
                strempty(report->changelog_latest));
        (void) free_and_strdup(&op->db_schema, report->changelog_latest);
        step_swap(m);
}

static void on_migrated_down(int r, const char *result, const char *message, void *userdata) {
        Manager *m = userdata;

        (void) free_and_strdup(&m->engine->migrate_down_said, message);
        if (r < 0) {
                engine_fail(m, RESULT_FAILED, "Metabase's migrate down could not run: %s", strempty(message));
                return;
        }
        test_hook_crash_point("migrated-down");
        log_info("Metabase's migrate down ended (%s); reading the changelog", strempty(result));
        (void) db_helper(m, STRV_MAKE("preflight"), on_changelog_after_down, m);
}

static void step_migrate_down(Manager *m) {
        _cleanup_(migrate_down_command_done) MigrateDownCommand c = {};
        Operation *op = m->op;
        int r;

        if (fleet_rollback_due(m))
                return;
        engine_set_step(m, STEP_MIGRATE_DOWN);
        manager_set_status(
                m,
                "Keeping the data: %s's migrate down takes %s back to %s's schema",
                op->from_version,
                strempty(op->db_desc),
                op->to_version);
        m->engine->migrate_down = migrate_down_free(m->engine->migrate_down);
        r = m->unit ? migrate_down_command(m->unit, op->jar_path, &c) : -ENOENT;
        if (r >= 0)
                r = migrate_down_start(
                        m->event,
                        m->systemd,
                        &c,
                        m->config->state_dir,
                        m->config->service.start_timeout_usec,
                        on_migrated_down,
                        m,
                        &m->engine->migrate_down);
        if (r < 0)
                engine_fail(
                        m,
                        RESULT_FAILED,
                        "cannot run Metabase's migrate down as %s: %s",
                        MIGRATE_DOWN_UNIT,
                        strerror(-r));
}

/* Starting and verifying, shared by the forward path and the rollback. */

static void on_verify(VerifyEvent ev, double progress, const char *message, void *userdata);

/* The verify hooks ended: a failure is a failed verification; a pass waits for the settle. */
static void on_verify_hooks(bool ok, const char *reason, void *userdata) {
        Manager *m = userdata;

        m->engine->hook = NULL;
        if (!ok) {
                m->engine->verifier = verifier_free(m->engine->verifier);
                m->engine->settled = false;
                engine_fail(m, RESULT_FAILED, "%s", reason);
        } else if (m->engine->settled && !fleet_rollback_due(m)) {
                m->engine->settled = false;
                on_verify(VERIFY_PASSED, 1, NULL, m);
        }
}

static void on_verify(VerifyEvent ev, double progress, const char *message, void *userdata) {
        Manager *m = userdata;
        bool rollback = step_is_rollback(m->op->step);

        switch (ev) {
        case VERIFY_PROGRESS:
                /* "... is starting (30%): migrating: 37 change sets applied, 2 in the last minute" */
                manager_set_status(
                        m,
                        "%s is starting (%.0f%%): %s",
                        rollback ? m->op->from_version : m->op->to_version,
                        progress * 100,
                        message);
                break;
        case VERIFY_HEALTHY:
                /* Serving again: users may use it while it settles. */
                maintenance_end(m);
                operation_down_end(m->op, now_realtime_usec());
                if (rollback)
                        engine_save(m);
                else {
                        m->op->serving_usec = now_realtime_usec();
                        engine_set_step(m, STEP_SETTLE);
                        if (op_in_rollout(m))
                                fleet_ask(m, FLEET_ASK_TELL); /* the leader's health lets the followers go */
                        /* The administrator's verify hooks, while it settles. */
                        m->engine->hook = hook_run_free(m->engine->hook);
                        if (hook_gate_start(m, HOOK_VERIFY, m->op, on_verify_hooks, m, &m->engine->hook) < 0) {
                                m->engine->verifier = verifier_free(m->engine->verifier);
                                engine_fail(m, RESULT_FAILED, "cannot run the verify hooks: out of memory");
                                return;
                        }
                }
                manager_set_status(
                        m,
                        "%s is healthy; settling for %s",
                        rollback ? m->op->from_version : m->op->to_version,
                        format_duration(m->config->service.settle_usec, (char[32]){}, 32));
                break;
        case VERIFY_PASSED:
                m->engine->verifier = verifier_free(m->engine->verifier);
                if (!rollback && m->engine->hook) {
                        m->engine->settled = true;
                        manager_set_status(
                                m, "%s has settled; waiting for its verify hooks", m->op->to_version);
                        break;
                }
                if (!rollback && op_in_rollout(m) && !m->op->fleet_commit) {
                        /* Committed when every node is. */
                        fleet_wait(
                                m,
                                FLEET_GATE_SETTLED,
                                "%s is healthy and settled; waiting for the rest of rollout %" PRIu64,
                                m->op->to_version,
                                m->op->fleet_rollout);
                        break;
                }
                engine_finish(m, rollback ? RESULT_ROLLED_BACK : RESULT_COMMITTED);
                break;
        case VERIFY_FAILED:
                m->engine->verifier = verifier_free(m->engine->verifier);
                engine_fail(m, RESULT_FAILED, "%s", message);
                break;
        }
}

static void start_verifier(Manager *m, const char *expect) {
        VerifyParams p = {
                .unit = m->op->unit,
                .health_url = m->op->health_url,
                .expect_tag = expect,
                .main_pid = m->op->main_pid,
                .n_restarts = m->op->n_restarts,
                .start_timeout_usec = m->config->service.start_timeout_usec,
                /* a rehearsal's measure of this release's start raises the limit (verify.h) */
                .rehearsed_usec = step_is_rollback(m->op->step) ? 0 : rehearse_expected_usec(m, expect),
                .stall_timeout_usec = m->config->service.stall_timeout_usec,
                .settle_usec = m->config->service.settle_usec,
                /* what the migration moves besides the progress figure (liveness.h) */
                .h2_file = m->op->db_file,
                .db_kind = m->op->db_conninfo ? m->op->db_kind : NULL,
                .db_conninfo = m->op->db_conninfo,
                .db_secret = m->op->db_secret,
                .started = m->unit, /* on_started_info() read it */
        };
        int r;

        m->engine->verifier = verifier_free(m->engine->verifier);
        r = verifier_start(m->event, m->systemd, &p, on_verify, m, &m->engine->verifier);
        if (r < 0)
                engine_fail(m, RESULT_FAILED, "cannot start verification: %s", strerror(-r));
}

static void on_started_info(int r, UnitInfo *info, const char *error, void *userdata) {
        Manager *m = userdata;

        operation_down_started(m->op, r >= 0 ? info->main_pid : 0); /* restarted while nobody watched? */
        if (r >= 0) {
                m->op->main_pid = info->main_pid;
                m->op->n_restarts = info->n_restarts;
                unit_info_free(m->unit);
                m->unit = info;
        }
        if (step_is_rollback(m->op->step)) {
                engine_set_step(m, STEP_ROLLBACK_VERIFY);
                start_verifier(m, m->op->from_version);
        } else
                step_verify(m);
}

static void on_started(int r, const char *result, const char *error, void *userdata) {
        Manager *m = userdata;

        if (r < 0) {
                engine_fail(m, RESULT_FAILED, "starting %s failed: %s", m->op->unit, error ?: strerror(-r));
                return;
        }
        r = unit_info_load(m->systemd, m->op->unit, on_started_info, m);
        if (r < 0)
                on_started_info(r, NULL, NULL, m);
}

static void step_start(Manager *m) {
        int r;

        if (fleet_rollback_due(m) || port_wait(m))
                return;
        engine_set_step(m, STEP_START);
        manager_set_status(m, "Starting %s with %s", m->op->unit, m->op->to_version);
        r = unit_job(m->systemd, "StartUnit", m->op->unit, on_started, m);
        if (r < 0)
                engine_fail(m, RESULT_FAILED, "cannot ask systemd to start %s: %s", m->op->unit, strerror(-r));
}

static void step_verify(Manager *m) {
        if (fleet_rollback_due(m))
                return;
        engine_set_step(m, STEP_VERIFY);
        manager_set_status(m, "Waiting for %s to become healthy", m->op->to_version);
        start_verifier(m, m->op->to_version);
}

/* Rollback */

static void on_rollback_stopped(int r, const char *result, const char *error, void *userdata) {
        Manager *m = userdata;

        /* A unit that is already dead stops with "done"; anything else we note and go on: putting
         * the old JAR and database back is still the best move. */
        if (r < 0)
                log_warning(
                        "Stopping %s for the rollback failed (%s), restoring anyway",
                        m->op->unit,
                        error ?: strerror(-r));
        rollback_restore(m);
}

void rollback_begin(Manager *m, const char *reason) {
        int r;

        (void) free_and_strdup(&m->op->reason, reason);
        m->engine->hook = hook_run_free(m->engine->hook); /* a verify hook has no more to say */
        m->engine->settled = false;
        m->op->fleet_gate = FLEET_GATE_NONE;
        m->op->fleet_rollback = mfree_str(m->op->fleet_rollback);
        /* a new version's start waiting for its port waits no more: the rollback's own start may */
        m->engine->port_wait = sd_event_source_disable_unref(m->engine->port_wait);
        m->engine->port_wait_since = 0;
        log_warning(
                "%s %s -> %s failed: %s; rolling back",
                operation_kind_to_string(m->op->kind),
                m->op->from_version,
                m->op->to_version,
                reason);
        if (!users_on_bridge(m))
                operation_down_begin(m->op, now_realtime_usec()); /* a crash while settling, say */
        engine_set_step(m, STEP_ROLLBACK_STOP);
        if (op_in_rollout(m))
                fleet_ask(m, FLEET_ASK_TELL); /* a node rolling back rolls the fleet back */
        manager_set_status(m, "Rolling back: stopping %s", m->op->unit);
        maintenance_flag_set(m);
        r = unit_job(m->systemd, "StopUnit", m->op->unit, on_rollback_stopped, m);
        if (r < 0)
                on_rollback_stopped(r, "failed", NULL, m);
}

static int rollback_restore_run(void *userdata) {
        Manager *m = userdata;
        Operation *op = m->op;
        int r;

        if (op->swapped) {
                r = restore_file(
                        op->kept_jar, op->from_sha256, op->jar_path, op->jar_uid, op->jar_gid, op->jar_mode);
                if (r < 0)
                        return r;
        }
        if (op->bridged) /* an online backup: the live database is kept (the path's comment) */
                return 0;
        if (op->backup_done && op_db_on_server(op))
                return preflight_file_has_sha256(op->backup_path, op->backup_sha256);
        if (op->backup_done) {
                r = restore_file(
                        op->backup_path, op->backup_sha256, op->db_file, op->db_uid, op->db_gid, op->db_mode);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void on_rollback_restored(int r, void *userdata) {
        Manager *m = userdata;

        if (r < 0) {
                engine_fail(
                        m,
                        RESULT_FAILED,
                        "putting %s and its database back failed: %s",
                        m->op->from_version,
                        r == -EBADMSG ? "a kept file does not match its recorded SHA-256" : strerror(-r));
                return;
        }
        m->op->swapped = false;
        engine_save(m);
        if (m->op->fleet_rolling) {
                /* Rolled node by node: the release changed no schema; this node starts again alone. */
                rollback_start(m);
                return;
        }
        if (op_in_rollout(m)) {
                /* Nodes start again once the database is back, which waits for every node to be
                 * stopped. */
                fleet_wait(
                        m,
                        FLEET_GATE_REVERTED,
                        "Rolling back: %s is back; waiting for the fleet's database to be restored%s",
                        m->op->from_version,
                        m->op->backup_done ? " by this node" : "");
                return;
        }
        if (m->op->backup_done && op_db_on_server(m->op) && !m->op->bridged)
                server_restore(m, m->op->backup_path, m->op->backup_clone);
        else
                rollback_start(m);
}

static void rollback_restore(Manager *m) {
        int r;

        engine_set_step(m, STEP_ROLLBACK_RESTORE);
        manager_set_status(
                m,
                "Rolling back: restoring %s%s",
                m->op->from_version,
                m->op->backup_done && !m->op->bridged && !m->op->fleet_rolling ? " and its database" : "");
        if (m->op->staged_path && !m->op->swapped)
                (void) unlink(m->op->staged_path);
        r = worker_run(m->event, rollback_restore_run, on_rollback_restored, m);
        if (r < 0)
                engine_fail(m, RESULT_FAILED, "cannot start the restore: %s", strerror(-r));
}

void rollback_start(Manager *m) {
        int r;

        if (port_wait(m))
                return;
        engine_set_step(m, STEP_ROLLBACK_START);
        manager_set_status(m, "Rolling back: starting %s with %s", m->op->unit, m->op->from_version);
        m->op->main_pid = 0;
        r = unit_job(m->systemd, "StartUnit", m->op->unit, on_started, m);
        if (r < 0)
                engine_fail(m, RESULT_FAILED, "cannot ask systemd to start %s: %s", m->op->unit, strerror(-r));
}

/* Resume after a restart of the daemon. */

/* The journal can't say what the interrupted operation did: which JAR jar_path holds, whether the
 * database was migrated or restored. Nothing is guessed: the service is left as it is (running or
 * not: starting a JAR nobody verified on a database in an unknown state is worse than the outage
 * a person is told about), unattended upgrades are held (a persistent `mbctl hold`), the
 * maintenance flag stays where it is, and the status says what to check. It stays so, across
 * restarts, until a person removes the .unreadable file and runs `mbctl unhold`. */
static void hold_for_damaged_journal(Manager *m, const char *kept, int error) {
        _cleanup_free_ char *reason = NULL;
        int r;

        reason = strdup_printf(
                "the journal of an interrupted operation can't be read (%s) and is kept as %s; %s was left "
                "as it is: check which JAR it runs (sha256sum against %s/releases/*/metabase.jar) and "
                "its database (mbctl backups), start it if need be (systemctl start %s), then remove %s "
                "and run 'mbctl unhold'",
                strerror(-error),
                kept,
                m->config->service.unit,
                m->config->state_dir,
                m->config->service.unit,
                kept);
        m->journal_damaged = true;
        /* The interrupted operation's password file, if any: no operation will remove it now. */
        _cleanup_free_ char *secret = secret_path(m->config->state_dir, SECRET_OPERATION);
        if (secret)
                (void) unlink(secret);
        r = manager_set_hold(m, true, reason ?: "the journal of an interrupted operation can't be read");
        if (r < 0)
                log_error_errno(r, "Failed to persist the hold: %m");
        log_error("Held: %s", strempty(reason));
        manager_set_status(m, "Held, needs a person: %s", reason ?: "the journal can't be read");
}

/* An online backup (pg_dump or mysqldump of a running Metabase) never stopped anything: it is
 * discarded, or kept when the journal says it was whole, and the service is left alone. A
 * rollback here would stop production for a backup. */
void resume_online_backup(Manager *m, Operation *op) {
        if (op->backup_done) {
                engine_finish(m, RESULT_COMMITTED);
                return;
        }
        online_backup_discard(op);
        (void) free_and_strdup(
                &op->reason,
                "the daemon stopped during an online backup; the partial backup was discarded and "
                "the service was not touched");
        engine_finish(m, RESULT_FAILED);
}

static void on_leftover_stopped(int r, const char *result, const char *error, void *userdata) {
        if (r < 0)
                log_warning("Stopping %s failed: %s", MIGRATE_DOWN_UNIT, strempty(error));
}

/* A migrate down may still run as its own unit: it is stopped before the backup goes back. */
static void on_resume_migrate_down_stopped(int r, const char *result, const char *error, void *userdata) {
        Manager *m = userdata;

        if (r < 0)
                log_warning("Stopping %s failed (%s), rolling back anyway", MIGRATE_DOWN_UNIT, strempty(error));
        rollback_begin(m, "the daemon stopped during Metabase's migrate down");
}

/* Where the journal says the operation was: finish, roll back, or start and verify again. */
void resume_at_step(Manager *m, Operation *op) {
        _cleanup_free_ char *reason = NULL;
        struct stat st;

        switch (op->step) {
        case STEP_PREFLIGHT:
                /* Nothing was touched but a staged copy. */
                if (!isempty(op->jar_path)) {
                        _cleanup_free_ char *dir = path_dirname(op->jar_path);
                        _cleanup_free_ char *staged = dir
                                ? strdup_printf("%s/.%s.mbup-staged", dir, strrchr(op->jar_path, '/') + 1)
                                : NULL;
                        if (staged)
                                (void) unlink(staged);
                }
                /* a keep-data rollback's rehearsal of migrate down, on its scratch copy (which the
                 * next scratch copy replaces) */
                if (op->keep_data)
                        (void) migrate_down_cleanup(
                                m->systemd, m->config->state_dir, on_leftover_stopped, NULL);
                (void) free_and_strdup(
                        &op->reason, "the daemon stopped during pre-flight; nothing was changed");
                engine_finish(m, RESULT_FAILED);
                return;
        case STEP_DONE:
        case STEP_SWITCH_BACK:
                engine_finish(m, op->result);
                return;
        case STEP_ONLINE_BACKUP:
        case STEP_BRIDGE:
        case STEP_SWITCH:
        case STEP_BRIDGE_SETTLE:
                /* The old version never stopped: the end switches nginx back to it and stops a
                 * bridge that is left (bridge.c keeps one that nginx names), a partial dump goes. */
                online_backup_discard(op);
                reason = strdup_printf(
                        "the daemon stopped during step %s; %s kept serving %s",
                        step_to_string(op->step),
                        op->unit,
                        op->from_version);
                (void) free_and_strdup(&op->reason, reason ?: "the daemon stopped");
                engine_finish(m, RESULT_FAILED);
                return;
        case STEP_SWAP:
                /* The rename either happened or not: the staged file tells. */
                if (!op->swapped && op->staged_path && stat(op->staged_path, &st) < 0 && errno == ENOENT)
                        op->swapped = true;
                _fallthrough_;
        case STEP_STOP:
        case STEP_BACKUP:
        case STEP_RESTORE_DB:
                reason = strdup_printf("the daemon stopped during step %s", step_to_string(op->step));
                rollback_begin(m, reason ?: "the daemon stopped");
                return;
        case STEP_START:
        case STEP_VERIFY:
        case STEP_SETTLE:
                /* The new version may be up already: start (a no-op when running) and verify again. */
                op->main_pid = 0;
                if (op->step != STEP_SETTLE)
                        maintenance_flag_set(m); /* /run did not survive a reboot */
                step_start(m);
                return;
        case STEP_MIGRATE_DOWN:
                if (migrate_down_cleanup(m->systemd, m->config->state_dir, on_resume_migrate_down_stopped, m) <
                    0)
                        on_resume_migrate_down_stopped(-EIO, NULL, "cannot ask systemd", m);
                return;
        case STEP_ROLLBACK_STOP:
                rollback_begin(m, op->reason ?: "resumed");
                return;
        case STEP_ROLLBACK_RESTORE:
                maintenance_flag_set(m);
                rollback_restore(m);
                return;
        case STEP_ROLLBACK_START:
        case STEP_ROLLBACK_VERIFY:
                maintenance_flag_set(m);
                rollback_start(m);
                return;
        default:
                return;
        }
}

int engine_resume(Manager *m) {
        _cleanup_free_ char *unreadable = NULL;
        Operation *op = NULL;
        int r, error;

        r = journal_load(m->config->state_dir, &op, &unreadable, &error);
        if (r < 0)
                return r;
        if (unreadable)
                hold_for_damaged_journal(m, unreadable, error);
        if (r == 0)
                return 0;
        m->op = op;
        if (op->id > m->last_op_id)
                m->last_op_id = op->id;
        operation_down_resumed(op, now_realtime_usec());
        log_notice(
                "Resuming %s %s -> %s interrupted at step %s",
                operation_kind_to_string(op->kind),
                strempty(op->from_version),
                strempty(op->to_version),
                step_to_string(op->step));

        /* Mid-rollout, what to do depends on where the fleet is now: it is asked first. */
        if (op->fleet_rollout && !op->fleet_converge && op->step != STEP_PREFLIGHT && op->step != STEP_DONE) {
                op->fleet_gate = FLEET_GATE_RESUMED;
                if (op->step != STEP_SETTLE)
                        maintenance_flag_set(m);
                manager_set_status(
                        m,
                        "Resumed in rollout %" PRIu64 " at step %s; asking the fleet",
                        op->fleet_rollout,
                        step_to_string(op->step));
                return 0;
        }

        if (op->kind == OPERATION_BACKUP && !op->stopped_usec && op->step != STEP_DONE)
                resume_online_backup(m, op);
        else
                resume_at_step(m, op);
        return 0;
}
