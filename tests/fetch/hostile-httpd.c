/* SPDX-License-Identifier: MIT */
/* hostile-httpd: a tiny HTTP/1.0 server that misbehaves on purpose where nginx won't, for the
 * fetch helper's tests (tests/integration/nginx.sh puts it behind nginx's TLS). It serves the
 * files under ROOT as
 *   /truncated/NAME     announces the whole size, sends the first half and closes
 *   /lying-length/NAME  announces half the size and sends the whole file
 *   /no-length/NAME     sends the whole file without a Content-Length (its end is the close)
 * and answers 404 to anything else.
 *
 *   hostile-httpd ROOT PORT_FILE
 *
 * listens on an ephemeral port on 127.0.0.1, writes the port number to PORT_FILE and serves one
 * connection at a time until killed. */

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "macro.h"

static int write_all(int fd, const void *p, size_t n) {
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

/* Reads the request head; returns the path of a GET, or NULL. */
static char *read_request_path(int fd) {
        char buf[8192], *end;
        size_t n = 0;

        for (;;) {
                ssize_t k;

                if (n == sizeof(buf) - 1)
                        return NULL;
                k = read(fd, buf + n, sizeof(buf) - 1 - n);
                if (k <= 0)
                        return NULL;
                n += (size_t) k;
                buf[n] = '\0';
                if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n"))
                        break;
        }
        if (strncmp(buf, "GET /", 5) != 0)
                return NULL;
        end = strchr(buf + 4, ' ');
        if (!end)
                return NULL;
        return strndup(buf + 4, (size_t) (end - (buf + 4)));
}

static void respond(int fd, int root_fd, const char *path) {
        static const struct {
                const char *prefix;
                bool announce_half, send_half, no_length;
        } modes[] = {
                {"/truncated/", false, true, false},
                {"/lying-length/", true, false, false},
                {"/no-length/", false, false, true},
        };
        _cleanup_close_ int file_fd = -EBADF;
        const char *name = NULL;
        char buf[65536];
        uint64_t size, announced, to_send;
        struct stat st;
        size_t m;
        int n;

        for (m = 0; m < ELEMENTSOF(modes); m++)
                if (strncmp(path, modes[m].prefix, strlen(modes[m].prefix)) == 0) {
                        name = path + strlen(modes[m].prefix);
                        break;
                }
        if (name && !isempty(name) && !strstr(name, ".."))
                file_fd = openat(root_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (file_fd < 0 || fstat(file_fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                static const char not_found[] =
                        "HTTP/1.0 404 Not Found\r\nContent-Length: 10\r\nConnection: close\r\n\r\nnot found\n";
                (void) write_all(fd, not_found, sizeof(not_found) - 1);
                return;
        }

        size = (uint64_t) st.st_size;
        announced = modes[m].announce_half ? size / 2 : size;
        to_send = modes[m].send_half ? size / 2 : size;
        if (modes[m].no_length)
                n = snprintf(
                        buf,
                        sizeof(buf),
                        "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n");
        else
                n = snprintf(
                        buf,
                        sizeof(buf),
                        "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n"
                        "Content-Length: %" PRIu64 "\r\nConnection: close\r\n\r\n",
                        announced);
        if (write_all(fd, buf, (size_t) n) < 0)
                return;

        while (to_send > 0) {
                ssize_t k = read(file_fd, buf, to_send < sizeof(buf) ? (size_t) to_send : sizeof(buf));
                if (k <= 0 || write_all(fd, buf, (size_t) k) < 0)
                        return;
                to_send -= (uint64_t) k;
        }
}

int main(int argc, char *argv[]) {
        struct sockaddr_in sa = {
                .sin_family = AF_INET,
                .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
        };
        socklen_t salen = sizeof(sa);
        _cleanup_close_ int listen_fd = -EBADF, root_fd = -EBADF;
        _cleanup_fclose_ FILE *f = NULL;
        char tmp[PATH_MAX];
        int one = 1;

        if (argc != 3) {
                fprintf(stderr, "usage: %s ROOT PORT_FILE\n", argv[0]);
                return 2;
        }
        (void) signal(SIGPIPE, SIG_IGN);

        root_fd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0) {
                fprintf(stderr, "Failed to open %s: %m\n", argv[1]);
                return 1;
        }
        listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (listen_fd < 0 || setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(listen_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(listen_fd, 16) < 0 ||
            getsockname(listen_fd, (struct sockaddr *) &sa, &salen) < 0) {
                fprintf(stderr, "Failed to listen on 127.0.0.1: %m\n");
                return 1;
        }
        /* Under a temporary name first, so that nobody reads half a number. */
        (void) snprintf(tmp, sizeof(tmp), "%s.tmp", argv[2]);
        f = fopen(tmp, "we");
        if (!f || fprintf(f, "%u\n", (unsigned) ntohs(sa.sin_port)) < 0 || fclose(TAKE_PTR(f)) != 0 ||
            rename(tmp, argv[2]) < 0) {
                fprintf(stderr, "Failed to write %s: %m\n", argv[2]);
                return 1;
        }

        for (;;) {
                _cleanup_close_ int fd = -EBADF;
                _cleanup_free_ char *path = NULL;
                struct timeval tv = {.tv_sec = 10};

                fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        fprintf(stderr, "accept: %m\n");
                        return 1;
                }
                /* A peer that stops reading or writing must not wedge the next test. */
                (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
                (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

                path = read_request_path(fd);
                if (path)
                        respond(fd, root_fd, path);
        }
}
