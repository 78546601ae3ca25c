/* SPDX-License-Identifier: MIT */
#pragma once

/* mbupgraded-db's client tools (pg_dump, pg_restore, psql, mariadb-dump, mariadb) run in pipes. */

#include <sys/types.h>

/* Spawns argv with stdin from in_fd and stdout to out_fd (-1: /dev/null for either), stderr to
 * ours; its pid in *ret. */
int spawn_piped(char *const argv[], int in_fd, int out_fd, pid_t *ret);
/* Its exit status, 128 + the signal when killed. */
int wait_exit(pid_t pid);
