/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "macro.h"
#include "strv.h"

#define CHILD_LINE_MAX 4096

extern char **environ;

struct Child {
        sd_event_source *exit_source;
        sd_event_source *io_source;
        int fd;
        int stdin_fd; /* ChildOptions.stdin_pipe: the write end of its stdin */
        pid_t pid;
        char buf[CHILD_LINE_MAX];
        size_t n;
        char *last_line;
        bool exited, eof, killed;
        bool overlong;  /* the rest of an overlong line is being skipped */
        bool own_group; /* ChildOptions.own_group: its pid is its process group's id */
        int status;
        ChildLineCallback on_line;
        ChildExitCallback on_exit;
        void *userdata;
        void (*destroy)(void *userdata);
};

static void child_free(Child *c) {
        sd_event_source_disable_unref(c->exit_source);
        sd_event_source_disable_unref(c->io_source);
        if (c->fd >= 0)
                (void) close(c->fd);
        if (c->stdin_fd >= 0)
                (void) close(c->stdin_fd);
        free(c->last_line);
        if (c->destroy)
                c->destroy(c->userdata);
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

/* Between fork and exec: only system calls (async-signal-safe), the daemon has threads. Reports
 * the errno of what failed on errfd (close-on-exec: an exec that works closes it unwritten). */
_noreturn_ static void
forked_child(char *const argv[], char **env, const ChildOptions *o, int outfd, int infd, int errfd) {
        sigset_t none;
        int fd, e;

        if (errfd <= CHILD_PASS_FD + 1) {
                int e2 = fcntl(errfd, F_DUPFD_CLOEXEC, 10);
                if (e2 >= 0)
                        errfd = e2;
        }
        sigemptyset(&none);
        if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
                goto fail;
        if (dup2(outfd, STDOUT_FILENO) < 0)
                goto fail;
        /* Not the daemon's stderr (its log, the journal stream): a helper of another user must not
         * write lines that read as the daemon's. Its stdout's pipe, or nothing. */
        if (o->stderr_to_stdout) {
                if (dup2(outfd, STDERR_FILENO) < 0)
                        goto fail;
        } else if (o->drop && !o->keep_stderr) {
                fd = open("/dev/null", O_WRONLY | O_NOCTTY | O_CLOEXEC);
                if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
                        goto fail;
        }
        fd = infd >= 0 ? infd
                       : open(o->stdin_path ?: "/dev/null", O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                goto fail;
        /* dup2() clears close-on-exec on the copy; the original goes at exec. */
        if (fd == STDIN_FILENO ? fcntl(fd, F_SETFD, 0) < 0 : dup2(fd, STDIN_FILENO) < 0)
                goto fail;
        /* Blocking again: a helper reads it as a plain file. */
        if (fcntl(STDIN_FILENO, F_SETFL, 0) < 0)
                goto fail;
        /* fd 3 and 4: first out of the way whatever is there and is not already in place. */
        int fds[2] = {o->pass_fd, o->pass_fd2};
        for (int i = 0; i < 2; i++)
                if (fds[i] >= CHILD_PASS_FD && fds[i] <= CHILD_PASS_FD + 1 && fds[i] != CHILD_PASS_FD + i) {
                        fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 10);
                        if (fds[i] < 0)
                                goto fail;
                }
        for (int i = 0; i < 2; i++) {
                if (fds[i] <= 0)
                        continue;
                if (fds[i] == CHILD_PASS_FD + i) {
                        if (fcntl(fds[i], F_SETFD, 0) < 0)
                                goto fail;
                } else if (dup2(fds[i], CHILD_PASS_FD + i) < 0)
                        goto fail;
        }
        if (o->drop) {
                if (setgroups(0, NULL) < 0 || setresgid(o->gid, o->gid, o->gid) < 0 ||
                    setresuid(o->uid, o->uid, o->uid) < 0)
                        goto fail;
                /* Make sure: a switch that silently did nothing is a failure. */
                if (getuid() != o->uid || geteuid() != o->uid || getgid() != o->gid || getegid() != o->gid)
                        goto fail;
        }
        if (o->own_group && setpgid(0, 0) < 0)
                goto fail;
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                goto fail;
        if (chdir("/") < 0)
                goto fail;
        execve(argv[0], argv, env);
fail:
        e = errno;
        (void) !write(errfd, &e, sizeof(e));
        _exit(127);
}

int child_spawn_opts(
        sd_event *e,
        char *const argv[],
        const ChildOptions *o,
        ChildLineCallback on_line,
        ChildExitCallback on_exit,
        void *userdata,
        Child **ret) {
        _cleanup_(strv_freep) char **env = NULL;
        int pipefd[2], errpipe[2], infd[2] = {-EBADF, -EBADF}, err = 0, r;
        ssize_t k;
        Child *c;

        if (o->extra_env || o->clean_env) {
                env = o->clean_env ? strv_copy(o->extra_env) : env_merge(o->extra_env);
                if (!env)
                        return -ENOMEM;
        }
        if (o->drop && (o->uid == 0 || o->gid == 0))
                return -EPERM;
        c = calloc(1, sizeof(Child));
        if (!c)
                return -ENOMEM;
        c->fd = c->stdin_fd = -EBADF;
        c->on_line = on_line;
        c->on_exit = on_exit;
        c->userdata = userdata;

        if (pipe2(pipefd, O_CLOEXEC) < 0) {
                r = negative_errno();
                free(c);
                return r;
        }
        if (pipe2(errpipe, O_CLOEXEC) < 0) {
                r = negative_errno();
                (void) close(pipefd[0]);
                (void) close(pipefd[1]);
                free(c);
                return r;
        }
        if (o->stdin_pipe && pipe2(infd, O_CLOEXEC) < 0) {
                r = negative_errno();
                (void) close(pipefd[0]);
                (void) close(pipefd[1]);
                (void) close(errpipe[0]);
                (void) close(errpipe[1]);
                free(c);
                return r;
        }
        c->pid = fork();
        if (c->pid == 0)
                forked_child(argv, env ?: environ, o, pipefd[1], infd[0], errpipe[1]);
        c->own_group = o->own_group;
        if (c->pid > 0 && o->own_group)
                (void) setpgid(c->pid, c->pid); /* the child does it too: whichever comes first */
        r = c->pid < 0 ? negative_errno() : 0;
        (void) close(pipefd[1]);
        (void) close(errpipe[1]);
        if (infd[0] >= 0)
                (void) close(infd[0]);
        c->fd = pipefd[0];
        c->stdin_fd = infd[1];
        if (r >= 0) {
                /* Until the exec: a few system calls. */
                do
                        k = read(errpipe[0], &err, sizeof(err));
                while (k < 0 && errno == EINTR);
                if (k == sizeof(err)) {
                        (void) waitpid(c->pid, NULL, 0);
                        r = err > 0 ? -err : -EIO;
                }
        }
        (void) close(errpipe[0]);
        if (r < 0) {
                child_free(c);
                return r;
        }
        /* From here on, the child owns the userdata's lifetime. */
        c->destroy = o->destroy;
        (void) fcntl(c->fd, F_SETFL, O_NONBLOCK);
        if (c->stdin_fd >= 0)
                (void) fcntl(c->stdin_fd, F_SETFL, O_NONBLOCK);

        r = sd_event_add_io(e, &c->io_source, c->fd, EPOLLIN, on_child_io, c);
        if (r >= 0)
                r = sd_event_add_child(e, &c->exit_source, c->pid, WEXITED, on_child_exit, c);
        if (r < 0) {
                (void) kill(c->pid, SIGKILL);
                (void) waitpid(c->pid, NULL, 0);
                c->destroy = NULL; /* the caller still owns it on failure */
                child_free(c);
                return r;
        }
        if (ret)
                *ret = c;
        return 0;
}

int child_lookup_user(const char *name, uid_t *ret_uid, gid_t *ret_gid) {
        struct passwd pw, *p = NULL;
        char buf[4096];
        int r;

        r = getpwnam_r(name, &pw, buf, sizeof(buf), &p);
        if (r != 0)
                return -r;
        if (!p)
                return -ENXIO;
        if (p->pw_uid == 0 || p->pw_gid == 0)
                return -EPERM;
        *ret_uid = p->pw_uid;
        *ret_gid = p->pw_gid;
        return 0;
}

int child_options_user(ChildOptions *o, const char *user) {
        int r = child_lookup_user(user, &o->uid, &o->gid);
        if (r < 0)
                return r;
        o->drop = true;
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
        if (c->own_group)
                (void) kill(-c->pid, SIGKILL); /* also what it left behind after its own exit */
        else if (!c->exited)
                (void) kill(c->pid, SIGTERM);
        return NULL;
}
