/* SPDX-License-Identifier: MIT */
#pragma once

/* Where nginx sends Metabase's requests (issue 18: a bridge instance behind nginx). The one owner
 * of proxy.upstream_file and of nginx's reloads.
 *
 * The site's location includes the shipped snippet (config/nginx-upstream.conf.in):
 *
 *     set $mbupgraded_upstream 127.0.0.1:3000;
 *     include /run/mbupgraded/upstream.con[f];
 *     proxy_pass http://$mbupgraded_upstream;
 *
 * and upstream_file says "set $mbupgraded_upstream 127.0.0.1:PORT;". The include is a glob that
 * matches that one file: nginx accepts a glob that matches nothing (a plain include of a missing
 * file fails nginx -t, and nginx would not start at boot before the daemon wrote it), and the
 * snippet's own set is then the fallback. upstream_file is written atomically (temp, fsync,
 * rename) as root's 0644 in a directory the daemon checks only root can write, it and its parent
 * (lstat: never through a symlink): the Metabase user must not be able to point nginx elsewhere.
 *
 * A switch is judged through nginx itself, never by the reload alone: Debian's nginx.service
 * reloads with "nginx -s reload", which parses the configuration first and fails (the reload job's
 * result is "failed") when it is invalid, but a unit that reloads with "kill -HUP $MAINPID" says
 * "done" while nginx's master logs [emerg] and keeps the old configuration. So after the reload
 * job, proxy.url's /api/session/properties must report the expected version, twice in a row,
 * before the time limit; otherwise the previous file goes back and nginx is reloaded again (the
 * old backend is still running). Twice: during a reload nginx's old worker still accepts beside
 * the new one until the master tells it to stop (measured 60-80 ms, proxy-switch-through-nginx),
 * so for that moment users get either version, every answer a 200.
 *
 * With proxy.failover_file (the shipped snippet config/nginx-failover.conf.in includes it at nginx's
 * http level), a switch to another port than the unit's own first writes that file, root's as the
 * other, "upstream mbupgraded_failover { server 127.0.0.1:PORT; server 127.0.0.1:OWN backup; }",
 * and upstream_file then sets the variable to that group after the port (proxy_port() reads the
 * port): nginx retries a request the other port refused on the unit's own port, which still serves
 * the old version while a bridge settles.
 *
 * The version is the honest signal only when the two backends differ in it. Switching back after
 * an upgrade (the unit now runs the bridge's version) proves that nginx serves that version, not
 * which process answered; the caller should stop the bridge only once the unit's port serves. */

#include <stdbool.h>
#include <stdint.h>

#include "manager.h"

typedef struct Proxy Proxy;

/* r: 0 when nginx serves the expected version through the new port; negative when the switch
 * failed (the previous port is back, or, if that failed too, the message says so). message is for
 * people. */
typedef void (*ProxyCallback)(int r, const char *message, void *userdata);

int proxy_new(Manager *m, Proxy **ret);
/* Cancels a switch in progress without calling its callback. */
Proxy *proxy_free(Proxy *p);

/* At start: upstream_file is read; when there is none it is written with the unit's own port
 * (MB_JETTY_PORT, else 3000) and nginx reloaded (failures logged: nginx may not run). Idempotent:
 * a file that is there is kept as it is (an interrupted operation decides). */
void proxy_start(Proxy *p);

/* The port upstream_file names now; 0 when it names none. */
uint16_t proxy_port(const Proxy *p);
/* Whether nginx may send requests to port now: upstream_file names it, or a switch runs from or to
 * it (nginx's old workers serve the previous file until the reload is judged). */
bool proxy_may_use(const Proxy *p, uint16_t port);
/* The unit's own port: MB_JETTY_PORT of its environment, else Metabase's default, 3000. */
uint16_t proxy_own_port(Manager *m);

/* Points nginx at 127.0.0.1:port. First asks the backend itself (http_get_owned(): only a listener
 * of control_group counts, the bridge's or the unit's ControlGroup; NULL: any) for
 * /api/session/properties: unless it reports expected_version, nginx is not touched and cb says
 * why. Then writes upstream_file, reloads nginx_unit over D-Bus, waits for the job, then polls
 * proxy.url/api/session/properties until it reports expected_version (the limit: timeout_usec from
 * the job's end); on failure writes the previous port back, reloads again and waits until nginx
 * answers again. cb once, later (never from within this call). -EBUSY while a switch runs,
 * -EOPNOTSUPP without upstream_file or url, -EINVAL for port 0 or a version that is not one:
 * then nothing changed and cb is not called. */
int proxy_switch(
        Proxy *p,
        uint16_t port,
        const char *expected_version,
        const char *control_group,
        uint64_t timeout_usec,
        ProxyCallback cb,
        void *userdata);

/* Whether the nginx integration is installed, for the zero-downtime decision (zero-downtime.h):
 * proxy.url and proxy.upstream_file set, the file's directory and the one above root's alone
 * (the check upstream_write() makes), the file there and ours, and no failed reload of nginx since
 * the daemon started. 0, or a negative errno with a sentence that says what to fix. Reads only.
 * It does not run nginx -t: the daemon's sandbox (ProtectSystem=strict) leaves nginx's logs and
 * temporary directories read-only, where nginx -t opens them; mbctl doctor runs it, and a reload
 * that fails (Debian's nginx.service reloads with nginx -s reload, which parses the
 * configuration first) is remembered here. */
int proxy_installed(Proxy *p, char **ret_reason);
