/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "child.h"
#include "fileio.h"
#include "hooks.h"
#include "lineproto.h"
#include "log.h"
#include "macro.h"
#include "notify.h"
#include "strv.h"

/* The last lines of a hook's output kept for the reason of a failed gate, and how much of each. */
#define HOOK_TAIL_LINES 5
#define HOOK_TAIL_LINE_MAX 300
#define HOOK_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static const char *const hook_type_table[_HOOK_TYPE_MAX] = {
        [HOOK_PRE_UPGRADE] = "pre-upgrade",
        [HOOK_VERIFY] = "verify",
        [HOOK_POST_COMMIT] = "post-commit",
        [HOOK_POST_ROLLBACK] = "post-rollback",
};

const char *hook_type_to_string(HookType t) {
        return t >= 0 && t < _HOOK_TYPE_MAX ? hook_type_table[t] : NULL;
}

struct HookRun {
        Manager *m;
        HookType type;
        bool gate;         /* the first failure ends it and fails it */
        Operation *record; /* a gate's: op->hooks gets the outcome */
        char *command;     /* the config's, run first; NULL: none */
        char **files;      /* DIR/<type>.d/'s */
        char **env;
        uid_t uid;
        gid_t gid;
        size_t next;    /* 0: the command (when there is one), then the files */
        char *name;     /* of the running hook, for people */
        char *failures; /* the post hooks' ("; " between them) */
        char *reason;   /* a gate's failure */
        unsigned passed;
        Child *child;
        sd_event_source *timer, *defer;
        char *tail[HOOK_TAIL_LINES];
        size_t n_lines;
        HookDone done;
        void *userdata;
        Hooks *owner; /* a post run: in its list */
        HookRun *next_run;
};

struct Hooks {
        Manager *m;
        HookRun *runs; /* post-commit and post-rollback, running */
};

DEFINE_POINTER_CLEANUP(HookRun, hook_run_free, hook_run_freep);

static void tail_clear(HookRun *h) {
        for (size_t i = 0; i < HOOK_TAIL_LINES; i++)
                h->tail[i] = mfree_str(h->tail[i]);
        h->n_lines = 0;
}

HookRun *hook_run_free(HookRun *h) {
        if (!h)
                return NULL;
        h->timer = sd_event_source_disable_unref(h->timer);
        h->defer = sd_event_source_disable_unref(h->defer);
        h->child = child_kill(h->child);
        tail_clear(h);
        free(h->command);
        strv_free(h->files);
        strv_free(h->env);
        free(h->name);
        free(h->failures);
        free(h->reason);
        free(h);
        return NULL;
}

DEFINE_POINTER_CLEANUP(DIR, closedir, closedirp);

static int strcmp_ptr(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Why a file of a .d directory is not run: NULL to run it, "" to skip it quietly. */
static const char *file_refusal(const struct stat *st, uid_t owner) {
        if (S_ISLNK(st->st_mode))
                return "a symbolic link";
        if (!S_ISREG(st->st_mode))
                return S_ISFIFO(st->st_mode)   ? "a FIFO"
                        : S_ISDIR(st->st_mode) ? "a directory"
                                               : "not a regular file";
        if (st->st_uid != owner)
                return "not owned by root";
        if (st->st_mode & (S_IWGRP | S_IWOTH))
                return "writable by group or others";
        if (!(st->st_mode & S_IXOTH))
                return ""; /* a README beside the hooks: not a hook */
        return NULL;
}

static bool name_skipped(const char *name) {
        return name[0] == '.' || endswith(name, "~") || strstr(name, ".dpkg-");
}

int hooks_scan_dir(const char *dir, uid_t owner, char ***ret_files, char ***ret_refused) {
        _cleanup_strv_free_ char **names = NULL, **files = calloc(1, sizeof(char *)),
                                 **refused = calloc(1, sizeof(char *));
        _cleanup_close_ int fd = -EBADF;
        _cleanup_(closedirp) DIR *d = NULL;
        struct stat st;
        struct dirent *de;

        if (!files || !refused)
                return -ENOMEM;
        /* Its parent too: whoever may write it could put another directory (a link to one) here. */
        _cleanup_free_ char *parent = path_dirname(dir);
        if (!parent)
                return -ENOMEM;
        if (stat(parent, &st) >= 0 && (st.st_uid != owner || (st.st_mode & (S_IWGRP | S_IWOTH)))) {
                _cleanup_free_ char *why = strdup_printf(
                        "%s: the directory %s is %s",
                        dir,
                        parent,
                        st.st_uid != owner ? "not root's" : "writable by group or others");
                if (!why || strv_extend(&refused, why) < 0)
                        return -ENOMEM;
                goto done;
        }
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT)
                goto done;
        if (fd < 0) {
                _cleanup_free_ char *why = strdup_printf("%s: %s", dir, strerror(errno));
                if (!why || strv_extend(&refused, why) < 0)
                        return -ENOMEM;
                goto done;
        }
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (st.st_uid != owner || (st.st_mode & (S_IWGRP | S_IWOTH))) {
                _cleanup_free_ char *why = strdup_printf(
                        "%s: the directory is %s",
                        dir,
                        st.st_uid != owner ? "not root's" : "writable by group or others");
                if (!why || strv_extend(&refused, why) < 0)
                        return -ENOMEM;
                goto done;
        }
        d = fdopendir(fd);
        if (!d)
                return negative_errno();
        fd = -EBADF; /* the DIR's now */
        while ((errno = 0, de = readdir(d)))
                if (!name_skipped(de->d_name) && strv_extend(&names, de->d_name) < 0)
                        return -ENOMEM;
        if (errno != 0)
                return negative_errno();
        if (names)
                qsort(names, strv_length(names), sizeof(char *), strcmp_ptr);
        for (char **n = names; n && *n; n++) {
                const char *why;
                if (fstatat(dirfd(d), *n, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue; /* gone meanwhile */
                why = file_refusal(&st, owner);
                if (why && !*why) {
                        log_info("hooks: %s/%s is not executable: not a hook, skipped", dir, *n);
                        continue;
                }
                _cleanup_free_ char *s = why ? strdup_printf("%s/%s: %s", dir, *n, why)
                                             : strdup_printf("%s/%s", dir, *n);
                if (!s || strv_extend(why ? &refused : &files, s) < 0)
                        return -ENOMEM;
        }
done:
        for (char **r = refused; *r; r++)
                log_warning("hooks: refused %s", *r);
        *ret_files = TAKE_PTR(files);
        *ret_refused = TAKE_PTR(refused);
        return 0;
}

/* hooks.dir, or the config file's directory's hooks/ (/etc/mbupgraded/hooks). */
static char *hooks_dir(Manager *m) {
        if (!isempty(m->config->hooks.dir))
                return strdup(m->config->hooks.dir);
        _cleanup_free_ char *conf = path_dirname(m->config->path ?: CONFIG_DEFAULT_PATH);
        return conf ? strdup_printf("%s/hooks", conf) : NULL;
}

static const char *hook_command(Manager *m, HookType t) {
        const char *const c[_HOOK_TYPE_MAX] = {
                [HOOK_PRE_UPGRADE] = m->config->hooks.pre_upgrade,
                [HOOK_VERIFY] = m->config->hooks.verify,
                [HOOK_POST_COMMIT] = m->config->hooks.post_commit,
                [HOOK_POST_ROLLBACK] = m->config->hooks.post_rollback,
        };
        return c[t];
}

/* The config's key, for people. */
static const char *hook_key(HookType t) {
        static const char *const k[_HOOK_TYPE_MAX] = {
                [HOOK_PRE_UPGRADE] = "hooks.pre_upgrade",
                [HOOK_VERIFY] = "hooks.verify",
                [HOOK_POST_COMMIT] = "hooks.post_commit",
                [HOOK_POST_ROLLBACK] = "hooks.post_rollback",
        };
        return k[t];
}

/* The last lines, for the reason: "line | line | line". */
static char *tail_text(HookRun *h) {
        _cleanup_free_ char *s = strdup("");
        size_t n = h->n_lines < HOOK_TAIL_LINES ? h->n_lines : HOOK_TAIL_LINES;

        for (size_t i = h->n_lines - n; s && i < h->n_lines; i++) {
                char *t = strdup_printf("%s%s%s", s, *s ? " | " : "", h->tail[i % HOOK_TAIL_LINES]);
                free(s);
                s = t;
        }
        return TAKE_PTR(s);
}

static void run_next(HookRun *h);

/* The hook running failed (why: "exited with status 3"). */
static void hook_failed(HookRun *h, const char *why) {
        _cleanup_free_ char *tail = tail_text(h);
        _cleanup_free_ char *msg = strdup_printf(
                "%s hook %s %s%s%s",
                hook_type_to_string(h->type),
                h->name,
                why,
                !isempty(tail) ? "; its last output: " : " (no output)",
                strempty(tail));

        log_warning("%s", msg ?: why);
        if (h->gate) {
                (void) free_and_strdup(&h->reason, msg ?: why);
                h->next = SIZE_MAX;
        } else {
                _cleanup_free_ char *f = strdup_printf(
                        "%s%s%s %s", strempty(h->failures), h->failures ? "; " : "", h->name, why);
                if (f)
                        free_and_replace(h->failures, f);
        }
        run_next(h);
}

static void on_hook_line(Child *c, const char *line, void *userdata) {
        HookRun *h = userdata;
        _cleanup_free_ char *shown = lineproto_display(line);

        if (!shown)
                return;
        log_info("%s hook %s: %s", hook_type_to_string(h->type), h->name, shown);
        if (strlen(shown) > HOOK_TAIL_LINE_MAX)
                strcpy(shown + HOOK_TAIL_LINE_MAX - 3, "...");
        size_t i = h->n_lines++ % HOOK_TAIL_LINES;
        free_and_replace(h->tail[i], shown);
}

static void on_hook_exit(Child *c, int status, const char *last, void *userdata) {
        HookRun *h = userdata;
        _cleanup_free_ char *why = NULL;

        h->child = NULL;
        h->timer = sd_event_source_disable_unref(h->timer);
        if (status == 0) {
                log_info("%s hook %s passed", hook_type_to_string(h->type), h->name);
                h->passed++;
                run_next(h);
                return;
        }
        why = status < 0 ? strdup_printf("was killed by signal %d", -status - 128)
                         : strdup_printf("exited with status %d", status);
        hook_failed(h, why ?: "failed");
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        HookRun *h = userdata;
        _cleanup_free_ char *why = strdup_printf(
                "ran longer than hooks.timeout (%s): killed",
                format_duration(h->m->config->hooks.timeout_usec, (char[32]){}, 32));

        h->timer = sd_event_source_disable_unref(h->timer);
        h->child = child_kill(h->child);
        hook_failed(h, why ?: "timed out");
        return 0;
}

/* The outcome, for the history: "pre-upgrade: 2 passed" or "verify: ... failed". */
static void record(HookRun *h) {
        _cleanup_free_ char *line = NULL, *all = NULL;

        if (!h->record)
                return;
        line = h->reason
                ? strdup_printf("%s: %u passed, then %s", hook_type_to_string(h->type), h->passed, h->reason)
                : strdup_printf("%s: %u passed", hook_type_to_string(h->type), h->passed);
        if (!line)
                return;
        all = h->record->hooks ? strdup_printf("%s; %s", h->record->hooks, line) : TAKE_PTR(line);
        if (all)
                free_and_replace(h->record->hooks, all);
}

static void run_end(HookRun *h) {
        record(h);
        if (!h->gate && h->failures)
                log_warning(
                        "%s hooks: %s (the result stays as it is)", hook_type_to_string(h->type), h->failures);
        if (h->owner)
                for (HookRun **p = &h->owner->runs; *p; p = &(*p)->next_run)
                        if (*p == h) {
                                *p = h->next_run;
                                break;
                        }
        if (h->done)
                h->done(!h->reason, h->reason, h->userdata);
        hook_run_free(h);
}

static void run_next(HookRun *h) {
        const char *argv[4] = {};
        size_t n_files = strv_length(h->files);
        int r;

        tail_clear(h);
        if (h->next == SIZE_MAX || h->next >= n_files + !!h->command) {
                run_end(h);
                return;
        }
        if (h->next == 0 && h->command) {
                argv[0] = "/bin/sh";
                argv[1] = "-c";
                argv[2] = h->command;
                r = free_and_strdup(&h->name, hook_key(h->type));
        } else {
                const char *path = h->files[h->next - !!h->command];
                argv[0] = path;
                _cleanup_free_ char *dir = path_dirname(path);
                const char *base = strrchr(path, '/') + 1, *d = dir ? strrchr(dir, '/') : NULL;
                _cleanup_free_ char *name = strdup_printf("%s/%s", d ? d + 1 : "", base);
                r = name ? free_and_strdup(&h->name, name) : -ENOMEM;
        }
        h->next++;
        if (r < 0) {
                hook_failed(h, "could not be run: out of memory");
                return;
        }
        ChildOptions o = {
                .extra_env = h->env,
                .clean_env = true,
                .pass_fd = -EBADF,
                .pass_fd2 = -EBADF,
                .drop = true,
                .uid = h->uid,
                .gid = h->gid,
                .stderr_to_stdout = true,
                .own_group = true,
        };
        log_info("%s hook %s: running as %s", hook_type_to_string(h->type), h->name, h->m->config->hooks.user);
        r = child_spawn_opts(h->m->event, (char *const *) argv, &o, on_hook_line, on_hook_exit, h, &h->child);
        if (r >= 0)
                r = sd_event_add_time_relative(
                        h->m->event,
                        &h->timer,
                        CLOCK_MONOTONIC,
                        h->m->config->hooks.timeout_usec,
                        USEC_PER_SEC / 10,
                        on_timeout,
                        h);
        if (r < 0) {
                _cleanup_free_ char *why = strdup_printf("could not be run: %s", strerror(-r));
                h->child = child_kill(h->child);
                hook_failed(h, why ?: "could not be run");
        }
}

static int on_defer(sd_event_source *s, void *userdata) {
        HookRun *h = userdata;

        h->defer = sd_event_source_disable_unref(h->defer);
        if (h->reason)
                run_end(h); /* refused before any ran */
        else
                run_next(h);
        return 0;
}

static char **hook_env(HookType type, const Operation *op) {
        _cleanup_strv_free_ char **env = notify_facts_env(op);
        _cleanup_free_ char *t = strdup_printf("MBUP_HOOK=%s", hook_type_to_string(type));

        if (!env || !t || strv_extend(&env, t) < 0 || strv_extend(&env, HOOK_PATH) < 0 ||
            strv_extend(&env, "HOME=/") < 0 || strv_extend(&env, "LANG=C.UTF-8") < 0)
                return NULL;
        return TAKE_PTR(env);
}

/* The run of type's hooks for op, started from the event loop: NULL and 0 when there is none. */
static int run_new(Manager *m, HookType type, const Operation *op, HookRun **ret) {
        _cleanup_(hook_run_freep) HookRun *h = NULL;
        _cleanup_free_ char *dir = hooks_dir(m), *sub = NULL;
        _cleanup_strv_free_ char **refused = NULL;
        const char *cmd = hook_command(m, type);
        int r;

        *ret = NULL;
        sub = dir ? strdup_printf("%s/%s.d", dir, hook_type_to_string(type)) : NULL;
        h = calloc(1, sizeof(HookRun));
        if (!sub || !h)
                return -ENOMEM;
        *h = (HookRun){.m = m, .type = type, .gate = type == HOOK_PRE_UPGRADE || type == HOOK_VERIFY};
        r = hooks_scan_dir(sub, 0, &h->files, &refused);
        if (r < 0) {
                log_warning_errno(r, "hooks: cannot read %s: %m", sub);
                refused = calloc(1, sizeof(char *));
                if (!refused || strv_extend(&refused, sub) < 0)
                        return -ENOMEM;
        }
        if (isempty(cmd) && strv_length(h->files) == 0 && strv_length(refused) == 0)
                return 0;
        if (!isempty(cmd) && !(h->command = strdup(cmd)))
                return -ENOMEM;
        h->env = hook_env(type, op);
        if (!h->env)
                return -ENOMEM;
        r = child_lookup_user(m->config->hooks.user, &h->uid, &h->gid);
        if (r < 0)
                h->reason = strdup_printf(
                        "%s hooks not run: hooks.user %s %s",
                        hook_type_to_string(type),
                        m->config->hooks.user,
                        r == -ENXIO           ? "does not exist"
                                : r == -EPERM ? "is root; refused"
                                              : strerror(-r));
        else if (strv_length(refused) > 0 && h->gate) {
                /* A gate the administrator set up does not open without one of its hooks. */
                h->reason = strdup_printf("%s hooks not run: refused", hook_type_to_string(type));
                for (char **x = refused; h->reason && *x; x++)
                        free_and_printf(&h->reason, "%s%s %s", h->reason, x == refused ? "" : ";", *x);
        }
        if (h->reason)
                log_warning("%s", h->reason);
        r = sd_event_add_defer(m->event, &h->defer, on_defer, h);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(h);
        return 1;
}

int hook_gate_start(Manager *m, HookType type, Operation *op, HookDone done, void *userdata, HookRun **ret) {
        HookRun *h;
        int r;

        *ret = NULL;
        if (op->kind != OPERATION_UPGRADE && op->kind != OPERATION_ROLLBACK)
                return 0;
        r = run_new(m, type, op, &h);
        if (r <= 0)
                return r;
        h->record = op;
        h->done = done;
        h->userdata = userdata;
        *ret = h;
        return 1;
}

static void on_operation_finished(Manager *m, const Event *e, void *userdata) {
        Hooks *hooks = userdata;
        const Operation *op = e->op;
        HookRun *h;
        HookType type;
        int r;

        if (op->result == RESULT_COMMITTED && (op->kind == OPERATION_UPGRADE || op->kind == OPERATION_ROLLBACK))
                type = HOOK_POST_COMMIT;
        else if (op->result == RESULT_ROLLED_BACK || op->result == RESULT_ROLLBACK_FAILED)
                type = HOOK_POST_ROLLBACK;
        else
                return;
        r = run_new(m, type, op, &h);
        if (r < 0)
                log_warning_errno(r, "Failed to run the %s hooks: %m", hook_type_to_string(type));
        if (r <= 0)
                return;
        h->owner = hooks;
        h->next_run = hooks->runs;
        hooks->runs = h;
}

int hooks_new(Manager *m, Hooks **ret) {
        Hooks *h = calloc(1, sizeof(Hooks));

        if (!h)
                return -ENOMEM;
        h->m = m;
        *ret = h;
        return events_subscribe(
                m->events, EVENT_OPERATION_FINISHED, EVENT_ORDER_TELL, on_operation_finished, h);
}

Hooks *hooks_free(Hooks *h) {
        if (!h)
                return NULL;
        while (h->runs) {
                HookRun *r = h->runs;
                h->runs = r->next_run;
                hook_run_free(r);
        }
        free(h);
        return NULL;
}
