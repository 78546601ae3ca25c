/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <json-c/json.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "staged-record.h"
#include "strv.h"

#define STAGED_RECORD_FILE "verified.json"
#define STAGED_RECORD_MAX (4U * 1024U * 1024U) /* the change set IDs: about 2000 in v0.57 */

void staged_record_done(StagedRecord *s) {
        free(s->version);
        free(s->sha256);
        free(s->newest_class);
        free(s->checksum_sha256);
        free(s->signing_key_sha256);
        strv_free(s->changesets);
        *s = (StagedRecord){};
}

/* An array of the strings, or NULL (JSON null) for none; NULL on OOM sets *oom. */
static json_object *strv_to_json(char *const *l, bool *oom) {
        json_object *a;

        if (!l)
                return NULL;
        a = json_object_new_array();
        for (size_t i = 0; a && l[i]; i++)
                if (json_object_array_add(a, json_object_new_string(l[i])) < 0) {
                        json_object_put(a);
                        a = NULL;
                }
        if (!a)
                *oom = true;
        return a;
}

/* NULL when it is not an array of strings (or on OOM). */
static char **json_to_strv(json_object *a) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n = json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;

        if (!json_object_is_type(a, json_type_array))
                return NULL;
        if (n == 0)
                return calloc(1, sizeof(char *));
        for (size_t i = 0; i < n; i++) {
                json_object *v = json_object_array_get_idx(a, i);

                if (!json_object_is_type(v, json_type_string) || strv_extend(&l, json_object_get_string(v)) < 0)
                        return NULL;
        }
        return TAKE_PTR(l);
}

static json_object *string_or_null(const char *s) {
        return s ? json_object_new_string(s) : NULL;
}

int staged_record_write(const char *dir, const StagedRecord *s) {
        _cleanup_free_ char *path = path_join(dir, STAGED_RECORD_FILE), *text = NULL;
        json_object *o = json_object_new_object();
        bool oom = false;

        if (!path || !o ||
            json_object_object_add(o, "version", json_object_new_string(strempty(s->version))) < 0 ||
            json_object_object_add(o, "sha256", json_object_new_string(strempty(s->sha256))) < 0 ||
            json_object_object_add(o, "size", json_object_new_uint64(s->size)) < 0 ||
            json_object_object_add(o, "java_needed", json_object_new_int((int) s->java_needed)) < 0 ||
            json_object_object_add(o, "class_major", json_object_new_int((int) s->class_major)) < 0 ||
            json_object_object_add(o, "main_class_major", json_object_new_int((int) s->main_class_major)) < 0 ||
            json_object_object_add(o, "classes", json_object_new_int64(s->classes)) < 0 ||
            json_object_object_add(o, "newest_class", string_or_null(s->newest_class)) < 0 ||
            json_object_object_add(o, "checksum", json_object_new_boolean(s->checksum)) < 0 ||
            json_object_object_add(o, "checksum_sha256", string_or_null(s->checksum_sha256)) < 0 ||
            json_object_object_add(o, "signature", json_object_new_boolean(s->signature)) < 0 ||
            json_object_object_add(o, "signing_key_sha256", string_or_null(s->signing_key_sha256)) < 0 ||
            json_object_object_add(o, "verified_usec", json_object_new_uint64(s->verified_usec)) < 0 ||
            json_object_object_add(o, "changesets", strv_to_json(s->changesets, &oom)) < 0 || oom) {
                json_object_put(o);
                return -ENOMEM;
        }
        text = strdup_printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
        if (!text)
                return -ENOMEM;
        return write_file_atomic(path, text, strlen(text), 0644);
}

static char *get_string(json_object *o, const char *key, bool optional) {
        json_object *v;
        const char *s = json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;

        if (!s || json_object_is_type(v, json_type_null))
                return optional ? NULL : strdup("");
        return strdup(s);
}

static json_object *get(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static unsigned get_unsigned(json_object *o, const char *key) {
        int v = json_object_get_int(get(o, key));
        return v > 0 ? (unsigned) v : 0;
}

int staged_record_read(const char *dir, StagedRecord *ret) {
        _cleanup_free_ char *path = path_join(dir, STAGED_RECORD_FILE), *text = NULL;
        StagedRecord s = {};
        json_object *o;
        int r;

        if (!path)
                return -ENOMEM;
        r = read_full_file(path, STAGED_RECORD_MAX, &text, NULL);
        if (r < 0)
                return r;
        o = json_tokener_parse(text);
        if (!o || !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return -EBADMSG;
        }
        s = (StagedRecord){
                .version = get_string(o, "version", false),
                .sha256 = get_string(o, "sha256", false),
                .size = json_object_get_uint64(get(o, "size")),
                .java_needed = get_unsigned(o, "java_needed"),
                .class_major = get_unsigned(o, "class_major"),
                .main_class_major = get_unsigned(o, "main_class_major"),
                .classes = json_object_get_int64(get(o, "classes")),
                .newest_class = get_string(o, "newest_class", true),
                .checksum = json_object_get_boolean(get(o, "checksum")),
                .checksum_sha256 = get_string(o, "checksum_sha256", true),
                .signature = json_object_get_boolean(get(o, "signature")),
                .signing_key_sha256 = get_string(o, "signing_key_sha256", true),
                .verified_usec = json_object_get_uint64(get(o, "verified_usec")),
                .changesets = json_to_strv(get(o, "changesets")),
        };
        json_object_put(o);
        if (!s.version || !s.sha256) {
                staged_record_done(&s);
                return -ENOMEM;
        }
        *ret = s;
        return 0;
}

int staged_record_remove(const char *dir) {
        _cleanup_free_ char *path = path_join(dir, STAGED_RECORD_FILE);

        return path ? unlink_synced(path) : -ENOMEM;
}
