/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "dbserver.h"
#include "liveness.h"
#include "log.h"
#include "macro.h"
#include "strv.h"

#define MINUTE_USEC (60 * USEC_PER_SEC)
/* Files and the output are looked at this often. */
#define FILE_INTERVAL_USEC USEC_PER_SEC
/* The CPU rate is measured over at least this long. */
#define CPU_WINDOW_USEC (2 * USEC_PER_SEC)
/* The database is read about four times per stall_timeout, within these bounds. */
#define DB_INTERVAL_MIN_USEC USEC_PER_SEC
#define DB_INTERVAL_MAX_USEC (15 * USEC_PER_SEC)
#define HISTORY 64
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

static uint64_t now_monotonic_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

typedef enum SourceId {
        SOURCE_CHANGESETS,
        SOURCE_SERVER,
        SOURCE_H2,
        SOURCE_OUTPUT,
        SOURCE_CPU,
        _SOURCE_MAX,
} SourceId;

/* A counter sampled over time: for "N in the last minute". */
typedef struct History {
        uint64_t times[HISTORY], counts[HISTORY];
        size_t n, next;
} History;

typedef struct Source {
        uint64_t moved_at; /* 0: never */
        bool sampled;      /* it answered at least once */
} Source;

struct Liveness {
        sd_event *event;
        char *unit, *h2_file, *db_kind, *db_conninfo, *db_secret;
        uint64_t begin, db_interval_usec;
        Source sources[_SOURCE_MAX];

        /* change sets and the server, one mbupgraded-db run for both */
        DbRun *db_run;
        uint64_t db_next;
        bool have_changesets;
        uint64_t changesets_base, changesets;
        History changeset_history;
        uint64_t active_statements, active_longest_sec;
        char *db_error; /* the last run's failure, for the watched list */

        /* the H2 file */
        uint64_t h2_next;
        bool h2_seen;
        uint64_t h2_size;
        struct timespec h2_mtime;

        /* the output */
        UnitOutput *output;
        uint64_t output_next, output_lines;
        History line_history;

        /* CPU */
        const char *cpu_method; /* "CPUUsageNSec", "/proc" */
        uint64_t cpu_t0, cpu_nsec0;
        unsigned cpu_percent;
        bool cpu_moving; /* in the last window measured */
};

typedef struct SourceType {
        const char *watched; /* for the stall's reason */
        const char *verb;    /* "migrating" or "starting" */
        bool (*applies)(const Liveness *l);
        void (*sample)(Liveness *l, uint64_t now);
        /* what moves, for the status */
        void (*describe)(const Liveness *l, uint64_t now, char *buf, size_t n);
        /* whether it moves now; NULL: it moved in the last LIVENESS_RECENT_USEC */
        bool (*moving)(const Liveness *l, uint64_t now);
} SourceType;

uint64_t liveness_recent_count(const uint64_t *times, const uint64_t *counts, size_t n, uint64_t now) {
        uint64_t start = now > MINUTE_USEC ? now - MINUTE_USEC : 0, latest_t = 0, latest = 0, base_t = 0,
                 base = UINT64_MAX, oldest_in = UINT64_MAX, oldest_in_t = UINT64_MAX;
        bool any = false;

        for (size_t i = 0; i < n; i++) {
                if (!any || times[i] >= latest_t) {
                        latest_t = times[i];
                        latest = counts[i];
                        any = true;
                }
                if (times[i] < start) {
                        if (base == UINT64_MAX || times[i] >= base_t) {
                                base_t = times[i];
                                base = counts[i];
                        }
                } else if (times[i] < oldest_in_t) {
                        oldest_in_t = times[i];
                        oldest_in = counts[i];
                }
        }
        if (!any)
                return 0;
        /* the last sample before the minute is the base; without one, the first within it */
        if (base == UINT64_MAX)
                base = oldest_in;
        return base != UINT64_MAX && latest > base ? latest - base : 0;
}

bool liveness_cpu_moving(uint64_t cpu_delta_nsec, uint64_t wall_usec) {
        /* delta/wall > PERCENT/100, in integers: delta_ns * 100 > PERCENT * wall_us * 1000 */
        return wall_usec > 0 && cpu_delta_nsec / 1000 * 100 > (uint64_t) LIVENESS_CPU_PERCENT * wall_usec;
}

static void history_add(History *h, uint64_t now, uint64_t count) {
        h->times[h->next] = now;
        h->counts[h->next] = count;
        h->next = (h->next + 1) % HISTORY;
        if (h->n < HISTORY)
                h->n++;
}

static uint64_t history_recent(const History *h, uint64_t now) {
        return liveness_recent_count(h->times, h->counts, h->n, now);
}

static void moved(Liveness *l, SourceId id, uint64_t now) {
        l->sources[id].moved_at = now;
}

/* change sets and the server */

static bool applies_db(const Liveness *l) {
        return l->db_kind != NULL;
}

static void on_activity(int r, DbReport *report, void *userdata) {
        Liveness *l = userdata;
        uint64_t now;

        /* dbserver_run() clears l->db_run before calling us. */
        if (r < 0) {
                if (!streq_ptr(l->db_error, report->error))
                        log_info(
                                "Reading the database's activity failed (liveness goes by the other signals): %s",
                                strempty(report->error));
                (void) free_and_strdup(&l->db_error, report->error ?: "failed");
                return;
        }
        now = now_monotonic_usec();
        l->db_error = mfree_str(l->db_error);
        l->sources[SOURCE_CHANGESETS].sampled = l->sources[SOURCE_SERVER].sampled = true;
        if (!l->have_changesets) {
                l->have_changesets = true;
                l->changesets_base = l->changesets = report->changelog_count;
        } else if (report->changelog_count != l->changesets) {
                /* fewer (a rollback of Liquibase's) is a move too */
                l->changesets = report->changelog_count;
                moved(l, SOURCE_CHANGESETS, now);
        }
        history_add(&l->changeset_history, now, l->changesets);
        l->active_statements = report->active_statements;
        l->active_longest_sec = report->active_longest_sec;
        if (report->active_statements > 0)
                moved(l, SOURCE_SERVER, now);
}

static void sample_db(Liveness *l, uint64_t now) {
        int r;

        if (l->db_run || now < l->db_next)
                return;
        l->db_next = now + l->db_interval_usec;
        r = dbserver_run(
                l->event, l->db_kind, l->db_conninfo, l->db_secret, STRV_MAKE("activity"), on_activity, l, &l->db_run);
        if (r < 0)
                (void) free_and_strdup(&l->db_error, strerror(-r));
}

static void describe_changesets(const Liveness *l, uint64_t now, char *buf, size_t n) {
        uint64_t applied = l->changesets > l->changesets_base ? l->changesets - l->changesets_base : 0;

        (void) snprintf(
                buf,
                n,
                "%" PRIu64 " change set%s applied, %" PRIu64 " in the last minute",
                applied,
                applied == 1 ? "" : "s",
                history_recent(&l->changeset_history, now));
}

static bool moving_server(const Liveness *l, uint64_t now) {
        /* at the last answer, and that answer is recent */
        return l->active_statements > 0 && now - l->sources[SOURCE_SERVER].moved_at <= LIVENESS_RECENT_USEC;
}

static void describe_server(const Liveness *l, uint64_t now, char *buf, size_t n) {
        char d[32], c[32];

        if (l->active_statements == 1)
                snprintf(c, sizeof(c), "one statement");
        else
                snprintf(c, sizeof(c), "%" PRIu64 " statements", l->active_statements);
        (void) snprintf(
                buf,
                n,
                "the database server is working (%s for %s)",
                c,
                l->active_longest_sec == 0
                        ? "under a second"
                        : format_duration(l->active_longest_sec * USEC_PER_SEC, d, sizeof(d)));
}

static void sample_nothing(Liveness *l, uint64_t now) {
}

/* the H2 file */

static bool applies_h2(const Liveness *l) {
        return l->h2_file != NULL;
}

static void sample_h2(Liveness *l, uint64_t now) {
        struct stat st;

        if (now < l->h2_next)
                return;
        l->h2_next = now + FILE_INTERVAL_USEC;
        /* Never opened: the Metabase user owns it and may have swapped in a FIFO or a link. */
        if (fstatat(AT_FDCWD, l->h2_file, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                return;
        if (l->h2_seen &&
            ((uint64_t) st.st_size != l->h2_size || st.st_mtim.tv_sec != l->h2_mtime.tv_sec ||
             st.st_mtim.tv_nsec != l->h2_mtime.tv_nsec))
                moved(l, SOURCE_H2, now);
        l->h2_seen = l->sources[SOURCE_H2].sampled = true;
        l->h2_size = (uint64_t) st.st_size;
        l->h2_mtime = st.st_mtim;
}

static void describe_h2(const Liveness *l, uint64_t now, char *buf, size_t n) {
        (void) snprintf(buf, n, "the H2 file is being written (%.1f MB)", (double) l->h2_size / 1e6);
}

/* the output */

static bool applies_output(const Liveness *l) {
        return l->output && unit_output_source(l->output);
}

static void sample_output(Liveness *l, uint64_t now) {
        uint64_t lines = 0;
        int64_t k;

        if (now < l->output_next)
                return;
        l->output_next = now + FILE_INTERVAL_USEC;
        k = unit_output_poll(l->output, &lines);
        if (k < 0)
                return;
        if (l->line_history.n == 0) /* the lines of the first poll count as new */
                history_add(&l->line_history, now - 1, l->output_lines);
        l->sources[SOURCE_OUTPUT].sampled = true;
        l->output_lines += lines;
        history_add(&l->line_history, now, l->output_lines);
        if (k > 0)
                moved(l, SOURCE_OUTPUT, now);
}

static void describe_output(const Liveness *l, uint64_t now, char *buf, size_t n) {
        uint64_t k = history_recent(&l->line_history, now);

        (void) snprintf(
                buf,
                n,
                "Metabase is writing its log (%" PRIu64 " line%s in the last minute)",
                k,
                k == 1 ? "" : "s");
}

/* CPU */

static bool applies_cpu(const Liveness *l) {
        return true;
}

static bool moving_cpu(const Liveness *l, uint64_t now) {
        return l->cpu_moving && now - l->sources[SOURCE_CPU].moved_at <= LIVENESS_RECENT_USEC;
}

static void describe_cpu(const Liveness *l, uint64_t now, char *buf, size_t n) {
        (void) snprintf(buf, n, "CPU moving (%u%% of a core)", l->cpu_percent);
}

/* The signals, in the order the status prefers them. A new one is a row. */
static const SourceType source_types[_SOURCE_MAX] = {
        [SOURCE_CHANGESETS] =
                {
                        .watched = "new change sets in DATABASECHANGELOG",
                        .verb = "migrating",
                        .applies = applies_db,
                        .sample = sample_db, /* reads the server's statements too */
                        .describe = describe_changesets,
                },
        [SOURCE_SERVER] =
                {
                        .watched = "the server's active statements",
                        .verb = "migrating",
                        .applies = applies_db,
                        .sample = sample_nothing,
                        .describe = describe_server,
                        .moving = moving_server,
                },
        [SOURCE_H2] =
                {
                        .watched = "the H2 file's size and time",
                        .verb = "migrating",
                        .applies = applies_h2,
                        .sample = sample_h2,
                        .describe = describe_h2,
                },
        [SOURCE_OUTPUT] =
                {
                        .watched = "the unit's output",
                        .verb = "starting",
                        .applies = applies_output,
                        .sample = sample_output,
                        .describe = describe_output,
                },
        [SOURCE_CPU] =
                {
                        .watched = "the unit's CPU time",
                        .verb = "starting",
                        .applies = applies_cpu,
                        .sample = sample_nothing, /* liveness_feed_unit() */
                        .describe = describe_cpu,
                        .moving = moving_cpu,
                },
};

void liveness_feed_unit(Liveness *l, const UnitInfo *info, uint64_t now) {
        _cleanup_free_ char *file = unit_info_output_file(info);
        const char *method = "CPUUsageNSec";
        uint64_t cpu = info->cpu_usage_nsec;
        int r;

        if (file && l->output && !streq_ptr(unit_output_source(l->output), file)) {
                (void) unit_output_set_file(l->output, file);
                log_debug("Following %s's output in %s", strempty(l->unit), file);
        } else if (!file && l->output && !unit_output_source(l->output)) {
                /* no journal (a container, no permission): no output to follow */
                r = unit_output_follow_journal(l->output, info->control_group);
                if (r < 0)
                        log_debug(
                                "Cannot follow %s's output in the journal: %s",
                                strempty(l->unit),
                                strerror(-r));
        }
        if (cpu == UINT64_MAX) {
                /* cgroup v1 without CPU accounting: the processes' own figures */
                method = "/proc";
                if (unit_cpu_nsec_from_proc(info->control_group, info->main_pid, &cpu) < 0)
                        return;
        }
        l->sources[SOURCE_CPU].sampled = true;
        if (!streq_ptr(l->cpu_method, method) || cpu < l->cpu_nsec0 || l->cpu_t0 == 0) {
                l->cpu_method = method;
                l->cpu_t0 = now;
                l->cpu_nsec0 = cpu;
                return;
        }
        if (now - l->cpu_t0 < CPU_WINDOW_USEC)
                return;
        l->cpu_percent = (unsigned) ((cpu - l->cpu_nsec0) / 10 / (now - l->cpu_t0));
        l->cpu_moving = liveness_cpu_moving(cpu - l->cpu_nsec0, now - l->cpu_t0);
        if (l->cpu_moving)
                moved(l, SOURCE_CPU, now);
        l->cpu_t0 = now;
        l->cpu_nsec0 = cpu;
}

void liveness_read_output(Liveness *l) {
        if (applies_output(l))
                (void) unit_output_poll(l->output, NULL);
}

void liveness_poll(Liveness *l, uint64_t now) {
        for (SourceId i = 0; i < _SOURCE_MAX; i++)
                if (source_types[i].applies(l))
                        source_types[i].sample(l, now);
}

uint64_t liveness_last_moved(const Liveness *l) {
        uint64_t t = 0;

        for (SourceId i = 0; i < _SOURCE_MAX; i++)
                t = MAX(t, l->sources[i].moved_at);
        return t;
}

static bool source_moving(const Liveness *l, SourceId i, uint64_t now) {
        return source_types[i].applies(l) && l->sources[i].moved_at > 0 &&
                (source_types[i].moving ? source_types[i].moving(l, now)
                                        : now - l->sources[i].moved_at <= LIVENESS_RECENT_USEC);
}

unsigned liveness_moving_mask(const Liveness *l, uint64_t now) {
        unsigned mask = 0;

        for (SourceId i = 0; i < _SOURCE_MAX; i++)
                if (source_moving(l, i, now))
                        mask |= 1U << i;
        return mask;
}

char *liveness_describe(const Liveness *l, uint64_t now) {
        uint64_t last = liveness_last_moved(l);
        const char *verb = NULL;
        char text[512] = "", buf[160], d[32];
        size_t n = 0;

        /* every signal that moved lately, in the table's order: "migrating: A; B" */
        for (SourceId i = 0; i < _SOURCE_MAX; i++)
                if (source_moving(l, i, now)) {
                        source_types[i].describe(l, now, buf, sizeof(buf));
                        verb = verb ?: source_types[i].verb;
                        n += (size_t) snprintf(
                                text + n, sizeof(text) - MIN(n, sizeof(text)), "%s%s", n > 0 ? "; " : "", buf);
                        n = MIN(n, sizeof(text) - 1);
                }
        if (verb)
                return strdup_printf("%s: %s", verb, text);
        if (last == 0 || now - last < USEC_PER_SEC)
                return strdup(last == 0 ? "nothing moved yet" : "nothing moved for a moment");
        /* whole seconds: "1m40s" */
        return strdup_printf(
                "nothing moved for %s",
                format_duration((now - last) / USEC_PER_SEC * USEC_PER_SEC, d, sizeof(d)));
}

char *liveness_watched(const Liveness *l) {
        _cleanup_free_ char *s = NULL;

        for (SourceId i = 0; i < _SOURCE_MAX; i++) {
                _cleanup_free_ char *item = NULL;
                char *n;

                if (!source_types[i].applies(l))
                        continue;
                if (i == SOURCE_OUTPUT)
                        item = strdup_printf("%s (%s)", source_types[i].watched, unit_output_source(l->output));
                else if (i == SOURCE_CPU)
                        item = strdup_printf(
                                "%s (%s)",
                                source_types[i].watched,
                                l->sources[i].sampled ? l->cpu_method : "could not be read");
                else if ((i == SOURCE_CHANGESETS || i == SOURCE_SERVER) && !l->sources[i].sampled)
                        item = strdup_printf(
                                "%s (not read: %s)", source_types[i].watched, l->db_error ?: "no answer yet");
                else
                        item = strdup(source_types[i].watched);
                if (!item)
                        return NULL;
                n = s ? strdup_printf("%s, %s", s, item) : strdup(item);
                if (!n)
                        return NULL;
                free(s);
                s = n;
        }
        return s ? TAKE_PTR(s) : strdup("nothing");
}

Liveness *liveness_free(Liveness *l) {
        if (!l)
                return NULL;
        l->db_run = dbserver_cancel(l->db_run);
        unit_output_free(l->output);
        free(l->unit);
        free(l->h2_file);
        free(l->db_kind);
        free(l->db_conninfo);
        free(l->db_secret);
        free(l->db_error);
        free(l);
        return NULL;
}

static int strdup_opt(char **dst, const char *src) {
        if (!src)
                return 0;
        *dst = strdup(src);
        return *dst ? 0 : -ENOMEM;
}

int liveness_new(sd_event *e, const LivenessParams *p, Liveness **ret) {
        Liveness *l;
        int r;

        l = calloc(1, sizeof(Liveness));
        if (!l)
                return -ENOMEM;
        l->event = e;
        l->begin = now_monotonic_usec();
        l->db_interval_usec = p->stall_timeout_usec / 4;
        l->db_interval_usec = MAX(DB_INTERVAL_MIN_USEC, MIN(DB_INTERVAL_MAX_USEC, l->db_interval_usec));
        if (strdup_opt(&l->unit, p->unit) < 0 || strdup_opt(&l->h2_file, p->h2_file) < 0 ||
            (p->db_kind && p->db_conninfo && p->db_secret &&
             (strdup_opt(&l->db_kind, p->db_kind) < 0 || strdup_opt(&l->db_conninfo, p->db_conninfo) < 0 ||
              strdup_opt(&l->db_secret, p->db_secret) < 0))) {
                liveness_free(l);
                return -ENOMEM;
        }
        r = unit_output_new(p->unit, p->on_line, p->userdata, &l->output);
        if (r < 0) {
                liveness_free(l);
                return r;
        }
        *ret = l;
        return 0;
}
