/* SPDX-License-Identifier: MIT */
/* The health prober's HTTP client against a real listening socket on loopback: status and body
 * parsed, connection refused and time-outs reported, hostile URLs refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "macro.h"
#include "strv.h"

typedef struct Server {
        int fd;
        uint16_t port;
        const char *response; /* NULL: accept, read, never answer */
        char request[1024];
} Server;

static void *serve_once(void *p) {
        Server *s = p;
        int c = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
        ssize_t n;

        if (c < 0)
                return NULL;
        n = read(c, s->request, sizeof(s->request) - 1);
        if (n > 0)
                s->request[n] = '\0';
        if (s->response) {
                (void) !write(c, s->response, strlen(s->response));
                close(c);
        } else {
                usleep(500 * 1000);
                close(c);
        }
        return NULL;
}

static void server_start(Server *s, pthread_t *t) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(a);

        s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(s->fd >= 0);
        assert_int_equal(bind(s->fd, (struct sockaddr *) &a, sizeof(a)), 0);
        assert_int_equal(listen(s->fd, 4), 0);
        assert_int_equal(getsockname(s->fd, (struct sockaddr *) &a, &len), 0);
        s->port = ntohs(a.sin_port);
        assert_int_equal(pthread_create(t, NULL, serve_once, s), 0);
}

typedef struct Got {
        int status;
        char body[256];
        sd_event *e;
} Got;

static void on_done(HttpRequest *req, int status, const char *body, void *userdata) {
        Got *g = userdata;
        g->status = status;
        snprintf(g->body, sizeof(g->body), "%s", body);
        sd_event_exit(g->e, 0);
}

static void get(const char *url, uint64_t timeout, Got *g) {
        int r;

        assert_int_equal(sd_event_new(&g->e), 0);
        r = http_get(g->e, url, timeout, on_done, g, NULL);
        if (r < 0)
                g->status = r;
        else
                assert_int_equal(sd_event_loop(g->e), 0);
        sd_event_unref(g->e);
}

static void test_status_and_body(void **state) {
        Server s = {
                .response = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n\r\n"
                            "{\"status\":\"initializing\",\"progress\":0.5}"};
        _cleanup_free_ char *url = NULL;
        pthread_t t;
        Got g = {};

        server_start(&s, &t);
        url = strdup_printf("http://127.0.0.1:%u/api/health", s.port);
        get(url, 5 * USEC_PER_SEC, &g);
        pthread_join(t, NULL);
        close(s.fd);
        assert_int_equal(g.status, 503);
        assert_string_equal(g.body, "{\"status\":\"initializing\",\"progress\":0.5}");
        assert_true(startswith(s.request, "GET /api/health HTTP/1.0\r\n"));
}

static void test_redirect_not_followed(void **state) {
        /* what Metabase's ssl middleware answers: 301 to the https URL of the site */
        Server s = {
                .response = "HTTP/1.1 301 Moved Permanently\r\nLocation: https://metabase.example.com/api/session/"
                            "properties\r\nContent-Length: 0\r\n\r\n"};
        _cleanup_free_ char *url = NULL;
        pthread_t t;
        Got g = {};

        server_start(&s, &t);
        url = strdup_printf("http://127.0.0.1:%u/api/session/properties", s.port);
        get(url, 5 * USEC_PER_SEC, &g);
        pthread_join(t, NULL);
        close(s.fd);
        assert_int_equal(g.status, 301);
        /* the request said it came over https, as that middleware's https? check reads it */
        assert_non_null(strstr(s.request, "\r\nX-Forwarded-Proto: https\r\n"));
        assert_non_null(http_status_explain(301));
        assert_non_null(http_status_explain(307));
        assert_null(http_status_explain(200));
        assert_null(http_status_explain(-ECONNREFUSED));
}

static void test_refused_and_timeout(void **state) {
        Server s = {.response = NULL};
        _cleanup_free_ char *url = NULL, *closed = NULL;
        pthread_t t;
        Got g = {};

        server_start(&s, &t);
        url = strdup_printf("http://127.0.0.1:%u/api/health", s.port);
        get(url, 100 * USEC_PER_MSEC, &g);
        assert_int_equal(g.status, -ETIMEDOUT);
        pthread_join(t, NULL);
        close(s.fd);

        /* the port is closed now */
        closed = strdup_printf("http://127.0.0.1:%u/api/health", s.port);
        memset(&g, 0, sizeof(g));
        get(closed, 5 * USEC_PER_SEC, &g);
        assert_int_equal(g.status, -ECONNREFUSED);
}

static void test_garbage_response(void **state) {
        Server s = {.response = "SSH-2.0-OpenSSH_9.2\r\n"};
        _cleanup_free_ char *url = NULL;
        pthread_t t;
        Got g = {};

        server_start(&s, &t);
        url = strdup_printf("http://127.0.0.1:%u/", s.port);
        get(url, 5 * USEC_PER_SEC, &g);
        pthread_join(t, NULL);
        close(s.fd);
        assert_int_equal(g.status, -EBADMSG);
}

static void test_url_parse(void **state) {
        char *host = NULL, *path = NULL;
        uint16_t port;
        const char *bad[] = {
                "https://127.0.0.1/api/health",
                "http://user@127.0.0.1/",
                "http://127.0.0.1:0/",
                "http://127.0.0.1:99999/",
                "http://:3000/",
                "ftp://x/",
                "http://127.0.0.1/a b",
                "http://127.0.0.1:3x/",
        };

        assert_int_equal(http_url_parse("http://127.0.0.1:3000/api/health", &host, &port, &path), 0);
        assert_string_equal(host, "127.0.0.1");
        assert_int_equal(port, 3000);
        assert_string_equal(path, "/api/health");
        free(host);
        free(path);
        assert_int_equal(http_url_parse("http://localhost", &host, &port, &path), 0);
        assert_int_equal(port, 80);
        assert_string_equal(path, "/");
        free(host);
        free(path);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(http_url_parse(bad[i], &host, &port, &path), -EINVAL);

        _cleanup_free_ char *u = http_url_with_path(
                "http://127.0.0.1:3000/api/health", "/api/session/properties");
        assert_string_equal(u, "http://127.0.0.1:3000/api/session/properties");

        /* names are not resolved by the core */
        Got g = {};
        get("http://metabase.example.com:3000/api/health", USEC_PER_SEC, &g);
        assert_int_equal(g.status, -EADDRNOTAVAIL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_status_and_body),
                cmocka_unit_test(test_redirect_not_followed),
                cmocka_unit_test(test_refused_and_timeout),
                cmocka_unit_test(test_garbage_response),
                cmocka_unit_test(test_url_parse),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
