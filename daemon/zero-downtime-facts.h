/* SPDX-License-Identifier: MIT */
#pragma once

/* The facts the zero-downtime decision (zero-downtime.h) needs, gathered from what the daemon
 * holds: upgrade.zero_downtime, the application database's kind and applied change sets (the last
 * whole read of mbupgraded-db preflight, Manager.app_db_changelog), the staged JAR's change sets
 * (verified.json), the last rehearsal of the release (rehearsals.json), the nginx integration
 * (proxy_installed()) and the memory hook. No I/O but small local files: for the main thread, at
 * pre-flight and for mbctl list. */

#include "manager.h"

/* "yes" or "no: <reason>" for upgrading to version now; NULL on OOM. In a fleet (fleet.enabled)
 * the answer is zero_downtime_assess_rolling()'s: whether the fleet rolls it node by node. jar_changesets: the new JAR's
 * change sets when the caller read them (pre-flight), else NULL: staging's record of version. */
char *zero_downtime_assess(Manager *m, const char *version, char *const *jar_changesets);

/* The same for a fleet's rollout: whether it may roll node by node (zero_downtime_summary_rolling():
 * the setting, the database, the migrations; not nginx, not the memory). */
char *zero_downtime_assess_rolling(Manager *m, const char *version, char *const *jar_changesets);
