/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "strv.h"

char *path_dirname(const char *path) {
        _cleanup_free_ char *c = strdup(path);

        if (!c)
                return NULL;
        return strdup(dirname(c));
}

char *path_join(const char *a, const char *b) {
        if (endswith(a, "/"))
                return strdup_printf("%s%s", a, b[0] == '/' ? b + 1 : b);
        return strdup_printf("%s/%s", a, b[0] == '/' ? b + 1 : b);
}

bool path_is_canonical(const char *p) {
        size_t n;

        if (!p || p[0] != '/')
                return false;
        n = strlen(p);
        if (n >= PATH_MAX)
                return false;
        for (const unsigned char *c = (const unsigned char *) p; *c; c++)
                if (*c < ' ' || *c == 0x7f)
                        return false;
        if (n == 1)
                return true;
        if (p[n - 1] == '/')
                return false;
        for (const char *c = p; c; c = strchr(c + 1, '/')) {
                const char *e = c + 1 + strcspn(c + 1, "/");
                size_t len = (size_t) (e - (c + 1));
                if (len == 0 || (len == 1 && c[1] == '.') || (len == 2 && c[1] == '.' && c[2] == '.'))
                        return false;
        }
        return true;
}

int path_make_canonical(const char *p, char **ret) {
        _cleanup_free_ char *out = NULL, *dir = NULL;
        const char *last, *c;
        struct stat a, b;
        size_t n = 0, len;

        if (!p || p[0] != '/' || strlen(p) >= PATH_MAX)
                return -EINVAL;
        if (path_is_canonical(p)) {
                out = strdup(p);
                if (!out)
                        return -ENOMEM;
                *ret = TAKE_PTR(out);
                return 0;
        }
        /* The last component, which must name something */
        len = strlen(p);
        while (len > 1 && p[len - 1] == '/')
                len--;
        last = p + len;
        while (last > p && last[-1] != '/')
                last--;
        if (last == p + len || (p + len - last == 1 && last[0] == '.') ||
            (p + len - last == 2 && last[0] == '.' && last[1] == '.'))
                return -EINVAL;

        /* Lexically: empty and "." components dropped, ".." takes the one before away. */
        out = malloc(len + 2);
        if (!out)
                return -ENOMEM;
        for (c = p; c < p + len;) {
                size_t k;
                while (c < p + len && *c == '/')
                        c++;
                k = strcspn(c, "/");
                if (c + k > p + len)
                        k = (size_t) (p + len - c);
                if (k == 0 || (k == 1 && c[0] == '.')) {
                } else if (k == 2 && c[0] == '.' && c[1] == '.') {
                        while (n > 0 && out[n - 1] != '/')
                                n--;
                        if (n > 0)
                                n--; /* the '/' before it */
                } else {
                        out[n++] = '/';
                        memcpy(out + n, c, k);
                        n += k;
                }
                c += k;
        }
        if (n == 0)
                out[n++] = '/';
        out[n] = '\0';

        /* It must mean what the kernel makes of the original: a symbolic link before a ".."
         * would make them differ, and then neither is guessed. */
        dir = strndup(p, (size_t) (last - p));
        if (!dir)
                return -ENOMEM;
        if (stat(dir, &a) < 0)
                return negative_errno();
        {
                _cleanup_free_ char *ldir = path_dirname(out);
                if (!ldir)
                        return -ENOMEM;
                if (stat(ldir, &b) < 0)
                        return negative_errno();
        }
        if (a.st_dev != b.st_dev || a.st_ino != b.st_ino)
                return -ELOOP;
        if (!path_is_canonical(out))
                return -EINVAL;
        *ret = TAKE_PTR(out);
        return 0;
}

int fsync_parent_directory(const char *path) {
        _cleanup_free_ char *d = path_dirname(path);
        _cleanup_close_ int fd = -EBADF;

        if (!d)
                return -ENOMEM;
        fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if (fsync(fd) < 0)
                return negative_errno();
        return 0;
}

/* mkdir, and when it made the directory, an fsync of its parent: a directory that a power loss can
 * take away would take the files fsynced in it along (a backup, a kept JAR). */
static int mkdir_and_sync(const char *path, mode_t mode) {
        if (mkdir(path, mode) < 0)
                return errno == EEXIST ? 0 : negative_errno();
        return fsync_parent_directory(path);
}

int mkdir_parents_and_self(const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);
        int r;

        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = '\0';
                r = mkdir_and_sync(p, mode);
                if (r < 0)
                        return r;
                *s = '/';
        }
        return mkdir_and_sync(p, mode);
}

int mkdir_parents_and_self_exact(const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);
        size_t first_new = SIZE_MAX, n;
        struct stat st;
        int r;

        if (!p)
                return -ENOMEM;
        /* the first component missing: it and all below it are ours to set */
        n = strlen(p);
        for (size_t i = 1; i <= n && first_new == SIZE_MAX; i++) {
                if (p[i] != '/' && p[i] != '\0')
                        continue;
                p[i] = '\0';
                if (stat(p, &st) < 0 && errno == ENOENT)
                        first_new = i;
                p[i] = i < n ? '/' : '\0';
        }
        r = mkdir_parents_and_self(path, mode);
        if (r < 0 || first_new == SIZE_MAX)
                return r;
        for (size_t i = first_new; i <= n; i++) {
                if (p[i] != '/' && p[i] != '\0')
                        continue;
                p[i] = '\0';
                if (chmod(p, mode) < 0)
                        return negative_errno();
                p[i] = i < n ? '/' : '\0';
        }
        return 0;
}

/* A temporary name beside path: dir/.name.mbup-tmp-XXXXXX style, unique enough for one writer. */
static char *tmp_name_for(const char *path) {
        _cleanup_free_ char *d = path_dirname(path);
        _cleanup_free_ char *c = strdup(path);
        struct timespec ts;

        if (!d || !c)
                return NULL;
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return strdup_printf(
                "%s/.%s.mbup-%u-%lx", d, basename(c), (unsigned) getpid(), (unsigned long) ts.tv_nsec);
}

int write_all(int fd, const void *p, size_t n) {
        const char *c = p;

        while (n > 0) {
                ssize_t k = write(fd, c, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                c += k;
                n -= (size_t) k;
        }
        return 0;
}

int rename_and_sync(const char *from, const char *to) {
        if (rename(from, to) < 0)
                return negative_errno();
        return fsync_parent_directory(to);
}

int write_file_atomic(const char *path, const void *data, size_t size, mode_t mode) {
        _cleanup_free_ char *tmp = tmp_name_for(path);
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (!tmp)
                return -ENOMEM;
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return negative_errno();
        r = write_all(fd, data, size);
        if (r >= 0 && fchmod(fd, mode) < 0)
                r = negative_errno();
        if (r >= 0 && fsync(fd) < 0)
                r = negative_errno();
        if (r >= 0)
                r = rename_and_sync(tmp, path);
        if (r < 0)
                (void) unlink(tmp);
        return r;
}

bool directory_is_trusted(const char *dir) {
        struct stat st;

        /* Only root may add, remove or rename entries: root's, and not group- or world-writable
         * (a sticky /tmp included: anyone may create names there). */
        return stat(dir, &st) >= 0 && S_ISDIR(st.st_mode) && st.st_uid == 0 && (st.st_mode & 0022) == 0;
}

int open_regular(const char *path, OpenRegularFlags flags, uid_t owner, struct stat *ret_st) {
        _cleanup_free_ char *dir = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        int oflags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;

        /* A symlink is followed only where no one but root could have put it. */
        if (!(flags & OPEN_REGULAR_NOFOLLOW)) {
                dir = path_dirname(path);
                if (!dir)
                        return -ENOMEM;
        }
        if ((flags & OPEN_REGULAR_NOFOLLOW) || !directory_is_trusted(dir))
                oflags |= O_NOFOLLOW;
        /* O_NONBLOCK: a FIFO in the file's place opens at once (and is refused below) instead of
         * waiting for a writer; on a regular file it changes nothing. */
        fd = open(path, oflags);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if (owner != (uid_t) -1 && st.st_uid != owner)
                return -EPERM;
        if (ret_st)
                *ret_st = st;
        return TAKE_FD(fd);
}

int read_full_file(const char *path, size_t max, char **ret, size_t *ret_size) {
        return read_full_file_full(path, max, 0, (uid_t) -1, ret, ret_size);
}

int read_full_file_full(
        const char *path, size_t max, OpenRegularFlags flags, uid_t owner, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;

        fd = open_regular(path, flags, owner, NULL);
        if (fd < 0)
                return fd;
        return read_full_fd(fd, max, ret, ret_size);
}

int read_full_fd(int fd, size_t max, char **ret, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        size_t n = 0, allocated = 0;

        for (;;) {
                ssize_t k;

                if (n + 4096 + 1 > allocated) {
                        size_t na = allocated ? allocated * 2 : 8192;
                        char *nb = realloc(buf, na);
                        if (!nb)
                                return -ENOMEM;
                        buf = nb;
                        allocated = na;
                }
                k = read(fd, buf + n, allocated - n - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > max)
                        return -EFBIG;
        }
        if (!buf && !(buf = malloc(1)))
                return -ENOMEM;
        buf[n] = '\0';
        *ret = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = n;
        return 0;
}

int read_file_tail_lines(const char *path, size_t max, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t n = 0, skip = 0;
        off_t start;
        struct stat st;

        fd = open_regular(path, 0, (uid_t) -1, &st);
        if (fd < 0)
                return fd;
        start = (uint64_t) st.st_size > max ? st.st_size - (off_t) max : 0;
        buf = malloc(max + 1);
        if (!buf)
                return -ENOMEM;
        while (n < max) {
                ssize_t k = pread(fd, buf + n, max - n, start + (off_t) n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        if (start > 0) {
                /* Cut in the middle of a line: drop its end, unless the cut is right after one. */
                char prev;
                if (pread(fd, &prev, 1, start - 1) != 1)
                        return -EIO;
                if (prev != '\n') {
                        char *nl = memchr(buf, '\n', n);
                        skip = nl ? (size_t) (nl - buf) + 1 : n;
                }
        }
        memmove(buf, buf + skip, n - skip);
        n -= skip;
        buf[n] = '\0';
        *ret = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = n;
        return 0;
}

int copy_file_atomic(
        const char *from,
        const char *to,
        const CopyOptions *opts,
        char *ret_sha256,
        uint64_t *ret_size,
        char **ret_tmp_path) {

        _cleanup_free_ char *tmp = tmp_name_for(to);
        _cleanup_close_ int in = -EBADF, out = -EBADF;
        _cleanup_free_ void *buf = NULL;
        Sha256 *h = NULL;
        const size_t bufsz = 4 * 1024 * 1024;
        uint64_t total = 0;
        struct stat st;
        int r;

        if (!tmp)
                return -ENOMEM;
        if (opts->no_replace && !ret_tmp_path)
                return -EINVAL;

        /* Never a symlink, never waiting on a FIFO put in the file's place; the owner when asked. */
        in = open_regular(from, OPEN_REGULAR_NOFOLLOW, opts->check_owner ? opts->owner : (uid_t) -1, &st);
        if (in < 0)
                return in;
        (void) posix_fadvise(in, 0, 0, POSIX_FADV_SEQUENTIAL);

        buf = malloc(bufsz);
        if (!buf)
                return -ENOMEM;
        if (ret_sha256) {
                r = sha256_new(&h);
                if (r < 0)
                        return r;
        }

        out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (out < 0) {
                r = negative_errno();
                goto fail;
        }
        if (st.st_size > 0)
                (void) posix_fallocate(out, 0, st.st_size);

        for (;;) {
                ssize_t k = read(in, buf, bufsz);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = negative_errno();
                        goto fail;
                }
                if (k == 0)
                        break;
                if (h) {
                        r = sha256_update(h, buf, (size_t) k);
                        if (r < 0)
                                goto fail;
                }
                r = write_all(out, buf, (size_t) k);
                if (r < 0)
                        goto fail;
                total += (uint64_t) k;
        }

        /* The mode while the file is still ours, then the owner: no CAP_FOWNER needed (a chown
         * also drops set-user-ID bits, which no JAR or database should have). */
        if (fchmod(out, opts->mode) < 0) {
                r = negative_errno();
                goto fail;
        }
        if (opts->uid != (uid_t) -1 && fchown(out, opts->uid, opts->gid) < 0) {
                r = negative_errno();
                goto fail;
        }
        if (fsync(out) < 0) {
                r = negative_errno();
                goto fail;
        }
        if (h) {
                r = sha256_final_hex(h, ret_sha256);
                if (r < 0)
                        goto fail;
        }

        if (opts->no_replace)
                *ret_tmp_path = TAKE_PTR(tmp);
        else {
                r = rename_and_sync(tmp, to);
                if (r < 0)
                        goto fail;
        }
        sha256_free(h);
        if (ret_size)
                *ret_size = total;
        return 0;

fail:
        sha256_free(h);
        (void) unlink(tmp);
        return r;
}

int disk_free_bytes(const char *path, uint64_t *ret_bytes, dev_t *ret_dev) {
        _cleanup_free_ char *p = strdup(path);
        struct statvfs sv;
        struct stat st;

        if (!p)
                return -ENOMEM;
        /* Walk up to the nearest existing directory: the target may not exist yet. */
        while (stat(p, &st) < 0) {
                char *slash;

                if (errno != ENOENT)
                        return negative_errno();
                slash = strrchr(p, '/');
                if (!slash)
                        return -ENOENT;
                if (slash == p)
                        slash[1] = '\0';
                else
                        *slash = '\0';
        }
        if (statvfs(p, &sv) < 0)
                return negative_errno();
        *ret_bytes = (uint64_t) sv.f_bavail * (uint64_t) sv.f_frsize;
        if (ret_dev)
                *ret_dev = st.st_dev;
        return 0;
}

int run_capture(char *const argv[], size_t max, char **ret_output, int *ret_status) {
        _cleanup_free_ char *buf = malloc(max + 1);
        char sink[4096];
        size_t n = 0;
        int pipefd[2], status;
        pid_t pid;

        if (!buf)
                return -ENOMEM;
        /* Said here rather than as a child's 127: the caller learns why. */
        if (access(argv[0], X_OK) < 0)
                return negative_errno();
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return negative_errno();
        pid = fork();
        if (pid < 0) {
                (void) close(pipefd[0]);
                (void) close(pipefd[1]);
                return negative_errno();
        }
        if (pid == 0) {
                int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (null >= 0)
                        (void) dup2(null, STDIN_FILENO);
                (void) dup2(pipefd[1], STDOUT_FILENO);
                (void) dup2(pipefd[1], STDERR_FILENO);
                execv(argv[0], argv);
                _exit(127);
        }
        (void) close(pipefd[1]);
        for (;;) {
                bool full = n >= max;
                ssize_t k = read(pipefd[0], full ? sink : buf + n, full ? sizeof(sink) : max - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                if (!full)
                        n += (size_t) k;
        }
        (void) close(pipefd[0]);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return negative_errno();
        buf[n] = '\0';
        *ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        *ret_output = TAKE_PTR(buf);
        return 0;
}

int unlink_synced(const char *path) {
        if (unlink(path) < 0)
                return negative_errno();
        (void) fsync_parent_directory(path);
        return 0;
}
