/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "history.h"
#include "macro.h"
#include "strv.h"

#define HISTORY_FILE "history.jsonl"

static const char *json_str(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) ? strempty(json_object_get_string(v)) : "";
}

static uint64_t json_u64(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) ? json_object_get_uint64(v) : 0;
}

int history_append(const char *state_dir, const char *entry) {
        _cleanup_free_ char *path = path_join(state_dir, HISTORY_FILE), *line = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        char last = '\n';
        size_t n;

        if (!path)
                return -ENOMEM;
        fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        /* A line torn by a crash ends without a newline: this entry must not be glued to it. */
        if (st.st_size > 0 && pread(fd, &last, 1, st.st_size - 1) != 1)
                return -EIO;
        line = strdup_printf("%s%s\n", last == '\n' ? "" : "\n", entry);
        if (!line)
                return -ENOMEM;
        n = strlen(line);
        if (write(fd, line, n) != (ssize_t) n)
                return -EIO;
        if (fsync(fd) < 0)
                return negative_errno();
        if (st.st_size == 0)
                (void) fsync_parent_directory(path);
        return 0;
}

/* Calls f for each entry in the newest HISTORY_QUERY_MAX bytes, oldest first, until it returns
 * non-zero. 0 when there is no history. */
static int history_foreach(const char *state_dir, int (*f)(json_object *o, void *userdata), void *userdata) {
        _cleanup_free_ char *text = NULL;
        char *save = NULL;
        int r;

        r = history_read_tail(state_dir, HISTORY_QUERY_MAX, &text);
        if (r < 0)
                return r;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                json_object *o = json_tokener_parse(line);
                if (o && json_object_is_type(o, json_type_object))
                        r = f(o, userdata);
                json_object_put(o);
                if (r != 0)
                        return r;
        }
        return 0;
}

typedef struct SameEntry {
        uint64_t id;
        const char *kind;
} SameEntry;

static int is_same_entry(json_object *o, void *userdata) {
        const SameEntry *s = userdata;
        json_object *v;

        return json_object_object_get_ex(o, "id", &v) && json_object_get_uint64(v) == s->id &&
                streq(json_str(o, "kind"), s->kind);
}

int history_append_once(const char *state_dir, const char *entry) {
        json_object *o = json_tokener_parse(entry);
        SameEntry s;
        int r;

        if (!o)
                return -EINVAL;
        s = (SameEntry){.id = json_u64(o, "id"), .kind = json_str(o, "kind")};
        r = history_foreach(state_dir, is_same_entry, &s);
        json_object_put(o);
        if (r < 0)
                return r;
        if (r > 0)
                return 0;
        return history_append(state_dir, entry);
}

int history_read_tail(const char *state_dir, size_t max, char **ret) {
        _cleanup_free_ char *path = path_join(state_dir, HISTORY_FILE);
        int r;

        if (!path)
                return -ENOMEM;
        r = read_file_tail_lines(path, max, ret, NULL);
        if (r == -ENOENT) {
                *ret = strdup("");
                return *ret ? 0 : -ENOMEM;
        }
        return r;
}

void history_entry_done(HistoryEntry *e) {
        free(e->kind);
        free(e->result);
        free(e->from);
        free(e->to);
        *e = (HistoryEntry){};
}

typedef struct Query {
        HistoryMatch match;
        json_object *last; /* a reference to the newest entry that matched */
        uint64_t longest;
} Query;

static int remember_match(json_object *o, void *userdata) {
        Query *q = userdata;
        uint64_t start = json_u64(o, "started_usec"), end = json_u64(o, "finished_usec");

        if (!q->match(json_str(o, "kind"), json_str(o, "result")))
                return 0;
        json_object_put(q->last);
        q->last = json_object_get(o);
        if (end > start && end - start > q->longest)
                q->longest = end - start;
        return 0;
}

int history_find_last(const char *state_dir, HistoryMatch match, HistoryEntry *ret) {
        Query q = {.match = match};
        int r;

        r = history_foreach(state_dir, remember_match, &q);
        if (r < 0 || !q.last) {
                json_object_put(q.last);
                return r < 0 ? r : 0;
        }
        *ret = (HistoryEntry){
                .kind = strdup(json_str(q.last, "kind")),
                .result = strdup(json_str(q.last, "result")),
                .from = strdup(json_str(q.last, "from")),
                .to = strdup(json_str(q.last, "to")),
                .started_usec = json_u64(q.last, "started_usec"),
                .finished_usec = json_u64(q.last, "finished_usec"),
                .downtime_usec = json_u64(q.last, "downtime_ms") * USEC_PER_MSEC,
        };
        json_object_put(q.last);
        if (!ret->kind || !ret->result || !ret->from || !ret->to) {
                history_entry_done(ret);
                return -ENOMEM;
        }
        return 1;
}

static int add_downtime(json_object *o, void *userdata) {
        *(uint64_t *) userdata += json_u64(o, "downtime_ms") * USEC_PER_MSEC;
        return 0;
}

uint64_t history_downtime_total_usec(const char *state_dir) {
        uint64_t total = 0;

        (void) history_foreach(state_dir, add_downtime, &total);
        return total;
}

uint64_t history_longest_usec(const char *state_dir, HistoryMatch match) {
        Query q = {.match = match};

        (void) history_foreach(state_dir, remember_match, &q);
        json_object_put(q.last);
        return q.longest;
}
