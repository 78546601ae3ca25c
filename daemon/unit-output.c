/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "macro.h"
#include "strv.h"
#include "unit-output.h"

/* Bounds of one poll. */
#define READ_MAX (64 * 1024)
#define ENTRIES_MAX 512
/* A backlog bigger than this is skipped (counted, not read). */
#define BACKLOG_MAX (1024 * 1024)
#define LINE_MAX_LEN 4096
#define MIN(a, b) ((a) < (b) ? (a) : (b))

struct UnitOutput {
        char *unit;
        UnitOutputLineCallback cb;
        void *userdata;

        sd_journal *journal;

        char *file;
        bool file_seen; /* offset holds a size read from the file */
        dev_t dev;
        ino_t ino;
        uint64_t offset;
        char line[LINE_MAX_LEN + 1];
        size_t line_len;
};

UnitOutput *unit_output_free(UnitOutput *o) {
        if (!o)
                return NULL;
        if (o->journal)
                sd_journal_close(o->journal);
        free(o->unit);
        free(o->file);
        free(o);
        return NULL;
}

int unit_output_follow_journal(UnitOutput *o, const char *control_group) {
        _cleanup_free_ char *m1 = strdup_printf("_SYSTEMD_UNIT=%s", o->unit),
                            *m2 = strdup_printf("_SYSTEMD_USER_UNIT=%s", o->unit),
                            *m3 = isempty(control_group) ? NULL
                                                         : strdup_printf("_SYSTEMD_CGROUP=%s", control_group);
        sd_journal *j = NULL;
        int r;

        if (o->journal)
                return 0;
        if (!m1 || !m2 || (!isempty(control_group) && !m3))
                return -ENOMEM;
        r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY);
        if (r < 0)
                return r;
        /* A system manager's unit, or a user manager's: whichever the unit is; or its cgroup. */
        if ((r = sd_journal_add_match(j, m1, 0)) < 0 || (r = sd_journal_add_disjunction(j)) < 0 ||
            (r = sd_journal_add_match(j, m2, 0)) < 0 ||
            (m3 && ((r = sd_journal_add_disjunction(j)) < 0 || (r = sd_journal_add_match(j, m3, 0)) < 0)) ||
            (r = sd_journal_seek_tail(j)) < 0) {
                sd_journal_close(j);
                return r;
        }
        /* The cursor: the last entry there is now; next() moves past it to new ones. */
        (void) sd_journal_previous(j);
        o->journal = j;
        return 0;
}

int unit_output_new(const char *unit, UnitOutputLineCallback cb, void *userdata, UnitOutput **ret) {
        UnitOutput *o;

        o = calloc(1, sizeof(UnitOutput));
        if (!o)
                return -ENOMEM;
        o->unit = strdup(unit);
        if (!o->unit) {
                free(o);
                return -ENOMEM;
        }
        o->cb = cb;
        o->userdata = userdata;
        *ret = o;
        return 0;
}

int unit_output_set_file(UnitOutput *o, const char *path) {
        if (streq_ptr(o->file, path))
                return 0;
        if (free_and_strdup(&o->file, path) < 0)
                return -ENOMEM;
        o->file_seen = false;
        o->line_len = 0;
        return 0;
}

const char *unit_output_source(const UnitOutput *o) {
        return o->file ? o->file : o->journal ? "the journal" : NULL;
}

static void emit_line(UnitOutput *o, const char *s, size_t n, uint64_t *lines) {
        char buf[LINE_MAX_LEN + 1];

        n = MIN(n, (size_t) LINE_MAX_LEN);
        memcpy(buf, s, n);
        buf[n] = 0;
        (*lines)++;
        if (o->cb)
                o->cb(buf, o->userdata);
}

/* Splits data into lines, keeping a partial last line for the next poll. */
static void feed(UnitOutput *o, const char *data, size_t n, uint64_t *lines) {
        for (size_t i = 0; i < n; i++) {
                if (data[i] == '\n') {
                        emit_line(o, o->line, o->line_len, lines);
                        o->line_len = 0;
                } else if (o->line_len < LINE_MAX_LEN)
                        o->line[o->line_len++] = data[i];
        }
}

static int64_t poll_file(UnitOutput *o, uint64_t *lines) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st, fst;
        uint64_t grown;
        char *buf;
        ssize_t k;

        /* Never follows a link, never opens anything but a regular file: the unit's user may own the
         * directory and have put a FIFO there. */
        if (fstatat(AT_FDCWD, o->file, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if (!o->file_seen || st.st_dev != o->dev || st.st_ino != o->ino) {
                bool first = !o->file_seen;
                o->file_seen = true;
                o->dev = st.st_dev;
                o->ino = st.st_ino;
                o->line_len = 0;
                /* A file replaced (rotated) counts as written: read it from its start. */
                o->offset = first ? (uint64_t) st.st_size : 0;
                if (first)
                        return 0;
        }
        if ((uint64_t) st.st_size < o->offset) { /* truncated */
                o->offset = 0;
                o->line_len = 0;
        }
        grown = (uint64_t) st.st_size - o->offset;
        if (grown == 0)
                return 0;
        if (grown > BACKLOG_MAX) {
                o->offset = (uint64_t) st.st_size - READ_MAX;
                o->line_len = 0;
        }
        fd = open(o->file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return (int64_t) grown; /* it grew: that is what counts */
        if (fstat(fd, &fst) < 0 || !S_ISREG(fst.st_mode) || fst.st_ino != o->ino || fst.st_dev != o->dev)
                return (int64_t) grown;
        buf = malloc(READ_MAX);
        if (!buf)
                return (int64_t) grown;
        k = pread(fd, buf, MIN((uint64_t) READ_MAX, (uint64_t) st.st_size - o->offset), (off_t) o->offset);
        if (k > 0) {
                feed(o, buf, (size_t) k, lines);
                o->offset += (uint64_t) k;
        }
        free(buf);
        return (int64_t) grown;
}

static int64_t poll_journal(UnitOutput *o, uint64_t *lines) {
        int64_t n = 0;
        int r;

        while (n < ENTRIES_MAX && (r = sd_journal_next(o->journal)) > 0) {
                const void *d;
                size_t l;

                n++;
                if (sd_journal_get_data(o->journal, "MESSAGE", &d, &l) >= 0 && l > strlen("MESSAGE="))
                        emit_line(o, (const char *) d + strlen("MESSAGE="), l - strlen("MESSAGE="), lines);
        }
        return n;
}

int64_t unit_output_poll(UnitOutput *o, uint64_t *ret_lines) {
        uint64_t lines = 0;
        int64_t n;

        if (o->file)
                n = poll_file(o, &lines);
        else if (o->journal)
                n = poll_journal(o, &lines);
        else
                n = -ENOENT;
        if (ret_lines)
                *ret_lines = lines;
        return n;
}
