/* SPDX-License-Identifier: MIT */
#pragma once

/* The bridge (issue 18): a second Metabase on the new JAR beside metabase.service, serving through
 * nginx while the unit is upgraded. The one owner of mbupgraded-bridge.service and of
 * state_dir/bridge.env and bridge.log.
 *
 * It runs as the transient unit mbupgraded-bridge.service with the Metabase unit's Java and
 * options (its JAR replaced), user, group, environment and working directory (unit-command.h),
 * hardened, on a free loopback port (bind-tested; MB_JETTY_HOST=127.0.0.1, MB_JETTY_PORT=port),
 * against the LIVE application database, with:
 *
 * - MB_DB_AUTOMIGRATE=false. A release that has migrations to run then refuses to start
 *   ("Database requires manual upgrade.", exit 1, nothing changed: docs/metabase.md) instead of
 *   migrating the live database under the old version that still serves from it. The eligibility
 *   checks (a rehearsal showed no new change set) decide before; this is the last wall.
 * - its scheduler kept: Metabase's Quartz store is the application database, clustered
 *   (resources/quartz.properties: JobStoreTX, isClustered = true, instanceId AUTO), so two
 *   instances on one database share the triggers and each fires once (docs/metabase.md).
 *
 * H2 is refused: one process at a time opens its file. So is a unit whose JVM options set
 * -Dmb.jetty.port, -Dmb.jetty.host or -Dmb.db.automigrate (they win over the environment), or
 * that serves HTTPS itself (MB_JETTY_SSL: the bridge would take the same SSL port).
 *
 * It is verified as the engine verifies a start (verify.h): /api/health from a listener of the
 * bridge unit's own control group only (a squatter on the port is never taken for it), the
 * version /api/session/properties reports, its liveness; the limit is service.start_timeout (no
 * key of its own: it is the same JAR starting against the same database), then service.settle.
 *
 * The contract with the engine: nginx must not point at the bridge's port when it is stopped.
 * Switch nginx back (proxy_switch() to the unit's own port, judged by the unit's control group)
 * first, and stop the bridge only once that switch succeeded; at daemon start a leftover bridge is
 * stopped only when nginx cannot be sending it requests: proxy.upstream_file does not name its port
 * and no switch from or to it runs (proxy_may_use()); otherwise it is kept, reported by
 * bridge_port() and bridge_busy(), for the engine's resume to switch nginx away and stop it. */

#include <stdbool.h>
#include <stdint.h>

#include "manager.h"

#define BRIDGE_UNIT "mbupgraded-bridge.service"

/* Beside the unit's current memory (MemoryCurrent), what MemAvailable must also hold: the new
 * JVM's start-up (class loading, JIT) before its heap settles. */
#define BRIDGE_MEMORY_MARGIN (256ULL * 1024 * 1024)

typedef struct Bridge Bridge;

/* r 0: healthy on the expected version at 127.0.0.1:port, its ControlGroup control_group (both
 * for proxy_switch()); r < 0: it failed (message says why, with the lines of its output that say
 * the most), and it is stopped and gone. */
typedef void (*BridgeCallback)(
        int r, const char *message, uint16_t port, const char *control_group, void *userdata);
/* r 0: the unit and its processes are gone. */
typedef void (*BridgeStopCallback)(int r, const char *message, void *userdata);

/* At daemon start, after proxy_start(): a leftover bridge is stopped (unless nginx points at it). */
int bridge_new(Manager *m, Bridge **ret);
Bridge *bridge_free(Bridge *b);

/* Starts the bridge on jar, expecting expected_version. cb once, later. -EBUSY while a bridge
 * runs or starts, -EINVAL for an empty jar or version: then cb is not called. */
int bridge_start(Bridge *b, const char *jar, const char *expected_version, BridgeCallback cb, void *userdata);
/* Stops it (a start in progress too: its cb is not called) and waits until the unit is gone. */
int bridge_stop(Bridge *b, BridgeStopCallback cb, void *userdata);

/* r 0: the bridge stayed healthy on its version for the settle period; r < 0: it did not (message
 * says why). The bridge is left as it is either way. */
typedef void (*BridgeWatchCallback)(int r, const char *message, void *userdata);

/* Watches the bridge that is up (started by bridge_start() in this run) for settle_usec more, as
 * the engine's verification watches a start (verify.h: /api/health from its control group's
 * listener, its main process, its version), under whatever traffic nginx sends it. cb once, later.
 * It is not stopped when it fails: nginx may point at it (switch away first, then bridge_stop()).
 * -ESRCH when no bridge of this run is up, -EBUSY while one watch runs: then cb is not called. */
int bridge_watch(Bridge *b, uint64_t settle_usec, BridgeWatchCallback cb, void *userdata);
/* Ends a watch without calling its callback. */
void bridge_unwatch(Bridge *b);

/* Whether the bridge starts, runs or stops (its unit may be there): what a caller that ends an
 * operation must stop. */
bool bridge_busy(const Bridge *b);

/* The port of a bridge that is up (verified, or kept at start), else 0; its ControlGroup. */
uint16_t bridge_port(const Bridge *b);
const char *bridge_control_group(const Bridge *b);

/* Whether there is memory for a second Metabase: MemAvailable (/proc/meminfo) at least the unit's
 * MemoryCurrent (last read; else its main process's VmRSS) plus BRIDGE_MEMORY_MARGIN. *ret_reason
 * says the figures either way. 1 yes, 0 no, -ENODATA when a figure is unknown (reason says which),
 * -ENOMEM. */
int bridge_memory_ok(Manager *m, char **ret_reason);
