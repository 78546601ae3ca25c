/* SPDX-License-Identifier: MIT */
#pragma once

/* Whether a starting Metabase is still moving. Metabase's /api/health reports a fixed progress
 * (0.3) for the whole of its database migrations, which may take hours, so the progress figure
 * alone cannot tell a long migration from a hang. These signals can; each is a row of a table
 * (liveness.c), sampled from the event loop without blocking:
 *   change sets  new DATABASECHANGELOG rows (server databases: mbupgraded-db activity)
 *   server       a statement of the application database's sessions active on the server
 *                (a long ALTER leaves the JVM idle)
 *   H2 file      the H2 file's size or modification time (fstatat, never opened)
 *   output       the unit's output: the journal, or its StandardOutput= file growing
 *   CPU          the unit's CPU time (systemd's CPUUsageNSec, else /proc of its processes), when it
 *                uses more than LIVENESS_CPU_PERCENT of a core
 * A stall is: none of them moved for stall_timeout. */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "unit-output.h"
#include "unit.h"

/* CPU counts as moving above this share of one core (an idle JVM answering health probes uses
 * far less; a migrating one far more). */
#define LIVENESS_CPU_PERCENT 10
/* A signal is "moving" in the status when it moved this recently. */
#define LIVENESS_RECENT_USEC (15 * USEC_PER_SEC)

typedef struct Liveness Liveness;

typedef struct LivenessParams {
        const char *unit;
        const char *h2_file;            /* the H2 file being migrated; NULL for a server database */
        const char *db_kind;            /* "postgres" or "mysql": read by mbupgraded-db; NULL: none */
        const char *db_conninfo;        /* dbserver_conninfo() */
        const char *db_secret;          /* its credentials file */
        uint64_t stall_timeout_usec;    /* the database is read a few times within it */
        UnitOutputLineCallback on_line; /* each line the unit writes; may be NULL */
        void *userdata;
} LivenessParams;

int liveness_new(sd_event *e, const LivenessParams *p, Liveness **ret);
Liveness *liveness_free(Liveness *l);

/* Samples the signals that are due (each at its own pace); cheap to call often. */
void liveness_poll(Liveness *l, uint64_t now);
/* Reads the unit's output now, whatever its pace: its last lines before a verdict. */
void liveness_read_output(Liveness *l);
/* What systemd said about the unit: its CPU time, its output file. */
void liveness_feed_unit(Liveness *l, const UnitInfo *info, uint64_t now);

/* When any signal last moved (CLOCK_MONOTONIC µs), 0 when none ever did. */
uint64_t liveness_last_moved(const Liveness *l);
/* For the status: what moves, "migrating: 37 change sets applied, 2 in the last minute",
 * "migrating: the database server is working (one statement for 12m)", "starting: CPU moving
 * (85% of a core)"; or "nothing moved for 40s". Never NULL but out of memory. */
char *liveness_describe(const Liveness *l, uint64_t now);
/* The signals that move now, a bit each (the status is told again when this changes). */
unsigned liveness_moving_mask(const Liveness *l, uint64_t now);
/* For a stall's reason: the signals that were watched, "new change sets, the server's statements,
 * the output (/var/log/metabase.log), CPU time (CPUUsageNSec)". */
char *liveness_watched(const Liveness *l);

/* The pure parts, for the tests. */
/* The number of change sets in the last minute from the samples (times, counts) so far. */
uint64_t liveness_recent_count(const uint64_t *times, const uint64_t *counts, size_t n, uint64_t now);
/* Whether cpu_delta_nsec over wall_usec is more than LIVENESS_CPU_PERCENT of a core. */
bool liveness_cpu_moving(uint64_t cpu_delta_nsec, uint64_t wall_usec);
