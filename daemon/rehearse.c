/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "appdb.h"
#include "dbserver.h"
#include "fileio.h"
#include "history.h"
#include "log.h"
#include "macro.h"
#include "mblog.h"
#include "metrics.h"
#include "notify.h"
#include "rehearsal.h"
#include "rehearse.h"
#include "secrets.h"
#include "strv.h"
#include "verify.h"
#include "worker.h"
#include "zero-downtime.h"

#define RESULTS_MAX_VERSIONS 16
#define EXCERPT_MAX 1024U
#define LOG_READ_MAX (256U * 1024U)
#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif
#ifndef MAX
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#endif

static int safe_close(int fd) {
        if (fd >= 0)
                (void) close(fd);
        return -EBADF;
}
/* What is kept of the unit's output (its pipe) for state_dir/rehearsal-last.log */
#define LOG_KEEP_MAX (1024U * 1024U)
/* One read of the pipe; reads of one drain, at most */
#define LOG_CHUNK (64U * 1024U)
#define LOG_READS_MAX 64
/* After a failure, the pipe is read again until nothing new came for this long (what the unit's
 * other processes still write), at most LOG_SETTLE_MAX times. */
#define LOG_SETTLE_USEC (300U * USEC_PER_MSEC)
#define LOG_SETTLE_MAX 10
/* The copy of the H2 file: the only place the Metabase user writes; root's files stay above it. */
#define REHEARSAL_DATA_DIR "rehearsal/data"

typedef enum Phase {
        PHASE_IDLE,
        PHASE_PREPARE, /* reading the unit, sizing the database */
        PHASE_COPY,
        PHASE_START,
        PHASE_MIGRATE,
        PHASE_READ_LOG, /* it failed: reading the last of its output */
        PHASE_JUDGE,    /* it failed: asking systemd whether the kernel killed it for memory */
        PHASE_CLEANUP,
} Phase;

static const char *const result_table[_REHEARSAL_RESULT_MAX] = {
        [REHEARSAL_PASSED] = "passed",
        [REHEARSAL_FAILED] = "failed",
        [REHEARSAL_WARNING] = "warning",
        [REHEARSAL_CANCELED] = "canceled",
        [REHEARSAL_SKIPPED] = "skipped",
};

const char *rehearsal_result_to_string(RehearsalResult r) {
        return r >= 0 && r < _REHEARSAL_RESULT_MAX ? result_table[r] : NULL;
}

struct Rehearsal {
        Manager *m;
        Phase phase;
        uint64_t id;
        uint64_t flags;
        char *version, *jar, *sha256;

        AppDb *appdb;       /* production's */
        char *db_kind;      /* "h2", "postgres", "mysql" */
        char *db_desc;      /* for people */
        char *conninfo;     /* servers: what mbupgraded-db connects to */
        char *scratch_name; /* servers: <db>_mbup_rehearsal */
        char *h2_copy;      /* H2: the copy's file */
        bool best_effort;   /* H2: copied while Metabase had it open */
        bool copied;        /* the scratch copy exists (maybe) */
        bool unit_started;  /* the transient unit may exist */
        uid_t db_uid;
        gid_t db_gid;
        char **argv;
        char *working_directory, *user, *group;
        char **unit_env;
        unsigned port;
        DbRun *db_run;
        Verifier *verifier;

        uint64_t started_usec;    /* CLOCK_REALTIME, the rehearsal's */
        uint64_t unit_start_usec; /* when the JAR was started */
        uint64_t healthy_usec;    /* its first healthy answer */
        double progress;
        RehearsalResult result;
        char *reason;
        char *excerpt;
        char *failure;      /* PHASE_JUDGE: what the verifier said */
        bool failure_start; /* PHASE_READ_LOG: systemd could not start the unit (else: the verifier) */

        int output_fd; /* the read end of the unit's stdout and stderr, or -1 */
        sd_event_source *output_source;
        bool output_used; /* the unit wrote to the pipe: rehearsal-last.log is kept */
        char *log;        /* its last LOG_KEEP_MAX bytes of lines */
        size_t log_len;
        sd_event_source *log_settle; /* PHASE_READ_LOG */
        unsigned log_settle_n;
        char *text; /* the Rehearsal property */

        json_object *results; /* state_dir/rehearsals.json, by version */

        /* servers: DATABASECHANGELOG before the copy (production's, read whole) and what the
         * passed run added to the copy (zero-downtime.h's second way) */
        char **changelog_before;
        char **changelog_new;
        bool changelog_compared;
};

static char *rehearsal_path(Manager *m, const char *name) {
        _cleanup_free_ char *dir = manager_state_path(m, "rehearsal");
        return dir ? path_join(dir, name) : NULL;
}

/* state_dir/rehearsal: root's, 0755, whatever an earlier version left (it gave it to the Metabase
 * user): root writes the unit's environment file, the marker and the database secret there, so
 * no one else may add, remove or rename a name in it. Its descriptor, or -errno. */
static int rehearsal_dir_open(Manager *m) {
        _cleanup_free_ char *dir = manager_state_path(m, "rehearsal");
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        int k;

        if (!dir)
                return -ENOMEM;
        k = mkdir_parents_and_self(dir, 0755);
        if (k < 0)
                return k;
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if ((st.st_uid != 0 || st.st_gid != 0) && fchown(fd, 0, 0) < 0)
                return negative_errno();
        if ((st.st_mode & 07777) != 0755 && fchmod(fd, 0755) < 0)
                return negative_errno();
        return TAKE_FD(fd);
}

/* state_dir/rehearsal/data: the H2 copy's directory, the only one the Metabase user writes (H2
 * puts its .trace.db and temporary files beside the database). Root opens nothing in it by path. */
static int rehearsal_data_dir_make(Manager *m, uid_t uid, gid_t gid) {
        _cleanup_close_ int dfd = -EBADF, fd = -EBADF;

        dfd = rehearsal_dir_open(m);
        if (dfd < 0)
                return dfd;
        if (mkdirat(dfd, "data", 0700) < 0 && errno != EEXIST)
                return negative_errno();
        fd = openat(dfd, "data", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if (fchown(fd, uid, gid) < 0 || fchmod(fd, 0700) < 0)
                return negative_errno();
        return 0;
}

static void set_text(Rehearsal *r, const char *fmt, ...) _printf_(2, 3);
static void set_text(Rehearsal *r, const char *fmt, ...) {
        char *s = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        if (!s)
                return;
        if (streq_ptr(s, r->text)) {
                free(s);
                return;
        }
        free(r->text);
        r->text = s;
        manager_properties_changed(r->m, "Rehearsal", "State", NULL);
}

static void run_clear(Rehearsal *r) {
        r->version = mfree_str(r->version);
        r->jar = mfree_str(r->jar);
        r->sha256 = mfree_str(r->sha256);
        r->appdb = appdb_free(r->appdb);
        r->db_kind = mfree_str(r->db_kind);
        r->db_desc = mfree_str(r->db_desc);
        r->conninfo = mfree_str(r->conninfo);
        r->scratch_name = mfree_str(r->scratch_name);
        r->h2_copy = mfree_str(r->h2_copy);
        r->argv = strv_free(r->argv);
        r->working_directory = mfree_str(r->working_directory);
        r->user = mfree_str(r->user);
        r->group = mfree_str(r->group);
        r->unit_env = strv_free(r->unit_env);
        r->reason = mfree_str(r->reason);
        r->excerpt = mfree_str(r->excerpt);
        r->failure = mfree_str(r->failure);
        r->changelog_before = strv_free(r->changelog_before);
        r->changelog_new = strv_free(r->changelog_new);
        r->changelog_compared = false;
        r->output_source = sd_event_source_disable_unref(r->output_source);
        r->output_fd = safe_close(r->output_fd);
        r->output_used = false;
        r->log = mfree_str(r->log);
        r->log_len = 0;
        r->log_settle = sd_event_source_disable_unref(r->log_settle);
        r->log_settle_n = 0;
        r->failure_start = false;
        r->best_effort = r->copied = r->unit_started = false;
        r->flags = 0;
        r->progress = 0;
        r->started_usec = r->unit_start_usec = r->healthy_usec = 0;
}

Rehearsal *rehearse_free(Rehearsal *r) {
        if (!r)
                return NULL;
        r->verifier = verifier_free(r->verifier);
        r->db_run = dbserver_cancel(r->db_run);
        run_clear(r);
        json_object_put(r->results);
        free(r->text);
        free(r);
        return NULL;
}

/* Results */

static json_object *result_of(Rehearsal *r, const char *version) {
        json_object *o;

        if (!r || !r->results || !version || !json_object_object_get_ex(r->results, version, &o))
                return NULL;
        return o;
}

static const char *json_str(json_object *o, const char *key) {
        json_object *v;
        return o && json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

static uint64_t json_u64(json_object *o, const char *key) {
        json_object *v;
        return o && json_object_object_get_ex(o, key, &v) ? json_object_get_uint64(v) : 0;
}

static void results_load(Rehearsal *r) {
        _cleanup_free_ char *path = manager_state_path(r->m, "rehearsals.json"), *text = NULL;

        if (path && read_full_file(path, 1024 * 1024, &text, NULL) >= 0) {
                r->results = json_tokener_parse(text);
                if (r->results && !json_object_is_type(r->results, json_type_object)) {
                        log_warning("Ignoring %s: not a JSON object", path);
                        r->results = (json_object_put(r->results), NULL);
                }
        }
        if (!r->results)
                r->results = json_object_new_object();
}

/* The newest (last finished) result, for the property and the metrics. */
static json_object *results_newest(Rehearsal *r, const char **ret_version) {
        json_object *best = NULL;
        uint64_t t = 0;

        if (!r->results)
                return NULL;
        json_object_object_foreach(r->results, k, v) {
                if (json_u64(v, "finished_usec") >= t) {
                        t = json_u64(v, "finished_usec");
                        best = v;
                        if (ret_version)
                                *ret_version = k;
                }
        }
        return best;
}

static int results_save(Rehearsal *r) {
        _cleanup_free_ char *path = manager_state_path(r->m, "rehearsals.json");
        const char *s;

        /* The oldest go first: a verdict is about a release, and old releases are long gone. */
        while (json_object_object_length(r->results) > RESULTS_MAX_VERSIONS) {
                const char *oldest = NULL;
                uint64_t t = UINT64_MAX;
                json_object_object_foreach(r->results, k, v)
                        if (json_u64(v, "finished_usec") < t) {
                                t = json_u64(v, "finished_usec");
                                oldest = k;
                        }
                if (!oldest)
                        break;
                json_object_object_del(r->results, oldest);
        }
        if (!path)
                return -ENOMEM;
        s = json_object_to_json_string_ext(
                r->results, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
        return write_file_atomic(path, s, strlen(s), 0644);
}

static uint64_t migration_usec(const Rehearsal *r) {
        return r->healthy_usec > r->unit_start_usec && r->unit_start_usec
                ? r->healthy_usec - r->unit_start_usec
                : 0;
}

static void describe_result(Rehearsal *r, json_object *o, const char *version) {
        const char *result = json_str(o, "result"), *reason = json_str(o, "reason");
        uint64_t d = json_u64(o, "duration_usec");
        char when[32] = "";
        time_t t = (time_t) (json_u64(o, "finished_usec") / USEC_PER_SEC);
        struct tm tm;

        if (localtime_r(&t, &tm))
                (void) strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
        if (streq_ptr(result, "passed"))
                set_text(
                        r,
                        "%s passed %s: migrated a copy of the database and answered healthy in %.1fs",
                        version,
                        when,
                        (double) d / USEC_PER_SEC);
        else
                set_text(r, "%s %s %s: %s", version, strempty(result), when, strempty(reason));
}

static void show_newest(Rehearsal *r) {
        const char *version = NULL;
        json_object *o = results_newest(r, &version);

        if (o)
                describe_result(r, o, version);
        else
                set_text(r, "%s", "");
}

/* The end, as this module keeps it: the history and the results. */
static void record(Rehearsal *r, uint64_t now) {
        Manager *m = r->m;
        uint64_t d = migration_usec(r);
        const char *result = rehearsal_result_to_string(r->result);
        json_object *h = json_object_new_object();

        if (!h)
                return;
        json_object_object_add(h, "id", json_object_new_uint64(r->id));
        json_object_object_add(h, "kind", json_object_new_string("rehearsal"));
        json_object_object_add(h, "result", json_object_new_string(result));
        json_object_object_add(h, "from", json_object_new_string(strempty(m->installed_version)));
        json_object_object_add(h, "to", json_object_new_string(r->version));
        json_object_object_add(h, "database", json_object_new_string(strempty(r->db_desc)));
        json_object_object_add(h, "started_usec", json_object_new_uint64(r->started_usec));
        json_object_object_add(h, "finished_usec", json_object_new_uint64(now));
        if (d > 0)
                json_object_object_add(h, "rehearsal_ms", json_object_new_uint64(d / USEC_PER_MSEC));
        json_object_object_add(h, "best_effort", json_object_new_boolean(r->best_effort));
        json_object_object_add(h, "reason", json_object_new_string(strempty(r->reason)));
        if (!isempty(r->excerpt))
                json_object_object_add(h, "log", json_object_new_string(r->excerpt));

        /* the history: one line, appended and synced, as the engine writes its own */
        if (history_append(
                    m->config->state_dir,
                    json_object_to_json_string_ext(
                            h, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)) < 0)
                log_warning(
                        "Failed to append the rehearsal to the history in %s, continuing",
                        m->config->state_dir);

        /* A verdict, for the unattended upgrade: not for one canceled or skipped. */
        if (r->result == REHEARSAL_PASSED || r->result == REHEARSAL_FAILED || r->result == REHEARSAL_WARNING) {
                json_object *o = json_object_new_object();
                if (o) {
                        json_object_object_add(o, "result", json_object_new_string(result));
                        json_object_object_add(o, "duration_usec", json_object_new_uint64(d));
                        json_object_object_add(o, "finished_usec", json_object_new_uint64(now));
                        json_object_object_add(o, "sha256", json_object_new_string(strempty(r->sha256)));
                        json_object_object_add(o, "database", json_object_new_string(strempty(r->db_desc)));
                        json_object_object_add(o, "best_effort", json_object_new_boolean(r->best_effort));
                        json_object_object_add(o, "reason", json_object_new_string(strempty(r->reason)));
                        json_object_object_add(o, "log", json_object_new_string(strempty(r->excerpt)));
                        if (r->changelog_compared) {
                                json_object *a = json_object_new_array();
                                for (size_t i = 0; a && r->changelog_new && r->changelog_new[i]; i++)
                                        json_object_array_add(a, json_object_new_string(r->changelog_new[i]));
                                json_object_object_add(o, "changelog_new", a);
                        }
                        json_object_object_add(r->results, r->version, o);
                        if (results_save(r) < 0)
                                log_warning(
                                        "Failed to write %s/rehearsals.json, continuing",
                                        m->config->state_dir);
                }
                describe_result(r, o, r->version);
        } else {
                /* the last verdict stays what status shows */
                show_newest(r);
        }

        json_object_put(h);
}

/* Cleanup: the unit stopped and forgotten, the copy dropped, the files removed, then the end. */

/* The unit's output: a pipe passed to systemd (StandardOutputFileDescriptor=), never a file. A
 * file in a directory the Metabase user can write would be opened by systemd as root, following
 * symlinks, O_CREAT|O_TRUNC; and nothing but the unit's own output can reach the reason. */
static void output_append(Rehearsal *r, const char *p, size_t n) {
        if (n > LOG_KEEP_MAX) {
                p += n - LOG_KEEP_MAX;
                n = LOG_KEEP_MAX;
        }
        if (!r->log && !(r->log = malloc(LOG_KEEP_MAX + 1)))
                return;
        if (r->log_len + n > LOG_KEEP_MAX) {
                /* the oldest half (at least what is needed) goes, cut after a line */
                size_t need = r->log_len + n - LOG_KEEP_MAX, from = MAX(need, r->log_len / 2);
                char *nl = from < r->log_len ? memchr(r->log + from, '\n', r->log_len - from) : NULL;
                size_t drop = nl ? (size_t) (nl - r->log) + 1 : r->log_len;
                memmove(r->log, r->log + drop, r->log_len - drop);
                r->log_len -= drop;
        }
        memcpy(r->log + r->log_len, p, n);
        r->log_len += n;
        r->log[r->log_len] = '\0';
        r->output_used = true;
}

/* Reads what the pipe has now, boundedly, never waiting; the bytes read. */
static size_t output_drain(Rehearsal *r) {
        _cleanup_free_ char *buf = NULL;
        size_t total = 0;

        if (r->output_fd < 0 || !(buf = malloc(LOG_CHUNK)))
                return 0;
        for (int i = 0; i < LOG_READS_MAX; i++) {
                ssize_t k = read(r->output_fd, buf, LOG_CHUNK);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && errno == EAGAIN)
                        break;
                if (k <= 0) { /* the end: every writer is gone */
                        r->output_source = sd_event_source_disable_unref(r->output_source);
                        r->output_fd = safe_close(r->output_fd);
                        break;
                }
                output_append(r, buf, (size_t) k);
                total += (size_t) k;
        }
        return total;
}

static int on_output(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        (void) output_drain(userdata);
        return 0;
}

/* A pipe for the unit's stdout and stderr: its write end for systemd (blocking, as a service's
 * stdout is), its read end the daemon's, non-blocking, read on the loop. */
static int output_open(Rehearsal *r, int *ret_write_fd) {
        int p[2], k;

        r->output_source = sd_event_source_disable_unref(r->output_source);
        r->output_fd = safe_close(r->output_fd);
        if (pipe2(p, O_CLOEXEC) < 0)
                return negative_errno();
        if (fcntl(p[0], F_SETFL, O_NONBLOCK) < 0) {
                k = negative_errno();
                (void) close(p[0]);
                (void) close(p[1]);
                return k;
        }
        r->output_fd = p[0];
        k = sd_event_add_io(r->m->event, &r->output_source, p[0], EPOLLIN, on_output, r);
        if (k < 0) {
                r->output_fd = safe_close(r->output_fd);
                (void) close(p[1]);
                return k;
        }
        *ret_write_fd = p[1];
        return 0;
}

/* state_dir/rehearsal/data: the copy's directory, the Metabase user's. Everything in it goes
 * (H2's .mv.db, .trace.db, temporary files), each unlinked by name under a descriptor of the
 * directory: nothing there is followed. */
static void remove_data_dir(Manager *m) {
        _cleanup_free_ char *data = manager_state_path(m, REHEARSAL_DATA_DIR);
        _cleanup_close_ int fd = -EBADF;
        DIR *d;
        struct dirent *e;

        if (!data)
                return;
        fd = open(data, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return;
        d = fdopendir(fd);
        if (!d)
                return;
        fd = -EBADF; /* the DIR's now */
        for (unsigned n = 0; n < 10000 && (e = readdir(d)); n++)
                if (!streq(e->d_name, ".") && !streq(e->d_name, ".."))
                        (void) unlinkat(dirfd(d), e->d_name, 0);
        closedir(d);
        (void) rmdir(data);
}

static void cleanup_files(Rehearsal *r) {
        /* and what earlier versions left there: their log, their H2 copy */
        static const char *const names[] = {
                "rehearsal.env",
                "appdb.secret",
                "rehearsal.json",
                "rehearsal.log",
                "metabase.db.mv.db",
                "metabase.db.trace.db"};
        _cleanup_free_ char *keep = manager_state_path(r->m, "rehearsal-last.log");

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_free_ char *p = rehearsal_path(r->m, names[i]);
                if (p)
                        (void) unlink(p);
        }
        /* The log of the last rehearsal stays, for a person to read: what the pipe had of it,
         * written by root in root's state_dir. */
        (void) output_drain(r);
        if (keep && r->output_used) {
                int k = write_file_atomic(keep, r->log ?: "", r->log_len, 0600);
                if (k < 0)
                        log_warning_errno(k, "Failed to write %s, continuing: %m", keep);
        }
        if (r->h2_copy)
                remove_data_dir(r->m);
        _cleanup_free_ char *dir = manager_state_path(r->m, "rehearsal");
        if (dir)
                (void) rmdir(dir);
}

static void finish(Rehearsal *r) {
        Manager *m = r->m;
        uint64_t now = now_realtime_usec();
        /* What the others are told, copied: the run's own fields go with run_clear() */
        _cleanup_free_ char *version = strdup(strempty(r->version)),
                            *from = strdup(strempty(m->installed_version)),
                            *database = strdup(strempty(r->db_desc)), *reason = strdup(strempty(r->reason));
        RehearsalEnd end = {
                .id = r->id,
                .version = version,
                .from_version = from,
                .result = rehearsal_result_to_string(r->result),
                .result_code = r->result,
                .verdict = r->result == REHEARSAL_PASSED || r->result == REHEARSAL_FAILED ||
                        r->result == REHEARSAL_WARNING,
                .database = database,
                .reason = reason,
                .started_usec = r->started_usec,
                .finished_usec = now,
                .migration_usec = migration_usec(r),
        };
        bool tell = r->version != NULL;

        cleanup_files(r);
        if (r->result == REHEARSAL_PASSED)
                log_info(
                        "Rehearsal of %s passed: %.1fs from start to healthy on a copy of %s",
                        r->version,
                        (double) migration_usec(r) / USEC_PER_SEC,
                        strempty(r->db_desc));
        else if (r->result != REHEARSAL_SKIPPED)
                log_warning(
                        "Rehearsal of %s %s: %s",
                        strempty(r->version),
                        rehearsal_result_to_string(r->result),
                        strempty(r->reason));
        if (tell)
                record(r, now);
        r->phase = PHASE_IDLE;
        run_clear(r);
        manager_properties_changed(m, "State", NULL);
        /* The notifications, the metrics, the signal, and last what waited for it (plan.c) */
        if (tell && version && from && database && reason)
                events_emit(m, &(Event){.kind = EVENT_REHEARSAL_FINISHED, .rehearsal = &end});
}

static void on_scratch_dropped(int k, DbReport *report, void *userdata) {
        Rehearsal *r = userdata;

        if (k < 0)
                log_warning(
                        "Failed to drop the scratch copy %s: %s; drop it by hand (DROP DATABASE %s)",
                        strempty(r->scratch_name),
                        report->error,
                        strempty(r->scratch_name));
        finish(r);
}

static void drop_copy(Rehearsal *r) {
        _cleanup_free_ char *secret = rehearsal_path(r->m, "appdb.secret");
        int k;

        if (!r->copied || !r->conninfo) {
                finish(r);
                return;
        }
        set_text(r, "%s: dropping the scratch copy %s", r->version, strempty(r->scratch_name));
        k = dbserver_run(
                r->m->event,
                r->db_kind,
                r->conninfo,
                secret,
                STRV_MAKE("drop-scratch"),
                on_scratch_dropped,
                r,
                &r->db_run);
        if (k < 0) {
                log_warning_errno(k, "Failed to run mbupgraded-db drop-scratch: %m");
                finish(r);
        }
}

/* A passed run: what it added to the copy's DATABASECHANGELOG, against production's before. */
static void on_copy_changelog(int k, DbReport *report, void *userdata) {
        Rehearsal *r = userdata;

        if (k >= 0 && report->n_changelog_ids == report->changelog_count) {
                if (zero_downtime_missing(report->changelog_ids, r->changelog_before, &r->changelog_new) >= 0)
                        r->changelog_compared = true;
        } else
                log_warning(
                        "Cannot read the changelog of the scratch copy %s: %s",
                        strempty(r->scratch_name),
                        k < 0 ? strempty(report->error) : "not all of it was reported");
        drop_copy(r);
}

static void read_copy_changelog(Rehearsal *r) {
        _cleanup_free_ char *secret = rehearsal_path(r->m, "appdb.secret"), *conninfo = NULL;
        AppDb scratch;
        int k;

        if (r->result != REHEARSAL_PASSED || !r->changelog_before || !r->copied || !r->scratch_name ||
            r->appdb->kind == APPDB_H2) {
                drop_copy(r);
                return;
        }
        scratch = *r->appdb;
        scratch.dbname = r->scratch_name;
        conninfo = dbserver_conninfo(&scratch);
        k = conninfo && secret ? dbserver_run(
                                         r->m->event,
                                         r->db_kind,
                                         conninfo,
                                         secret,
                                         STRV_MAKE("preflight"),
                                         on_copy_changelog,
                                         r,
                                         &r->db_run)
                               : -ENOMEM;
        if (k < 0)
                drop_copy(r);
}

static void on_unit_forgotten(int k, const char *result, const char *error, void *userdata) {
        Rehearsal *r = userdata;

        if (k < 0)
                log_warning(
                        "Failed to stop %s: %s; stop it by hand: systemctl stop %s",
                        REHEARSAL_UNIT,
                        strempty(error),
                        REHEARSAL_UNIT);
        read_copy_changelog(r);
}

static void cleanup(Rehearsal *r) {
        int k;

        r->phase = PHASE_CLEANUP;
        r->verifier = verifier_free(r->verifier);
        r->log_settle = sd_event_source_disable_unref(r->log_settle);
        r->db_run = dbserver_cancel(r->db_run);
        if (!r->unit_started) {
                drop_copy(r);
                return;
        }
        set_text(r, "%s: stopping %s", strempty(r->version), REHEARSAL_UNIT);
        k = unit_stop_and_forget(r->m->systemd, REHEARSAL_UNIT, on_unit_forgotten, r);
        if (k < 0) {
                log_warning_errno(k, "Failed to ask systemd to stop %s: %m", REHEARSAL_UNIT);
                drop_copy(r);
        }
}

static void fail(Rehearsal *r, RehearsalResult result, const char *fmt, ...) _printf_(3, 4);
static void fail(Rehearsal *r, RehearsalResult result, const char *fmt, ...) {
        va_list ap;

        free(r->reason);
        va_start(ap, fmt);
        if (vasprintf(&r->reason, fmt, ap) < 0)
                r->reason = NULL;
        va_end(ap);
        r->result = result;
        cleanup(r);
}

/* Migration */

/* What Metabase's own words in the log say went wrong (common/mblog.h), named before the lines. */
static void read_excerpt_name_condition(Rehearsal *r, const char *text, size_t n) {
        MbLogCondition c = mb_log_classify_text(text, n);
        char *e;

        if (c <= MB_LOG_NONE || c == MB_LOG_INIT_FAILED)
                return;
        e = strdup_printf(
                "%s: %s Last lines: %s",
                mb_log_condition_to_string(c),
                mb_log_condition_explain(c),
                strempty(r->excerpt));
        if (e)
                free_and_replace(r->excerpt, e);
}

/* From the unit's own output, read from its pipe: never a file someone else could point elsewhere
 * (the reason is world-readable). */
static void read_excerpt(Rehearsal *r) {
        const char *text;
        size_t n;

        (void) output_drain(r);
        if (!r->log)
                return;
        n = MIN(r->log_len, (size_t) LOG_READ_MAX);
        text = r->log + r->log_len - n;
        if (n < r->log_len) { /* cut in a line: from the next one */
                const char *nl = memchr(text, '\n', n);
                if (nl) {
                        n -= (size_t) (nl + 1 - text);
                        text = nl + 1;
                }
        }
        r->excerpt = mfree_str(r->excerpt);
        r->excerpt = rehearsal_log_excerpt(text, n, EXCERPT_MAX);
        read_excerpt_name_condition(r, text, n);
}

/* A failed rehearsal killed by the kernel for rehearsal.memory_max says nothing of the release:
 * a warning, not a block. */
static void on_judged(int k, UnitInfo *info, const char *error, void *userdata) {
        Rehearsal *r = userdata;
        _cleanup_(unit_info_freep) UnitInfo *i = info;
        _cleanup_free_ char *message = TAKE_PTR(r->failure);
        char size[32];

        if (r->phase != PHASE_JUDGE) /* canceled meanwhile */
                return;
        if (k >= 0 && streq_ptr(i->result, "oom-kill")) {
                (void) format_size(r->m->config->rehearsal.memory_max, size, sizeof(size));
                fail(r,
                     REHEARSAL_WARNING,
                     "%s: the kernel killed it at rehearsal.memory_max (%s), which says nothing of the release: "
                     "a warning, not a block; give the rehearsal more memory (rehearsal.memory_max) and run mbctl "
                     "rehearse %s",
                     strempty(message),
                     size,
                     r->version);
                return;
        }
        fail(r,
             REHEARSAL_FAILED,
             "%s%s%s",
             strempty(message),
             isempty(r->excerpt) ? "" : ". The log says: ",
             strempty(r->excerpt));
}

static int judge(Rehearsal *r, const char *message) {
        int k;

        k = free_and_strdup(&r->failure, message);
        if (k < 0)
                return k;
        r->phase = PHASE_JUDGE;
        k = unit_info_load(r->m->systemd, REHEARSAL_UNIT, on_judged, r);
        if (k < 0) {
                r->phase = PHASE_MIGRATE;
                r->failure = mfree_str(r->failure);
        }
        return k;
}

/* The failure, once the pipe gave the unit's last lines. */
static void failed_with_log(Rehearsal *r) {
        _cleanup_free_ char *message = TAKE_PTR(r->failure);

        read_excerpt(r);
        if (r->failure_start) {
                fail(r,
                     REHEARSAL_WARNING,
                     "systemd could not start %s: %s (not the release's fault: no verdict on it)",
                     REHEARSAL_UNIT,
                     strempty(message));
                return;
        }
        if (!r->best_effort && judge(r, message) >= 0)
                return; /* on_judged() decides */
        if (r->best_effort)
                fail(r,
                     REHEARSAL_WARNING,
                     "%s on a copy of the H2 file taken while Metabase had it open, which may not be "
                     "consistent: a warning, not a block; back it up and watch the upgrade%s%s",
                     strempty(message),
                     isempty(r->excerpt) ? "" : ". The log says: ",
                     strempty(r->excerpt));
        else
                fail(r,
                     REHEARSAL_FAILED,
                     "%s%s%s",
                     strempty(message),
                     isempty(r->excerpt) ? "" : ". The log says: ",
                     strempty(r->excerpt));
}

static int on_log_settle(sd_event_source *s, uint64_t usec, void *userdata) {
        Rehearsal *r = userdata;

        if (r->phase != PHASE_READ_LOG)
                return 0;
        /* more came: wait for the rest, a few times at most */
        if (output_drain(r) > 0 && ++r->log_settle_n < LOG_SETTLE_MAX) {
                (void) sd_event_source_set_time_relative(s, LOG_SETTLE_USEC);
                (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
                return 0;
        }
        r->log_settle = sd_event_source_disable_unref(r->log_settle);
        r->phase = PHASE_MIGRATE;
        failed_with_log(r);
        return 0;
}

static int read_log_then_fail(Rehearsal *r, const char *message, bool start) {
        int k;

        k = free_and_strdup(&r->failure, message);
        if (k < 0)
                return k;
        r->failure_start = start;
        r->log_settle_n = 0;
        (void) output_drain(r);
        k = sd_event_add_time_relative(
                r->m->event, &r->log_settle, CLOCK_MONOTONIC, LOG_SETTLE_USEC, 0, on_log_settle, r);
        if (k < 0) {
                failed_with_log(r);
                return 0;
        }
        r->phase = PHASE_READ_LOG;
        return 0;
}

static void on_verify(VerifyEvent ev, double progress, const char *message, void *userdata) {
        Rehearsal *r = userdata;

        switch (ev) {
        case VERIFY_PROGRESS:
                r->progress = progress;
                /* "...(30%): migrating: the database server is working (one statement for 12m)" */
                set_text(
                        r,
                        "%s: migrating a copy of %s (%.0f%%)%s%s",
                        r->version,
                        r->db_desc,
                        progress * 100,
                        streq_ptr(message, "initializing") ? "" : ": ",
                        streq_ptr(message, "initializing") ? "" : strempty(message));
                return;
        case VERIFY_HEALTHY:
                r->healthy_usec = now_realtime_usec();
                set_text(
                        r,
                        "%s: healthy on the copy (127.0.0.1:%u) after %.1fs; checking its version",
                        r->version,
                        r->port,
                        (double) migration_usec(r) / USEC_PER_SEC);
                return;
        case VERIFY_PASSED:
                r->verifier = verifier_free(r->verifier);
                r->result = REHEARSAL_PASSED;
                cleanup(r);
                return;
        case VERIFY_FAILED:
                r->verifier = verifier_free(r->verifier);
                if (read_log_then_fail(r, message, false) < 0)
                        fail(r, REHEARSAL_CANCELED, "out of memory");
                return;
        }
}

static void on_unit_started(int k, const char *result, const char *error, void *userdata) {
        Rehearsal *r = userdata;
        Manager *m = r->m;
        _cleanup_free_ char *url = NULL, *scratch_conninfo = NULL, *secret = rehearsal_path(m, "appdb.secret");
        VerifyParams p = {};

        if (k < 0) {
                if (read_log_then_fail(r, strempty(error), true) < 0)
                        fail(r, REHEARSAL_CANCELED, "out of memory");
                return;
        }
        url = strdup_printf("http://127.0.0.1:%u/api/health", r->port);
        if (!url) {
                fail(r, REHEARSAL_CANCELED, "out of memory");
                return;
        }
        r->phase = PHASE_MIGRATE;
        set_text(r, "%s: starting on a copy of %s", r->version, r->db_desc);
        p = (VerifyParams){
                .unit = REHEARSAL_UNIT,
                .health_url = url,
                .expect_tag = r->version,
                .start_timeout_usec = m->config->rehearsal.timeout_usec
                        ?: m->config->service.start_timeout_usec,
                .stall_timeout_usec = m->config->service.stall_timeout_usec,
                .settle_usec = 0,
                /* what the copy's migration moves (liveness.h): the copied file, or the scratch
                 * database's change sets and statements */
                .h2_file = r->h2_copy,
        };
        if (r->appdb->kind != APPDB_H2 && r->scratch_name) {
                AppDb scratch = *r->appdb;
                scratch.dbname = r->scratch_name;
                scratch_conninfo = dbserver_conninfo(&scratch);
                p.db_kind = scratch_conninfo && secret ? r->db_kind : NULL;
                p.db_conninfo = scratch_conninfo;
                p.db_secret = secret;
        }
        k = verifier_start(m->event, m->systemd, &p, on_verify, r, &r->verifier);
        if (k < 0)
                fail(r, REHEARSAL_CANCELED, "cannot watch the rehearsal: %s", strerror(-k));
}

static void start_unit(Rehearsal *r) {
        Manager *m = r->m;
        _cleanup_(appdb_freep) AppDb *scratch = NULL;
        _cleanup_strv_free_ char **env = NULL;
        _cleanup_free_ char *text = NULL, *env_file = rehearsal_path(m, "rehearsal.env");
        _cleanup_close_ int write_fd = -EBADF;
        int k;

        if (!env_file) {
                fail(r, REHEARSAL_CANCELED, "out of memory");
                return;
        }
        k = rehearsal_pick_port(&r->port);
        if (k < 0) {
                fail(r, REHEARSAL_CANCELED, "no free port on 127.0.0.1 for the rehearsal");
                return;
        }
        /* The copy: the same server, role and password under another name, or the copied file. */
        scratch = calloc(1, sizeof(AppDb));
        if (!scratch) {
                fail(r, REHEARSAL_CANCELED, "out of memory");
                return;
        }
        scratch->kind = r->appdb->kind;
        if (scratch->kind == APPDB_H2)
                scratch->h2_file = strdup(r->h2_copy);
        else {
                scratch->host = strdup(r->appdb->host);
                scratch->port = r->appdb->port;
                scratch->dbname = strdup(r->scratch_name);
                scratch->user = r->appdb->user ? strdup(r->appdb->user) : NULL;
                scratch->password = r->appdb->password ? strdup(r->appdb->password) : NULL;
                scratch->options = strv_copy(r->appdb->options ?: STRV_MAKE(NULL));
        }
        /* What the hardened unit may write: the H2 copy's directory (none on a database server)
         * and Metabase's working directory, if it exists. */
        _cleanup_free_ char *scratch_dir = r->h2_copy ? strdup(r->h2_copy) : NULL;
        _cleanup_free_ char *wd = r->working_directory ? strdup_printf("-%s", r->working_directory) : NULL;
        if (scratch_dir && strrchr(scratch_dir, '/') && strrchr(scratch_dir, '/') != scratch_dir)
                *strrchr(scratch_dir, '/') = '\0';
        char *rw[3] = {};
        size_t n_rw = 0;
        if (scratch_dir)
                rw[n_rw++] = scratch_dir;
        if (wd)
                rw[n_rw++] = wd;
        env = rehearsal_environment(r->unit_env, scratch, r->port);
        text = env ? rehearsal_environment_file(env) : NULL;
        if (!text) {
                fail(r, REHEARSAL_CANCELED, "out of memory");
                return;
        }
        /* The password is in it: 0600, read by systemd before it drops privileges. */
        k = write_file_atomic(env_file, text, strlen(text), 0600);
        explicit_bzero(text, strlen(text));
        if (k < 0) {
                fail(r, REHEARSAL_CANCELED, "cannot write %s: %s", env_file, strerror(-k));
                return;
        }
        TransientService t = {
                .name = REHEARSAL_UNIT,
                .description = "mbupgraded: rehearsal of a Metabase upgrade on a copy of its database",
                .argv = r->argv,
                .environment_file = env_file,
                .working_directory = r->working_directory,
                .user = r->user,
                .group = r->group,
                .memory_max = m->config->rehearsal.memory_max,
                /* a bound even if the daemon is gone: its timeout, and time to stop */
                .runtime_max_usec = (m->config->rehearsal.timeout_usec
                                             ?: m->config->service.start_timeout_usec) +
                        5 * 60 * USEC_PER_SEC,
                /* no output_file: a pipe (see output_open()) */
                /* Hardened; it writes only its scratch copy's directory and Metabase's working
                 * directory (./plugins, which the unit's user writes in production anyway). */
                .read_write_paths = rw,
        };
        k = output_open(r, &write_fd);
        if (k < 0) {
                fail(r, REHEARSAL_CANCELED, "cannot make a pipe for the rehearsal's output: %s", strerror(-k));
                return;
        }
        t.output_fd = write_fd;
        r->phase = PHASE_START;
        r->unit_started = true;
        r->unit_start_usec = now_realtime_usec();
        /* Its port is published only once the rehearsal's own process answers on it (healthy,
         * below): a local user who learned it earlier could bind it first. */
        set_text(r, "%s: starting %s", r->version, REHEARSAL_UNIT);
        k = unit_start_transient(m->systemd, &t, on_unit_started, r);
        if (k < 0) {
                r->unit_started = false;
                fail(r, REHEARSAL_CANCELED, "cannot ask systemd to start %s: %s", REHEARSAL_UNIT, strerror(-k));
        }
}

/* The copy */

static void on_scratch_copied(int k, DbReport *report, void *userdata) {
        Rehearsal *r = userdata;

        if (k < 0) {
                /* Not the release's fault: no verdict, and the reason says what to do. */
                fail(r,
                     REHEARSAL_WARNING,
                     "cannot copy %s for the rehearsal: %s",
                     r->db_desc,
                     strempty(report->error));
                return;
        }
        start_unit(r);
}

typedef struct H2Copy {
        Rehearsal *r;
        char *from, *to;
        uid_t uid;
        gid_t gid;
} H2Copy;

static int h2_copy_run(void *userdata) {
        H2Copy *c = userdata;
        /* the source: a regular file of the owner seen before, never a link or a FIFO */
        CopyOptions o = {.mode = 0600, .uid = c->uid, .gid = c->gid, .check_owner = true, .owner = c->uid};

        return copy_file_atomic(c->from, c->to, &o, NULL, NULL, NULL);
}

static void on_h2_copied(int k, void *userdata) {
        H2Copy *c = userdata;
        Rehearsal *r = c->r;

        free(c->from);
        free(c->to);
        free(c);
        if (k < 0) {
                fail(r,
                     k == -EBADFD || k == -ELOOP || k == -EPERM ? REHEARSAL_CANCELED : REHEARSAL_WARNING,
                     "cannot copy the H2 database for the rehearsal: %s",
                     k == -EBADFD          ? "it is no longer a regular file (a FIFO?)"
                             : k == -ELOOP ? "it became a symbolic link"
                             : k == -EPERM ? "its owner changed"
                                           : strerror(-k));
                return;
        }
        start_unit(r);
}

static void copy_database(Rehearsal *r) {
        Manager *m = r->m;
        _cleanup_free_ char *secret_file = rehearsal_path(m, "appdb.secret");
        int k;

        r->phase = PHASE_COPY;
        r->copied = true; /* from here on, cleanup drops whatever exists */
        if (r->appdb->kind == APPDB_H2) {
                H2Copy *c = calloc(1, sizeof(H2Copy));
                if (!c || !(c->from = strdup(r->appdb->h2_file)) || !(c->to = strdup(r->h2_copy))) {
                        if (c)
                                free(c->from);
                        free(c);
                        fail(r, REHEARSAL_CANCELED, "out of memory");
                        return;
                }
                c->r = r;
                c->uid = r->db_uid;
                c->gid = r->db_gid;
                set_text(r, "%s: copying %s", r->version, r->db_desc);
                k = worker_run(m->event, h2_copy_run, on_h2_copied, c);
                if (k < 0) {
                        free(c->from);
                        free(c->to);
                        free(c);
                        fail(r, REHEARSAL_CANCELED, "cannot start the copy: %s", strerror(-k));
                }
                return;
        }
        k = secret_file ? secret_write(secret_file, r->appdb) : -ENOMEM;
        if (k < 0) {
                fail(r, REHEARSAL_CANCELED, "cannot write %s: %s", secret_file, strerror(-k));
                return;
        }
        set_text(r, "%s: copying %s into %s", r->version, r->db_desc, r->scratch_name);
        k = dbserver_run(
                m->event,
                r->db_kind,
                r->conninfo,
                secret_file,
                STRV_MAKE("scratch-copy"),
                on_scratch_copied,
                r,
                &r->db_run);
        if (k < 0)
                fail(r, REHEARSAL_CANCELED, "cannot run %s: %s", dbserver_helper_path(), strerror(-k));
}

/* Whether to rehearse at all (policy.rehearse: auto), once the database's size is known. */
static void decide(Rehearsal *r, uint64_t db_size) {
        Manager *m = r->m;
        _cleanup_free_ char *reason = NULL, *dir = manager_state_path(m, "rehearsal");
        RehearsalHost h = {
                .mode = m->config->policy.rehearse,
                .memory_max = m->config->rehearsal.memory_max,
                .max_copy_size = m->config->rehearsal.max_copy_size,
                .memory_available = REHEARSAL_SIZE_UNKNOWN,
                .db_kind = r->appdb->kind,
                .db_size = db_size,
                .disk_free = REHEARSAL_SIZE_UNKNOWN,
        };
        _cleanup_free_ char *meminfo = NULL;
        uint64_t free_bytes;
        dev_t dev;
        int k;

        /* MemAvailable; under ProcSubset=pid /proc/meminfo is hidden, and sysinfo's free RAM
         * (without the page cache) is the cautious guess. */
        if (read_full_file("/proc/meminfo", 64 * 1024, &meminfo, NULL) >= 0) {
                const char *p = strstr(meminfo, "MemAvailable:");
                unsigned long long kb;
                if (p && sscanf(p, "MemAvailable: %llu kB", &kb) == 1)
                        h.memory_available = (uint64_t) kb * 1024;
        } else {
                struct sysinfo si;
                if (sysinfo(&si) >= 0)
                        h.memory_available = ((uint64_t) si.freeram + si.bufferram) * si.mem_unit;
        }
        if (dir && disk_free_bytes(dir, &free_bytes, &dev) >= 0)
                h.disk_free = free_bytes;

        if (!(r->flags & REHEARSE_UNATTENDED))
                h.mode = REHEARSE_ALWAYS; /* mbctl rehearse */
        k = rehearsal_decide(&h, &reason);
        if (k < 0) {
                fail(r, REHEARSAL_CANCELED, "out of memory");
                return;
        }
        if (k == 0) {
                log_info("Not rehearsing %s: %s", r->version, reason);
                r->reason = TAKE_PTR(reason);
                r->result = REHEARSAL_SKIPPED;
                cleanup(r);
                return;
        }
        copy_database(r);
}

static void on_db_size(int k, DbReport *report, void *userdata) {
        Rehearsal *r = userdata;

        if (k < 0) {
                fail(r,
                     REHEARSAL_WARNING,
                     "cannot reach the application database %s for the rehearsal: %s",
                     r->db_desc,
                     strempty(report->error));
                return;
        }
        /* DATABASECHANGELOG as the copy will have it, when read whole */
        if (report->n_changelog_ids == report->changelog_count)
                r->changelog_before = report->n_changelog_ids > 0 ? strv_copy(report->changelog_ids)
                                                                  : calloc(1, sizeof(char *));
        decide(r, report->have_database_size ? report->database_size : REHEARSAL_SIZE_UNKNOWN);
}

static void on_unit_info(int k, UnitInfo *info, const char *error, void *userdata) {
        Rehearsal *r = userdata;
        Manager *m = r->m;
        _cleanup_free_ char *db_error = NULL, *dir = manager_state_path(m, "rehearsal"),
                            *secret_file = rehearsal_path(m, "appdb.secret");
        const char *jar;
        struct stat st;

        if (k < 0) {
                fail(r,
                     REHEARSAL_CANCELED,
                     "cannot read %s from systemd: %s",
                     m->config->service.unit,
                     strempty(error));
                return;
        }
        if (r->phase != PHASE_PREPARE) { /* canceled meanwhile */
                unit_info_free(info);
                return;
        }
        k = manager_app_db(m, info, &r->appdb, &db_error);
        jar = !isempty(m->config->service.jar) ? m->config->service.jar : unit_info_jar(info);
        if (k >= 0 && !isempty(jar) && info->exec_argv && info->exec_path) {
                /* The unit's own Java and options, the staged JAR */
                r->argv = unit_info_argv_with_jar(info, jar, r->jar, NULL);
                r->working_directory = info->working_directory ? strdup(info->working_directory) : NULL;
                r->user = info->user ? strdup(info->user) : NULL;
                r->group = info->group ? strdup(info->group) : NULL;
                r->unit_env = strv_copy(info->environment ?: STRV_MAKE(NULL));
        }
        unit_info_free(info);
        if (k < 0) {
                fail(r,
                     REHEARSAL_CANCELED,
                     "cannot tell the application database: %s (set backup.app_db)",
                     strempty(db_error));
                return;
        }
        if (!r->argv || !r->unit_env || !strv_contains(r->argv, r->jar)) {
                fail(r,
                     REHEARSAL_CANCELED,
                     "cannot tell how %s runs the JAR (no '-jar PATH' in ExecStart); set service.jar",
                     m->config->service.unit);
                return;
        }
        r->db_desc = appdb_describe(r->appdb);
        r->db_kind = strdup(appdb_kind_to_string(r->appdb->kind));
        if (!r->db_desc || !r->db_kind || !dir) {
                fail(r, REHEARSAL_CANCELED, "out of memory");
                return;
        }
        k = rehearsal_dir_open(m);
        if (k < 0) {
                fail(r, REHEARSAL_CANCELED, "cannot create %s: %s", dir, strerror(-k));
                return;
        }
        (void) close(k);
        if (r->appdb->kind == APPDB_H2) {
                /* lstat(): the Metabase user owns the file and its directory; a FIFO, a link or a
                 * device in its place is refused here, and the copy opens it O_NOFOLLOW|O_NONBLOCK
                 * and checks it is a regular file of the same owner. */
                if (lstat(r->appdb->h2_file, &st) < 0) {
                        fail(r,
                             REHEARSAL_SKIPPED,
                             "there is no H2 database at %s yet: nothing to rehearse on",
                             r->appdb->h2_file);
                        return;
                }
                if (!S_ISREG(st.st_mode)) {
                        fail(r,
                             REHEARSAL_CANCELED,
                             "the H2 database %s is not a regular file (%s): not copying it; see what put it "
                             "there",
                             r->appdb->h2_file,
                             S_ISLNK(st.st_mode)            ? "a symbolic link"
                                     : S_ISFIFO(st.st_mode) ? "a FIFO"
                                     : S_ISDIR(st.st_mode)  ? "a directory"
                                                            : "a device or socket");
                        return;
                }
                r->best_effort = true;
                r->db_uid = st.st_uid;
                r->db_gid = st.st_gid;
                r->h2_copy = manager_state_path(m, REHEARSAL_DATA_DIR "/metabase.db.mv.db");
                k = r->h2_copy ? rehearsal_data_dir_make(m, st.st_uid, st.st_gid) : -ENOMEM;
                if (k < 0) {
                        fail(r, REHEARSAL_CANCELED, "cannot prepare %s/data for the copy: %s", dir, strerror(-k));
                        return;
                }
                decide(r, (uint64_t) st.st_size);
                return;
        }
        r->conninfo = dbserver_conninfo(r->appdb);
        r->scratch_name = strdup_printf("%s" REHEARSAL_SCRATCH_SUFFIX, r->appdb->dbname);
        if (!r->conninfo || !r->scratch_name || !secret_file) {
                fail(r, REHEARSAL_CANCELED, "out of memory");
                return;
        }
        k = secret_write(secret_file, r->appdb);
        if (k < 0) {
                fail(r, REHEARSAL_CANCELED, "cannot write %s: %s", secret_file, strerror(-k));
                return;
        }
        set_text(r, "%s: reading the size of %s", r->version, r->db_desc);
        k = dbserver_run(
                m->event, r->db_kind, r->conninfo, secret_file, STRV_MAKE("preflight"), on_db_size, r, &r->db_run);
        if (k < 0)
                fail(r, REHEARSAL_CANCELED, "cannot run %s: %s", dbserver_helper_path(), strerror(-k));
}

/* The marker: a daemon that dies during a rehearsal knows at its next start what to remove. */
static int write_marker(Rehearsal *r) {
        _cleanup_free_ char *dir = manager_state_path(r->m, "rehearsal"),
                            *path = rehearsal_path(r->m, "rehearsal.json");
        json_object *o = json_object_new_object();
        const char *s;
        int k;

        if (!dir || !path || !o) {
                json_object_put(o);
                return -ENOMEM;
        }
        k = rehearsal_dir_open(r->m);
        if (k >= 0) {
                (void) close(k);
                json_object_object_add(o, "id", json_object_new_uint64(r->id));
                json_object_object_add(o, "version", json_object_new_string(r->version));
                json_object_object_add(o, "started_usec", json_object_new_uint64(r->started_usec));
                json_object_object_add(o, "unit", json_object_new_string(REHEARSAL_UNIT));
                s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
                k = write_file_atomic(path, s, strlen(s), 0600);
        }
        json_object_put(o);
        return k;
}

int rehearse_start(
        Manager *m,
        const char *version,
        const char *jar,
        const char *sha256,
        uint64_t flags,
        uint64_t *ret_id,
        Refusal *refusal) {
        Rehearsal *r = m->rehearsal;
        int k;

        if (!r)
                return refusal_set(refusal, OUTCOME_FAILED, -ENODEV, "Rehearsals are not set up");
        if (r->phase != PHASE_IDLE)
                return refusal_set(
                        refusal,
                        OUTCOME_BUSY,
                        -EBUSY,
                        "The rehearsal of %s is running; wait for it (mbctl status)",
                        strempty(r->version));
        if (m->op)
                return refusal_set(
                        refusal,
                        OUTCOME_BUSY,
                        -EBUSY,
                        "An operation is running; rehearse when it is done (mbctl status)");
        r->version = strdup(version);
        r->jar = strdup(jar);
        r->sha256 = strdup(strempty(sha256));
        if (!r->version || !r->jar || !r->sha256) {
                run_clear(r);
                return -ENOMEM;
        }
        r->flags = flags;
        r->started_usec = now_realtime_usec();
        r->id = r->started_usec / 1000;
        if (r->id <= m->last_op_id)
                r->id = m->last_op_id + 1;
        m->last_op_id = r->id;
        r->result = REHEARSAL_CANCELED;
        k = write_marker(r);
        if (k < 0) {
                run_clear(r);
                return refusal_set(
                        refusal,
                        OUTCOME_FAILED,
                        k,
                        "Cannot write the rehearsal's marker under %s: %s",
                        m->config->state_dir,
                        strerror(-k));
        }
        r->phase = PHASE_PREPARE;
        set_text(r, "%s: preparing the rehearsal", version);
        k = unit_info_load(m->systemd, m->config->service.unit, on_unit_info, r);
        if (k < 0) {
                fail(r,
                     REHEARSAL_CANCELED,
                     "cannot ask systemd about %s: %s",
                     m->config->service.unit,
                     strerror(-k));
                return refusal_set(
                        refusal, OUTCOME_FAILED, k, "Cannot ask systemd about the unit: %s", strerror(-k));
        }
        log_info("Rehearsing %s (%s) on a copy of the application database", version, jar);
        if (ret_id)
                *ret_id = r->id;
        return 0;
}

void rehearse_cancel(Manager *m, const char *why) {
        Rehearsal *r = m->rehearsal;

        if (!r || r->phase == PHASE_IDLE || r->phase == PHASE_CLEANUP)
                return;
        log_notice("Canceling the rehearsal of %s: %s", r->version, why);
        if (r->phase == PHASE_PREPARE && !r->db_run) {
                /* the unit's properties are on their way: on_unit_info() sees the phase */
                (void) free_and_strdup(&r->reason, why);
                r->result = REHEARSAL_CANCELED;
                r->phase = PHASE_CLEANUP;
                cleanup(r);
                return;
        }
        fail(r, REHEARSAL_CANCELED, "%s", why);
}

bool rehearse_running(Manager *m) {
        return m->rehearsal && m->rehearsal->phase != PHASE_IDLE;
}

const char *rehearse_running_version(Manager *m) {
        return rehearse_running(m) ? m->rehearsal->version : NULL;
}

bool rehearse_has_result(Manager *m, const char *version) {
        return result_of(m->rehearsal, version) != NULL;
}

const char *rehearse_blocked(Manager *m, const char *version) {
        json_object *o = result_of(m->rehearsal, version);

        if (!o || !streq_ptr(json_str(o, "result"), "failed"))
                return NULL;
        return strempty(json_str(o, "reason"));
}

ZeroDowntimeRehearsal rehearse_changelog_verdict(Manager *m, const char *version, char ***ret_applied) {
        json_object *o = result_of(m->rehearsal, version), *a;
        _cleanup_strv_free_ char **l = NULL;

        if (!o || !streq_ptr(json_str(o, "result"), "passed") ||
            !json_object_object_get_ex(o, "changelog_new", &a) || !json_object_is_type(a, json_type_array))
                return ZERO_DOWNTIME_REHEARSAL_NONE;
        if (json_object_array_length(a) == 0)
                return ZERO_DOWNTIME_REHEARSAL_NO_CHANGE;
        for (size_t i = 0; i < json_object_array_length(a); i++)
                if (strv_extend(&l, strempty(json_object_get_string(json_object_array_get_idx(a, i)))) < 0)
                        return ZERO_DOWNTIME_REHEARSAL_NONE;
        *ret_applied = TAKE_PTR(l);
        return ZERO_DOWNTIME_REHEARSAL_MIGRATED;
}

uint64_t rehearse_expected_usec(Manager *m, const char *version) {
        json_object *o = result_of(m->rehearsal, version);

        if (!o || !streq_ptr(json_str(o, "result"), "passed"))
                return 0;
        return json_u64(o, "duration_usec");
}

const char *rehearse_status(Manager *m) {
        return m->rehearsal ? strempty(m->rehearsal->text) : "";
}

void rehearse_metrics(Manager *m, FILE *f) {
        Rehearsal *r = m->rehearsal;
        const char *version = NULL, *result;
        json_object *o = r ? results_newest(r, &version) : NULL;

        fprintf(f,
                "# HELP mbupgraded_rehearsal_in_progress 1 while a rehearsal runs.\n"
                "# TYPE mbupgraded_rehearsal_in_progress gauge\nmbupgraded_rehearsal_in_progress %d\n",
                rehearse_running(m));
        if (!o)
                return;
        result = strempty(json_str(o, "result"));
        fprintf(f,
                "# HELP mbupgraded_last_rehearsal_info The last rehearsal: version and result.\n"
                "# TYPE mbupgraded_last_rehearsal_info gauge\n"
                "mbupgraded_last_rehearsal_info{version=\"%s\",result=\"%s\"} 1\n",
                version,
                result);
        fprintf(f,
                "# HELP mbupgraded_last_rehearsal_timestamp_seconds When the last rehearsal ended.\n"
                "# TYPE mbupgraded_last_rehearsal_timestamp_seconds gauge\n"
                "mbupgraded_last_rehearsal_timestamp_seconds %" PRIu64 "\n",
                json_u64(o, "finished_usec") / USEC_PER_SEC);
        fprintf(f,
                "# HELP mbupgraded_last_rehearsal_success 1 when the last rehearsal passed.\n"
                "# TYPE mbupgraded_last_rehearsal_success gauge\nmbupgraded_last_rehearsal_success %d\n",
                streq(result, "passed"));
        fprintf(f,
                "# HELP mbupgraded_last_rehearsal_duration_seconds The new version's start to its first healthy "
                "answer on the copy: the expected downtime.\n"
                "# TYPE mbupgraded_last_rehearsal_duration_seconds gauge\n"
                "mbupgraded_last_rehearsal_duration_seconds %.3f\n",
                (double) json_u64(o, "duration_usec") / USEC_PER_SEC);
}

/* Start-up: what a daemon that died during a rehearsal left. */

static void on_leftover_dropped(int k, DbReport *report, void *userdata) {
        Rehearsal *r = userdata;

        if (k < 0)
                log_warning(
                        "Failed to drop a rehearsal's scratch copy left by an earlier run: %s", report->error);
        else
                log_info("Dropped the scratch copy of a rehearsal an earlier run of mbupgraded left");
        r->result = REHEARSAL_CANCELED;
        finish(r);
}

static void on_leftover_unit_info(int k, UnitInfo *info, const char *error, void *userdata) {
        Rehearsal *r = userdata;
        Manager *m = r->m;
        _cleanup_free_ char *secret_file = rehearsal_path(m, "appdb.secret");

        if (k >= 0)
                k = manager_app_db(m, info, &r->appdb, NULL);
        unit_info_free(info);
        if (k < 0 || r->appdb->kind == APPDB_H2) {
                if (r->appdb && r->appdb->kind == APPDB_H2)
                        r->h2_copy = manager_state_path(m, REHEARSAL_DATA_DIR "/metabase.db.mv.db");
                r->result = REHEARSAL_CANCELED;
                finish(r);
                return;
        }
        r->db_desc = appdb_describe(r->appdb);
        r->db_kind = strdup(appdb_kind_to_string(r->appdb->kind));
        r->conninfo = dbserver_conninfo(r->appdb);
        r->scratch_name = strdup_printf("%s" REHEARSAL_SCRATCH_SUFFIX, r->appdb->dbname);
        if (!r->db_kind || !r->conninfo || !secret_file || secret_write(secret_file, r->appdb) < 0 ||
            dbserver_run(
                    m->event,
                    r->db_kind,
                    r->conninfo,
                    secret_file,
                    STRV_MAKE("drop-scratch"),
                    on_leftover_dropped,
                    r,
                    &r->db_run) < 0) {
                log_warning(
                        "Cannot drop a rehearsal's scratch copy left by an earlier run; drop %s by hand",
                        strempty(r->scratch_name));
                finish(r);
        }
}

static void on_leftover_unit_forgotten(int k, const char *result, const char *error, void *userdata) {
        Rehearsal *r = userdata;

        if (k < 0)
                log_warning("Failed to stop %s left by an earlier run: %s", REHEARSAL_UNIT, strempty(error));
        if (!r->version) { /* no marker: nothing else to clean */
                r->phase = PHASE_IDLE;
                manager_properties_changed(r->m, "State", NULL);
                return;
        }
        k = unit_info_load(r->m->systemd, r->m->config->service.unit, on_leftover_unit_info, r);
        if (k < 0)
                finish(r);
}

int rehearse_new(Manager *m, Rehearsal **ret) {
        _cleanup_free_ char *marker = NULL, *text = NULL;
        Rehearsal *r;
        int k;

        r = calloc(1, sizeof(Rehearsal));
        if (!r)
                return -ENOMEM;
        r->m = m;
        r->output_fd = -EBADF;
        results_load(r);
        show_newest(r);
        *ret = r;

        /* A marker: a rehearsal was running when an earlier daemon stopped. Its unit goes in any
         * case (systemd also ends it after RuntimeMaxSec=), its copy when there was a marker. */
        marker = rehearsal_path(m, "rehearsal.json");
        if (marker && read_full_file_full(marker, 64 * 1024, OPEN_REGULAR_NOFOLLOW, 0, &text, NULL) >= 0) {
                json_object *o = json_tokener_parse(text);
                const char *v = json_str(o, "version");
                r->version = strdup(v && mb_version_is_valid(v) ? v : "unknown");
                r->id = json_u64(o, "id");
                r->started_usec = json_u64(o, "started_usec");
                json_object_put(o);
                r->copied = true;
                (void) free_and_strdup(
                        &r->reason,
                        "mbupgraded stopped during the rehearsal; its unit and copy were removed at the next start");
                log_notice(
                        "A rehearsal of %s was left by an earlier run: removing its unit and scratch copy",
                        strempty(r->version));
        }
        r->phase = PHASE_CLEANUP;
        r->result = REHEARSAL_CANCELED;
        k = unit_stop_and_forget(m->systemd, REHEARSAL_UNIT, on_leftover_unit_forgotten, r);
        if (k < 0) {
                log_warning_errno(k, "Failed to ask systemd to stop %s: %m", REHEARSAL_UNIT);
                on_leftover_unit_forgotten(0, NULL, NULL, r);
        }
        return 0;
}
