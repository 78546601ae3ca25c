/* SPDX-License-Identifier: MIT */
#pragma once

/* mbctl doctor: checks the setup end to end and changes nothing. The config; the daemon on the
 * bus (the rest is done offline without it); the unit and its ExecStart (property reads from
 * systemd); the JAR; the Java the unit runs against what the newest release needs; the
 * application database (mbupgraded-db preflight, as root); the backup and state directories
 * (writable, room for the database and the JAR; nothing written); the release feed
 * (mbupgraded-fetch into a temporary directory under /tmp, removed after); nginx's maintenance
 * snippet. Each check prints ok, warn or fail with what it found, and for warn and fail the fix.
 *
 * The helpers are found as the daemon finds them: $MBUPGRADED_FETCH, $MBUPGRADED_DB, else
 * LIBEXECDIR. Returns mbctl's exit status: 0 when nothing failed, 1 otherwise. */

#include <stdbool.h>

int doctor_run(const char *config_path, bool json);
