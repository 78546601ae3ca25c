/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <json-c/json.h>
#include <string.h>
#include <unistd.h>

#include "approvals.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "strv.h"
#include "version.h"

#define APPROVALS_FILE "approved.json"
#define APPROVALS_SIZE_MAX (256U * 1024U)

/* The "approved" array of the file, or a new empty one when there is none or it is damaged (then
 * logged: a damaged file approves nothing, and the next approval writes a good one). NULL on OOM. */
static json_object *approvals_read(const char *state_dir) {
        _cleanup_free_ char *path = path_join(state_dir, APPROVALS_FILE), *text = NULL;
        json_object *o = NULL, *a = NULL;
        size_t n = 0;
        int r;

        if (!path)
                return NULL;
        r = read_full_file_full(path, APPROVALS_SIZE_MAX, OPEN_REGULAR_NOFOLLOW, geteuid(), &text, &n);
        if (r == -ENOENT)
                return json_object_new_array();
        if (r >= 0) {
                json_tokener *tok = json_tokener_new();
                if (!tok)
                        return NULL;
                o = json_tokener_parse_ex(tok, text, (int) n);
                if (json_tokener_get_error(tok) != json_tokener_success)
                        o = (json_object_put(o), NULL);
                json_tokener_free(tok);
        }
        if (o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "approved", &a) &&
            json_object_is_type(a, json_type_array)) {
                a = json_object_get(a);
                json_object_put(o);
                return a;
        }
        json_object_put(o);
        log_warning(
                "%s cannot be read (%s): no release counts as approved until the next mbctl approve",
                path,
                r < 0 ? strerror(-r) : "not the JSON mbupgraded writes");
        return json_object_new_array();
}

static bool array_has(json_object *a, const char *version) {
        for (size_t i = 0; i < json_object_array_length(a); i++) {
                json_object *e = json_object_array_get_idx(a, i), *v;
                if (json_object_is_type(e, json_type_object) && json_object_object_get_ex(e, "version", &v) &&
                    streq_ptr(json_object_get_string(v), version))
                        return true;
        }
        return false;
}

bool approvals_has(const char *state_dir, const char *version) {
        json_object *a = approvals_read(state_dir);
        bool found = a && array_has(a, version);

        json_object_put(a);
        return found;
}

int approvals_add(const char *state_dir, const char *version, const Initiator *who) {
        _cleanup_free_ char *path = path_join(state_dir, APPROVALS_FILE), *text = NULL;
        json_object *a, *e, *o;

        if (!mb_version_is_valid(version))
                return -EINVAL;
        if (!path)
                return -ENOMEM;
        a = approvals_read(state_dir);
        if (!a)
                return -ENOMEM;
        if (array_has(a, version)) {
                json_object_put(a);
                return 0;
        }
        while (json_object_array_length(a) >= APPROVALS_MAX)
                json_object_array_del_idx(a, 0, 1);
        e = json_object_new_object();
        o = json_object_new_object();
        if (!e || !o) {
                json_object_put(e);
                json_object_put(o);
                json_object_put(a);
                return -ENOMEM;
        }
        json_object_object_add(e, "version", json_object_new_string(version));
        json_object_object_add(e, "uid", json_object_new_uint64(who->uid));
        json_object_object_add(e, "user", json_object_new_string(who->user));
        json_object_object_add(e, "approved_usec", json_object_new_uint64(now_realtime_usec()));
        json_object_array_add(a, e);
        json_object_object_add(o, "approved", a);
        text = strdup_printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
        json_object_put(o);
        if (!text)
                return -ENOMEM;
        return write_file_atomic(path, text, strlen(text), 0600);
}

bool approvals_waiting(const Config *c, const char *version) {
        return c->policy.approve && !approvals_has(c->state_dir, version);
}

const char *approvals_missing(const Config *c, char *const *versions) {
        for (char *const *v = versions; c->policy.approve && v && *v; v++)
                if (!approvals_has(c->state_dir, *v))
                        return *v;
        return NULL;
}
