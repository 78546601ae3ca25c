/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "http.h"
#include "macro.h"
#include "sockowner.h"
#include "strv.h"

#define HTTP_RESPONSE_MAX (256u * 1024u)

struct HttpRequest {
        sd_event_source *io;
        sd_event_source *timer;
        int fd;
        char *request;
        size_t request_len, request_sent;
        char *response;
        size_t response_len;
        HttpCallback cb;
        void *userdata;
        char *owner_cgroup; /* http_get_owned(): the listener must be this cgroup's */
        char *refusal;      /* why the listener does not count */
};

int http_url_parse(const char *url, char **ret_host, uint16_t *ret_port, char **ret_path) {
        _cleanup_free_ char *host = NULL, *path = NULL;
        const char *p, *slash, *colon;
        unsigned port = 80;

        if (!startswith(url, "http://"))
                return -EINVAL;
        p = url + strlen("http://");
        slash = strchr(p, '/');
        if (!slash)
                slash = p + strlen(p);
        if (memchr(p, '@', (size_t) (slash - p)))
                return -EINVAL;
        colon = memchr(p, ':', (size_t) (slash - p));
        if (colon) {
                _cleanup_free_ char *ps = strndup(colon + 1, (size_t) (slash - colon - 1));
                if (!ps)
                        return -ENOMEM;
                if (safe_atou(ps, &port) < 0 || port == 0 || port > 65535)
                        return -EINVAL;
        } else
                colon = slash;
        host = strndup(p, (size_t) (colon - p));
        path = strdup(*slash ? slash : "/");
        if (!host || !path)
                return -ENOMEM;
        if (isempty(host))
                return -EINVAL;
        for (const char *c = path; *c; c++)
                if ((unsigned char) *c <= ' ' || *c == 0x7f)
                        return -EINVAL;
        *ret_host = TAKE_PTR(host);
        *ret_port = (uint16_t) port;
        *ret_path = TAKE_PTR(path);
        return 0;
}

char *http_url_with_path(const char *url, const char *path) {
        _cleanup_free_ char *host = NULL, *old = NULL;
        uint16_t port;

        if (http_url_parse(url, &host, &port, &old) < 0)
                return NULL;
        return strdup_printf("http://%s:%u%s", host, (unsigned) port, path);
}

HttpRequest *http_request_cancel(HttpRequest *r) {
        if (!r)
                return NULL;
        sd_event_source_disable_unref(r->io);
        sd_event_source_disable_unref(r->timer);
        if (r->fd >= 0)
                (void) close(r->fd);
        free(r->request);
        free(r->response);
        free(r->owner_cgroup);
        free(r->refusal);
        free(r);
        return NULL;
}

static void http_finish(HttpRequest *r, int status) {
        const char *body = "";

        if (status > 0 && r->response) {
                char *b = strstr(r->response, "\r\n\r\n");
                if (b)
                        body = b + 4;
        } else if (status == HTTP_NOT_THE_UNIT || status == HTTP_OWNER_UNKNOWN)
                body = strempty(r->refusal);
        r->cb(r, status, body, r->userdata);
        http_request_cancel(r);
}

static int parse_status(const char *response) {
        unsigned code;
        char proto[16];

        if (!response || sscanf(response, "%15s %3u", proto, &code) != 2 || !startswith(proto, "HTTP/"))
                return -EBADMSG;
        if (code < 100 || code > 599)
                return -EBADMSG;
        return (int) code;
}

static int on_http_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        HttpRequest *r = userdata;

        if (r->request_sent < r->request_len) {
                ssize_t k;
                int err = 0;
                socklen_t len = sizeof(err);

                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
                        http_finish(r, err ? -err : -ECONNREFUSED);
                        return 0;
                }
                /* Connected: whose listener took it? Asked before a byte is sent, while the
                 * listener that accepted us still holds the port. */
                if (r->request_sent == 0 && r->owner_cgroup) {
                        int q = sockowner_check(fd, r->owner_cgroup, &r->refusal);
                        if (q != 1) {
                                if (!r->refusal)
                                        r->refusal = strdup("cannot tell who listens");
                                http_finish(r, q == 0 ? HTTP_NOT_THE_UNIT : HTTP_OWNER_UNKNOWN);
                                return 0;
                        }
                }
                k = send(fd, r->request + r->request_sent, r->request_len - r->request_sent, MSG_NOSIGNAL);
                if (k < 0) {
                        if (errno != EAGAIN && errno != EINTR)
                                http_finish(r, negative_errno());
                        return 0;
                }
                r->request_sent += (size_t) k;
                if (r->request_sent == r->request_len)
                        (void) sd_event_source_set_io_events(s, EPOLLIN);
                return 0;
        }

        for (;;) {
                char buf[8192];
                ssize_t k = recv(fd, buf, sizeof(buf), 0);

                if (k < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return 0;
                        http_finish(r, negative_errno());
                        return 0;
                }
                if (k == 0) {
                        http_finish(r, parse_status(r->response));
                        return 0;
                }
                if (r->response_len + (size_t) k > HTTP_RESPONSE_MAX) {
                        http_finish(r, -EFBIG);
                        return 0;
                }
                char *n = realloc(r->response, r->response_len + (size_t) k + 1);
                if (!n) {
                        http_finish(r, -ENOMEM);
                        return 0;
                }
                r->response = n;
                memcpy(r->response + r->response_len, buf, (size_t) k);
                r->response_len += (size_t) k;
                r->response[r->response_len] = '\0';
        }
}

static int on_http_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        http_finish(userdata, -ETIMEDOUT);
        return 0;
}

const char *http_status_explain(int status) {
        if (status != 301 && status != 302 && status != 303 && status != 307 && status != 308)
                return NULL;
        return "Metabase (or a proxy in front of it) redirected the request although it said it came over "
               "https (X-Forwarded-Proto: https), and mbupgraded follows no redirect; point health_url at "
               "Metabase's own port on this host (MB_JETTY_PORT), not at a proxy that redirects, or turn off "
               "\"Redirect all requests to HTTPS\" in Metabase's admin settings";
}

int http_get(
        sd_event *e, const char *url, uint64_t timeout_usec, HttpCallback cb, void *userdata, HttpRequest **ret) {
        return http_get_owned(e, url, NULL, timeout_usec, cb, userdata, ret);
}

int http_get_owned(
        sd_event *e,
        const char *url,
        const char *control_group,
        uint64_t timeout_usec,
        HttpCallback cb,
        void *userdata,
        HttpRequest **ret) {
        _cleanup_free_ char *host = NULL, *path = NULL;
        union {
                struct sockaddr sa;
                struct sockaddr_in in;
                struct sockaddr_in6 in6;
        } sa = {};
        socklen_t salen;
        HttpRequest *r;
        uint16_t port;
        int q;

        q = http_url_parse(url, &host, &port, &path);
        if (q < 0)
                return q;
        if (streq(host, "localhost") || inet_pton(AF_INET, host, &sa.in.sin_addr) == 1) {
                sa.in.sin_family = AF_INET;
                sa.in.sin_port = htons(port);
                if (streq(host, "localhost"))
                        sa.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                salen = sizeof(sa.in);
        } else {
                _cleanup_free_ char *h6 = NULL;
                const char *h = host;

                if (host[0] == '[' && endswith(host, "]")) {
                        h6 = strndup(host + 1, strlen(host) - 2);
                        if (!h6)
                                return -ENOMEM;
                        h = h6;
                }
                if (inet_pton(AF_INET6, h, &sa.in6.sin6_addr) != 1)
                        return -EADDRNOTAVAIL; /* no DNS in the core: an IP literal or localhost */
                sa.in6.sin6_family = AF_INET6;
                sa.in6.sin6_port = htons(port);
                salen = sizeof(sa.in6);
        }

        r = calloc(1, sizeof(HttpRequest));
        if (!r)
                return -ENOMEM;
        r->fd = -EBADF;
        r->cb = cb;
        r->userdata = userdata;
        /* "": the unit's cgroup is not known (yet): no answer can count. */
        if (control_group) {
                r->owner_cgroup = strdup(control_group);
                if (!r->owner_cgroup) {
                        q = -ENOMEM;
                        goto fail;
                }
        }
        r->request = strdup_printf(
                "GET %s HTTP/1.0\r\nHost: %s:%u\r\nUser-Agent: mbupgraded/" PACKAGE_VERSION
                "\r\nAccept: application/json\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n",
                path,
                host,
                (unsigned) port);
        if (!r->request) {
                q = -ENOMEM;
                goto fail;
        }
        r->request_len = strlen(r->request);

        r->fd = socket(sa.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (r->fd < 0) {
                q = negative_errno();
                goto fail;
        }
        if (connect(r->fd, &sa.sa, salen) < 0 && errno != EINPROGRESS) {
                q = negative_errno();
                goto fail;
        }
        q = sd_event_add_io(e, &r->io, r->fd, EPOLLOUT, on_http_io, r);
        if (q < 0)
                goto fail;
        q = sd_event_add_time_relative(e, &r->timer, CLOCK_MONOTONIC, timeout_usec, 0, on_http_timeout, r);
        if (q < 0)
                goto fail;
        if (ret)
                *ret = r;
        return 0;

fail:
        http_request_cancel(r);
        return q;
}
