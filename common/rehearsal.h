/* SPDX-License-Identifier: MIT */
#pragma once

/* The parts of a rehearsal (issue 8: the new JAR migrates a scratch copy of the application
 * database before the real upgrade) that need no daemon: whether policy.rehearse: auto rehearses
 * on this host, the rehearsal's environment, the lines of its log that say why it failed, and a
 * free loopback port. Pure but for rehearsal_pick_port(), which binds sockets. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "appdb.h"
#include "config.h"

#define REHEARSAL_SIZE_UNKNOWN UINT64_MAX

/* The suffix of the scratch copy's name: <db>_mbup_rehearsal (mbupgraded-db drops nothing else). */
#define REHEARSAL_SCRATCH_SUFFIX "_mbup_rehearsal"

typedef struct RehearsalHost {
        RehearseMode mode;
        uint64_t memory_max;       /* rehearsal.memory_max */
        uint64_t max_copy_size;    /* rehearsal.max_copy_size, 0 = no limit */
        uint64_t memory_available; /* MemAvailable, REHEARSAL_SIZE_UNKNOWN if unknown */
        AppDbKind db_kind;
        uint64_t db_size;   /* the application database, REHEARSAL_SIZE_UNKNOWN if unknown */
        uint64_t disk_free; /* where an H2 copy goes (state_dir), REHEARSAL_SIZE_UNKNOWN if unknown */
} RehearsalHost;

/* Whether an unattended upgrade is rehearsed first: 1 yes, 0 no, with the reason for people in
 * *ret_reason either way ("policy.rehearse is never", "only 1.2G of memory available, ..."). A size
 * that is unknown does not stop auto. -ENOMEM. */
int rehearsal_decide(const RehearsalHost *h, char **ret_reason);

/* The rehearsal's environment: the unit's (KEY=VALUE, later ones win), without its application
 * database and web server settings, with the scratch database's (scratch: the same server and
 * credentials under the copy's name, or the H2 copy's file), MB_JETTY_HOST=127.0.0.1 and
 * MB_JETTY_PORT=port, and what keeps a rehearsal from reaching anyone: the scheduler off (no
 * pulses, alerts, syncs), e-mail to a closed loopback port, no update check, no tracking.
 * NULL on OOM. */
char **rehearsal_environment(char *const *unit_env, const AppDb *scratch, unsigned port);

/* The environment as an EnvironmentFile= for systemd: KEY="VALUE" lines with \, ", ` and $
 * escaped. Entries that are no KEY=VALUE with a valid name are left out. NULL on OOM. */
char *rehearsal_environment_file(char *const *env);

/* The lines of a rehearsal's log that say why it failed: the last few that report an error
 * (ERROR, FATAL, Exception, FAILED, "Caused by"), else its last lines; at most max bytes, control
 * characters replaced. "" for an empty log. NULL on OOM. */
char *rehearsal_log_excerpt(const char *log, size_t n, size_t max);

/* A TCP port on 127.0.0.1 that nothing listens on now, below the kernel's ephemeral range (so no
 * outgoing connection holds it either): 20000..31999. -EADDRINUSE when none was found. */
int rehearsal_pick_port(unsigned *ret);

/* "2G", "512M", "1536K", "100" (bytes): the shortest exact form, for messages. */
char *format_size(uint64_t bytes, char *buf, size_t n);
