/* SPDX-License-Identifier: MIT */
#pragma once

/* What the daemon hands mbupgraded-db as descriptors rather than paths (issue 15): the helper
 * runs as the unprivileged mbupgrade-db and can open none of root's files itself.
 *
 *   MBUP_DB_SECRET_FD=N  the credentials (a PGPASSFILE's lines, or a MySQL option file) to read
 *                        from fd N, instead of PGPASSFILE / MBUP_MY_DEFAULTS naming a file
 *   MBUP_DB_FILE_FD=N    backup FILE / restore FILE: FILE is already open as fd N (the daemon
 *                        opened it in its backup directory); FILE only names it in messages */

/* With MBUP_DB_SECRET_FD: its text copied into a private directory of this process's own
 * (created 0700, the file 0600, both removed at exit or on SIGTERM/SIGINT/SIGHUP), and target_env
 * (PGPASSFILE or MBUP_MY_DEFAULTS) set to the file, for libpq, libmariadb and the client tools
 * alike. The directory stays locked (flock) while this process lives; ones of this user's that no
 * live helper holds (a helper killed with SIGKILL) are removed on the way. 0 (nothing to do
 * without it), or report_failure()'s status once it has reported. */
int passed_secret_setup(const char *target_env);

/* The descriptor an environment variable names (N >= 3): -EBADF when it is not set, -EINVAL when
 * it is not a number. */
int passed_fd(const char *name);

/* MBUP_DB_FILE_FD's descriptor, or -EBADF when it is not set (FILE is then a path). */
int passed_file_fd(void);
