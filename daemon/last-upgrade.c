/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <json-c/json.h>
#include <string.h>
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

int last_upgrade_remove(const char *state_dir) {
        _cleanup_free_ char *path = path_join(state_dir, LAST_UPGRADE_FILE);

        return path ? unlink_synced(path) : -ENOMEM;
}
