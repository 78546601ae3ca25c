/* SPDX-License-Identifier: MIT */
/* http-prober: the benchmarks' external observer of Metabase's availability.
 *
 *   http-prober HOST PORT PATH INTERVAL_MS TIMEOUT_MS
 *
 * Sends "GET PATH" to HOST:PORT every INTERVAL_MS on a fixed schedule (absolute deadlines on
 * CLOCK_MONOTONIC: a slow probe never delays the next one, probes overlap if they must) and
 * prints one line per probe as its result arrives:
 *
 *   SEQ SEND_MS RESULT_MS STATUS
 *
 * SEND_MS and RESULT_MS are milliseconds (3 decimals) since the prober started; STATUS is the
 * HTTP status code, or -1 connection refused / failed, -2 no answer within TIMEOUT_MS, -3 the
 * connection closed or broke before a status line. The first line is a comment with the
 * CLOCK_REALTIME and CLOCK_MONOTONIC of time 0, in microseconds. Runs until SIGTERM or SIGINT; probes still
 * in flight then are dropped. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_INFLIGHT 256

typedef struct Probe {
        int fd;
        unsigned seq;
        int64_t send_ns, deadline_ns;
        int sent;
        size_t n;
        char buf[64];
} Probe;

static volatile sig_atomic_t stop;
static Probe probes[MAX_INFLIGHT];
static size_t n_probes;
static int64_t t0;
static struct sockaddr_in addr;
static char request[512];
static size_t request_len;

static void on_signal(int sig) {
        (void) sig;
        stop = 1;
}

static int64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void report(Probe *p, int status) {
        int64_t t = now_ns();
        printf("%u %.3f %.3f %d\n", p->seq, (double) (p->send_ns - t0) / 1e6, (double) (t - t0) / 1e6, status);
        close(p->fd);
        *p = probes[--n_probes];
}

static void launch(unsigned seq, int64_t send_ns, int64_t timeout_ns) {
        Probe p = {.fd = -1, .seq = seq, .send_ns = send_ns, .deadline_ns = send_ns + timeout_ns};
        int one = 1;

        if (n_probes >= MAX_INFLIGHT) {
                /* Far more than ever needed; say so rather than skip a probe silently. */
                printf("%u %.3f %.3f -4\n", seq, (double) (send_ns - t0) / 1e6, (double) (now_ns() - t0) / 1e6);
                return;
        }
        p.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (p.fd < 0) {
                printf("%u %.3f %.3f -1\n", seq, (double) (send_ns - t0) / 1e6, (double) (now_ns() - t0) / 1e6);
                return;
        }
        (void) setsockopt(p.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        probes[n_probes++] = p;
        if (connect(p.fd, (struct sockaddr *) &addr, sizeof(addr)) < 0 && errno != EINPROGRESS)
                report(&probes[n_probes - 1], -1);
}

/* Progress on one probe; returns when it would block. */
static void advance(Probe *p, short revents) {
        if (!p->sent) {
                int err = 0;
                socklen_t len = sizeof(err);
                ssize_t k;

                if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
                        report(p, -1);
                        return;
                }
                if (!(revents & POLLOUT))
                        return;
                k = send(p->fd, request, request_len, MSG_NOSIGNAL);
                if (k != (ssize_t) request_len) {
                        report(p, -3);
                        return;
                }
                p->sent = 1;
                return;
        }
        for (;;) {
                ssize_t k = recv(p->fd, p->buf + p->n, sizeof(p->buf) - 1 - p->n, 0);
                if (k < 0 && (errno == EAGAIN || errno == EINTR))
                        return;
                if (k <= 0) {
                        report(p, -3);
                        return;
                }
                p->n += (size_t) k;
                p->buf[p->n] = '\0';
                /* "HTTP/1.1 200 ..." is all we need. */
                if (p->n >= 12 || memchr(p->buf, '\n', p->n)) {
                        int status = -3;
                        if (strncmp(p->buf, "HTTP/", 5) == 0) {
                                const char *sp = strchr(p->buf, ' ');
                                if (sp)
                                        status = atoi(sp + 1);
                                if (status <= 0)
                                        status = -3;
                        }
                        report(p, status);
                        return;
                }
        }
}

int main(int argc, char *argv[]) {
        struct pollfd pfd[MAX_INFLIGHT];
        int64_t interval_ns, timeout_ns, next;
        struct sigaction sa = {.sa_handler = on_signal};
        struct timespec rt;
        unsigned seq = 0;

        if (argc != 6) {
                fprintf(stderr, "usage: %s HOST PORT PATH INTERVAL_MS TIMEOUT_MS\n", argv[0]);
                return 2;
        }
        memset(&addr, 0, sizeof(addr));
        addr.sin_family = AF_INET;
        addr.sin_port = htons((uint16_t) atoi(argv[2]));
        if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) {
                fprintf(stderr, "bad IPv4 address %s\n", argv[1]);
                return 2;
        }
        interval_ns = (int64_t) atoi(argv[4]) * 1000000;
        timeout_ns = (int64_t) atoi(argv[5]) * 1000000;
        if (interval_ns <= 0 || timeout_ns <= 0)
                return 2;
        request_len = (size_t) snprintf(
                request,
                sizeof(request),
                "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: mbupgraded-bench-prober\r\n"
                "Connection: close\r\n\r\n",
                argv[3],
                argv[1],
                argv[2]);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        setvbuf(stdout, NULL, _IOLBF, 0);

        t0 = now_ns();
        clock_gettime(CLOCK_REALTIME, &rt);
        printf("# t0_realtime_us %lld t0_monotonic_us %lld interval_ms %s timeout_ms %s\n",
               (long long) rt.tv_sec * 1000000 + rt.tv_nsec / 1000,
               (long long) (t0 / 1000),
               argv[4],
               argv[5]);
        next = t0;

        while (!stop) {
                struct pollfd ready[MAX_INFLIGHT];
                size_t n_ready = 0;
                int64_t now = now_ns(), wait_ns;
                struct timespec ts;

                while (now >= next) {
                        /* On schedule; if the prober itself was late by whole intervals (it should
                         * never be), those probes are sent now rather than lost. */
                        launch(seq++, now, timeout_ns);
                        next += interval_ns;
                }
                for (size_t i = 0; i < n_probes;) {
                        if (now >= probes[i].deadline_ns)
                                report(&probes[i], -2);
                        else
                                i++;
                }
                wait_ns = next - now;
                for (size_t i = 0; i < n_probes; i++) {
                        if (probes[i].deadline_ns - now < wait_ns)
                                wait_ns = probes[i].deadline_ns - now;
                        pfd[i] = (struct pollfd){
                                .fd = probes[i].fd, .events = probes[i].sent ? POLLIN : POLLOUT};
                }
                /* ppoll(): sub-millisecond timeouts, so the schedule does not drift. */
                ts = (struct timespec){.tv_sec = wait_ns / 1000000000, .tv_nsec = wait_ns % 1000000000};
                if (ppoll(pfd, n_probes, &ts, NULL) <= 0)
                        continue;
                /* report() reorders probes[]: collect the ready fds first, then find each by fd. */
                for (size_t i = 0; i < n_probes; i++)
                        if (pfd[i].revents)
                                ready[n_ready++] = pfd[i];
                for (size_t j = 0; j < n_ready; j++)
                        for (size_t i = 0; i < n_probes; i++)
                                if (probes[i].fd == ready[j].fd) {
                                        advance(&probes[i], ready[j].revents);
                                        break;
                                }
        }
        return 0;
}
