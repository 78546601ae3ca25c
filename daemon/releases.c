/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdarg.h>
#include <string.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "child.h"
#include "engine.h"
#include "feed.h"
#include "fileio.h"
#include "jar.h"
#include "java.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "policy.h"
#include "rehearse.h"
#include "fleet.h"
#include "hash.h"
#include "releases.h"
#include "strv.h"
#include "test-hook.h"
#include "worker.h"

#define JAR_SIZE_MAX (2ULL * 1024 * 1024 * 1024) /* the biggest Metabase JAR is ~500 MB */
#define SMALL_FILE_MAX (64U * 1024U)             /* metabase.sha256, metabase.jar.sig */
#define CHECK_CALLS_MAX 16
#define STAGED_KEEP 2
#define FIRST_CHECK_DELAY_USEC (5 * USEC_PER_SEC)

typedef struct Stage {
        char *version;
        char *dir, *jar, *sha_file, *sig_file;
        char *jar_url, *sha_url, *sig_url;
        bool has_published_sha;
        char published_sha[SHA256_HEX_SIZE];
        char got_sha[SHA256_HEX_SIZE];
        uint64_t size, downloaded, total;
        int phase;          /* 1 JAR (and the checksum beside it), 2 signature, 3 verify */
        bool checksum_done; /* metabase.sha256 fetched, or known not to be published */
        char *error;
        bool refused; /* verification said no (as opposed to a download that failed) */
        StageCallback cb;
} Stage;

typedef struct Plan {
        uint64_t id;
        char **hops;
        size_t next;
        uint64_t flags;
        bool unattended;
        char *from;
        char *last_to;
        uint64_t op_id; /* the engine operation of the current hop */
} Plan;

struct Releases {
        Manager *m;
        char *site_id;
        Feed *feed;
        char *feed_error;
        char *last_check;
        sd_event_source *timer;
        Child *check_child;
        char *check_output;
        sd_bus_message *check_calls[CHECK_CALLS_MAX];
        size_t n_check_calls;
        bool plan_after_check; /* an upgrade waits for the first feed */
        Child *stage_child;    /* the JAR's download, then the signature's */
        Child *checksum_child; /* metabase.sha256's, beside the JAR's */
        Stage *stage;
        char *queued_version; /* staged next, when the running staging is for another version */
        StageCallback queued_cb;
        char *staged;         /* the Staged property */
        char *newest_allowed; /* the NewestAllowed property */
        Plan *plan;
        sd_bus_message *plan_call; /* an upgrade that waits for the first feed */
        char *blocked;             /* an unattended upgrade to this version failed: not again unattended */
        char *pending_version;
        uint64_t pending_flags;
        bool pending_window;
        bool plan_after_rehearsal;     /* the window waits for the running rehearsal's verdict */
        sd_bus_message *rehearse_call; /* mbctl rehearse, while its release is staged */
        char *rehearse_version;
};

static void stage_free(Stage *s) {
        if (!s)
                return;
        free(s->version);
        free(s->dir);
        free(s->jar);
        free(s->sha_file);
        free(s->sig_file);
        free(s->jar_url);
        free(s->sha_url);
        free(s->sig_url);
        free(s->error);
        free(s);
}

static void plan_free(Plan *p) {
        if (!p)
                return;
        strv_free(p->hops);
        free(p->from);
        free(p->last_to);
        free(p);
}

const char *fetch_helper(void) {
        const char *p = secure_getenv("MBUPGRADED_FETCH");
        return !isempty(p) ? p : LIBEXECDIR "/mbupgraded-fetch";
}

static char *staging_dir(Manager *m) {
        return manager_state_path(m, "staging");
}

static void set_text(char **field, const char *fmt, ...) _printf_(2, 3);
static void set_text(char **field, const char *fmt, ...) {
        char *s = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        free(*field);
        *field = s;
}

/* The user the fetch helper runs as (unit-files/mbupgraded.sysusers): TLS, HTTP parsing of what a
 * hostile server sends and libcurl run under it, never as root. */
const char *fetch_user(void) {
        const char *u = secure_getenv("MBUPGRADED_FETCH_USER");
        return !isempty(u) ? u : FETCH_USER;
}

int fetch_credentials(ChildOptions *o) {
        return child_options_user(o, fetch_user(), "The download helper");
}

int fetch_open_ca(const char *path) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        struct stat st;

        if (fd < 0)
                return log_error_errno(negative_errno(), "Failed to open releases.ca_file %s: %m", path);
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return log_error_errno(-EBADFD, "releases.ca_file %s is not a regular file", path);
        return TAKE_FD(fd);
}

/* One download: the daemon opens OUTPUT.part itself, in its root-only staging directory, and
 * hands the helper only that descriptor; on the helper's "done" it renames it to OUTPUT. */
typedef struct FetchCall {
        char *part, *output;
        int fd, ca_fd;
        ChildLineCallback on_line;
        ChildExitCallback on_exit;
        void *userdata;
} FetchCall;

static void fetch_call_free(void *p) {
        FetchCall *fc = p;

        if (!fc)
                return;
        if (fc->fd >= 0)
                (void) close(fc->fd);
        if (fc->ca_fd >= 0)
                (void) close(fc->ca_fd);
        free(fc->part);
        free(fc->output);
        free(fc);
}

static void fetch_call_line(Child *c, const char *line, void *userdata) {
        FetchCall *fc = userdata;
        if (fc->on_line)
                fc->on_line(c, line, fc->userdata);
}

static void fetch_call_exit(Child *c, int status, const char *last, void *userdata) {
        FetchCall *fc = userdata;
        _cleanup_free_ char *msg = NULL;
        struct stat st;
        int r;

        if (status == 0 && startswith(last, "done ")) {
                r = rename_and_sync(fc->part, fc->output);
                if (r < 0) {
                        msg = strdup_printf(
                                "error io Failed to rename %s to %s: %s", fc->part, fc->output, strerror(-r));
                        fc->on_exit(c, 1, strempty(msg), fc->userdata);
                        return;
                }
        } else if (fstat(fc->fd, &st) >= 0 && st.st_size == 0)
                (void) unlink(fc->part); /* nothing came: no empty .part left for --resume */
        fc->on_exit(c, status, last, fc->userdata);
}

/* Opens OUTPUT.part for the helper: created anew (O_EXCL after removing an old one), or with
 * resume an existing one kept if it is a regular file of root's. Never follows a symlink. */
static int open_part(const char *part, bool resume) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        if (resume) {
                fd = open(part, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
                if (fd >= 0) {
                        if (fstat(fd, &st) < 0)
                                return negative_errno();
                        if (S_ISREG(st.st_mode) && st.st_uid == 0 && st.st_nlink == 1)
                                return TAKE_FD(fd);
                        closep(&fd);
                }
        }
        if (unlink(part) < 0 && errno != ENOENT)
                return negative_errno();
        fd = open(part, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (fd < 0)
                return negative_errno();
        return TAKE_FD(fd);
}

/* Spawns the fetch helper. */
static int spawn_fetch(
        Manager *m,
        const char *url,
        const char *output,
        uint64_t max_size,
        bool resume,
        ChildLineCallback on_line,
        ChildExitCallback on_exit,
        void *userdata,
        Child **ret) {
        ChildOptions o = {.pass_fd = -EBADF, .destroy = fetch_call_free};
        FetchCall *fc;
        char max[32], fdstr[16];
        const char *argv[24];
        size_t n = 0;
        int r;

        r = fetch_credentials(&o);
        if (r < 0)
                return r;
        fc = calloc(1, sizeof(FetchCall));
        if (!fc)
                return -ENOMEM;
        fc->fd = fc->ca_fd = -EBADF;
        fc->part = strdup_printf("%s.part", output);
        fc->output = strdup(output);
        fc->on_line = on_line;
        fc->on_exit = on_exit;
        fc->userdata = userdata;
        if (!fc->part || !fc->output) {
                fetch_call_free(fc);
                return -ENOMEM;
        }
        fc->fd = open_part(fc->part, resume);
        if (fc->fd < 0) {
                r = fc->fd;
                fc->fd = -EBADF;
                fetch_call_free(fc);
                return r;
        }
        o.pass_fd = fc->fd;

        snprintf(max, sizeof(max), "%" PRIu64, max_size);
        snprintf(fdstr, sizeof(fdstr), "%d", CHILD_PASS_FD);
        argv[n++] = fetch_helper();
        argv[n++] = "--url";
        argv[n++] = url;
        argv[n++] = "--output-fd";
        argv[n++] = fdstr;
        argv[n++] = "--max-size";
        argv[n++] = max;
        argv[n++] = "--connect-timeout";
        argv[n++] = "30";
        argv[n++] = "--low-speed-limit";
        argv[n++] = "1024";
        argv[n++] = "--low-speed-time";
        argv[n++] = "60";
        /* Plain http only when the configured URL itself is http:// (the helper allows it to a
         * loopback address only); an https source may never be redirected to http. */
        if (startswith(url, "http://"))
                argv[n++] = "--allow-http-loopback";
        if (!isempty(m->config->releases.ca_file)) {
                /* Opened here: the helper's user need not be able to read it. */
                fc->ca_fd = fetch_open_ca(m->config->releases.ca_file);
                if (fc->ca_fd < 0) {
                        r = fc->ca_fd;
                        fc->ca_fd = -EBADF;
                        fetch_call_free(fc);
                        return r;
                }
                o.pass_fd2 = fc->ca_fd;
                argv[n++] = "--ca-file";
                argv[n++] = m->config->releases.ca_file;
                argv[n++] = "--ca-fd";
                argv[n++] = "4";
        }
        /* The JAR: resumable, and not fsynced (seconds of write-back for 500 MB), since its SHA-256
         * is checked again by pre-flight before it is installed. */
        if (resume) {
                argv[n++] = "--resume";
                argv[n++] = "--no-fsync";
        }
        argv[n] = NULL;
        r = child_spawn_opts(m->event, (char *const *) argv, &o, fetch_call_line, fetch_call_exit, fc, ret);
        if (r < 0)
                fetch_call_free(fc);
        return r;
}

/* "done SIZE SHA" -> 0; "error KIND MESSAGE" -> -EIO with the message. */
static int parse_verdict(int status, const char *last, uint64_t *ret_size, char *ret_sha, char **ret_error) {
        uint64_t size;
        char sha[SHA256_HEX_SIZE + 1];

        if (status == 0 && sscanf(last, "done %" SCNu64 " %64s", &size, sha) == 2 && sha256_hex_is_valid(sha)) {
                if (ret_size)
                        *ret_size = size;
                if (ret_sha)
                        memcpy(ret_sha, sha, SHA256_HEX_SIZE);
                return 0;
        }
        if (startswith(last, "error ")) {
                const char *kind = last + strlen("error "), *msg = strchr(kind, ' ');
                *ret_error = strdup(msg ? msg + 1 : kind);
        } else if (status < 0)
                *ret_error = strdup_printf("the download helper died (signal %d)", -status - 128);
        else
                *ret_error = strdup_printf("the download helper failed (exit %d, '%.200s')", status, last);
        return -EIO;
}

/* Feed */

static void check_reply_all(Manager *m, int r, const char *error) {
        Releases *rl = m->releases;

        for (size_t i = 0; i < rl->n_check_calls; i++) {
                if (r < 0)
                        (void) sd_bus_reply_method_errorf(rl->check_calls[i], SD_BUS_ERROR_FAILED, "%s", error);
                else
                        (void) sd_bus_reply_method_return(rl->check_calls[i], "s", strempty(rl->last_check));
                rl->check_calls[i] = sd_bus_message_unref(rl->check_calls[i]);
        }
        rl->n_check_calls = 0;
}

static PolicyInput policy_input(Manager *m, PolicyMode mode, bool force, MbVersion *installed_ok) {
        PolicyInput in = {
                .config = m->config,
                .mode = mode,
                .hold = m->hold,
                .force = force,
                .now_usec = now_realtime_usec(),
                .site_id = m->releases->site_id,
        };
        *installed_ok = (MbVersion){};
        if (m->installed_version && mb_version_parse(m->installed_version, &in.installed) >= 0)
                *installed_ok = in.installed;
        return in;
}

static void stage_version(Manager *m, const char *version, StageCallback cb);
static bool
stage_is_verified(Manager *m, const char *dir, const char *version, char *ret_sha256, const char **ret_stale);
static void plan_start_from_pending(Manager *m);

static void
on_auto_staged(Manager *m, int r, bool refused, const char *jar, const char *sha256, const char *error);

/* After every feed update: what the policy would take unattended, staged ahead of time, and with
 * policy.apply: immediately applied. */
static void releases_decide(Manager *m) {
        Releases *rl = m->releases;
        _cleanup_free_ char *error = NULL;
        _cleanup_strv_free_ char **hops = NULL;
        MbVersion installed;
        PolicyInput in;
        int r;

        if (!rl->feed || !m->installed_version)
                return;
        in = policy_input(m, POLICY_UNATTENDED, false, &installed);
        r = policy_plan(rl->feed, &in, NULL, &hops, &error);
        if (r < 0 || !hops || !hops[0]) {
                set_text(&rl->newest_allowed, "%s", r < 0 ? "" : "");
                manager_properties_changed(m, "NewestAllowed", "NewestAvailable", NULL);
                return;
        }
        set_text(&rl->newest_allowed, "%s", hops[strv_length(hops) - 1]);
        manager_properties_changed(m, "NewestAllowed", "NewestAvailable", NULL);
        if (m->config->policy.apply == APPLY_NEVER && rl->stage == NULL)
                log_info("policy.apply is never: %s is staged only", hops[0]);
        if (!rl->stage && !rl->plan && !m->op)
                stage_version(m, hops[0], on_auto_staged);
}

/* The version a staged JAR is of: state_dir/staging/<version>/metabase.jar */
static char *staged_version(const char *jar) {
        _cleanup_free_ char *dir = path_dirname(jar);
        const char *slash = dir ? strrchr(dir, '/') : NULL;

        return slash && mb_version_is_valid(slash + 1) ? strdup(slash + 1) : NULL;
}

static void
on_auto_staged(Manager *m, int r, bool refused, const char *jar, const char *sha256, const char *error) {
        Releases *rl = m->releases;
        sd_bus_error e = SD_BUS_ERROR_NULL;

        if (r < 0)
                return;
        /* Rehearsed before it is applied (policy.rehearse), once per release: the verdict decides
         * the unattended upgrade, and with apply: immediately it follows the verdict. */
        _cleanup_free_ char *version = staged_version(jar);
        if (version && m->config->policy.rehearse != REHEARSE_NEVER && !rehearse_has_result(m, version) &&
            !rehearse_running(m) && !rl->plan && !m->op && fleet_rehearses_here(m)) {
                r = rehearse_start(m, version, jar, sha256, REHEARSE_UNATTENDED, NULL, NULL, NULL, &e);
                if (r < 0 || sd_bus_error_is_set(&e))
                        log_warning("Not rehearsing %s: %s", version, e.message ?: strerror(-r));
                sd_bus_error_free(&e);
                if (rehearse_running(m))
                        return; /* releases_rehearsal_finished() goes on */
        }
        if (m->config->policy.apply == APPLY_IMMEDIATELY && !rl->plan && !m->op) {
                log_info("policy.apply is immediately: applying what the policy allows");
                (void) releases_window(m, 0, NULL, &e);
                if (sd_bus_error_is_set(&e))
                        log_warning("Not applying: %s", e.message);
                sd_bus_error_free(&e);
        }
}

/* The journal hears of a release once: when the feed first lists it as the newest, and it is
 * newer than the installed one. */
static void announce_new_release(Manager *m, const char *was_newest) {
        const char *newest = releases_newest_available(m);
        MbVersion a, b;

        if (isempty(newest) || streq_ptr(newest, was_newest) || !m->installed_version ||
            mb_version_parse(newest, &a) < 0 || mb_version_parse(m->installed_version, &b) < 0 ||
            mb_version_compare(&a, &b) <= 0)
                return;
        notify_new_release(m, newest, m->installed_version);
}

static void on_check_exit(Child *c, int status, const char *last, void *userdata) {
        Manager *m = userdata;
        Releases *rl = m->releases;
        _cleanup_free_ char *error = NULL, *text = NULL, *cache = NULL;
        char stamp[32];
        time_t t = time(NULL);
        struct tm tm;
        Feed *feed = NULL;
        size_t size;
        int r;

        rl->check_child = NULL;
        (void) strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
        r = parse_verdict(status, last, NULL, NULL, &error);
        if (r >= 0) {
                r = read_full_file(rl->check_output, FEED_SIZE_MAX + 1, &text, &size);
                if (r < 0)
                        error = strdup_printf("cannot read the downloaded feed: %s", strerror(-r));
        }
        (void) unlink(rl->check_output);
        if (r >= 0) {
                r = feed_parse(text, size, m->config->releases.channel == CHANNEL_BETA, &feed, &error);
                if (r < 0 && !error)
                        error = strdup(strerror(-r));
        }
        if (r < 0) {
                /* A broken feed keeps the last good one. */
                set_text(&rl->feed_error, "%s", strempty(error));
                set_text(
                        &rl->last_check,
                        "%s failed: %s%s",
                        stamp,
                        strempty(error),
                        rl->feed ? " (keeping the last good feed)" : "");
                log_warning("Release feed %s: %s", m->config->releases.feed, strempty(error));
                metrics_check_finished(m, false);
                manager_properties_changed(m, "LastCheck", NULL);
                check_reply_all(m, -EIO, rl->last_check);
                if (rl->plan_after_check) {
                        rl->plan_after_check = false;
                        plan_start_from_pending(m);
                }
                return;
        }
        _cleanup_free_ char *was_newest = strdup(releases_newest_available(m));
        feed_free(rl->feed);
        rl->feed = feed;
        announce_new_release(m, was_newest);
        metrics_check_finished(m, true);
        set_text(&rl->feed_error, "%s", "");
        set_text(
                &rl->last_check,
                "%s ok: %zu releases, newest %s%s%s",
                stamp,
                feed->n,
                feed->releases[0].version,
                feed->n_rejected ? "; ignored entries: " : "",
                feed->n_rejected ? feed->rejected_reason : "");
        if (feed->n_rejected)
                log_warning(
                        "Release feed: %zu entries ignored, e.g. %s", feed->n_rejected, feed->rejected_reason);
        cache = manager_state_path(m, "feed.json");
        if (cache && write_file_atomic(cache, text, size, 0644) < 0)
                log_warning("Failed to cache the feed in %s, ignoring", cache);
        manager_properties_changed(m, "LastCheck", "NewestAvailable", NULL);
        check_reply_all(m, 0, NULL);
        if (rl->plan_after_check) {
                rl->plan_after_check = false;
                plan_start_from_pending(m);
        } else
                releases_decide(m);
}

int releases_check(Manager *m, sd_bus_message *call, sd_bus_error *error) {
        Releases *rl = m->releases;
        _cleanup_free_ char *dir = staging_dir(m);
        int r;

        if (call) {
                if (rl->n_check_calls >= CHECK_CALLS_MAX)
                        return sd_bus_error_setf(error, MB_ERROR_BUSY, "Too many checks waiting; try again");
                rl->check_calls[rl->n_check_calls++] = sd_bus_message_ref(call);
        }
        if (rl->check_child)
                return 1; /* answered when the running check ends */
        if (!dir)
                return -ENOMEM;
        r = mkdir_parents_and_self(dir, 0755);
        free(rl->check_output);
        rl->check_output = path_join(dir, "feed.json.download");
        if (r >= 0 && !rl->check_output)
                r = -ENOMEM;
        if (r >= 0)
                r = spawn_fetch(
                        m,
                        m->config->releases.feed,
                        rl->check_output,
                        FEED_SIZE_MAX,
                        false,
                        NULL,
                        on_check_exit,
                        m,
                        &rl->check_child);
        if (r < 0) {
                _cleanup_free_ char *msg = strdup_printf(
                        "cannot start the download helper %s: %s", fetch_helper(), strerror(-r));
                check_reply_all(m, r, msg);
                return call ? 1 : r;
        }
        return 1;
}

static int arm_check_timer(Manager *m, uint64_t delay);

static int on_check_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        sd_bus_error e = SD_BUS_ERROR_NULL;

        (void) releases_check(m, NULL, &e);
        sd_bus_error_free(&e);
        (void) arm_check_timer(m, m->config->releases.check_every_usec);
        return 0;
}

static int arm_check_timer(Manager *m, uint64_t delay) {
        Releases *rl = m->releases;
        uint64_t jitter = 0;

        /* Up to a tenth more, so that a fleet of servers does not poll in step. */
        if (delay >= 10 * USEC_PER_SEC) {
                uint32_t rnd = 0;
                (void) getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK);
                jitter = (uint64_t) rnd % (delay / 10);
        }
        if (rl->timer) {
                (void) sd_event_source_set_time_accuracy(rl->timer, 60 * USEC_PER_SEC);
                (void) sd_event_source_set_time_relative(rl->timer, delay + jitter);
                return sd_event_source_set_enabled(rl->timer, SD_EVENT_ONESHOT);
        }
        /* Accuracy of a minute (the wake-up can be batched with others), but the first check, a
         * few seconds after start, on time. */
        return sd_event_add_time_relative(
                m->event,
                &rl->timer,
                CLOCK_BOOTTIME,
                delay + jitter,
                delay < 60 * USEC_PER_SEC ? USEC_PER_SEC : 60 * USEC_PER_SEC,
                on_check_timer,
                m);
}

/* Staging */

static void stage_finish(Manager *m, int r) {
        Releases *rl = m->releases;
        Stage *s = rl->stage;
        StageCallback cb = s->cb;

        rl->stage = NULL;
        /* A download still running beside the one that ended it: the JAR's, when the checksum
         * is missing, or the checksum's, when the JAR failed. */
        rl->stage_child = child_kill(rl->stage_child);
        rl->checksum_child = child_kill(rl->checksum_child);
        if (r < 0) {
                /* A refused download is bad content: not kept, not resumed. A failed one may be. */
                if (s->refused) {
                        const char *files[] = {s->jar, s->sha_file, s->sig_file};
                        for (size_t i = 0; i < ELEMENTSOF(files); i++)
                                if (files[i])
                                        (void) unlink(files[i]);
                }
                set_text(
                        &rl->staged,
                        "%s (%s: %s)",
                        s->version,
                        s->refused ? "refused" : "failed",
                        strempty(s->error));
                log_warning(
                        "Staging %s %s: %s", s->version, s->refused ? "refused" : "failed", strempty(s->error));
        } else {
                set_text(&rl->staged, "%s (verified)", s->version);
                log_info("Staged %s (verified, sha256 %s)", s->version, s->got_sha);
        }
        manager_properties_changed(m, "Staged", NULL);
        cb(m, r, s->refused, s->jar, s->got_sha, s->error);
        stage_free(s);

        if (m->releases->queued_version && !m->releases->stage) {
                _cleanup_free_ char *next = TAKE_PTR(m->releases->queued_version);
                stage_version(m, next, m->releases->queued_cb);
        }
}

static void stage_fail(Manager *m, bool refused, const char *fmt, ...) _printf_(3, 4);
static void stage_fail(Manager *m, bool refused, const char *fmt, ...) {
        Stage *s = m->releases->stage;
        va_list ap;

        free(s->error);
        va_start(ap, fmt);
        if (vasprintf(&s->error, fmt, ap) < 0)
                s->error = NULL;
        va_end(ap);
        s->refused = refused;
        stage_finish(m, -EIO);
}

/* Keeps the newest STAGED_KEEP staged releases (the one being staged among them). */
static void prune_staging(Manager *m, const char *keep) {
        _cleanup_free_ char *dir = staging_dir(m);
        _cleanup_strv_free_ char **versions = NULL;
        struct dirent **list = NULL;
        int n;

        if (!dir)
                return;
        n = scandir(dir, &list, NULL, NULL);
        for (int i = 0; i < n; i++) {
                if (list[i]->d_type == DT_DIR && mb_version_is_valid(list[i]->d_name))
                        (void) strv_extend(&versions, list[i]->d_name);
                free(list[i]);
        }
        free(list);
        /* newest first */
        size_t count = strv_length(versions);
        for (size_t i = 0; i < count; i++)
                for (size_t j = i + 1; j < count; j++) {
                        MbVersion a, b;
                        (void) mb_version_parse(versions[i], &a);
                        (void) mb_version_parse(versions[j], &b);
                        if (mb_version_compare(&a, &b) < 0) {
                                char *t = versions[i];
                                versions[i] = versions[j];
                                versions[j] = t;
                        }
                }
        size_t kept = keep ? 1 : 0;
        for (size_t i = 0; i < count; i++) {
                if (keep && streq(versions[i], keep))
                        continue;
                if (kept < STAGED_KEEP) {
                        kept++;
                        continue;
                }
                _cleanup_free_ char *d = path_join(dir, versions[i]);
                const char *files[] = {
                        "metabase.jar",
                        "metabase.jar.part",
                        "metabase.sha256",
                        "metabase.jar.sig",
                        "verified.json"};
                for (size_t k = 0; d && k < ELEMENTSOF(files); k++) {
                        _cleanup_free_ char *f = path_join(d, files[k]);
                        if (f)
                                (void) unlink(f);
                }
                if (d && rmdir(d) >= 0)
                        log_info("Removed the staged %s (at most %d are kept)", versions[i], STAGED_KEEP);
        }
}

typedef struct VerifyWork {
        Manager *m;
        Stage *s;
        char *java_path;
        char *unit, *jar; /* for the fix message */
        char *signing_key;
        char *error;
        char *warning; /* logged by on_verify_done(), in the main thread */
        bool refused;
} VerifyWork;

/* The signing key's fingerprint: SHA-256 of its DER SubjectPublicKeyInfo (what
 * `openssl pkey -pubin -outform DER | sha256sum` prints), recorded in verified.json. */
static int key_fingerprint(const char *key_path, char ret_hex[static SHA256_HEX_SIZE]) {
        _cleanup_fclose_ FILE *kf = NULL;
        unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
        unsigned md_len = 0;
        EVP_PKEY *key;
        int n, r = 0;

        kf = fopen(key_path, "re");
        if (!kf)
                return -errno;
        key = PEM_read_PUBKEY(kf, NULL, NULL, NULL);
        if (!key)
                return -EINVAL;
        n = i2d_PUBKEY(key, &der);
        if (n <= 0 || EVP_Digest(der, (size_t) n, md, &md_len, EVP_sha256(), NULL) != 1 || md_len != 32)
                r = -EIO;
        else
                for (unsigned i = 0; i < md_len; i++)
                        (void) snprintf(ret_hex + 2 * i, 3, "%02x", md[i]);
        OPENSSL_free(der);
        EVP_PKEY_free(key);
        return r;
}

static int verify_signature(const char *key_path, const char *file, const char *sig_path, char **error) {
        _cleanup_free_ char *sig = NULL;
        _cleanup_fclose_ FILE *kf = NULL;
        _cleanup_close_ int fd = -EBADF;
        EVP_PKEY *key = NULL;
        EVP_MD_CTX *ctx = NULL;
        size_t sig_len;
        int r, ok = 0;

        r = read_full_file(sig_path, SMALL_FILE_MAX, &sig, &sig_len);
        if (r < 0)
                return *error = strdup_printf("cannot read the signature: %s", strerror(-r)), r;
        kf = fopen(key_path, "re");
        if (!kf)
                return *error = strdup_printf("cannot read releases.signing_key %s: %m", key_path), -errno;
        key = PEM_read_PUBKEY(kf, NULL, NULL, NULL);
        if (!key)
                return *error = strdup_printf("releases.signing_key %s is not a PEM public key", key_path),
                       -EINVAL;
        fd = open(file, O_RDONLY | O_CLOEXEC);
        ctx = EVP_MD_CTX_new();
        if (fd < 0 || !ctx) {
                r = fd < 0 ? negative_errno() : -ENOMEM;
                goto finish;
        }
        if (EVP_PKEY_get_id(key) == EVP_PKEY_ED25519 || EVP_PKEY_get_id(key) == EVP_PKEY_ED448) {
                /* Pure EdDSA signs the whole message at once: map the file, don't copy it. */
                struct stat st;
                void *p;
                if (fstat(fd, &st) < 0 || st.st_size == 0) {
                        r = -EIO;
                        goto finish;
                }
                p = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
                if (p == MAP_FAILED) {
                        r = negative_errno();
                        goto finish;
                }
                ok = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
                        EVP_DigestVerify(ctx, (unsigned char *) sig, sig_len, p, (size_t) st.st_size) == 1;
                (void) munmap(p, (size_t) st.st_size);
        } else {
                static char buf[1024 * 1024];
                ssize_t k;
                ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1;
                while (ok && (k = read(fd, buf, sizeof(buf))) > 0)
                        ok = EVP_DigestVerifyUpdate(ctx, buf, (size_t) k) == 1;
                ok = ok && EVP_DigestVerifyFinal(ctx, (unsigned char *) sig, sig_len) == 1;
        }
        r = ok ? 0 : -EBADMSG;
finish:
        if (r == -EBADMSG)
                *error = strdup_printf(
                        "the signature metabase.jar.sig does not verify with releases.signing_key %s",
                        key_path);
        else if (r < 0 && !*error)
                *error = strdup_printf("cannot verify the signature: %s", strerror(-r));
        EVP_MD_CTX_free(ctx);
        EVP_PKEY_free(key);
        return r;
}

static int verify_run(void *userdata) {
        VerifyWork *w = userdata;
        Stage *s = w->s;
        _cleanup_free_ char *err = NULL, *json = NULL, *marker = NULL;
        JarInfo *info = NULL;
        json_object *o;
        unsigned java = 0, need;
        int r;

        w->refused = true;
        if (s->has_published_sha && !streq(s->published_sha, s->got_sha)) {
                w->error = strdup_printf(
                        "the download does not match metabase.sha256: got %s, published %s",
                        s->got_sha,
                        s->published_sha);
                return -EBADMSG;
        }
        char key_fp[SHA256_HEX_SIZE] = "";
        if (!isempty(w->signing_key)) {
                r = verify_signature(w->signing_key, s->jar, s->sig_file, &w->error);
                if (r < 0)
                        return r;
                r = key_fingerprint(w->signing_key, key_fp);
                if (r < 0) {
                        w->error = strdup_printf(
                                "cannot read releases.signing_key %s: %s", w->signing_key, strerror(-r));
                        return r;
                }
        }
        r = jar_inspect(s->jar, 0, &info, &err);
        if (r < 0) {
                w->error = strdup_printf("the download is not a Metabase JAR: %s", strempty(err));
                return r;
        }
        if (!streq(info->tag, s->version)) {
                w->error = strdup_printf(
                        "the JAR downloaded for %s says it is %s (version.properties)", s->version, info->tag);
                jar_info_free(info);
                return -EBADMSG;
        }
        /* The scan of every class ran here, in the worker: recorded in verified.json, so that
         * pre-flight of this staged release does not scan again. */
        need = jar_java_needed(info, &w->warning);
        if (w->java_path) {
                free(err);
                err = NULL;
                r = java_feature_version(w->java_path, &java, &err);
                if (r >= 0 && need > java) {
                        _cleanup_free_ char *fix = java_fix_message(need, w->unit, w->jar),
                                            *why = jar_java_reason(info, need);
                        w->error = strdup_printf(
                                "%s needs Java %u (%s) but the unit runs Java %u (%s); %s",
                                s->version,
                                need,
                                strempty(why),
                                java,
                                w->java_path,
                                strempty(fix));
                        jar_info_free(info);
                        return -ENOEXEC;
                }
        }
        o = json_object_new_object();
        if (!o || json_object_object_add(o, "version", json_object_new_string(s->version)) < 0 ||
            json_object_object_add(o, "sha256", json_object_new_string(s->got_sha)) < 0 ||
            json_object_object_add(o, "size", json_object_new_uint64(s->size)) < 0 ||
            json_object_object_add(o, "java_needed", json_object_new_int((int) need)) < 0 ||
            json_object_object_add(o, "class_major", json_object_new_int((int) info->class_major)) < 0 ||
            json_object_object_add(o, "main_class_major", json_object_new_int((int) info->main_class_major)) <
                    0 ||
            json_object_object_add(o, "classes", json_object_new_int64(info->classes)) < 0 ||
            json_object_object_add(
                    o, "newest_class", info->newest_class ? json_object_new_string(info->newest_class) : NULL) <
                    0 ||
            json_object_object_add(o, "checksum", json_object_new_boolean(s->has_published_sha)) < 0 ||
            json_object_object_add(
                    o,
                    "checksum_sha256",
                    s->has_published_sha ? json_object_new_string(s->published_sha) : NULL) < 0 ||
            json_object_object_add(o, "signature", json_object_new_boolean(!isempty(w->signing_key))) < 0 ||
            json_object_object_add(o, "signing_key_sha256", *key_fp ? json_object_new_string(key_fp) : NULL) <
                    0 ||
            json_object_object_add(o, "verified_usec", json_object_new_uint64(now_realtime_usec())) < 0) {
                json_object_put(o);
                jar_info_free(info);
                return -ENOMEM;
        }
        json = strdup_printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
        jar_info_free(info);
        marker = path_join(s->dir, "verified.json");
        w->refused = false;
        if (!json || !marker)
                return -ENOMEM;
        r = write_file_atomic(marker, json, strlen(json), 0644);
        if (r < 0)
                w->error = strdup_printf("cannot write %s: %s", marker, strerror(-r));
        return r;
}

/* A rehearsal runs the staged JAR with the unit's User=, so the metabase user must read it: the
 * JAR 0644 (fetched 0600) and root's still (never that user's: root opens it again later), the
 * directories down to it (root's, made under the daemon's UMask=0077) 0755. */
static int stage_make_readable(const char *root, const char *dir, const char *jar) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        if (chmod(root, 0755) < 0 || chmod(dir, 0755) < 0)
                return negative_errno();
        fd = open(jar, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0 || fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if ((st.st_mode & 07777) != 0644 && fchmod(fd, 0644) < 0)
                return negative_errno();
        return 0;
}

static void on_verify_done(int r, void *userdata) {
        VerifyWork *w = userdata;
        Manager *m = w->m;
        _cleanup_free_ char *root = staging_dir(m);

        if (w->warning)
                log_warning("Staging %s: %s", w->s->version, w->warning);
        if (r >= 0) {
                r = root ? stage_make_readable(root, w->s->dir, w->s->jar) : -ENOMEM;
                if (r < 0)
                        w->error = strdup_printf("cannot make %s readable: %s", w->s->jar, strerror(-r));
        }
        if (r < 0)
                stage_fail(m, w->refused, "%s", strempty(w->error));
        else
                stage_finish(m, 0);
        free(w->java_path);
        free(w->unit);
        free(w->jar);
        free(w->warning);
        free(w->signing_key);
        free(w->error);
        free(w);
}

static void stage_verify(Manager *m) {
        Stage *s = m->releases->stage;
        VerifyWork *w;
        int r;

        s->phase = 3;
        test_hook_crash_point("verify");
        set_text(&m->releases->staged, "%s (verifying)", s->version);
        manager_properties_changed(m, "Staged", NULL);
        w = calloc(1, sizeof(VerifyWork));
        if (!w) {
                stage_fail(m, false, "out of memory");
                return;
        }
        w->m = m;
        w->s = s;
        w->java_path = m->unit && m->unit->exec_path ? strdup(m->unit->exec_path) : NULL;
        w->signing_key = strdup(strempty(m->config->releases.signing_key));
        w->unit = strdup(strempty(m->config->service.unit));
        w->jar = strdup(
                !isempty(m->config->service.jar) ? m->config->service.jar
                                                 : strempty(m->unit ? unit_info_jar(m->unit) : NULL));
        r = worker_run(m->event, verify_run, on_verify_done, w);
        if (r < 0) {
                free(w->java_path);
                free(w->unit);
                free(w->jar);
                free(w->signing_key);
                free(w);
                stage_fail(m, false, "cannot start the verification: %s", strerror(-r));
        }
}

static void stage_next(Manager *m);

static void on_stage_line(Child *c, const char *line, void *userdata) {
        Manager *m = userdata;
        Stage *s = m->releases->stage;
        uint64_t done, total;

        if (!s || s->phase != 1 || sscanf(line, "progress %" SCNu64 " %" SCNu64, &done, &total) != 2)
                return;
        s->downloaded = done;
        s->total = total;
        if (total > 0)
                set_text(
                        &m->releases->staged,
                        "%s (downloading %" PRIu64 "%%, %" PRIu64 " MB)",
                        s->version,
                        done * 100 / total,
                        done >> 20);
        else
                set_text(&m->releases->staged, "%s (downloading, %" PRIu64 " MB)", s->version, done >> 20);
        manager_properties_changed(m, "Staged", NULL);
}

/* metabase.sha256, downloaded beside the JAR rather than before it: on a small machine its
 * helper's start and TLS handshake would otherwise add to every staging's time. */
static void on_checksum_exit(Child *c, int status, const char *last, void *userdata) {
        Manager *m = userdata;
        Stage *s = m->releases->stage;
        _cleanup_free_ char *error = NULL, *text = NULL;
        int r;

        m->releases->checksum_child = NULL;
        r = parse_verdict(status, last, NULL, NULL, &error);
        /* Not published: 404 from a server, a missing file in a mirror on disk. */
        if (r < 0 && error &&
            (strstr(error, "HTTP 404") || strstr(error, "HTTP 410") || strstr(error, "Couldn't open file"))) {
                if (m->config->releases.require_checksum) {
                        stage_fail(
                                m,
                                true,
                                "no metabase.sha256 is published for %s (%s); releases.require_checksum "
                                "is true, so it is not installed",
                                s->version,
                                s->sha_url);
                        return;
                }
                log_warning("No metabase.sha256 for %s; going on (require_checksum is false)", s->version);
        } else if (r < 0) {
                stage_fail(m, false, "downloading %s failed: %s", s->sha_url, strempty(error));
                return;
        } else {
                size_t n;
                r = read_full_file(s->sha_file, SMALL_FILE_MAX, &text, &n);
                if (r < 0 || feed_checksum_parse(text, n, s->published_sha) < 0) {
                        stage_fail(m, true, "%s is not a SHA-256 checksum file", s->sha_url);
                        return;
                }
                s->has_published_sha = true;
        }
        s->checksum_done = true;
        if (s->phase > 1) /* the JAR is there already */
                stage_next(m);
}

static void on_stage_exit(Child *c, int status, const char *last, void *userdata) {
        Manager *m = userdata;
        Stage *s = m->releases->stage;
        _cleanup_free_ char *error = NULL;
        int r;

        m->releases->stage_child = NULL;
        /* Only the JAR's own size and hash are kept: the small files have theirs too. */
        uint64_t size;
        char sha[SHA256_HEX_SIZE];
        r = parse_verdict(status, last, &size, sha, &error);
        if (r >= 0 && s->phase == 1) {
                s->size = size;
                memcpy(s->got_sha, sha, sizeof(sha));
        }
        switch (s->phase) {
        case 1: /* the JAR */
                if (r < 0) {
                        stage_fail(m, false, "downloading %s failed: %s", s->jar_url, strempty(error));
                        return;
                }
                s->phase = isempty(m->config->releases.signing_key) ? 3 : 2;
                break;
        case 2: /* the signature */
                if (r < 0) {
                        stage_fail(
                                m,
                                true,
                                "releases.signing_key is set but %s could not be downloaded: %s",
                                s->sig_url,
                                strempty(error));
                        return;
                }
                s->phase = 3;
                break;
        }
        /* The checksum's download ends first nearly always; until it has, the next step waits. */
        if (s->checksum_done)
                stage_next(m);
}

static void stage_next(Manager *m) {
        Releases *rl = m->releases;
        Stage *s = rl->stage;
        int r = 0;

        switch (s->phase) {
        case 1:
                set_text(&rl->staged, "%s (downloading)", s->version);
                r = spawn_fetch(
                        m,
                        s->sha_url,
                        s->sha_file,
                        SMALL_FILE_MAX,
                        false,
                        NULL,
                        on_checksum_exit,
                        m,
                        &rl->checksum_child);
                if (r < 0)
                        break;
                r = spawn_fetch(
                        m, s->jar_url, s->jar, JAR_SIZE_MAX, true, on_stage_line, on_stage_exit, m, &rl->stage_child);
                if (r >= 0)
                        test_hook_crash_point("download");
                break;
        case 2:
                r = spawn_fetch(
                        m, s->sig_url, s->sig_file, SMALL_FILE_MAX, false, NULL, on_stage_exit, m, &rl->stage_child);
                break;
        case 3:
                stage_verify(m);
                return;
        }
        manager_properties_changed(m, "Staged", NULL);
        if (r < 0)
                stage_fail(m, false, "cannot start the download helper %s: %s", fetch_helper(), strerror(-r));
}

/* An already verified staging directory: its verified.json matches the JAR's size, and what was
 * verified then is what the configuration requires now (a checksum when require_checksum is
 * true, a signature by this very signing_key when one is set). A stage verified under a laxer
 * configuration is stale: it is staged again, never installed on the old verdict. */
static bool
stage_is_verified(Manager *m, const char *dir, const char *version, char *ret_sha256, const char **ret_stale) {
        _cleanup_free_ char *marker = path_join(dir, "verified.json"), *jar = path_join(dir, "metabase.jar"),
                            *text = NULL;
        json_object *o, *v, *sha;
        const char *stale = NULL;
        char fp[SHA256_HEX_SIZE];
        struct stat st;
        bool ok = false;

        if (!marker || !jar || read_full_file(marker, 64 * 1024, &text, NULL) < 0 || stat(jar, &st) < 0)
                return false;
        o = json_tokener_parse(text);
        if (o && json_object_object_get_ex(o, "version", &v) &&
            streq(strempty(json_object_get_string(v)), version) && json_object_object_get_ex(o, "size", &v) &&
            (uint64_t) json_object_get_uint64(v) == (uint64_t) st.st_size &&
            json_object_object_get_ex(o, "sha256", &sha) &&
            sha256_hex_is_valid(strempty(json_object_get_string(sha)))) {
                if (m->config->releases.require_checksum &&
                    !(json_object_object_get_ex(o, "checksum", &v) && json_object_get_boolean(v)))
                        stale = "it was staged without a published checksum and releases.require_checksum is "
                                "true now";
                else if (
                        !isempty(m->config->releases.signing_key) &&
                        !(json_object_object_get_ex(o, "signature", &v) && json_object_get_boolean(v)))
                        stale = "it was staged without a signature check and releases.signing_key is set now";
                else if (
                        !isempty(m->config->releases.signing_key) &&
                        (key_fingerprint(m->config->releases.signing_key, fp) < 0 ||
                         !json_object_object_get_ex(o, "signing_key_sha256", &v) ||
                         !streq(strempty(json_object_get_string(v)), fp)))
                        stale = "its signature was checked with another key than releases.signing_key";
                else {
                        ok = true;
                        if (ret_sha256)
                                memcpy(ret_sha256, json_object_get_string(sha), SHA256_HEX_SIZE);
                }
        }
        if (ret_stale)
                *ret_stale = stale;
        json_object_put(o);
        return ok;
}

static void stage_version(Manager *m, const char *version, StageCallback cb) {
        Releases *rl = m->releases;
        _cleanup_free_ char *root = NULL;
        Stage *s;
        int r;

        /* One staging at a time: the same version takes over the running one (a plan's callback
         * replaces the background's), another one waits for it. */
        if (rl->stage) {
                if (streq(rl->stage->version, version))
                        rl->stage->cb = cb;
                else {
                        (void) free_and_strdup(&rl->queued_version, version);
                        rl->queued_cb = cb;
                }
                return;
        }
        root = staging_dir(m);

        s = calloc(1, sizeof(Stage));
        if (!s || !root) {
                free(s);
                cb(m, -ENOMEM, false, NULL, NULL, "out of memory");
                return;
        }
        s->cb = cb;
        s->phase = 1;
        s->version = strdup(version);
        s->dir = path_join(root, version);
        s->jar = s->dir ? path_join(s->dir, "metabase.jar") : NULL;
        s->sha_file = s->dir ? path_join(s->dir, "metabase.sha256") : NULL;
        s->sig_file = s->dir ? path_join(s->dir, "metabase.jar.sig") : NULL;
        s->jar_url = feed_download_url(m->config->releases.downloads, m->config->releases.edition, version);
        if (s->jar_url) {
                char *slash = strrchr(s->jar_url, '/');
                s->sha_url = strdup_printf("%.*smetabase.sha256", (int) (slash - s->jar_url + 1), s->jar_url);
                s->sig_url = strdup_printf("%s.sig", s->jar_url);
        }
        rl->stage = s;
        if (!s->version || !s->jar || !s->sha_file || !s->sig_file || !s->sha_url || !s->sig_url) {
                stage_fail(
                        m,
                        true,
                        "%s can't be downloaded for the %s edition",
                        version,
                        edition_to_string(m->config->releases.edition));
                return;
        }
        const char *stale = NULL;
        if (stage_is_verified(m, s->dir, version, s->got_sha, &stale)) {
                /* staged by an earlier mbupgraded, which left it 0600 */
                r = stage_make_readable(root, s->dir, s->jar);
                if (r < 0) {
                        stage_fail(m, false, "cannot make %s readable: %s", s->jar, strerror(-r));
                        return;
                }
                set_text(&rl->staged, "%s (verified)", version);
                rl->stage = NULL;
                manager_properties_changed(m, "Staged", NULL);
                cb(m, 0, false, s->jar, s->got_sha, NULL);
                stage_free(s);
                return;
        }
        if (stale) {
                /* Staged anew, from the download on: the old files carry the old verdict. */
                _cleanup_free_ char *marker = path_join(s->dir, "verified.json");
                log_notice("The staged %s is downloaded and verified anew: %s", version, stale);
                if (marker)
                        (void) unlink(marker);
                (void) unlink(s->jar);
                (void) unlink(s->sha_file);
                (void) unlink(s->sig_file);
        }
        r = mkdir_parents_and_self(s->dir, 0755);
        if (r < 0) {
                stage_fail(m, false, "cannot create %s: %s", s->dir, strerror(-r));
                return;
        }
        prune_staging(m, version);
        log_info("Staging %s from %s", version, s->jar_url);
        stage_next(m);
}

void releases_stage(Manager *m, const char *version, StageCallback cb) {
        stage_version(m, version, cb);
}

/* Plans */

static void plan_finish(Manager *m, Result result, const char *reason) {
        Releases *rl = m->releases;
        Plan *p = rl->plan;
        Operation fake = {
                .id = p->id,
                .kind = OPERATION_UPGRADE,
                .result = result,
                .from_version = p->from,
                .to_version = p->last_to ?: (p->hops[0] ?: ""),
                .reason = (char *) reason,
        };

        rl->plan = NULL;
        bus_api_emit_finished(m, &fake);
        if (result != RESULT_COMMITTED)
                manager_set_status(
                        m,
                        "Idle; upgrade to %s: %s: %s",
                        strempty(fake.to_version),
                        result_to_string(result),
                        strempty(reason));
        plan_free(p);
        manager_properties_changed(m, "State", NULL);
}

static void plan_next_hop(Manager *m);

static void
on_hop_staged(Manager *m, int r, bool refused, const char *jar, const char *sha256, const char *error) {
        Releases *rl = m->releases;
        Plan *p = rl->plan;
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

        if (!p)
                return;
        if (r < 0) {
                plan_finish(m, refused ? RESULT_REFUSED : RESULT_FAILED, error);
                return;
        }
        r = engine_upgrade(m, jar, sha256, p->flags & ENGINE_FORCE, NULL, &e);
        if (r < 0 || sd_bus_error_is_set(&e)) {
                plan_finish(
                        m,
                        sd_bus_error_has_name(&e, MB_ERROR_REFUSED) ? RESULT_REFUSED : RESULT_FAILED,
                        e.message ?: strerror(-r));
                return;
        }
        p->op_id = m->op ? m->op->id : 0;
}

static void plan_next_hop(Manager *m) {
        Plan *p = m->releases->plan;
        const char *hop = p->hops[p->next++];

        manager_set_status(m, "Upgrade to %s: staging", hop);
        stage_version(m, hop, on_hop_staged);
}

void releases_operation_finished(Manager *m, const Operation *op) {
        Plan *p = m->releases ? m->releases->plan : NULL;

        if (!p || op->id != p->op_id)
                return;
        if (op->result != RESULT_COMMITTED) {
                /* Unattended, the same release would fail the same way at the next check; not
                 * so a fleet's node whose proposal lost to another node's (it joins that one). */
                if (p->unattended &&
                    !(m->config->fleet.enabled && op->result == RESULT_REFUSED && !op->fleet_rollout))
                        (void) free_and_strdup(&m->releases->blocked, op->to_version);
                plan_finish(m, op->result, op->reason);
                return;
        }
        (void) free_and_strdup(&p->last_to, op->to_version);
        if (!p->hops[p->next]) {
                plan_finish(m, RESULT_COMMITTED, "");
                return;
        }
        plan_next_hop(m);
}

static char *plan_summary(char **hops, const char *from) {
        _cleanup_free_ char *s = strdup(strempty(from));

        for (char **h = hops; s && h && *h; h++) {
                char *n = strdup_printf("%s -> %s", s, *h);
                free(s);
                s = n;
        }
        return TAKE_PTR(s);
}

/* The longest of the last upgrades (start to end, rolled back ones included: a window must have
 * room for a rollback too), from the history; 0 when there is none. */
static uint64_t past_upgrade_usec(Manager *m) {
        _cleanup_free_ char *path = manager_state_path(m, "history.jsonl"), *text = NULL;
        uint64_t longest = 0;
        char *save = NULL;

        if (!path || read_full_file(path, 16 * 1024 * 1024, &text, NULL) < 0)
                return 0;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                json_object *o = json_tokener_parse(line), *kind, *result, *a, *b;
                if (o && json_object_object_get_ex(o, "kind", &kind) &&
                    streq(strempty(json_object_get_string(kind)), "upgrade") &&
                    json_object_object_get_ex(o, "result", &result) &&
                    (streq(strempty(json_object_get_string(result)), "committed") ||
                     streq(strempty(json_object_get_string(result)), "rolled-back")) &&
                    json_object_object_get_ex(o, "started_usec", &a) &&
                    json_object_object_get_ex(o, "finished_usec", &b)) {
                        uint64_t s = json_object_get_uint64(a), e = json_object_get_uint64(b);
                        if (e > s && e - s > longest)
                                longest = e - s;
                }
                json_object_put(o);
        }
        return longest;
}

static int plan_begin(
        Manager *m,
        const char *version,
        uint64_t flags,
        bool unattended,
        sd_bus_message *call,
        sd_bus_error *error) {
        Releases *rl = m->releases;
        _cleanup_free_ char *err = NULL, *summary = NULL;
        _cleanup_strv_free_ char **hops = NULL;
        MbVersion installed;
        PolicyInput in;
        Plan *p;
        int r;

        if (m->op || rl->plan)
                return sd_bus_error_setf(
                        error, MB_ERROR_BUSY, "An upgrade is already running; see mbctl status");
        if (!m->installed_version)
                return sd_bus_error_setf(
                        error,
                        MB_ERROR_REFUSED,
                        "The installed Metabase version is unknown (cannot read the JAR of %s)",
                        m->config->service.unit);
        if (!rl->feed)
                return sd_bus_error_setf(
                        error,
                        MB_ERROR_REFUSED,
                        "No release feed has been read yet%s%s",
                        rl->feed_error && *rl->feed_error ? ": " : "; run mbctl check",
                        strempty(rl->feed_error));
        in = policy_input(m, unattended ? POLICY_UNATTENDED : POLICY_ADMIN, flags & ENGINE_FORCE, &installed);
        r = policy_plan(rl->feed, &in, isempty(version) ? NULL : version, &hops, &err);
        if (r == -EINVAL)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "%s", strempty(err));
        if (r < 0)
                return sd_bus_error_setf(
                        error,
                        MB_ERROR_REFUSED,
                        "%s%s",
                        err ?: strerror(-r),
                        r == -EPERM && m->hold && !unattended ? " (run mbctl unhold, or use --force)" : "");
        if (!hops || !hops[0]) {
                if (call)
                        return sd_bus_reply_method_return(
                                call,
                                "ts",
                                (uint64_t) 0,
                                unattended ? "Nothing the policy allows is newer than the "
                                             "installed version; nothing to do"
                                           : "The installed version is the newest; nothing to do");
                return 0;
        }
        if (unattended && rl->blocked && strv_contains(hops, rl->blocked))
                return sd_bus_error_setf(
                        error,
                        MB_ERROR_REFUSED,
                        "the last unattended upgrade to %s failed and was rolled back; it is not "
                        "retried unattended (try it with: mbctl upgrade now --to %s)",
                        rl->blocked,
                        rl->blocked);
        /* A release whose rehearsal failed is not applied but by an admin's --force (issue 8). */
        for (char **h = hops; !(flags & ENGINE_FORCE) && *h; h++) {
                const char *why = rehearse_blocked(m, *h);
                if (why)
                        return sd_bus_error_setf(
                                error,
                                MB_ERROR_REFUSED,
                                "the rehearsal of %s on a copy of the application database failed: %s. It is not "
                                "applied%s; to upgrade anyway: mbctl upgrade now --to %s --force",
                                *h,
                                why,
                                unattended ? " unattended" : " without --force",
                                *h);
        }
        if (unattended && m->config->policy.window_max_usec > 0) {
                uint64_t past = past_upgrade_usec(m), need = 0, rehearsed = 0;
                char a[32], b[32];

                /* A rehearsed hop: its measured downtime and the settle period; else the longest
                 * past upgrade. */
                for (char **h = hops; *h; h++) {
                        uint64_t e = rehearse_expected_usec(m, *h);
                        if (e > 0)
                                rehearsed++;
                        need += e > 0 ? e + m->config->service.settle_usec : past;
                }
                if (need > m->config->policy.window_max_usec)
                        return sd_bus_error_setf(
                                error,
                                MB_ERROR_REFUSED,
                                "%zu upgrade%s would not fit in the window: they would take about %s (%s), "
                                "policy.window_max is %s; run it by hand (mbctl upgrade now) or widen the window",
                                strv_length(hops),
                                strv_length(hops) == 1 ? "" : "s",
                                format_duration(
                                        (need + USEC_PER_SEC - 1) / USEC_PER_SEC * USEC_PER_SEC, a, sizeof(a)),
                                rehearsed == strv_length(hops)
                                        ? "measured by rehearsals on a copy of the database, plus service.settle"
                                        : rehearsed > 0
                                        ? "rehearsals' measures, and past upgrades for the others"
                                        : "past upgrades' durations",
                                format_duration(m->config->policy.window_max_usec, b, sizeof(b)));
        }
        summary = plan_summary(hops, m->installed_version);
        if (flags & ENGINE_DRY_RUN) {
                _cleanup_free_ char *text = NULL, *root = staging_dir(m);

                text = strdup_printf(
                        "Plan: %s (%zu hop%s; each: stop, back up the database, swap, start, verify, and roll "
                        "back on failure)",
                        strempty(summary),
                        strv_length(hops),
                        strv_length(hops) == 1 ? "" : "s");
                /* What each hop needs first: a staged JAR, or a download and its checks. */
                for (char **h = hops; text && root && *h; h++) {
                        _cleanup_free_ char *dir = path_join(root, *h), *url = NULL, *line = NULL;

                        if (dir && stage_is_verified(m, dir, *h, NULL, NULL))
                                line = strdup_printf("%s\n  %s: staged and verified", text, *h);
                        else {
                                url = feed_download_url(
                                        m->config->releases.downloads, m->config->releases.edition, *h);
                                line = strdup_printf(
                                        "%s\n  %s: download %s, check %s%s, its version.properties and the Java it needs",
                                        text,
                                        *h,
                                        strempty(url),
                                        m->config->releases.require_checksum
                                                ? "metabase.sha256 (required)"
                                                : "metabase.sha256 (if published)",
                                        isempty(m->config->releases.signing_key) ? "" : ", the signature");
                        }
                        free(text);
                        text = TAKE_PTR(line);
                        uint64_t e = rehearse_expected_usec(m, *h);
                        if (text && e > 0)
                                line = strdup_printf(
                                        "%s\n  %s: expected downtime %.1fs (its rehearsal on a copy of the database)",
                                        text,
                                        *h,
                                        (double) e / USEC_PER_SEC);
                        else if (text)
                                line = strdup_printf(
                                        "%s\n  %s: expected downtime unknown (not rehearsed: mbctl rehearse %s)",
                                        text,
                                        *h,
                                        *h);
                        if (line) {
                                free(text);
                                text = TAKE_PTR(line);
                        }
                }
                return call ? sd_bus_reply_method_return(call, "ts", (uint64_t) 0, strempty(text)) : 0;
        }
        p = calloc(1, sizeof(Plan));
        if (!p)
                return -ENOMEM;
        p->id = now_realtime_usec() / 1000;
        if (p->id <= m->last_op_id)
                p->id = m->last_op_id + 1;
        m->last_op_id = p->id;
        p->hops = TAKE_PTR(hops);
        p->flags = flags;
        p->unattended = unattended;
        p->from = strdup(m->installed_version);
        rl->plan = p;
        log_notice("Upgrade plan %" PRIu64 ": %s", p->id, strempty(summary));
        if (call)
                r = sd_bus_reply_method_return(call, "ts", p->id, strempty(summary));
        plan_next_hop(m);
        return call ? r : 1;
}

static void plan_start_from_pending(Manager *m) {
        Releases *rl = m->releases;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = TAKE_PTR(rl->plan_call);
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *version = TAKE_PTR(rl->pending_version);
        int r;

        r = plan_begin(m, version, rl->pending_flags, rl->pending_window, call, &e);
        if (call && (r < 0 || sd_bus_error_is_set(&e))) {
                if (!sd_bus_error_is_set(&e))
                        (void) sd_bus_error_set_errno(&e, r);
                (void) sd_bus_reply_method_error(call, &e);
        }
}

static int begin_or_wait(
        Manager *m, const char *version, uint64_t flags, bool window, sd_bus_message *call, sd_bus_error *error) {
        Releases *rl = m->releases;
        int r;

        /* No feed yet (the first check is still running or failed): read it, then plan. */
        if (!rl->feed) {
                if (rl->plan_call)
                        return sd_bus_error_setf(error, MB_ERROR_BUSY, "An upgrade already waits for the feed");
                rl->plan_call = sd_bus_message_ref(call);
                rl->pending_version = strdup(strempty(version));
                rl->pending_flags = flags;
                rl->pending_window = window;
                rl->plan_after_check = true;
                r = releases_check(m, NULL, error);
                return r < 0 ? r : 1;
        }
        /* The window waits for a rehearsal's verdict rather than apply what it may refuse. Not
         * for the leftover unit's removal at start, which has no version: it never reports a
         * verdict (releases_rehearsal_finished()), so the window would wait for ever. */
        if (window && !(flags & ENGINE_DRY_RUN) && rehearse_running_version(m)) {
                if (rl->plan_call)
                        return sd_bus_error_setf(error, MB_ERROR_BUSY, "An upgrade already waits");
                log_info("The window waits for the rehearsal of %s", rehearse_running_version(m));
                rl->plan_call = sd_bus_message_ref(call);
                rl->pending_version = strdup(strempty(version));
                rl->pending_flags = flags;
                rl->pending_window = window;
                rl->plan_after_rehearsal = true;
                return 1;
        }
        r = plan_begin(m, version, flags, window, call, error);
        return r < 0 ? r : 1;
}

void releases_rehearsal_finished(Manager *m, const char *version, int result) {
        Releases *rl = m->releases;
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

        if (!rl)
                return;
        if (rl->plan_after_rehearsal) {
                rl->plan_after_rehearsal = false;
                plan_start_from_pending(m);
                return;
        }
        if (result == REHEARSAL_CANCELED || m->config->policy.apply != APPLY_IMMEDIATELY || rl->plan || m->op)
                return;
        log_info(
                "policy.apply is immediately: applying what the policy allows after the rehearsal of %s",
                version);
        (void) releases_window(m, 0, NULL, &e);
        if (sd_bus_error_is_set(&e))
                log_warning("Not applying: %s", e.message);
}

/* mbctl rehearse: the release staged (downloaded and verified) if need be, then rehearsed. */
static void
on_rehearse_staged(Manager *m, int r, bool refused, const char *jar, const char *sha256, const char *error) {
        Releases *rl = m->releases;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = TAKE_PTR(rl->rehearse_call);
        _cleanup_free_ char *version = TAKE_PTR(rl->rehearse_version), *summary = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        uint64_t id = 0;

        if (!call)
                return;
        if (r < 0) {
                (void) sd_bus_reply_method_errorf(
                        call,
                        refused ? MB_ERROR_REFUSED : SD_BUS_ERROR_FAILED,
                        "%s can't be rehearsed: staging it %s: %s",
                        strempty(version),
                        refused ? "was refused" : "failed",
                        strempty(error));
                return;
        }
        r = rehearse_start(m, version, jar, sha256, 0, NULL, NULL, &id, &e);
        if (r < 0 || sd_bus_error_is_set(&e)) {
                if (!sd_bus_error_is_set(&e))
                        (void) sd_bus_error_set_errno(&e, r);
                (void) sd_bus_reply_method_error(call, &e);
                return;
        }
        summary = strdup_printf(
                "Rehearsing %s on a copy of the application database (%s runs on, untouched)",
                version,
                m->config->service.unit);
        (void) sd_bus_reply_method_return(call, "ts", id, strempty(summary));
}

int releases_rehearse(Manager *m, const char *version, sd_bus_message *call, sd_bus_error *error) {
        Releases *rl = m->releases;
        const char *v = version;
        MbVersion a, b;

        if (m->op || rl->plan || rehearse_running(m) || rl->rehearse_call)
                return sd_bus_error_setf(
                        error,
                        MB_ERROR_BUSY,
                        "%s is running; rehearse when it is done (mbctl status)",
                        rehearse_running(m) ? "A rehearsal" : "An operation");
        if (!rl->feed)
                return sd_bus_error_setf(
                        error, MB_ERROR_REFUSED, "No release feed has been read yet; run mbctl check first");
        if (isempty(v))
                v = !isempty(rl->newest_allowed) ? rl->newest_allowed : releases_newest_available(m);
        if (isempty(v) || !feed_find(rl->feed, v))
                return sd_bus_error_setf(
                        error,
                        MB_ERROR_REFUSED,
                        "%s%s is not in the release feed; mbctl list shows what is",
                        isempty(v) ? "No release" : v,
                        "");
        if (m->installed_version && mb_version_parse(v, &a) >= 0 &&
            mb_version_parse(m->installed_version, &b) >= 0 && mb_version_compare(&a, &b) <= 0)
                return sd_bus_error_setf(
                        error,
                        MB_ERROR_REFUSED,
                        "%s is not newer than the installed %s: there is no migration to rehearse",
                        v,
                        m->installed_version);
        rl->rehearse_call = sd_bus_message_ref(call);
        rl->rehearse_version = strdup(v);
        if (!rl->rehearse_version) {
                rl->rehearse_call = sd_bus_message_unref(rl->rehearse_call);
                return -ENOMEM;
        }
        log_info("Rehearsal of %s asked for: staging it first", v);
        stage_version(m, v, on_rehearse_staged);
        return 1;
}

int releases_upgrade(Manager *m, const char *version, uint64_t flags, sd_bus_message *call, sd_bus_error *error) {
        return begin_or_wait(m, version, flags, false, call, error);
}

int releases_window(Manager *m, uint64_t flags, sd_bus_message *call, sd_bus_error *error) {
        if (m->config->policy.apply == APPLY_NEVER)
                return sd_bus_error_setf(
                        error,
                        MB_ERROR_REFUSED,
                        "policy.apply is never: releases are only staged; upgrade with mbctl upgrade now");
        return begin_or_wait(m, NULL, flags & ENGINE_DRY_RUN, true, call, error);
}

int releases_list_json(Manager *m, char **ret) {
        Releases *rl = m->releases;
        ReleaseVerdict *v = NULL;
        _cleanup_strv_free_ char **hops = NULL;
        RolloutState rs = {};
        json_object *a;
        MbVersion installed;
        PolicyInput in;
        const char *target = NULL;
        size_t n = 0;
        int r;

        a = json_object_new_array();
        if (!a)
                return -ENOMEM;
        if (rl->feed && m->installed_version) {
                in = policy_input(m, POLICY_UNATTENDED, false, &installed);
                r = policy_evaluate(rl->feed, &in, &v, &n);
                if (r < 0) {
                        json_object_put(a);
                        return r;
                }
                policy_rollout_state(feed_latest(rl->feed), &in, &rs);
                /* What unattended upgrades would install last; none when refused (a hold). */
                if (policy_plan(rl->feed, &in, NULL, &hops, NULL) >= 0 && hops && hops[0])
                        target = hops[strv_length(hops) - 1];
        }
        for (size_t i = 0; i < n; i++) {
                const Release *rel = v[i].release;
                _cleanup_free_ char *dir = staging_dir(m), *sdir = dir ? path_join(dir, rel->version) : NULL;
                json_object *o = json_object_new_object();

                json_object_object_add(o, "version", json_object_new_string(rel->version));
                json_object_object_add(o, "released", json_object_new_string(strempty(rel->released)));
                json_object_object_add(o, "eligible", json_object_new_boolean(v[i].eligible));
                json_object_object_add(o, "verdict", json_object_new_string(verdict_kind_to_string(v[i].kind)));
                json_object_object_add(o, "reason", json_object_new_string(strempty(v[i].reason)));
                json_object_object_add(o, "beta", json_object_new_boolean(rel->beta));
                if (rel->rollout >= 0)
                        json_object_object_add(o, "rollout", json_object_new_int(rel->rollout));
                json_object_object_add(
                        o,
                        "staged",
                        json_object_new_boolean(sdir && stage_is_verified(m, sdir, rel->version, NULL, NULL)));
                /* Metabase's recommendation, and how its staged rollout applies here. */
                json_object_object_add(o, "latest", json_object_new_boolean(rel->latest));
                if (rel->latest) {
                        json_object_object_add(
                                o,
                                "follow",
                                json_object_new_string(follow_to_string(m->config->releases.follow)));
                        json_object_object_add(o, "rollout_applies", json_object_new_boolean(rs.applies));
                        json_object_object_add(o, "in_rollout", json_object_new_boolean(rs.admitted));
                        if (rs.has_bucket)
                                json_object_object_add(o, "bucket", json_object_new_int((int) rs.bucket));
                }
                json_object_object_add(o, "target", json_object_new_boolean(streq_ptr(target, rel->version)));
                json_object_object_add(
                        o,
                        "step",
                        json_object_new_boolean(
                                hops && strv_contains(hops, rel->version) && !streq_ptr(target, rel->version)));
                json_object_array_add(a, o);
        }
        release_verdicts_free(v, n);
        *ret = strdup(
                json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(a);
        return *ret ? 0 : -ENOMEM;
}

const char *releases_newest_available(Manager *m) {
        Releases *rl = m->releases;

        if (!rl || !rl->feed)
                return "";
        for (size_t i = 0; i < rl->feed->n; i++)
                if (!rl->feed->releases[i].beta || m->config->releases.channel == CHANNEL_BETA)
                        return rl->feed->releases[i].version;
        return "";
}

const char *releases_newest_allowed(Manager *m) {
        return m->releases ? strempty(m->releases->newest_allowed) : "";
}

const char *releases_staged(Manager *m) {
        return m->releases ? strempty(m->releases->staged) : "";
}

const char *releases_last_check(Manager *m) {
        return m->releases ? strempty(m->releases->last_check) : "";
}

bool releases_busy(Manager *m) {
        return m->releases && m->releases->plan;
}

/* The installation's stable id for staged rollouts, made once. */
static int load_site_id(Manager *m, char **ret) {
        _cleanup_free_ char *path = manager_state_path(m, "site-id"), *text = NULL;
        uint8_t raw[16];
        char hex[33];
        int r;

        if (!path)
                return -ENOMEM;
        if (read_full_file(path, 256, &text, NULL) >= 0) {
                text[strcspn(text, "\n")] = '\0';
                if (strlen(text) == 32) {
                        *ret = TAKE_PTR(text);
                        return 0;
                }
        }
        if (getrandom(raw, sizeof(raw), 0) != sizeof(raw))
                return -EIO;
        for (size_t i = 0; i < sizeof(raw); i++)
                snprintf(hex + 2 * i, 3, "%02x", raw[i]);
        r = write_file_atomic(path, hex, 32, 0644);
        if (r < 0)
                return r;
        *ret = strdup(hex);
        return *ret ? 0 : -ENOMEM;
}

int releases_new(Manager *m, Releases **ret) {
        _cleanup_free_ char *cache = NULL, *text = NULL, *error = NULL;
        Releases *rl;
        size_t size;
        int r;

        rl = calloc(1, sizeof(Releases));
        if (!rl)
                return -ENOMEM;
        rl->m = m;
        m->releases = rl;
        r = load_site_id(m, &rl->site_id);
        if (r < 0)
                return log_error_errno(r, "Failed to create the installation id in state_dir: %m");
        /* The last good feed, so that a restart does not forget what was available. */
        cache = manager_state_path(m, "feed.json");
        if (cache && read_full_file(cache, FEED_SIZE_MAX, &text, &size) >= 0 &&
            feed_parse(text, size, m->config->releases.channel == CHANNEL_BETA, &rl->feed, &error) < 0)
                log_warning("Ignoring the cached feed %s: %s", cache, strempty(error));
        set_text(&rl->last_check, "%s", rl->feed ? "not yet since start (using the cached feed)" : "not yet");
        r = arm_check_timer(m, FIRST_CHECK_DELAY_USEC);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the release check timer: %m");
        *ret = rl;
        return 0;
}

Releases *releases_free(Releases *rl) {
        if (!rl)
                return NULL;
        sd_event_source_disable_unref(rl->timer);
        child_kill(rl->check_child);
        child_kill(rl->stage_child);
        child_kill(rl->checksum_child);
        for (size_t i = 0; i < rl->n_check_calls; i++)
                sd_bus_message_unref(rl->check_calls[i]);
        sd_bus_message_unref(rl->plan_call);
        stage_free(rl->stage);
        plan_free(rl->plan);
        feed_free(rl->feed);
        free(rl->site_id);
        free(rl->feed_error);
        free(rl->last_check);
        free(rl->check_output);
        free(rl->staged);
        free(rl->newest_allowed);
        free(rl->pending_version);
        free(rl->rehearse_version);
        sd_bus_message_unref(rl->rehearse_call);
        free(rl->blocked);
        free(rl->queued_version);
        free(rl);
        return NULL;
}

/* Fleet: why this node's policy, unattended, does not take version (hold, skip, allow, min_age,
 * edition, stepwise...), NULL when it does. A rollout another node proposed is joined only then. */
char *releases_policy_refuses(Manager *m, const char *version) {
        Releases *rl = m->releases;
        _cleanup_strv_free_ char **hops = NULL;
        char *err = NULL;
        MbVersion installed;
        PolicyInput in;
        int r;

        if (!rl || !rl->feed)
                return strdup("this node has not read the release feed yet, so its policy can't say yes");
        in = policy_input(m, POLICY_UNATTENDED, false, &installed);
        r = policy_plan(rl->feed, &in, version, &hops, &err);
        if (r < 0)
                return err ?: strdup_printf("this node's policy does not allow %s: %s", version, strerror(-r));
        free(err);
        if (!hops || !hops[0] || !streq(hops[0], version) || hops[1])
                return strdup_printf(
                        "this node's policy would not go to %s in one step (policy.stepwise)", version);
        return NULL;
}
