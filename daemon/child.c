/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>

#include "child.h"
#include "macro.h"
#include "strv.h"

#define CHILD_LINE_MAX 4096

extern char **environ;

struct Child {
        sd_event_source *exit_source;
        sd_event_source *io_source;
        int fd;
        int stdin_fd; /* child_spawn_writable(): the write end of its stdin */
        pid_t pid;
        char buf[CHILD_LINE_MAX];
        size_t n;
        char *last_line;
        bool exited, eof, killed;
        bool overlong; /* the rest of an overlong line is being skipped */
        int status;
        ChildLineCallback on_line;
        ChildExitCallback on_exit;
        void *userdata;
};

static void child_free(Child *c) {
        sd_event_source_disable_unref(c->exit_source);
        sd_event_source_disable_unref(c->io_source);
        if (c->fd >= 0)
                (void) close(c->fd);
        if (c->stdin_fd >= 0)
                (void) close(c->stdin_fd);
        free(c->last_line);
        free(c);
}

/* Both the pipe's EOF and the exit must be seen before the verdict is final. */
static void child_maybe_done(Child *c) {
        if (!c->exited || !c->eof)
                return;
        if (!c->killed)
                c->on_exit(c, c->status, strempty(c->last_line), c->userdata);
        child_free(c);
}

static void child_line(Child *c, const char *line) {
        (void) free_and_strdup(&c->last_line, line);
        if (!c->killed && c->on_line)
                c->on_line(c, line, c->userdata);
}

static int on_child_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Child *c = userdata;

        for (;;) {
                ssize_t k = read(fd, c->buf + c->n, sizeof(c->buf) - 1 - c->n);
                if (k < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return 0;
                        k = 0; /* treat as EOF */
                }
                if (k == 0) {
                        if (c->n > 0) {
                                c->buf[c->n] = '\0';
                                child_line(c, c->buf);
                                c->n = 0;
                        }
                        c->io_source = sd_event_source_disable_unref(c->io_source);
                        c->eof = true;
                        child_maybe_done(c);
                        return 0;
                }
                c->n += (size_t) k;
                char *nl;
                while ((nl = memchr(c->buf, '\n', c->n))) {
                        *nl = '\0';
                        if (!c->overlong)
                                child_line(c, c->buf);
                        c->overlong = false;
                        c->n -= (size_t) (nl + 1 - c->buf);
                        memmove(c->buf, nl + 1, c->n);
                }
                if (c->n == sizeof(c->buf) - 1) {
                        /* An overlong line: its start as it is, and the rest up to its newline
                         * dropped, never read as lines of their own. */
                        c->buf[c->n] = '\0';
                        if (!c->overlong)
                                child_line(c, c->buf);
                        c->overlong = true;
                        c->n = 0;
                }
        }
}

static int on_child_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Child *c = userdata;

        c->exited = true;
        c->status = si->si_code == CLD_EXITED ? si->si_status : -(128 + si->si_status);
        c->exit_source = sd_event_source_disable_unref(c->exit_source);
        child_maybe_done(c);
        return 0;
}

/* environ with the KEY=VALUE strings of extra added, replacing the same keys. */
static char **env_merge(char *const extra[]) {
        _cleanup_(strv_freep) char **env = NULL;

        for (char **e = environ; e && *e; e++) {
                size_t k = strcspn(*e, "=");
                bool replaced = false;
                for (char *const *x = extra; x && *x; x++)
                        if (strncmp(*x, *e, k + 1) == 0)
                                replaced = true;
                if (!replaced && strv_extend(&env, *e) < 0)
                        return NULL;
        }
        for (char *const *x = extra; x && *x; x++)
                if (strv_extend(&env, *x) < 0)
                        return NULL;
        return TAKE_PTR(env);
}

int child_spawn(
        sd_event *e,
        char *const argv[],
        ChildLineCallback on_line,
        ChildExitCallback on_exit,
        void *userdata,
        Child **ret) {
        return child_spawn_env(e, argv, NULL, on_line, on_exit, userdata, ret);
}

int child_spawn_env(
        sd_event *e,
        char *const argv[],
        char *const extra_env[],
        ChildLineCallback on_line,
        ChildExitCallback on_exit,
        void *userdata,
        Child **ret) {
        return child_spawn_full(e, argv, extra_env, NULL, on_line, on_exit, userdata, ret);
}

static int spawn_impl(
        sd_event *e,
        char *const argv[],
        char *const extra_env[],
        const char *stdin_path,
        bool stdin_pipe,
        ChildLineCallback on_line,
        ChildExitCallback on_exit,
        void *userdata,
        Child **ret) {
        _cleanup_(strv_freep) char **env = NULL;
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t none;
        int pipefd[2], infd[2] = {-EBADF, -EBADF}, r;
        Child *c;

        if (extra_env) {
                env = env_merge(extra_env);
                if (!env)
                        return -ENOMEM;
        }
        c = calloc(1, sizeof(Child));
        if (!c)
                return -ENOMEM;
        c->fd = c->stdin_fd = -EBADF;
        c->on_line = on_line;
        c->on_exit = on_exit;
        c->userdata = userdata;

        if (stdin_pipe && pipe2(infd, O_CLOEXEC) < 0) {
                r = negative_errno();
                free(c);
                return r;
        }
        if (pipe2(pipefd, O_CLOEXEC) < 0) {
                r = negative_errno();
                if (stdin_pipe) {
                        (void) close(infd[0]);
                        (void) close(infd[1]);
                }
                free(c);
                return r;
        }
        c->stdin_fd = infd[1];
        (void) posix_spawn_file_actions_init(&fa);
        (void) posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
        if (stdin_pipe)
                (void) posix_spawn_file_actions_adddup2(&fa, infd[0], STDIN_FILENO);
        else
                (void) posix_spawn_file_actions_addopen(
                        &fa, STDIN_FILENO, stdin_path ?: "/dev/null", O_RDONLY, 0);
        (void) posix_spawnattr_init(&attr);
        /* The daemon blocks SIGTERM for sd-event; the helper must not inherit that. */
        sigemptyset(&none);
        (void) posix_spawnattr_setsigmask(&attr, &none);
        (void) posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
        r = -posix_spawn(&c->pid, argv[0], &fa, &attr, argv, env ?: environ);
        (void) posix_spawn_file_actions_destroy(&fa);
        (void) posix_spawnattr_destroy(&attr);
        (void) close(pipefd[1]);
        if (stdin_pipe)
                (void) close(infd[0]);
        c->fd = pipefd[0];
        if (r < 0) {
                child_free(c);
                return r;
        }
        (void) fcntl(c->fd, F_SETFL, O_NONBLOCK);
        if (c->stdin_fd >= 0)
                (void) fcntl(c->stdin_fd, F_SETFL, O_NONBLOCK);

        r = sd_event_add_io(e, &c->io_source, c->fd, EPOLLIN, on_child_io, c);
        if (r >= 0)
                r = sd_event_add_child(e, &c->exit_source, c->pid, WEXITED, on_child_exit, c);
        if (r < 0) {
                (void) kill(c->pid, SIGKILL);
                (void) waitpid(c->pid, NULL, 0);
                child_free(c);
                return r;
        }
        if (ret)
                *ret = c;
        return 0;
}

int child_spawn_full(
        sd_event *e,
        char *const argv[],
        char *const extra_env[],
        const char *stdin_path,
        ChildLineCallback on_line,
        ChildExitCallback on_exit,
        void *userdata,
        Child **ret) {
        return spawn_impl(e, argv, extra_env, stdin_path, false, on_line, on_exit, userdata, ret);
}

int child_spawn_writable(
        sd_event *e,
        char *const argv[],
        char *const extra_env[],
        ChildLineCallback on_line,
        ChildExitCallback on_exit,
        void *userdata,
        Child **ret) {
        return spawn_impl(e, argv, extra_env, NULL, true, on_line, on_exit, userdata, ret);
}

int child_write_line(Child *c, const char *line) {
        _cleanup_free_ char *s = strdup_printf("%s\n", line);
        ssize_t k;

        if (!c || c->stdin_fd < 0 || c->killed || c->exited)
                return -EPIPE;
        if (!s)
                return -ENOMEM;
        /* Lines are short, far below PIPE_BUF: all of one or none. */
        k = write(c->stdin_fd, s, strlen(s));
        if (k < 0)
                return negative_errno();
        return (size_t) k == strlen(s) ? 0 : -EIO;
}

Child *child_kill(Child *c) {
        if (!c)
                return NULL;
        c->killed = true;
        if (!c->exited)
                (void) kill(c->pid, SIGTERM);
        return NULL;
}
