/* SPDX-License-Identifier: MIT */
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "approvals.h"
#include "build-config.h"
#include "backups.h"
#include "engine.h"
#include "fleet.h"
#include "fileio.h"
#include "history.h"
#include "journal.h"
#include "log.h"
#include "maintenance.h"
#include "bus-api.h"
#include "manager.h"
#include "release-news.h"
#include "rehearse.h"
#include "feed-watch.h"
#include "plan.h"
#include "proxy.h"
#include "bridge.h"
#include "staging.h"
#include "strv.h"

#define HISTORY_REPLY_MAX (4U * 1024U * 1024U)

/* The caller's credentials, and its user: the effective uid, else the real one. */
static int sender_creds(sd_bus_message *message, sd_bus_creds **ret, uid_t *ret_uid, sd_bus_error *error) {
        int r;

        r = sd_bus_query_sender_creds(
                message,
                SD_BUS_CREDS_EUID | SD_BUS_CREDS_UID | SD_BUS_CREDS_EGID | SD_BUS_CREDS_SUPPLEMENTARY_GIDS |
                        SD_BUS_CREDS_AUGMENT,
                ret);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot determine the caller's credentials: %m");
        r = sd_bus_creds_get_euid(*ret, ret_uid);
        if (r < 0)
                r = sd_bus_creds_get_uid(*ret, ret_uid);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot determine the caller's user: %m");
        return 0;
}

/* Who asks (operation.h's Initiator): the caller's uid and user name, and the flags it gave. The
 * journal gets a line for it: a dry run leaves no other trace. */
static int
who_asks(sd_bus_message *message, InitiatorKind kind, uint64_t flags, Initiator *ret, sd_bus_error *error) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        _cleanup_free_ char *desc = NULL;
        uid_t uid;
        int r;

        r = sender_creds(message, &creds, &uid, error);
        if (r < 0)
                return r;
        *ret = initiator_for_uid(kind, uid);
        ret->force = flags & ENGINE_FORCE;
        ret->dry_run = flags & ENGINE_DRY_RUN;
        desc = initiator_describe(ret);
        log_info("%s asked %s", sd_bus_message_get_member(message), strempty(desc));
        return 0;
}

/* Mutating methods: root and members of admin_group. The D-Bus policy file says the same; this
 * check holds even on a bus without that policy. */
static int check_admin(Manager *m, sd_bus_message *message, sd_bus_error *error) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        const gid_t *gids = NULL;
        uid_t uid;
        gid_t gid, admin_gid;
        int r, n;

        r = sender_creds(message, &creds, &uid, error);
        if (r < 0)
                return r;
        if (uid == 0)
                return 0;

        if (!isempty(m->config->admin_group)) {
                struct group *g = getgrnam(m->config->admin_group);
                if (g) {
                        admin_gid = g->gr_gid;
                        if (sd_bus_creds_get_egid(creds, &gid) >= 0 && gid == admin_gid)
                                return 0;
                        n = sd_bus_creds_get_supplementary_gids(creds, &gids);
                        for (int i = 0; i < n; i++)
                                if (gids[i] == admin_gid)
                                        return 0;
                        if (n < 0) {
                                /* The bus did not tell: ask the group database about that user. */
                                struct passwd *pw = getpwuid(uid);
                                gid_t list[256];
                                int k = (int) ELEMENTSOF(list);
                                if (pw && getgrouplist(pw->pw_name, pw->pw_gid, list, &k) >= 0)
                                        for (int i = 0; i < k; i++)
                                                if (list[i] == admin_gid)
                                                        return 0;
                        }
                }
        }
        return sd_bus_error_setf(
                error,
                SD_BUS_ERROR_ACCESS_DENIED,
                "Only root and members of the group '%s' may do this (you are uid %u); use sudo",
                strempty(m->config->admin_group),
                (unsigned) uid);
}

/* The flags a method takes, and an admin, for a dry run as much as for the real thing: a dry run
 * has root resolve and open the paths it names (an oracle of what exists where) and holds the
 * operation slot while it checks, so it needs the rights of what it rehearses. */
static int check_flags_and_admin(
        Manager *m, sd_bus_message *message, uint64_t flags, uint64_t allowed, sd_bus_error *error) {
        if (flags & ~allowed)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Unknown flags 0x%" PRIx64, flags);
        return check_admin(m, message, error);
}

/* Checked before anything echoes the path: it goes into messages, logs and the history. */
/* A method's only argument, its flags: read, checked, and the caller an admin. */
static int read_flags(Manager *m, sd_bus_message *message, uint64_t allowed, uint64_t *ret, sd_bus_error *error) {
        int r;

        r = sd_bus_message_read(message, "t", ret);
        if (r < 0)
                return r;
        return check_flags_and_admin(m, message, *ret, allowed, error);
}

/* A version argument: "v0.56.3"; "" too when may_be_empty. Echoed sanitized when it is not one. */
static int validate_version(const char *version, bool may_be_empty, sd_bus_error *error) {
        _cleanup_free_ char *q = NULL;

        if ((may_be_empty && isempty(version)) || mb_version_is_valid(version))
                return 0;
        q = strndup_sanitized(version, strlen(version), 40);
        return sd_bus_error_setf(
                error,
                SD_BUS_ERROR_INVALID_ARGS,
                "Not a Metabase version: '%s' (expected e.g. v0.56.3)",
                strempty(q));
}

static int validate_jar_argument(const char *jar, sd_bus_error *error) {
        if (strlen(jar) >= PATH_MAX)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "The JAR path is too long");
        if (string_has_control_chars(jar))
                return sd_bus_error_setf(
                        error, SD_BUS_ERROR_INVALID_ARGS, "The JAR path contains control characters");
        if (jar[0] != '/')
                return sd_bus_error_setf(
                        error, SD_BUS_ERROR_INVALID_ARGS, "The JAR path must be absolute: %s", jar);
        /* The journal's rule (operation.c): no ".", ".." or empty component. mbctl sends them so. */
        if (!path_is_canonical(jar))
                return sd_bus_error_setf(
                        error,
                        SD_BUS_ERROR_INVALID_ARGS,
                        "The JAR path must be canonical (no '.', '..' or '//' components): %s",
                        jar);
        return 0;
}

/* A refusal as the caller's D-Bus error; r when the module said nothing more. */
static int refusal_to_bus_error(int r, const Refusal *refusal, sd_bus_error *error) {
        if (refusal->reason)
                return sd_bus_error_set(error, outcome_to_error_name(refusal->outcome), refusal->reason);
        return r;
}

/* What a method asks the engine or the releases for. */
typedef struct Request {
        const char *jar, *version, *backup;
        uint64_t flags;
        InitiatorKind who_kind; /* an operation's: who (filled by start()) is named in its history */
        Initiator who;
} Request;

typedef int (*Starter)(Manager *m, const Request *q, Reply *reply, Refusal *refusal);

/* Started, it answers through its Reply once it decided (an operation after its pre-flight);
 * refused at once, the answer is the refusal, now. */
static int start(sd_bus_message *message, Manager *m, Starter f, Request *q, sd_bus_error *error) {
        _cleanup_(reply_unrefp) Reply *reply = reply_new(message);
        _cleanup_(refusal_done) Refusal refusal = REFUSAL_NULL;
        int r;

        if (!reply)
                return -ENOMEM;
        if (q->who_kind != INITIATOR_UNKNOWN) {
                r = who_asks(message, q->who_kind, q->flags, &q->who, error);
                if (r < 0)
                        return r;
        }
        r = f(m, q, reply, &refusal);
        return r >= 0 ? 1 : refusal_to_bus_error(r, &refusal, error);
}

static int start_upgrade_jar(Manager *m, const Request *q, Reply *reply, Refusal *refusal) {
        return engine_upgrade(m, q->jar, NULL, q->flags, &q->who, reply, refusal);
}

static int start_upgrade_version(Manager *m, const Request *q, Reply *reply, Refusal *refusal) {
        return plan_upgrade(m, q->version, q->flags, &q->who, reply, refusal);
}

static int start_rollback(Manager *m, const Request *q, Reply *reply, Refusal *refusal) {
        /* A rollback is not held: it is how an admin gets out of trouble. */
        return engine_rollback(m, q->flags | ENGINE_IGNORE_HOLD, &q->who, reply, refusal);
}

static int start_backup(Manager *m, const Request *q, Reply *reply, Refusal *refusal) {
        return engine_backup(m, q->flags, &q->who, reply, refusal);
}

static int start_restore(Manager *m, const Request *q, Reply *reply, Refusal *refusal) {
        return engine_restore(m, q->backup, q->flags, &q->who, reply, refusal);
}

static int start_window(Manager *m, const Request *q, Reply *reply, Refusal *refusal) {
        return plan_window(m, q->flags, &q->who, reply, refusal);
}

static int start_rehearse(Manager *m, const Request *q, Reply *reply, Refusal *refusal) {
        return plan_rehearse(m, q->version, reply, refusal);
}

static int start_check(Manager *m, const Request *q, Reply *reply, Refusal *refusal) {
        return feed_watch_check(m, reply, refusal);
}

static int method_upgrade(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *jar, *version;
        uint64_t flags;
        int r;

        r = sd_bus_message_read(message, "sst", &jar, &version, &flags);
        if (r < 0)
                return r;
        r = check_flags_and_admin(m, message, flags, (uint64_t) (ENGINE_FORCE | ENGINE_DRY_RUN), error);
        if (r < 0)
                return r;
        r = validate_version(version, true, error);
        if (r < 0)
                return r;
        if (isempty(jar))
                return start(
                        message,
                        m,
                        start_upgrade_version,
                        &(Request){.version = version, .flags = flags, .who_kind = INITIATOR_MBCTL},
                        error);
        if (!isempty(version))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Give a JAR or a version, not both");
        r = validate_jar_argument(jar, error);
        if (r < 0)
                return r;
        return start(
                message,
                m,
                start_upgrade_jar,
                &(Request){.jar = jar, .flags = flags, .who_kind = INITIATOR_MBCTL},
                error);
}

static int method_rollback(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        uint64_t flags;
        int r;

        /* ENGINE_CONFIRMED (8): a bit callers without it never set, so they are asked, not skipped.
         * ENGINE_KEEP_DATA (16): Metabase's migrate down instead of the restore. */
        r = read_flags(
                m,
                message,
                (uint64_t) (ENGINE_FORCE | ENGINE_DRY_RUN | ENGINE_CONFIRMED | ENGINE_KEEP_DATA),
                &flags,
                error);
        if (r < 0)
                return r;
        return start(
                message, m, start_rollback, &(Request){.flags = flags, .who_kind = INITIATOR_MBCTL}, error);
}

static int method_backup(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        uint64_t flags;
        int r;

        r = read_flags(m, message, (uint64_t) ENGINE_DRY_RUN, &flags, error);
        if (r < 0)
                return r;
        return start(message, m, start_backup, &(Request){.flags = flags, .who_kind = INITIATOR_MBCTL}, error);
}

static int method_restore(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *backup;
        uint64_t flags;
        int r;

        r = sd_bus_message_read(message, "st", &backup, &flags);
        if (r < 0)
                return r;
        r = check_flags_and_admin(m, message, flags, (uint64_t) (ENGINE_FORCE | ENGINE_DRY_RUN), error);
        if (r < 0)
                return r;
        if (string_has_control_chars(backup))
                return sd_bus_error_setf(
                        error, SD_BUS_ERROR_INVALID_ARGS, "The backup's name contains control characters");
        /* A path is resolved by backups_find() (realpath, under backup.dir): what the journal
         * records is canonical without a check here. */
        return start(
                message,
                m,
                start_restore,
                &(Request){.backup = backup, .flags = flags, .who_kind = INITIATOR_MBCTL},
                error);
}

static int method_list_backups(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *json = NULL;
        int r;

        r = backups_list_json(userdata, &json);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Failed to list the backups: %m");
        return sd_bus_reply_method_return(message, "s", json);
}

static int method_cancel(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int r;

        r = check_admin(m, message, error);
        if (r < 0)
                return r;
        _cleanup_(refusal_done) Refusal refusal = REFUSAL_NULL;
        r = engine_cancel(m, &refusal);
        if (r < 0)
                return refusal_to_bus_error(r, &refusal, error);
        return sd_bus_reply_method_return(message, NULL);
}

static int method_hold(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *reason;
        int r;

        r = sd_bus_message_read(message, "s", &reason);
        if (r < 0)
                return r;
        r = check_admin(m, message, error);
        if (r < 0)
                return r;
        if (strlen(reason) > 1024)
                return sd_bus_error_setf(
                        error, SD_BUS_ERROR_INVALID_ARGS, "The reason is too long (1024 at most)");
        if (string_has_control_chars(reason))
                return sd_bus_error_setf(
                        error, SD_BUS_ERROR_INVALID_ARGS, "The reason contains control characters");
        r = manager_set_hold(m, true, reason);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Failed to save the hold: %m");
        log_notice("Upgrades held: %s", isempty(reason) ? "(no reason given)" : reason);
        return sd_bus_reply_method_return(message, NULL);
}

static int method_unhold(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int r;

        r = check_admin(m, message, error);
        if (r < 0)
                return r;
        /* The hold of an unreadable journal (engine.c, hold_for_damaged_journal()) goes once a person has
         * looked: the damaged journal removed. Then the maintenance flag goes too. */
        if (m->journal_damaged) {
                _cleanup_free_ char *bad = journal_unreadable_path(m->config->state_dir);
                if (!bad)
                        return -ENOMEM;
                if (access(bad, F_OK) >= 0)
                        return sd_bus_error_setf(
                                error,
                                SD_BUS_ERROR_FAILED,
                                "The journal of an interrupted operation could not be read: check %s as the "
                                "status says, then remove %s and unhold again",
                                m->config->service.unit,
                                bad);
        }
        r = manager_set_hold(m, false, NULL);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Failed to remove the hold: %m");
        if (m->journal_damaged && !m->op) {
                m->journal_damaged = false;
                maintenance_end(m);
                manager_set_status(m, "Idle; held no longer (the unreadable journal was removed)");
        }
        log_notice("Upgrades no longer held by an administrator");
        return sd_bus_reply_method_return(message, NULL);
}

static int method_get_history(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        _cleanup_free_ char *text = NULL;
        int r;

        /* The newest entries: the history only grows (a refused upgrade is an entry too), and a
         * long one must not stop anyone from reading the recent past. */
        r = history_read_tail(m->config->state_dir, HISTORY_REPLY_MAX, &text);
        if (r < 0)
                return sd_bus_error_set_errnof(
                        error, r, "Failed to read the history in %s: %m", m->config->state_dir);
        return sd_bus_reply_method_return(message, "s", text);
}

#if ENABLE_TEST_HOOKS
/* TestProxySwitch(port, version, control_group, timeout_usec): proxy_switch() alone, for the scenario
 * proxy-switch-through-nginx, which tests the switch on its own (the engine's zero-downtime path
 * uses it too). Test builds only. */
static void on_test_proxy_switched(int r, const char *message, void *userdata) {
        _cleanup_(reply_unrefp) Reply *reply = userdata;

        if (r < 0)
                reply_refused(reply, OUTCOME_FAILED, message);
        else
                reply_text(reply, message);
}

static int method_test_proxy_switch(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        Reply *reply;
        const char *version, *cgroup;
        uint64_t timeout;
        uint16_t port;
        int r;

        r = sd_bus_message_read(message, "qsst", &port, &version, &cgroup, &timeout);
        if (r < 0)
                return r;
        r = check_admin(m, message, error);
        if (r < 0)
                return r;
        reply = reply_new(message);
        if (!reply)
                return -ENOMEM;
        r = proxy_switch(
                m->proxy, port, version, isempty(cgroup) ? NULL : cgroup, timeout, on_test_proxy_switched, reply);
        if (r < 0) {
                reply_unref(reply);
                return sd_bus_error_set_errnof(error, r, "Cannot switch nginx: %m");
        }
        return 1;
}

/* TestBridgeStart(jar, version) and TestBridgeStop(): bridge.c alone, for the scenario
 * bridge-starts-beside-metabase, which tests the bridge on its own (the engine's zero-downtime path
 * uses it too). Test builds only. */
static void on_test_bridge_started(int r, const char *message, uint16_t port, const char *cgroup, void *userdata) {
        _cleanup_(reply_unrefp) Reply *reply = userdata;
        _cleanup_free_ char *text = NULL;

        if (r < 0) {
                reply_refused(reply, OUTCOME_FAILED, message);
                return;
        }
        text = strdup_printf("port=%u control_group=%s: %s", port, cgroup, message);
        reply_text(reply, text ?: message);
}

static int method_test_bridge_start(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *memory = NULL;
        Manager *m = userdata;
        const char *jar, *version;
        Reply *reply;
        int r;

        r = sd_bus_message_read(message, "ss", &jar, &version);
        if (r < 0)
                return r;
        r = check_admin(m, message, error);
        if (r < 0)
                return r;
        /* what the eligibility checks will ask (issue 18), shown for the scenario */
        r = bridge_memory_ok(m, &memory);
        log_info(
                "Memory for a bridge: %s (%s)",
                r > 0            ? "enough"
                        : r == 0 ? "not enough"
                                 : "unknown",
                strempty(memory));
        reply = reply_new(message);
        if (!reply)
                return -ENOMEM;
        r = bridge_start(m->bridge, jar, version, on_test_bridge_started, reply);
        if (r < 0) {
                reply_unref(reply);
                return sd_bus_error_set_errnof(error, r, "Cannot start the bridge: %m");
        }
        return 1;
}

static int method_test_bridge_stop(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        Reply *reply;
        int r;

        r = check_admin(m, message, error);
        if (r < 0)
                return r;
        reply = reply_new(message);
        if (!reply)
                return -ENOMEM;
        r = bridge_stop(m->bridge, on_test_proxy_switched, reply); /* (r, message): the same answer */
        if (r < 0) {
                reply_unref(reply);
                return sd_bus_error_set_errnof(error, r, "Cannot stop the bridge: %m");
        }
        return 1;
}
#endif

/* mbctl approve VERSION: policy.approve lets the window (or apply: immediately) apply it. */
static int method_approve(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_(refusal_done) Refusal refusal = REFUSAL_NULL;
        _cleanup_free_ char *entry = NULL, *desc = NULL, *text = NULL;
        Manager *m = userdata;
        const char *version;
        Initiator who;
        int r;

        r = sd_bus_message_read(message, "s", &version);
        if (r < 0)
                return r;
        r = check_admin(m, message, error);
        if (r < 0)
                return r;
        r = validate_version(version, false, error);
        if (r < 0)
                return r;
        r = who_asks(message, INITIATOR_MBCTL, 0, &who, error);
        if (r < 0)
                return r;
        r = approvals_add(m->config->state_dir, version, &who);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Failed to save the approval: %m");
        entry = operation_approval_history_json(version, &who);
        desc = initiator_describe(&who);
        if (!entry || !desc)
                return -ENOMEM;
        r = history_append(m->config->state_dir, entry);
        if (r < 0)
                log_error_errno(r, "Failed to append the approval to the history, continuing: %m");
        log_notice("%s approved %s", version, desc);
        text = strdup_printf(
                "%s approved%s",
                version,
                m->config->policy.approve
                        ? ""
                        : " (policy.approve is false: releases do not wait for an approval)");
        if (!text)
                return -ENOMEM;
        manager_properties_changed(m, "WaitingApproval", NULL);
        /* With apply: immediately what waited for this approval goes now; the window waits for its time. */
        if (m->config->policy.apply == APPLY_IMMEDIATELY && !m->op && !plan_busy(m) &&
            plan_window(m, 0, &(Initiator){.kind = INITIATOR_IMMEDIATELY}, NULL, &refusal) < 0 &&
            refusal.reason)
                log_info("Not applying after the approval: %s", refusal.reason);
        return sd_bus_reply_method_return(message, "s", text);
}

static int method_window(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        uint64_t flags;
        int r;

        r = read_flags(m, message, (uint64_t) ENGINE_DRY_RUN, &flags, error);
        if (r < 0)
                return r;
        return start(message, m, start_window, &(Request){.flags = flags, .who_kind = INITIATOR_WINDOW}, error);
}

static int method_rehearse(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *version;
        uint64_t flags;
        int r;

        r = sd_bus_message_read(message, "st", &version, &flags);
        if (r < 0)
                return r;
        r = check_flags_and_admin(m, message, flags, 0, error);
        if (r < 0)
                return r;
        r = validate_version(version, true, error);
        if (r < 0)
                return r;
        return start(message, m, start_rehearse, &(Request){.version = version}, error);
}

static int method_check(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return start(message, userdata, start_check, &(Request){}, error);
}

static int method_list(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *json = NULL;
        int r;

        r = feed_watch_list_json(userdata, &json);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Failed to list the releases: %m");
        return sd_bus_reply_method_return(message, "s", json);
}

static const char *manager_state(Manager *m) {
        if (!m->op)
                return plan_busy(m) ? "staging" : rehearse_running(m) ? "rehearsing" : "idle";
        if (m->op->step == STEP_PREFLIGHT)
                return "preflight";
        if (m->op->step >= STEP_ROLLBACK_STOP && m->op->step <= STEP_ROLLBACK_VERIFY)
                return "rolling-back";
        switch (m->op->kind) {
        case OPERATION_ROLLBACK:
                return "reverting";
        case OPERATION_BACKUP:
                return "backing-up";
        case OPERATION_RESTORE:
                return "restoring";
        default:
                return "upgrading";
        }
}

static int property_get_string(
        sd_bus *bus,
        const char *path,
        const char *interface,
        const char *property,
        sd_bus_message *reply,
        void *userdata,
        sd_bus_error *error) {
        Manager *m = userdata;
        const char *v = NULL;

        if (streq(property, "State"))
                v = manager_state(m);
        else if (streq(property, "Step"))
                v = m->op ? step_to_string(m->op->step) : "";
        else if (streq(property, "StatusText"))
                v = m->status_text;
        else if (streq(property, "OperationKind"))
                v = m->op ? operation_kind_to_string(m->op->kind) : "";
        else if (streq(property, "FromVersion"))
                v = m->op ? m->op->from_version : NULL;
        else if (streq(property, "ToVersion"))
                v = m->op ? m->op->to_version : NULL;
        else if (streq(property, "Unit"))
                v = m->config->service.unit;
        else if (streq(property, "UnitActiveState"))
                v = m->unit ? m->unit->active_state : NULL;
        else if (streq(property, "JarPath"))
                v = m->jar_path;
        else if (streq(property, "InstalledVersion"))
                v = m->installed_version;
        else if (streq(property, "RunningVersion"))
                v = m->running_version;
        else if (streq(property, "PreviousVersion"))
                v = m->previous_version;
        else if (streq(property, "HoldReason"))
                v = m->hold ? m->hold_reason : NULL;
        else if (streq(property, "LastResult"))
                v = m->last_result;
        else if (streq(property, "NewestAvailable"))
                v = feed_watch_newest_available(m);
        else if (streq(property, "NewestAllowed"))
                v = feed_watch_newest_allowed(m);
        else if (streq(property, "Staged"))
                v = staging_staged(m);
        else if (streq(property, "LastCheck"))
                v = feed_watch_last_check(m);
        else if (streq(property, "AppDatabase"))
                v = m->app_db;
        else if (streq(property, "AppDatabaseSchema"))
                v = m->app_db_schema;
        else if (streq(property, "Rehearsal"))
                v = rehearse_status(m);
        else if (streq(property, "WaitingApproval")) {
                v = feed_watch_newest_allowed(m);
                if (isempty(v) || !approvals_waiting(m->config, v))
                        v = NULL;
        }
        return sd_bus_message_append(reply, "s", strempty(v));
}

static int property_get_fleet(
        sd_bus *bus,
        const char *path,
        const char *interface,
        const char *property,
        sd_bus_message *reply,
        void *userdata,
        sd_bus_error *error) {
        _cleanup_free_ char *s = fleet_json(userdata);

        if (!s)
                return -ENOMEM;
        return sd_bus_message_append(reply, "s", s);
}

static int property_get_hold(
        sd_bus *bus,
        const char *path,
        const char *interface,
        const char *property,
        sd_bus_message *reply,
        void *userdata,
        sd_bus_error *error) {
        Manager *m = userdata;
        return sd_bus_message_append(reply, "b", m->hold);
}

static int property_get_next_window(
        sd_bus *bus,
        const char *path,
        const char *interface,
        const char *property,
        sd_bus_message *reply,
        void *userdata,
        sd_bus_error *error) {
        return sd_bus_message_append(reply, "t", release_news_next_window(userdata));
}

static int property_get_operation_id(
        sd_bus *bus,
        const char *path,
        const char *interface,
        const char *property,
        sd_bus_message *reply,
        void *userdata,
        sd_bus_error *error) {
        Manager *m = userdata;
        return sd_bus_message_append(reply, "t", m->op ? m->op->id : m->last_op_id);
}

/* OperationFinished: an operation's end, or a plan's (its hops summed up as one). */
static void on_operation_finished(Manager *m, const Event *e, void *userdata) {
        const Operation *op = e->op;

        (void) sd_bus_emit_signal(
                m->bus,
                MB_BUS_PATH,
                MB_BUS_INTERFACE,
                "OperationFinished",
                "tsssss",
                op->id,
                operation_kind_to_string(op->kind),
                result_to_string(op->result),
                strempty(op->from_version),
                strempty(op->to_version),
                strempty(op->reason));
}

/* Every method is SD_BUS_VTABLE_UNPRIVILEGED: without it sd-bus lets only callers with CAP_SYS_ADMIN
 * through on the system bus, and reading the history would be root's alone. Who may change
 * anything is decided by check_admin() (and the bus policy), not by sd-bus. */
static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("State", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Step", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("StatusText", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("OperationId", "t", property_get_operation_id, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("OperationKind", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("FromVersion", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ToVersion", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Unit", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("UnitActiveState", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("JarPath", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("InstalledVersion", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("RunningVersion", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("PreviousVersion", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("NewestAvailable", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("NewestAllowed", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Staged", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("LastCheck", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("NextWindow", "t", property_get_next_window, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Hold", "b", property_get_hold, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("HoldReason", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("LastResult", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("AppDatabase", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("AppDatabaseSchema", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Fleet", "s", property_get_fleet, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Rehearsal", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("WaitingApproval", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS(
                "Upgrade",
                SD_BUS_ARGS("s", jar, "s", version, "t", flags),
                SD_BUS_RESULT("t", id, "s", summary),
                method_upgrade,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "Rollback",
                SD_BUS_ARGS("t", flags),
                SD_BUS_RESULT("t", id, "s", summary),
                method_rollback,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "Backup",
                SD_BUS_ARGS("t", flags),
                SD_BUS_RESULT("t", id, "s", summary),
                method_backup,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "Restore",
                SD_BUS_ARGS("s", backup, "t", flags),
                SD_BUS_RESULT("t", id, "s", summary),
                method_restore,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "ListBackups",
                SD_BUS_NO_ARGS,
                SD_BUS_RESULT("s", json),
                method_list_backups,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Cancel", "", "", method_cancel, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "Hold", SD_BUS_ARGS("s", reason), SD_BUS_NO_RESULT, method_hold, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Unhold", "", "", method_unhold, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "GetHistory",
                SD_BUS_NO_ARGS,
                SD_BUS_RESULT("s", jsonl),
                method_get_history,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "Window",
                SD_BUS_ARGS("t", flags),
                SD_BUS_RESULT("t", id, "s", summary),
                method_window,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "Approve",
                SD_BUS_ARGS("s", version),
                SD_BUS_RESULT("s", summary),
                method_approve,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "Check", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", result), method_check, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "List", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", json), method_list, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "Rehearse",
                SD_BUS_ARGS("s", version, "t", flags),
                SD_BUS_RESULT("t", id, "s", summary),
                method_rehearse,
                SD_BUS_VTABLE_UNPRIVILEGED),
#if ENABLE_TEST_HOOKS
        SD_BUS_METHOD_WITH_ARGS(
                "TestProxySwitch",
                SD_BUS_ARGS("q", port, "s", version, "s", control_group, "t", timeout_usec),
                SD_BUS_RESULT("s", text),
                method_test_proxy_switch,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "TestBridgeStart",
                SD_BUS_ARGS("s", jar, "s", version),
                SD_BUS_RESULT("s", text),
                method_test_bridge_start,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "TestBridgeStop",
                SD_BUS_NO_ARGS,
                SD_BUS_RESULT("s", text),
                method_test_bridge_stop,
                SD_BUS_VTABLE_UNPRIVILEGED),
#endif
        SD_BUS_SIGNAL_WITH_ARGS(
                "RehearsalFinished",
                SD_BUS_ARGS("t", id, "s", version, "s", result, "t", duration_usec, "s", reason),
                0),
        SD_BUS_SIGNAL_WITH_ARGS(
                "OperationFinished",
                SD_BUS_ARGS("t", id, "s", kind, "s", result, "s", from, "s", to, "s", reason),
                0),
        SD_BUS_VTABLE_END,
};

static void on_rehearsal_finished(Manager *m, const Event *e, void *userdata) {
        const RehearsalEnd *r = e->rehearsal;

        (void) sd_bus_emit_signal(
                m->bus,
                MB_BUS_PATH,
                MB_BUS_INTERFACE,
                "RehearsalFinished",
                "tssts",
                r->id,
                r->version,
                r->result,
                r->migration_usec,
                strempty(r->reason));
}

static void on_step_began(Manager *m, const Event *e, void *userdata) {
        manager_properties_changed(m, "Step", "State", NULL);
}

static int subscribe(Manager *m) {
        static const struct {
                EventKind kind;
                EventHandler handler;
        } table[] = {
                {EVENT_OPERATION_FINISHED, on_operation_finished},
                {EVENT_PLAN_FINISHED, on_operation_finished},
                {EVENT_REHEARSAL_FINISHED, on_rehearsal_finished},
                {EVENT_STEP_BEGAN, on_step_began},
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                int r = events_subscribe(m->events, table[i].kind, EVENT_ORDER_SIGNAL, table[i].handler, m);
                if (r < 0)
                        return r;
        }
        return 0;
}

int bus_api_register(Manager *m) {
        int r;

        r = sd_bus_add_object_vtable(m->bus, NULL, MB_BUS_PATH, MB_BUS_INTERFACE, manager_vtable, m);
        if (r < 0)
                return log_error_errno(r, "Failed to register the D-Bus object: %m");
        r = sd_bus_request_name(m->bus, MB_BUS_NAME, 0);
        if (r < 0)
                return log_error_errno(
                        r,
                        "Failed to own the bus name %s (is another mbupgraded running? is the "
                        "D-Bus policy installed?): %m",
                        MB_BUS_NAME);
        r = subscribe(m);
        if (r < 0)
                return log_error_errno(r, "Failed to listen to the daemon's events: %m");
        return 0;
}
