/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools.h"

extern char **environ;

int spawn_piped(char *const argv[], int in_fd, int out_fd, pid_t *ret) {
        posix_spawn_file_actions_t fa;
        int r;

        (void) posix_spawn_file_actions_init(&fa);
        if (in_fd >= 0)
                (void) posix_spawn_file_actions_adddup2(&fa, in_fd, STDIN_FILENO);
        else
                (void) posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        if (out_fd >= 0)
                (void) posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
        else
                (void) posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
        r = posix_spawn(ret, argv[0], &fa, NULL, argv, environ);
        (void) posix_spawn_file_actions_destroy(&fa);
        return -r;
}

int wait_exit(pid_t pid) {
        int status;

        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int run_pipeline(char *const from[], char *const to[], int *ret_from, int *ret_to) {
        pid_t from_pid = 0, to_pid = 0;
        int pipefd[2], r;

        *ret_from = *ret_to = -1;
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        r = spawn_piped(from, -1, pipefd[1], &from_pid);
        if (r >= 0)
                r = spawn_piped(to, pipefd[0], -1, &to_pid);
        /* Ours closed, so that each sees the other's end of the pipe go. */
        (void) close(pipefd[0]);
        (void) close(pipefd[1]);
        if (from_pid > 0)
                *ret_from = wait_exit(from_pid);
        if (to_pid > 0)
                *ret_to = wait_exit(to_pid);
        return r;
}
