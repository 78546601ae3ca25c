/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <json-c/json.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "last-upgrade.h"
#include "macro.h"
#include "strv.h"
#include "version.h"

#define LAST_UPGRADE_FILE "last-upgrade.json"

void last_upgrade_done(LastUpgrade *u) {
        free(u->from);
        free(u->to);
        free(u->kept_jar);
        free(u->backup);
        free(u->backup_sha256);
        *u = (LastUpgrade){};
}

int last_upgrade_write(const char *state_dir, const LastUpgrade *u) {
        _cleanup_free_ char *path = path_join(state_dir, LAST_UPGRADE_FILE);
        json_object *o = json_object_new_object();
        const char *s;
        int r;

        if (!path || !o) {
                json_object_put(o);
                return -ENOMEM;
        }
        json_object_object_add(o, "id", json_object_new_uint64(u->id));
        json_object_object_add(o, "from", json_object_new_string(strempty(u->from)));
        json_object_object_add(o, "to", json_object_new_string(strempty(u->to)));
        json_object_object_add(o, "kept_jar", json_object_new_string(strempty(u->kept_jar)));
        json_object_object_add(o, "backup", json_object_new_string(strempty(u->backup)));
        json_object_object_add(o, "backup_sha256", json_object_new_string(strempty(u->backup_sha256)));
        json_object_object_add(o, "backup_usec", json_object_new_uint64(u->backup_usec));
        json_object_object_add(o, "committed_usec", json_object_new_uint64(u->committed_usec));
        s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
        r = write_file_atomic(path, s, strlen(s), 0600);
        json_object_put(o);
        return r;
}

int last_upgrade_read(const char *state_dir, LastUpgrade *ret) {
        _cleanup_free_ char *path = path_join(state_dir, LAST_UPGRADE_FILE), *text = NULL;
        _cleanup_(last_upgrade_done) LastUpgrade u = {};
        char **outs[] = {&u.from, &u.to, &u.kept_jar, &u.backup, &u.backup_sha256};
        const char *keys[] = {"from", "to", "kept_jar", "backup", "backup_sha256"};
        json_object *o, *v;
        int r;

        if (!path)
                return -ENOMEM;
        r = read_full_file(path, 64 * 1024, &text, NULL);
        if (r < 0)
                return r;
        o = json_tokener_parse(text);
        if (!o)
                return -EBADMSG;
        if (json_object_object_get_ex(o, "id", &v))
                u.id = json_object_get_uint64(v);
        if (json_object_object_get_ex(o, "backup_usec", &v))
                u.backup_usec = json_object_get_uint64(v);
        if (json_object_object_get_ex(o, "committed_usec", &v))
                u.committed_usec = json_object_get_uint64(v);
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                *outs[i] = strdup(
                        json_object_object_get_ex(o, keys[i], &v) ? strempty(json_object_get_string(v)) : "");
        json_object_put(o);
        if (!u.from || !u.to || !u.kept_jar || !u.backup || !u.backup_sha256)
                return -ENOMEM;
        if (!mb_version_is_valid(u.from) || !mb_version_is_valid(u.to))
                return -EBADMSG;
        *ret = u;
        u = (LastUpgrade){}; /* now the caller's */
        return 0;
}

static void format_when(uint64_t usec, uint64_t now, char *buf, size_t n) {
        time_t t = (time_t) (usec / USEC_PER_SEC);
        uint64_t ago = now > usec ? (now - usec) / USEC_PER_SEC : 0;
        struct tm tm;
        char stamp[64] = "";

        if (usec == 0) {
                (void) snprintf(buf, n, "at a time this record does not keep");
                return;
        }
        (void) strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S %Z", localtime_r(&t, &tm));
        if (ago >= 2 * 86400)
                (void) snprintf(buf, n, "on %s, %" PRIu64 " days ago", stamp, ago / 86400);
        else if (ago >= 2 * 3600)
                (void) snprintf(buf, n, "on %s, %" PRIu64 " hours ago", stamp, ago / 3600);
        else if (ago >= 60)
                (void) snprintf(buf, n, "on %s, %" PRIu64 " minutes ago", stamp, ago / 60);
        else
                (void) snprintf(buf, n, "on %s, seconds ago", stamp);
}

int last_upgrade_rollback_loses_data(const LastUpgrade *u, uint64_t settle_usec, uint64_t now, char **ret_why) {
        char when[128];

        if (u->committed_usec != 0 && now < u->committed_usec + settle_usec)
                return 0;
        if (isempty(u->backup))
                return 0; /* no backup: the rollback is refused for that */
        format_when(u->backup_usec, now, when, sizeof(when));
        *ret_why = strdup_printf(
                "rolling back to %s puts back the database backup taken %s, before the upgrade to %s "
                "(%s): everything written to the application database since (questions, dashboards, "
                "users, settings) will be lost; pass --yes to roll back anyway",
                u->from,
                when,
                u->to,
                u->backup);
        return *ret_why ? 1 : -ENOMEM;
}

int last_upgrade_remove(const char *state_dir) {
        _cleanup_free_ char *path = path_join(state_dir, LAST_UPGRADE_FILE);

        return path ? unlink_synced(path) : -ENOMEM;
}
