/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fetchclient.h"
#include "fileio.h"
#include "http.h"
#include "log.h"
#include "macro.h"
#include "proxy.h"
#include "strv.h"
#include "unit.h"
#include "version.h"

#define METABASE_DEFAULT_PORT 3000U
#define POLL_INTERVAL_USEC (200U * USEC_PER_MSEC)
#define FAILED_ANSWERS_MAX 3
#define REQUEST_TIMEOUT_USEC (2U * USEC_PER_SEC)
#define PROBE_MAX_SIZE (256U * 1024U)
#define UPSTREAM_FILE_MAX 4096U
#define UPSTREAM_SET "set $mbupgraded_upstream 127.0.0.1:"
#define FAILOVER_GROUP "mbupgraded_failover"

typedef enum ProxyPhase {
        PHASE_IDLE,
        PHASE_CHECK,  /* asking the new backend itself, before nginx is touched */
        PHASE_RELOAD, /* the reload job for the new port */
        PHASE_POLL,   /* asking nginx for the expected version */
        PHASE_REVERT, /* the reload job for the previous port */
        PHASE_REPOLL, /* asking nginx whether the previous port answers */
} ProxyPhase;

struct Proxy {
        Manager *m;
        uint16_t port; /* what upstream_file names, 0: none */

        ProxyPhase phase;
        uint16_t previous, target;
        char *expected;
        char *seen;          /* the version nginx served last, NULL: none yet */
        unsigned n_expected; /* answers in a row with the expected version */
        unsigned n_failed;   /* answers in a row that were no 200 (nginx's 502: no backend) */
        char *failure;       /* why the switch failed, while the previous port goes back */
        uint64_t timeout_usec, deadline;
        ProxyCallback cb;
        void *userdata;
        sd_event_source *timer;
        HttpRequest *http;
        Child *fetch;
        char *reload_error; /* why the last reload of a switch failed, NULL when it did not */
};

static uint64_t now_usec(Proxy *p) {
        uint64_t t = 0;
        (void) sd_event_now(p->m->event, CLOCK_MONOTONIC, &t);
        return t;
}

uint16_t proxy_own_port(Manager *m) {
        const char *s = m->unit ? unit_info_getenv(m->unit, "MB_JETTY_PORT") : NULL;
        unsigned port;

        if (isempty(s) || safe_atou(s, &port) < 0 || port == 0 || port > UINT16_MAX)
                return METABASE_DEFAULT_PORT;
        return (uint16_t) port;
}

uint16_t proxy_port(const Proxy *p) {
        return p->port;
}

bool proxy_may_use(const Proxy *p, uint16_t port) {
        return port != 0 &&
                (p->port == port || (p->phase != PHASE_IDLE && (p->previous == port || p->target == port)));
}

/* Only root may add, remove or rename entries in dir and in its parent, and dir is no symlink: then
 * no one else can put a file, a symlink or another directory where upstream_file goes. */
static int check_directory(const char *dir) {
        _cleanup_free_ char *parent = path_dirname(dir);
        struct stat st;

        if (!parent)
                return -ENOMEM;
        if (lstat(dir, &st) < 0)
                return negative_errno();
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        if (st.st_uid != 0 || (st.st_mode & 0022) != 0 || !directory_is_trusted(parent))
                return -EPERM;
        return 0;
}

/* A file of ours for nginx: root's 0644, atomically, only into a directory root's alone (created
 * 0755 under the daemon's UMask=0077 too: nginx's master reads it, and a site may run nginx -t as
 * another user). what names the key for the log. */
static int nginx_file_write(const char *what, const char *path, const char *text) {
        _cleanup_free_ char *dir = path_dirname(path);
        int r;

        if (!dir)
                return -ENOMEM;
        r = mkdir_parents_and_self_exact(dir, 0755);
        if (r < 0)
                return log_error_errno(r, "Failed to create %s for %s: %m", dir, what);
        r = check_directory(dir);
        if (r < 0)
                return log_error_errno(
                        r,
                        "Refusing to write %s %s: its directory or the one above it is not root's alone (%m): "
                        "another user could put their own file there",
                        what,
                        path);
        r = write_file_atomic(path, text, strlen(text), 0644);
        if (r < 0)
                return log_error_errno(r, "Failed to write %s %s: %m", what, path);
        return 0;
}

static int upstream_write(Proxy *p, uint16_t port) {
        const Config *c = p->m->config;
        _cleanup_free_ char *text = NULL, *group = NULL;
        uint16_t own = proxy_own_port(p->m);
        int r;

        /* Another port than the unit's, with proxy.failover_file: nginx sends requests there and
         * retries the unit's own port with one that could not get through. The group first: the
         * upstream file names it. */
        if (!isempty(c->proxy.failover_file) && port != own) {
                group = strdup_printf(
                        "# Written by mbupgraded (proxy.failover_file); do not edit: while another Metabase "
                        "serves,\n# requests that cannot reach it go to Metabase's own port.\n"
                        "upstream " FAILOVER_GROUP " {\n\tserver 127.0.0.1:%u;\n\tserver 127.0.0.1:%u "
                        "backup;\n}\n",
                        (unsigned) port,
                        (unsigned) own);
                if (!group)
                        return -ENOMEM;
                r = nginx_file_write("proxy.failover_file", c->proxy.failover_file, group);
                if (r < 0)
                        return r;
        }
        text = strdup_printf(
                "# Written by mbupgraded (proxy.upstream_file); do not edit: where nginx sends Metabase's "
                "requests.\n" UPSTREAM_SET "%u;\n%s",
                (unsigned) port,
                group ? "set $mbupgraded_upstream " FAILOVER_GROUP ";\n" : "");
        if (!text)
                return -ENOMEM;
        r = nginx_file_write("proxy.upstream_file", c->proxy.upstream_file, text);
        if (r < 0)
                return r;
        p->port = port;
        log_info(
                "proxy.upstream_file %s now points nginx at 127.0.0.1:%u%s",
                c->proxy.upstream_file,
                (unsigned) port,
                group ? ", failing over to Metabase's own port" : "");
        return 0;
}

/* The port a file of ours names; -EBADMSG for anything else. Opened without following a symlink,
 * and only a file of root's counts. */
static int upstream_read(const char *path, uint16_t *ret) {
        _cleanup_free_ char *text = NULL;
        const char *s;
        unsigned port;
        int r;

        r = read_full_file_full(path, UPSTREAM_FILE_MAX, OPEN_REGULAR_NOFOLLOW, 0, &text, NULL);
        if (r < 0)
                return r;
        s = strstr(text, "\n" UPSTREAM_SET);
        if (!s || sscanf(s + strlen("\n" UPSTREAM_SET), "%u;", &port) != 1 || port == 0 || port > UINT16_MAX)
                return -EBADMSG;
        *ret = (uint16_t) port;
        return 0;
}

static void on_start_reload(int r, const char *result, const char *error, void *userdata) {
        if (r < 0)
                log_info(
                        "Reloading %s after writing proxy.upstream_file: %s",
                        (const char *) userdata,
                        strempty(error));
        free(userdata);
}

void proxy_start(Proxy *p) {
        const Config *c = p->m->config;
        char *unit;
        int r;

        if (isempty(c->proxy.upstream_file))
                return;
        r = upstream_read(c->proxy.upstream_file, &p->port);
        if (r >= 0)
                return;
        if (r != -ENOENT) {
                log_warning_errno(
                        r,
                        "proxy.upstream_file %s is not one of ours (%m): writing it anew",
                        c->proxy.upstream_file);
        }
        if (upstream_write(p, proxy_own_port(p->m)) < 0)
                return;
        /* nginx may have started before us (a boot empties /run) with the snippet's fallback port. */
        unit = strdup(c->proxy.nginx_unit);
        if (unit && unit_job(p->m->systemd, "ReloadUnit", unit, on_start_reload, unit) < 0)
                free(unit);
}

static void switch_clear(Proxy *p) {
        p->timer = sd_event_source_disable_unref(p->timer);
        p->http = http_request_cancel(p->http);
        p->fetch = child_kill(p->fetch);
        p->phase = PHASE_IDLE;
        p->expected = mfree_str(p->expected);
        p->seen = mfree_str(p->seen);
        p->n_expected = p->n_failed = 0;
        p->failure = mfree_str(p->failure);
        p->cb = NULL;
        p->userdata = NULL;
}

static void switch_end(Proxy *p, int r, const char *message) {
        ProxyCallback cb = p->cb;
        void *userdata = p->userdata;

        switch_clear(p);
        if (r < 0)
                log_warning("Switching nginx failed: %s", message);
        else
                log_info("%s", message);
        if (cb)
                cb(r, message, userdata);
}

static void poll_next(Proxy *p);
static int on_timer(sd_event_source *s, uint64_t usec, void *userdata);
static void revert(Proxy *p, const char *fmt, ...) _printf_(2, 3);

static void on_reload(int r, const char *result, const char *error, void *userdata) {
        Proxy *p = userdata;
        _cleanup_free_ char *msg = NULL;

        (void) free_and_strdup(&p->reload_error, r < 0 ? strempty(error) : NULL);
        if (p->phase == PHASE_RELOAD && r < 0) {
                revert(p,
                       "reloading %s failed (%s): nginx keeps its previous configuration",
                       p->m->config->proxy.nginx_unit,
                       strempty(error));
                return;
        }
        if (p->phase == PHASE_REVERT && r < 0) {
                msg = strdup_printf(
                        "%s; and reloading %s for port %u again failed too (%s)",
                        p->failure,
                        p->m->config->proxy.nginx_unit,
                        (unsigned) p->previous,
                        strempty(error));
                switch_end(p, -EIO, strempty(msg));
                return;
        }
        p->phase = p->phase == PHASE_RELOAD ? PHASE_POLL : PHASE_REPOLL;
        p->deadline = now_usec(p) + p->timeout_usec;
        poll_next(p);
}

static int reload(Proxy *p) {
        return unit_job(p->m->systemd, "ReloadUnit", p->m->config->proxy.nginx_unit, on_reload, p);
}

static void revert(Proxy *p, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        if (vasprintf(&p->failure, fmt, ap) < 0)
                p->failure = NULL;
        va_end(ap);
        if (!p->failure) {
                switch_end(p, -ENOMEM, "out of memory");
                return;
        }
        p->phase = PHASE_REVERT;
        r = upstream_write(p, p->previous);
        if (r >= 0)
                r = reload(p);
        if (r < 0) {
                _cleanup_free_ char *msg = strdup_printf(
                        "%s; and pointing nginx at port %u again failed: %s",
                        p->failure,
                        (unsigned) p->previous,
                        strerror(-r));
                switch_end(p, r, strempty(msg));
        }
}

/* One answer through nginx: the version it reports, or NULL. */
static void on_answer(Proxy *p, int status, const char *body) {
        json_object *o = NULL, *v, *t;
        _cleanup_free_ char *msg = NULL;

        p->http = NULL;
        p->fetch = NULL;
        if (status == 200 && (o = json_tokener_parse(body)) && json_object_object_get_ex(o, "version", &v) &&
            json_object_object_get_ex(v, "tag", &t) && mb_version_is_valid(json_object_get_string(t)))
                (void) free_and_strdup(&p->seen, json_object_get_string(t));
        json_object_put(o);

        /* Twice in a row, POLL_INTERVAL_USEC apart: for a moment after a reload nginx's old worker
         * still accepts connections beside the new one (until the master tells it to shut down),
         * so one answer from the new backend does not mean the old one gets no more. */
        p->n_expected = status == 200 && p->seen && streq(p->seen, p->expected) ? p->n_expected + 1 : 0;
        if (p->phase == PHASE_POLL && p->n_expected >= 2) {
                msg = strdup_printf(
                        "nginx serves %s through 127.0.0.1:%u (%s)",
                        p->expected,
                        (unsigned) p->port,
                        p->m->config->proxy.url);
                switch_end(p, 0, strempty(msg));
                return;
        }
        /* The new backend answered itself before the reload, and a reload never fails a request:
         * failures through nginx now (a 502: it cannot reach the backend) mean it died meanwhile.
         * Users get errors until the previous port is back: not a moment longer than this. */
        p->n_failed = status != 200 ? p->n_failed + 1 : 0;
        if (p->phase == PHASE_POLL && p->n_failed >= FAILED_ANSWERS_MAX) {
                char last[32];

                if (status > 0)
                        (void) snprintf(last, sizeof(last), "HTTP %d", status);
                revert(p,
                       "nginx failed %u requests in a row after pointing at 127.0.0.1:%u (the last: %s)",
                       p->n_failed,
                       (unsigned) p->target,
                       status > 0 ? last : strerror(-status));
                return;
        }
        if (p->phase == PHASE_REPOLL && status == 200 && p->seen) {
                msg = strdup_printf(
                        "%s; nginx points at 127.0.0.1:%u again, which serves %s",
                        p->failure,
                        (unsigned) p->port,
                        p->seen);
                switch_end(p, -ETIMEDOUT, strempty(msg));
                return;
        }
        if (now_usec(p) < p->deadline) {
                (void) sd_event_source_set_time_relative(p->timer, POLL_INTERVAL_USEC);
                (void) sd_event_source_set_enabled(p->timer, SD_EVENT_ONESHOT);
                return;
        }
        if (p->phase == PHASE_POLL) {
                revert(p,
                       "nginx did not serve %s within %" PRIu64 " s (it served %s)",
                       p->expected,
                       p->timeout_usec / USEC_PER_SEC,
                       p->seen ?: "no version");
                return;
        }
        msg = strdup_printf(
                "%s; nginx points at 127.0.0.1:%u again, but it did not answer through nginx either",
                p->failure,
                (unsigned) p->port);
        switch_end(p, -EHOSTDOWN, strempty(msg));
}

static void on_http(HttpRequest *req, int status, const char *body, void *userdata) {
        on_answer(userdata, status, body);
}

static void on_fetch_exit(Child *c, int status, const char *last, void *userdata) {
        Proxy *p = userdata;
        _cleanup_free_ char *path = manager_state_path(p->m, "proxy-probe.json"), *error = NULL, *body = NULL;
        int r;

        r = fetchclient_verdict(status, last, NULL, NULL, &error);
        if (r >= 0 && path)
                r = read_full_file_full(path, PROBE_MAX_SIZE, OPEN_REGULAR_NOFOLLOW, 0, &body, NULL);
        if (path)
                (void) unlink(path);
        if (r < 0)
                log_debug("A request through nginx failed: %s", error ?: strerror(-r));
        on_answer(p, r < 0 ? r : 200, strempty(body));
}

/* GET url/api/session/properties: plain http (loopback only, http.h) in the daemon; https through
 * the unprivileged fetch helper, which writes the answer into a file of root's. */
static int request(Proxy *p) {
        const Config *c = p->m->config;
        _cleanup_free_ char *url = NULL, *output = manager_state_path(p->m, "proxy-probe.json");
        size_t n = strlen(c->proxy.url);

        while (n > 0 && c->proxy.url[n - 1] == '/')
                n--;
        url = strdup_printf("%.*s/api/session/properties", (int) n, c->proxy.url);
        if (!url || !output)
                return -ENOMEM;
        if (startswith(c->proxy.url, "http://"))
                return http_get(p->m->event, url, REQUEST_TIMEOUT_USEC, on_http, p, &p->http);
        if (!startswith(c->proxy.url, "https://"))
                return -EPROTONOSUPPORT;
        return fetchclient_spawn(
                p->m->event, c->proxy.ca_file, url, output, PROBE_MAX_SIZE, false, NULL, on_fetch_exit, p, &p->fetch);
}

static void poll_next(Proxy *p) {
        int r = request(p);

        if (r < 0)
                on_answer(p, r, "");
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        poll_next(userdata);
        return 0;
}

/* The new backend answered (or not) on its own port: only the expected version, from a listener of
 * the expected control group, gets nginx pointed at it. */
static void on_check(HttpRequest *req, int status, const char *body, void *userdata) {
        Proxy *p = userdata;
        json_object *o = NULL, *v, *t;
        _cleanup_free_ char *got = NULL, *msg = NULL, *reason = NULL;
        int r;

        p->http = NULL;
        if (status == 200 && (o = json_tokener_parse(body)) && json_object_object_get_ex(o, "version", &v) &&
            json_object_object_get_ex(v, "tag", &t))
                got = strdup(strempty(json_object_get_string(t)));
        json_object_put(o);
        if (!got || !streq(got, p->expected)) {
                if (got)
                        reason = strdup_printf("it serves %s", got);
                else if (status > 0)
                        reason = strdup_printf("it answered %d", status);
                else
                        reason = strdup(
                                status == HTTP_NOT_THE_UNIT || status == HTTP_OWNER_UNKNOWN
                                        ? strempty(body)
                                        : strerror(-status));
                msg = strdup_printf(
                        "127.0.0.1:%u does not serve %s (%s): nginx left at 127.0.0.1:%u",
                        (unsigned) p->target,
                        p->expected,
                        strempty(reason),
                        (unsigned) p->previous);
                switch_end(p, -EHOSTUNREACH, strempty(msg));
                return;
        }
        r = upstream_write(p, p->target);
        if (r >= 0) {
                p->phase = PHASE_RELOAD;
                r = reload(p);
                if (r < 0)
                        (void) upstream_write(p, p->previous);
        }
        if (r < 0) {
                msg = strdup_printf(
                        "pointing nginx at 127.0.0.1:%u failed: %s", (unsigned) p->target, strerror(-r));
                switch_end(p, r, strempty(msg));
        }
}

int proxy_switch(
        Proxy *p,
        uint16_t port,
        const char *expected_version,
        const char *control_group,
        uint64_t timeout_usec,
        ProxyCallback cb,
        void *userdata) {
        const Config *c = p->m->config;
        _cleanup_free_ char *url = NULL;
        int r;

        if (p->phase != PHASE_IDLE)
                return -EBUSY;
        if (isempty(c->proxy.upstream_file) || isempty(c->proxy.url))
                return -EOPNOTSUPP;
        if (port == 0 || !mb_version_is_valid(expected_version))
                return -EINVAL;
        url = strdup_printf("http://127.0.0.1:%u/api/session/properties", (unsigned) port);
        p->expected = strdup(expected_version);
        if (!url || !p->expected) {
                p->expected = mfree_str(p->expected);
                return -ENOMEM;
        }
        if (!p->timer) {
                r = sd_event_add_time_relative(p->m->event, &p->timer, CLOCK_MONOTONIC, 0, 0, on_timer, p);
                if (r < 0) {
                        p->expected = mfree_str(p->expected);
                        return r;
                }
        }
        (void) sd_event_source_set_enabled(p->timer, SD_EVENT_OFF);
        r = http_get_owned(p->m->event, url, control_group, REQUEST_TIMEOUT_USEC, on_check, p, &p->http);
        if (r < 0) {
                switch_clear(p);
                return r;
        }
        p->previous = p->port ?: proxy_own_port(p->m);
        p->target = port;
        p->timeout_usec = timeout_usec;
        p->cb = cb;
        p->userdata = userdata;
        p->phase = PHASE_CHECK;
        log_info(
                "Switching nginx from 127.0.0.1:%u to 127.0.0.1:%u, expecting %s",
                (unsigned) p->previous,
                (unsigned) port,
                expected_version);
        return 0;
}

int proxy_new(Manager *m, Proxy **ret) {
        Proxy *p = calloc(1, sizeof(Proxy));

        if (!p)
                return -ENOMEM;
        p->m = m;
        *ret = p;
        return 0;
}

Proxy *proxy_free(Proxy *p) {
        if (!p)
                return NULL;
        switch_clear(p);
        free(p->reload_error);
        free(p);
        return NULL;
}

int proxy_installed(Proxy *p, char **ret_reason) {
        const Config *c = p->m->config;
        _cleanup_free_ char *dir = NULL;
        uint16_t port;
        int r;

        if (isempty(c->proxy.url) || isempty(c->proxy.upstream_file))
                return set_error_message(
                        ret_reason,
                        -EOPNOTSUPP,
                        "the nginx integration is not set up: set proxy.url (the site through nginx) and "
                        "proxy.upstream_file, and include %s in the site's location (mbupgraded.yaml(5); mbctl "
                        "doctor checks it)",
                        PKGDATADIR "/nginx/upstream.conf");
        dir = path_dirname(c->proxy.upstream_file);
        if (!dir)
                return -ENOMEM;
        r = check_directory(dir);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return set_error_message(
                        ret_reason,
                        r,
                        "proxy.upstream_file's directory %s (or the one above it) is not root's alone (%s): make "
                        "it root's and not writable by others (chown root:root; chmod go-w), then restart "
                        "mbupgraded",
                        dir,
                        strerror(-r));
        r = upstream_read(c->proxy.upstream_file, &port);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return set_error_message(
                        ret_reason,
                        r,
                        "proxy.upstream_file %s is %s: mbupgraded writes it when it starts; restart mbupgraded",
                        c->proxy.upstream_file,
                        r == -ENOENT ? "missing" : "not one of mbupgraded's");
        if (p->reload_error)
                return set_error_message(
                        ret_reason,
                        -EIO,
                        "the last reload of %s failed (%s): run nginx -t, fix what it says and reload nginx",
                        c->proxy.nginx_unit,
                        p->reload_error);
        return 0;
}
