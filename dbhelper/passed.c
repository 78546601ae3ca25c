/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "passed.h"
#include "report.h"
#include "strv.h"

/* The credentials are a few lines; anything far larger is not them. */
#define SECRET_MAX (64 * 1024)

/* Fixed buffers, for the signal handler. */
static char secret_dir[64], secret_file[80];
/* Held (flock) on secret_dir while this process lives: how another helper tells a directory in
 * use from one a killed helper left. */
static int secret_lock = -EBADF;

/* What a helper killed with SIGKILL left (kill -9, the daemon's cgroup killed when it does not
 * stop): this user's directories under parent that no live helper holds locked, with their copy
 * of the password. One made a moment ago may not be locked yet: those go only once two seconds
 * old. Only this user's: /tmp's sticky bit would refuse the others anyway. */
static void sweep_stale(const char *parent) {
        DIR *d = opendir(parent);
        struct dirent *de;

        if (!d)
                return;
        while ((de = readdir(d))) {
                _cleanup_close_ int fd = -EBADF;
                struct stat st;

                if (!startswith(de->d_name, "mbupgraded-db."))
                        continue;
                fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0 || fstat(fd, &st) < 0 || st.st_uid != getuid() || st.st_mtime > time(NULL) - 2)
                        continue;
                if (flock(fd, LOCK_EX | LOCK_NB) < 0)
                        continue;
                (void) unlinkat(fd, "secret", 0);
                (void) unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR);
        }
        (void) closedir(d);
}

static void secret_remove(void) {
        if (secret_file[0])
                (void) unlink(secret_file);
        if (secret_dir[0])
                (void) rmdir(secret_dir);
}

static void on_fatal_signal(int sig) {
        secret_remove();
        (void) signal(sig, SIG_DFL);
        (void) raise(sig);
}

int passed_fd(const char *name) {
        const char *s = secure_getenv(name);
        char *end;
        long v;

        if (isempty(s))
                return -EBADF;
        errno = 0;
        v = strtol(s, &end, 10);
        if (errno != 0 || *end || v < 3 || v > INT_MAX)
                return -EINVAL;
        return (int) v;
}

int passed_file_fd(void) {
        int fd = passed_fd("MBUP_DB_FILE_FD");

        /* Only to the tool that is given it as stdin or stdout, not to every child. */
        if (fd >= 0)
                (void) fcntl(fd, F_SETFD, FD_CLOEXEC);
        return fd;
}

/* Why a file and not PGPASSWORD / MYSQL_PWD: pg_dump, pg_restore, psql, mariadb-dump and mariadb
 * are separate programs that must get the password somehow. Both variables are documented as
 * discouraged (MySQL's is deprecated; PostgreSQL's is readable through /proc on some systems and
 * passed on to every child), and the clients' option files are the supported way. A file in a
 * directory this process made with mkdtemp() (0700) under /tmp (the daemon's PrivateTmp=), 0600,
 * of this uid: readable only by this user, which the daemon gives to no other process; removed
 * when the helper ends. libpq refuses a PGPASSFILE with group or other bits, which rules out
 * /proc/self/fd/N of the descriptor itself (what a pipe's or a memfd's link leads to has them). */
int passed_secret_setup(const char *target_env) {
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int out = -EBADF;
        size_t size = 0;
        int fd, r;

        fd = passed_fd("MBUP_DB_SECRET_FD");
        if (fd == -EBADF)
                return 0;
        if (fd < 0)
                return report_failure("usage", "MBUP_DB_SECRET_FD is not a descriptor number");
        r = read_full_fd(fd, SECRET_MAX, &text, &size);
        (void) close(fd);
        if (r < 0)
                return report_failure("io", "cannot read the credentials from fd %d: %s", fd, strerror(-r));

        /* $TMPDIR, else /tmp (the daemon's PrivateTmp=), else /dev/shm (a tmpfs as well, where
         * a /tmp is not for everyone) */
        {
                const char *tmpdir = secure_getenv("TMPDIR");
                const char *const dirs[] = {
                        !isempty(tmpdir) && strlen(tmpdir) < 32 ? tmpdir : "/tmp", "/tmp", "/dev/shm"};
                int e = 0;
                for (size_t i = 0; i < ELEMENTSOF(dirs) && !secret_dir[0]; i++) {
                        (void) snprintf(secret_dir, sizeof(secret_dir), "%s/mbupgraded-db.XXXXXX", dirs[i]);
                        if (!mkdtemp(secret_dir)) {
                                e = errno;
                                secret_dir[0] = '\0';
                        }
                }
                if (!secret_dir[0]) {
                        explicit_bzero(text, size);
                        return report_failure(
                                "io",
                                "cannot create a private directory under /tmp or /dev/shm: %s",
                                strerror(e));
                }
        }
        secret_lock = open(secret_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (secret_lock >= 0)
                (void) flock(secret_lock, LOCK_EX | LOCK_NB);
        {
                char parent[sizeof(secret_dir)];
                (void) snprintf(
                        parent, sizeof(parent), "%.*s", (int) (strrchr(secret_dir, '/') - secret_dir), secret_dir);
                sweep_stale(parent);
        }
        (void) snprintf(secret_file, sizeof(secret_file), "%s/secret", secret_dir);
        /* Gone at exit, and when the daemon ends the helper (child_kill(): SIGTERM). */
        (void) atexit(secret_remove);
        (void) signal(SIGTERM, on_fatal_signal);
        (void) signal(SIGINT, on_fatal_signal);
        (void) signal(SIGHUP, on_fatal_signal);

        out = open(secret_file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        r = out < 0 ? -errno : write_all(out, text, size);
        explicit_bzero(text, size);
        if (r < 0)
                return report_failure("io", "cannot write %s: %s", secret_file, strerror(-r));
        if (setenv(target_env, secret_file, 1) < 0)
                return report_failure("io", "out of memory");
        return 0;
}
