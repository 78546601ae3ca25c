/* SPDX-License-Identifier: MIT */
#pragma once

/* mbupgraded-db's client tools (pg_dump, pg_restore, psql, mariadb-dump, mariadb) run in pipes. */

#include <sys/types.h>

/* Spawns argv with stdin from in_fd and stdout to out_fd (-1: /dev/null for either), stderr to
 * ours; its pid in *ret. */
int spawn_piped(char *const argv[], int in_fd, int out_fd, pid_t *ret);
/* Its exit status, 128 + the signal when killed. */
int wait_exit(pid_t pid);
/* from | to: from's stdout into to's stdin, both waited for. Their exit statuses in *ret_from and
 * *ret_to (-1 for one that did not start); a negative errno when the pipe or a spawn failed. */
int run_pipeline(char *const from[], char *const to[], int *ret_from, int *ret_to);
