/* SPDX-License-Identifier: MIT */
#pragma once

/* A minimal asynchronous HTTP/1.0 GET for Metabase's own endpoints on this host
 * (/api/health, /api/session/properties). Plain HTTP to an IP literal or "localhost" only:
 * anything that goes over a network is done by helper processes, not the daemon's core. */

#include <errno.h>
#include <stdint.h>
#include <systemd/sd-event.h>

typedef struct HttpRequest HttpRequest;

/* status: the HTTP status code (> 0) or a negative errno (connection refused, timeout, ...).
 * body: NUL-terminated, valid only during the callback. */
typedef void (*HttpCallback)(HttpRequest *req, int status, const char *body, void *userdata);

/* Splits "http://host:port/path" into parts; -EINVAL for anything else (https, user info, ...). */
int http_url_parse(const char *url, char **ret_host, uint16_t *ret_port, char **ret_path);

/* Derives a sibling URL on the same host: ("http://h:p/api/health", "/api/session/properties"). */
char *http_url_with_path(const char *url, const char *path);

/* Every request says it came over https (X-Forwarded-Proto: https): with an https site URL and
 * "Redirect all requests to HTTPS" on, Metabase answers 301/307 to any request it does not take
 * for https (src/metabase/server/middleware/ssl.clj; the X-Forwarded-Proto header is the first
 * thing its https? check reads), except /api/health, /livez and /readyz. A redirect is never
 * followed (it would lead off this host): the callback gets the 3xx status.
 * http_status_explain() gives a sentence saying what to do for a redirect status, else NULL. */
const char *http_status_explain(int status);

int http_get(
        sd_event *e, const char *url, uint64_t timeout_usec, HttpCallback cb, void *userdata, HttpRequest **ret);
/* The same, but an answer counts only from a listening socket made by a process of the control
 * group control_group (the unit's ControlGroup; "" when not known: nothing counts; NULL: no check,
 * as http_get()). Any local user may bind a free port (Metabase's while it is stopped, a
 * rehearsal's before it binds): when the listener that took the connection is not the unit's
 * (daemon/sockowner.h), the callback gets HTTP_NOT_THE_UNIT and, as the body, the reason ("port
 * 3000 is held by a listener that is not ...'s (pid 123, uid 65534, ...)"); when that cannot be
 * told (the unit's cgroup gone, sock_diag refused), HTTP_OWNER_UNKNOWN and why. No request is
 * sent to such a listener. */
#define HTTP_NOT_THE_UNIT (-EADDRINUSE)
#define HTTP_OWNER_UNKNOWN (-ENOLINK)
int http_get_owned(
        sd_event *e,
        const char *url,
        const char *control_group,
        uint64_t timeout_usec,
        HttpCallback cb,
        void *userdata,
        HttpRequest **ret);
/* Cancels a request without calling its callback. Accepts NULL; returns NULL. */
HttpRequest *http_request_cancel(HttpRequest *r);
