/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
#include <json-c/json.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fileio.h"
#include "macro.h"
#include "operation.h"
#include "strv.h"
#include "version.h"

static const char *const operation_kind_table[_OPERATION_KIND_MAX] = {
        [OPERATION_UPGRADE] = "upgrade",
        [OPERATION_ROLLBACK] = "rollback",
        [OPERATION_BACKUP] = "backup",
        [OPERATION_RESTORE] = "restore",
};

static const char *const step_table[_STEP_MAX] = {
        [STEP_PREFLIGHT] = "preflight",
        [STEP_ONLINE_BACKUP] = "online-backup",
        [STEP_BRIDGE] = "bridge",
        [STEP_SWITCH] = "switch",
        [STEP_BRIDGE_SETTLE] = "bridge-settle",
        [STEP_STOP] = "stop",
        [STEP_BACKUP] = "backup",
        [STEP_SWAP] = "swap",
        [STEP_RESTORE_DB] = "restore-database",
        [STEP_MIGRATE_DOWN] = "migrate-down",
        [STEP_START] = "start",
        [STEP_VERIFY] = "verify",
        [STEP_SETTLE] = "settle",
        [STEP_ROLLBACK_STOP] = "rollback-stop",
        [STEP_ROLLBACK_RESTORE] = "rollback-restore",
        [STEP_ROLLBACK_START] = "rollback-start",
        [STEP_ROLLBACK_VERIFY] = "rollback-verify",
        [STEP_SWITCH_BACK] = "switch-back",
        [STEP_DONE] = "done",
};

static const char *const result_table[_RESULT_MAX] = {
        [RESULT_NONE] = "",
        [RESULT_COMMITTED] = "committed",
        [RESULT_REFUSED] = "refused",
        [RESULT_FAILED] = "failed",
        [RESULT_CANCELED] = "canceled",
        [RESULT_ROLLED_BACK] = "rolled-back",
        [RESULT_ROLLBACK_FAILED] = "rollback-failed",
};

static const char *const initiator_kind_table[_INITIATOR_KIND_MAX] = {
        [INITIATOR_UNKNOWN] = "unknown",
        [INITIATOR_MBCTL] = "mbctl",
        [INITIATOR_WINDOW] = "window",
        [INITIATOR_IMMEDIATELY] = "immediately",
        [INITIATOR_FLEET] = "fleet",
};

const char *initiator_kind_to_string(InitiatorKind k) {
        return k >= 0 && k < _INITIATOR_KIND_MAX ? initiator_kind_table[k] : NULL;
}
InitiatorKind initiator_kind_from_string(const char *s) {
        return (InitiatorKind) string_table_lookup(initiator_kind_table, _INITIATOR_KIND_MAX, s);
}

Initiator initiator_for_uid(InitiatorKind kind, uid_t uid) {
        Initiator who = {.kind = kind, .uid = uid};
        struct passwd *pw = getpwuid(uid);

        if (pw && pw->pw_name && strlen(pw->pw_name) < sizeof(who.user) &&
            !string_has_control_chars(pw->pw_name))
                strcpy(who.user, pw->pw_name);
        return who;
}

static char *initiator_caller(const Initiator *who) {
        return isempty(who->user) ? strdup_printf("uid %u", (unsigned) who->uid)
                                  : strdup_printf("%s (uid %u)", who->user, (unsigned) who->uid);
}

char *initiator_describe(const Initiator *who) {
        _cleanup_free_ char *caller = initiator_caller(who), *base = NULL, *hop = NULL;

        if (!caller)
                return NULL;
        switch (who->kind) {
        case INITIATOR_MBCTL:
                base = strdup_printf("by %s", caller);
                break;
        case INITIATOR_WINDOW:
                base = who->uid == 0 ? strdup("by the window timer")
                                     : strdup_printf("by the window, run by %s", caller);
                break;
        case INITIATOR_IMMEDIATELY:
                base = strdup("by policy.apply: immediately");
                break;
        case INITIATOR_FLEET:
                base = who->rollout ? strdup_printf("by fleet rollout %" PRIu64, who->rollout)
                                    : strdup("by the fleet (catching up with its committed version)");
                break;
        default:
                base = strdup("by (not recorded)");
        }
        if (who->plan)
                hop = strdup_printf(", hop %u of %u of plan %" PRIu64, who->hop, who->hops, who->plan);
        if (!base || (who->plan && !hop))
                return NULL;
        return strdup_printf(
                "%s%s%s%s", base, strempty(hop), who->force ? ", --force" : "", who->dry_run ? ", --dry-run" : "");
}

/* For the history and the journal: kind, uid and user (callers), rollout, plan/hop/hops, force,
 * dry_run; with describe, also "text", initiator_describe()'s (the history's, for mbctl history). */
static json_object *initiator_to_json_full(const Initiator *who, bool describe) {
        json_object *o = json_object_new_object();

        if (!o)
                return NULL;
        json_object_object_add(o, "kind", json_object_new_string(initiator_kind_to_string(who->kind)));
        if (describe) {
                _cleanup_free_ char *text = initiator_describe(who);
                json_object_object_add(o, "text", json_object_new_string(strempty(text)));
        }
        if (who->kind == INITIATOR_MBCTL || who->kind == INITIATOR_WINDOW) {
                json_object_object_add(o, "uid", json_object_new_uint64(who->uid));
                json_object_object_add(o, "user", json_object_new_string(who->user));
        }
        if (who->rollout)
                json_object_object_add(o, "rollout", json_object_new_uint64(who->rollout));
        if (who->plan) {
                json_object_object_add(o, "plan", json_object_new_uint64(who->plan));
                json_object_object_add(o, "hop", json_object_new_uint64(who->hop));
                json_object_object_add(o, "hops", json_object_new_uint64(who->hops));
        }
        json_object_object_add(o, "force", json_object_new_boolean(who->force));
        json_object_object_add(o, "dry_run", json_object_new_boolean(who->dry_run));
        return o;
}

static json_object *initiator_to_json(const Initiator *who) {
        return initiator_to_json_full(who, false);
}

/* The journal's "initiator" back; false for anything initiator_to_json() could not have written. */
static bool initiator_from_json(json_object *o, Initiator *ret) {
        Initiator who = {};
        json_object *v;

        if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "kind", &v))
                return false;
        who.kind = initiator_kind_from_string(json_object_get_string(v));
        if (who.kind < 0)
                return false;
        if (json_object_object_get_ex(o, "uid", &v))
                who.uid = (uid_t) json_object_get_uint64(v);
        if (json_object_object_get_ex(o, "user", &v)) {
                const char *u = json_object_get_string(v);
                if (!u || strlen(u) >= sizeof(who.user) || string_has_control_chars(u))
                        return false;
                strcpy(who.user, u);
        }
        if (json_object_object_get_ex(o, "rollout", &v))
                who.rollout = json_object_get_uint64(v);
        if (json_object_object_get_ex(o, "plan", &v))
                who.plan = json_object_get_uint64(v);
        if (json_object_object_get_ex(o, "hop", &v))
                who.hop = (unsigned) json_object_get_uint64(v);
        if (json_object_object_get_ex(o, "hops", &v))
                who.hops = (unsigned) json_object_get_uint64(v);
        if (json_object_object_get_ex(o, "force", &v))
                who.force = json_object_get_boolean(v);
        if (json_object_object_get_ex(o, "dry_run", &v))
                who.dry_run = json_object_get_boolean(v);
        *ret = who;
        return true;
}

const char *operation_kind_to_string(OperationKind k) {
        return k >= 0 && k < _OPERATION_KIND_MAX ? operation_kind_table[k] : NULL;
}
OperationKind operation_kind_from_string(const char *s) {
        return (OperationKind) string_table_lookup(operation_kind_table, _OPERATION_KIND_MAX, s);
}
const char *step_to_string(Step s) {
        return s >= 0 && s < _STEP_MAX ? step_table[s] : NULL;
}
Step step_from_string(const char *s) {
        return (Step) string_table_lookup(step_table, _STEP_MAX, s);
}
const char *result_to_string(Result r) {
        return r >= 0 && r < _RESULT_MAX ? result_table[r] : NULL;
}
Result result_from_string(const char *s) {
        return (Result) string_table_lookup(result_table, _RESULT_MAX, s);
}

int result_to_exit_status(Result r) {
        switch (r) {
        case RESULT_NONE:
        case RESULT_COMMITTED:
                return 0;
        case RESULT_FAILED:
        case RESULT_CANCELED:
                return 1;
        case RESULT_ROLLED_BACK:
                return 3;
        case RESULT_ROLLBACK_FAILED:
                return 4;
        case RESULT_REFUSED:
                return 5;
        default:
                return 1;
        }
}

uint64_t now_realtime_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

Operation *operation_free(Operation *op) {
        if (!op)
                return NULL;
        free(op->unit);
        free(op->from_version);
        free(op->to_version);
        free(op->from_sha256);
        free(op->to_sha256);
        free(op->source_jar);
        free(op->jar_path);
        free(op->staged_path);
        free(op->kept_jar);
        free(op->health_url);
        free(op->db_kind);
        free(op->db_file);
        free(op->db_desc);
        free(op->db_conninfo);
        free(op->db_secret);
        free(op->db_schema);
        free(op->zero_downtime);
        free(op->db_name);
        free(op->restore_clone);
        free(op->backup_clone);
        free(op->fleet_rollback);
        free(op->backup_path);
        free(op->backup_sha256);
        free(op->restore_path);
        free(op->restore_sha256);
        free(op->restore_version);
        free(op->reason);
        free(op->hooks);
        free(op);
        return NULL;
}

/* The persisted fields, described once for both directions. */
#define STRING_FIELDS(X)   \
        X(unit)            \
        X(from_version)    \
        X(to_version)      \
        X(from_sha256)     \
        X(to_sha256)       \
        X(source_jar)      \
        X(jar_path)        \
        X(staged_path)     \
        X(kept_jar)        \
        X(health_url)      \
        X(db_kind)         \
        X(db_file)         \
        X(db_desc)         \
        X(db_conninfo)     \
        X(db_secret)       \
        X(db_schema)       \
        X(zero_downtime)   \
        X(db_name)         \
        X(restore_clone)   \
        X(backup_clone)    \
        X(backup_path)     \
        X(backup_sha256)   \
        X(restore_path)    \
        X(restore_sha256)  \
        X(restore_version) \
        X(reason)          \
        X(hooks)

#define UINT_FIELDS(X)   \
        X(id)            \
        X(jar_uid)       \
        X(jar_gid)       \
        X(jar_mode)      \
        X(db_uid)        \
        X(db_gid)        \
        X(db_mode)       \
        X(backup_size)   \
        X(main_pid)      \
        X(n_restarts)    \
        X(started_usec)  \
        X(stopped_usec)  \
        X(serving_usec)  \
        X(down_usec)     \
        X(up_usec)       \
        X(down_at_usec)  \
        X(finished_usec) \
        X(fleet_rollout)

#define BOOL_FIELDS(X) \
        X(force)       \
        X(swapped)     \
        X(backup_done) \
        X(keep_data)   \
        X(bridged)     \
        X(fleet_converge)

static json_object *operation_to_json(const Operation *op) {
        json_object *o = json_object_new_object();

        if (!o)
                return NULL;
#define PUT_STRING(f) \
        if (op->f)    \
                json_object_object_add(o, #f, json_object_new_string(op->f));
#define PUT_UINT(f) json_object_object_add(o, #f, json_object_new_uint64((uint64_t) op->f));
#define PUT_BOOL(f) json_object_object_add(o, #f, json_object_new_boolean(op->f));
        STRING_FIELDS(PUT_STRING)
        UINT_FIELDS(PUT_UINT)
        BOOL_FIELDS(PUT_BOOL)
        json_object_object_add(o, "kind", json_object_new_string(operation_kind_to_string(op->kind)));
        json_object_object_add(o, "step", json_object_new_string(step_to_string(op->step)));
        json_object_object_add(o, "result", json_object_new_string(result_to_string(op->result)));
        json_object_object_add(o, "initiator", initiator_to_json(&op->initiator));
        return o;
}

char *operation_format(const Operation *op) {
        json_object *o = operation_to_json(op);
        char *s;

        if (!o)
                return NULL;
        s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
        return s;
}

static bool operation_valid(const Operation *op);

int operation_save(const Operation *op, const char *path) {
        _cleanup_free_ char *s = NULL;

        /* Never a journal that operation_load() would refuse after a crash. */
        if (!operation_valid(op))
                return -EINVAL;
        s = operation_format(op);
        if (!s)
                return -ENOMEM;
        return write_file_atomic(path, s, strlen(s), 0600);
}

int operation_load(const char *path, Operation **ret) {
        _cleanup_free_ char *text = NULL;
        size_t n;
        int r;

        r = read_full_file(path, OPERATION_JOURNAL_MAX, &text, &n);
        if (r < 0)
                return r;
        return operation_parse(text, n, ret);
}

/* What resume acts on must be what the daemon could have written: paths canonical (fileio.c's
 * path_is_canonical(), the rule the daemon's arguments and the unit's paths are held to when they
 * enter), versions valid, checksums hex. operation_save() checks the same before it writes, so
 * that whatever is written reads back; anything else is a damaged journal, kept for a person. */
static bool path_ok(const char *p, bool may_be_empty) {
        if (!p)
                return true;
        if (!*p)
                return may_be_empty;
        return path_is_canonical(p);
}

static bool operation_valid(const Operation *op) {
        if (op->kind < 0 || op->step < 0 || op->result < 0 || !op->unit || !op->jar_path)
                return false;
        const char *const paths[] = {
                op->source_jar,
                op->staged_path,
                op->kept_jar,
                op->db_file,
                op->db_secret,
                op->backup_path,
                op->restore_path,
        };
        for (size_t i = 0; i < ELEMENTSOF(paths); i++)
                if (!path_ok(paths[i], false))
                        return false;
        /* jar_path is "" until pre-flight has read the unit. */
        if (!path_ok(op->jar_path, true))
                return false;
        const char *const versions[] = {op->from_version, op->to_version, op->restore_version};
        for (size_t i = 0; i < ELEMENTSOF(versions); i++)
                if (versions[i] && *versions[i] && !mb_version_is_valid(versions[i]))
                        return false;
        const char *const shas[] = {op->from_sha256, op->to_sha256, op->backup_sha256, op->restore_sha256};
        for (size_t i = 0; i < ELEMENTSOF(shas); i++)
                if (shas[i] && *shas[i] && !sha256_hex_is_valid(shas[i]))
                        return false;
        return true;
}

/* A journal from a daemon before down_usec: the stop to the first healthy answer was down, and
 * everything since the stop when there was none yet or a rollback began after it. */
static void down_from_older_journal(Operation *op) {
        if (!op->stopped_usec || op->down_usec || op->down_at_usec)
                return;
        if (op->serving_usec >= op->stopped_usec) {
                op->down_usec = op->serving_usec - op->stopped_usec;
                op->up_usec = op->serving_usec;
                if (op->step >= STEP_ROLLBACK_STOP && op->step <= STEP_ROLLBACK_VERIFY)
                        op->down_at_usec = op->serving_usec; /* when is unknown: the most it can be */
        } else
                op->down_at_usec = op->stopped_usec;
}

int operation_parse(const char *text, size_t n, Operation **ret) {
        _cleanup_(operation_freep) Operation *op = NULL;
        json_tokener *tok;
        json_object *o, *v;

        if (n > OPERATION_JOURNAL_MAX)
                return -EBADMSG;
        tok = json_tokener_new_ex(32);
        if (!tok)
                return -ENOMEM;
        o = json_tokener_parse_ex(tok, text, (int) n);
        if (o && json_tokener_get_error(tok) == json_tokener_success && json_tokener_get_parse_end(tok) < n)
                o = (json_object_put(o), NULL); /* trailing bytes */
        json_tokener_free(tok);
        if (!o || !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return -EBADMSG;
        }
        op = calloc(1, sizeof(Operation));
        if (!op) {
                json_object_put(o);
                return -ENOMEM;
        }
#define GET_STRING(f)                                                                         \
        if (json_object_object_get_ex(o, #f, &v) && json_object_is_type(v, json_type_string)) \
                op->f = strdup(json_object_get_string(v));
#define GET_UINT(f)                               \
        if (json_object_object_get_ex(o, #f, &v)) \
                op->f = (typeof(op->f)) json_object_get_uint64(v);
#define GET_BOOL(f)                               \
        if (json_object_object_get_ex(o, #f, &v)) \
                op->f = json_object_get_boolean(v);
        STRING_FIELDS(GET_STRING)
        UINT_FIELDS(GET_UINT)
        BOOL_FIELDS(GET_BOOL)
        op->kind = json_object_object_get_ex(o, "kind", &v)
                ? operation_kind_from_string(json_object_get_string(v))
                : _OPERATION_KIND_INVALID;
        op->step = json_object_object_get_ex(o, "step", &v) ? step_from_string(json_object_get_string(v))
                                                            : _STEP_INVALID;
        op->result = json_object_object_get_ex(o, "result", &v)
                ? result_from_string(json_object_get_string(v))
                : RESULT_NONE;
        /* A journal written before the initiator was recorded has none: "unknown". */
        bool initiator_ok = !json_object_object_get_ex(o, "initiator", &v) ||
                initiator_from_json(v, &op->initiator);
        json_object_put(o);
        if (!initiator_ok || !operation_valid(op))
                return -EBADMSG;
        down_from_older_journal(op);
        *ret = TAKE_PTR(op);
        return 0;
}

char *operation_to_history_json(const Operation *op) {
        json_object *o = json_object_new_object();
        char *s;

        if (!o)
                return NULL;
        json_object_object_add(o, "id", json_object_new_uint64(op->id));
        json_object_object_add(o, "kind", json_object_new_string(operation_kind_to_string(op->kind)));
        json_object_object_add(o, "result", json_object_new_string(result_to_string(op->result)));
        json_object_object_add(o, "from", json_object_new_string(strempty(op->from_version)));
        json_object_object_add(o, "to", json_object_new_string(strempty(op->to_version)));
        json_object_object_add(o, "unit", json_object_new_string(strempty(op->unit)));
        json_object_object_add(o, "step", json_object_new_string(step_to_string(op->step)));
        json_object_object_add(o, "reason", json_object_new_string(strempty(op->reason)));
        json_object_object_add(o, "started_usec", json_object_new_uint64(op->started_usec));
        json_object_object_add(o, "finished_usec", json_object_new_uint64(op->finished_usec));
        if (op->stopped_usec) {
                /* Every period without a healthy answer, the rollback's included. */
                json_object_object_add(
                        o, "downtime_ms", json_object_new_uint64(operation_downtime_usec(op) / USEC_PER_MSEC));
                /* When, too: a fleet's nodes are down together, from the first stop to the last start. */
                json_object_object_add(o, "stopped_usec", json_object_new_uint64(op->stopped_usec));
                if (op->serving_usec >= op->stopped_usec)
                        json_object_object_add(o, "serving_usec", json_object_new_uint64(op->serving_usec));
        }
        if (op->backup_done && op->backup_path)
                json_object_object_add(o, "backup", json_object_new_string(op->backup_path));
        if (op->db_desc)
                json_object_object_add(o, "database", json_object_new_string(op->db_desc));
        if (op->db_schema)
                json_object_object_add(o, "schema", json_object_new_string(op->db_schema));
        if (op->to_sha256)
                json_object_object_add(o, "sha256", json_object_new_string(op->to_sha256));
        if (op->hooks)
                json_object_object_add(o, "hooks", json_object_new_string(op->hooks));
        if (op->zero_downtime)
                json_object_object_add(o, "zero_downtime", json_object_new_string(op->zero_downtime));
        if (op->fleet_rollout)
                json_object_object_add(o, "fleet_rollout", json_object_new_uint64(op->fleet_rollout));
        if (op->fleet_converge)
                json_object_object_add(o, "fleet_converge", json_object_new_boolean(true));
        if (op->keep_data)
                json_object_object_add(o, "keep_data", json_object_new_boolean(true));
        if (op->bridged)
                json_object_object_add(o, "bridged", json_object_new_boolean(true));
        json_object_object_add(o, "initiator", initiator_to_json_full(&op->initiator, true));
        s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
        return s;
}

char *operation_approval_history_json(const char *version, const Initiator *who) {
        json_object *o = json_object_new_object();
        uint64_t now = now_realtime_usec();
        char *s;

        if (!o)
                return NULL;
        json_object_object_add(o, "id", json_object_new_uint64(now / 1000));
        json_object_object_add(o, "kind", json_object_new_string("approve"));
        json_object_object_add(o, "result", json_object_new_string("approved"));
        json_object_object_add(o, "to", json_object_new_string(version));
        json_object_object_add(o, "started_usec", json_object_new_uint64(now));
        json_object_object_add(o, "finished_usec", json_object_new_uint64(now));
        json_object_object_add(o, "initiator", initiator_to_json_full(who, true));
        s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
        return s;
}

void operation_down_begin(Operation *op, uint64_t now) {
        if (!op->down_at_usec)
                op->down_at_usec = now;
}

void operation_down_end(Operation *op, uint64_t now) {
        if (!op->down_at_usec)
                return;
        if (now > op->down_at_usec)
                op->down_usec += now - op->down_at_usec;
        op->down_at_usec = 0;
        op->up_usec = now;
}

void operation_down_resumed(Operation *op, uint64_t now) {
        /* Before the stop nothing was down; at the end nothing is watched any more. */
        if (!op->stopped_usec || op->step == STEP_PREFLIGHT || op->step == STEP_DONE)
                return;
        if (!op->down_at_usec)
                op->down_watch_pid = op->main_pid ?: UINT32_MAX;
        operation_down_begin(op, now);
}

void operation_down_started(Operation *op, uint32_t main_pid) {
        if (!op->down_watch_pid)
                return;
        if (main_pid != op->down_watch_pid && op->down_at_usec && op->up_usec && op->up_usec < op->down_at_usec)
                op->down_at_usec = op->up_usec;
        op->down_watch_pid = 0;
}

uint64_t operation_downtime_usec(const Operation *op) {
        uint64_t end;

        if (op->stopped_usec == 0)
                return 0;
        if (!op->down_at_usec)
                return op->down_usec;
        end = op->finished_usec ?: now_realtime_usec();
        return op->down_usec + (end > op->down_at_usec ? end - op->down_at_usec : 0);
}
