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
