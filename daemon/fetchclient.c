/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build-config.h"
#include "fetchclient.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "strv.h"

const char *fetch_helper(void) {
        const char *p = secure_getenv("MBUPGRADED_FETCH");
        return !isempty(p) ? p : LIBEXECDIR "/mbupgraded-fetch";
}

/* The user the fetch helper runs as (unit-files/mbupgraded.sysusers): TLS, HTTP parsing of what a
 * hostile server sends and libcurl run under it, never as root. */
const char *fetch_user(void) {
        const char *u = secure_getenv("MBUPGRADED_FETCH_USER");
        return !isempty(u) ? u : FETCH_USER;
}

int fetch_credentials(ChildOptions *o) {
        int r = child_options_user(o, fetch_user());
        if (r < 0)
                return log_error_errno(
                        r,
                        "The download helper's user %s: %s (systemd-sysusers creates it)",
                        fetch_user(),
                        r == -ENXIO ? "no such user" : strerror(-r));
        return 0;
}

int fetch_open_ca(const char *path) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        struct stat st;

        if (fd < 0)
                return log_error_errno(negative_errno(), "Failed to open releases.ca_file %s: %m", path);
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return log_error_errno(-EBADFD, "releases.ca_file %s is not a regular file", path);
        return TAKE_FD(fd);
}

/* One download: the daemon opens OUTPUT.part itself, in its root-only staging directory, and
 * hands the helper only that descriptor; on the helper's "done" it renames it to OUTPUT. */
typedef struct FetchCall {
        char *part, *output;
        int fd, ca_fd;
        ChildLineCallback on_line;
        ChildExitCallback on_exit;
        void *userdata;
} FetchCall;

static void fetch_call_free(void *p) {
        FetchCall *fc = p;

        if (!fc)
                return;
        if (fc->fd >= 0)
                (void) close(fc->fd);
        if (fc->ca_fd >= 0)
                (void) close(fc->ca_fd);
        free(fc->part);
        free(fc->output);
        free(fc);
}

static void fetch_call_line(Child *c, const char *line, void *userdata) {
        FetchCall *fc = userdata;
        if (fc->on_line)
                fc->on_line(c, line, fc->userdata);
}

static void fetch_call_exit(Child *c, int status, const char *last, void *userdata) {
        FetchCall *fc = userdata;
        _cleanup_free_ char *msg = NULL;
        struct stat st;
        int r;

        if (status == 0 && startswith(last, "done ")) {
                r = rename_and_sync(fc->part, fc->output);
                if (r < 0) {
                        msg = strdup_printf(
                                "error io Failed to rename %s to %s: %s", fc->part, fc->output, strerror(-r));
                        fc->on_exit(c, 1, strempty(msg), fc->userdata);
                        return;
                }
        } else if (fstat(fc->fd, &st) >= 0 && st.st_size == 0)
                (void) unlink(fc->part); /* nothing came: no empty .part left for --resume */
        fc->on_exit(c, status, last, fc->userdata);
}

/* Opens OUTPUT.part for the helper: created anew (O_EXCL after removing an old one), or with
 * resume an existing one kept if it is a regular file of root's. Never follows a symlink. */
static int open_part(const char *part, bool resume) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        if (resume) {
                fd = open(part, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
                if (fd >= 0) {
                        if (fstat(fd, &st) < 0)
                                return negative_errno();
                        if (S_ISREG(st.st_mode) && st.st_uid == 0 && st.st_nlink == 1)
                                return TAKE_FD(fd);
                        closep(&fd);
                }
        }
        if (unlink(part) < 0 && errno != ENOENT)
                return negative_errno();
        fd = open(part, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (fd < 0)
                return negative_errno();
        return TAKE_FD(fd);
}

int fetchclient_spawn(
        sd_event *event,
        const char *ca_file,
        const char *url,
        const char *output,
        uint64_t max_size,
        bool resume,
        ChildLineCallback on_line,
        ChildExitCallback on_exit,
        void *userdata,
        Child **ret) {
        ChildOptions o = {.pass_fd = -EBADF, .destroy = fetch_call_free};
        FetchCall *fc;
        char max[32], fdstr[16];
        const char *argv[24];
        size_t n = 0;
        int r;

        r = fetch_credentials(&o);
        if (r < 0)
                return r;
        fc = calloc(1, sizeof(FetchCall));
        if (!fc)
                return -ENOMEM;
        fc->fd = fc->ca_fd = -EBADF;
        fc->part = strdup_printf("%s.part", output);
        fc->output = strdup(output);
        fc->on_line = on_line;
        fc->on_exit = on_exit;
        fc->userdata = userdata;
        if (!fc->part || !fc->output) {
                fetch_call_free(fc);
                return -ENOMEM;
        }
        fc->fd = open_part(fc->part, resume);
        if (fc->fd < 0) {
                r = fc->fd;
                fc->fd = -EBADF;
                fetch_call_free(fc);
                return r;
        }
        o.pass_fd = fc->fd;

        snprintf(max, sizeof(max), "%" PRIu64, max_size);
        snprintf(fdstr, sizeof(fdstr), "%d", CHILD_PASS_FD);
        argv[n++] = fetch_helper();
        argv[n++] = "--url";
        argv[n++] = url;
        argv[n++] = "--output-fd";
        argv[n++] = fdstr;
        argv[n++] = "--max-size";
        argv[n++] = max;
        argv[n++] = "--connect-timeout";
        argv[n++] = "30";
        argv[n++] = "--low-speed-limit";
        argv[n++] = "1024";
        argv[n++] = "--low-speed-time";
        argv[n++] = "60";
        /* Plain http only when the configured URL itself is http:// (the helper allows it to a
         * loopback address only); an https source may never be redirected to http. */
        if (startswith(url, "http://"))
                argv[n++] = "--allow-http-loopback";
        if (!isempty(ca_file)) {
                /* Opened here: the helper's user need not be able to read it. */
                fc->ca_fd = fetch_open_ca(ca_file);
                if (fc->ca_fd < 0) {
                        r = fc->ca_fd;
                        fc->ca_fd = -EBADF;
                        fetch_call_free(fc);
                        return r;
                }
                o.pass_fd2 = fc->ca_fd;
                argv[n++] = "--ca-file";
                argv[n++] = ca_file;
                argv[n++] = "--ca-fd";
                argv[n++] = "4";
        }
        /* The JAR: resumable, and not fsynced (seconds of write-back for 500 MB), since its SHA-256
         * is checked again by pre-flight before it is installed. */
        if (resume) {
                argv[n++] = "--resume";
                argv[n++] = "--no-fsync";
        }
        argv[n] = NULL;
        r = child_spawn_opts(event, (char *const *) argv, &o, fetch_call_line, fetch_call_exit, fc, ret);
        if (r < 0)
                fetch_call_free(fc);
        return r;
}

/* "done SIZE SHA" -> 0; "error KIND MESSAGE" -> -EIO with the message. */
int fetchclient_verdict(int status, const char *last, uint64_t *ret_size, char *ret_sha, char **ret_error) {
        uint64_t size;
        char sha[SHA256_HEX_SIZE + 1];

        if (status == 0 && sscanf(last, "done %" SCNu64 " %64s", &size, sha) == 2 && sha256_hex_is_valid(sha)) {
                if (ret_size)
                        *ret_size = size;
                if (ret_sha)
                        memcpy(ret_sha, sha, SHA256_HEX_SIZE);
                return 0;
        }
        if (startswith(last, "error ")) {
                const char *kind = last + strlen("error "), *msg = strchr(kind, ' ');
                *ret_error = strdup(msg ? msg + 1 : kind);
        } else if (status < 0)
                *ret_error = strdup_printf("the download helper died (signal %d)", -status - 128);
        else
                *ret_error = strdup_printf("the download helper failed (exit %d, '%.200s')", status, last);
        return -EIO;
}
