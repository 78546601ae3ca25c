/* SPDX-License-Identifier: MIT */
#pragma once

/* Decides whether a freshly started Metabase is healthy: polls /api/health while it starts (never
 * giving up on a migration that still moves: Metabase's progress figure stays at 0.3 for all of
 * its migrations, so what moves is judged by liveness.h's signals too), requires health to stay
 * ok and the unit to stay up for the settle period, then checks the version it reports. */

#include <stdint.h>
#include <systemd/sd-event.h>

#include "unit.h"

typedef struct Verifier Verifier;

typedef struct VerifyParams {
        const char *unit;
        const char *health_url;
        const char *expect_tag; /* version.tag /api/session/properties must report */
        uint32_t main_pid;      /* MainPID right after the start job; 0 = unknown */
        uint32_t n_restarts;
        uint64_t start_timeout_usec;
        uint64_t rehearsed_usec; /* a passed rehearsal's start-to-healthy time of this release, 0: none */
        uint64_t stall_timeout_usec;
        uint64_t settle_usec;
        uint64_t interval_usec;
        /* what the migration moves (see liveness.h); all may be NULL */
        const char *h2_file;
        const char *db_kind, *db_conninfo, *db_secret;
        /* the unit as read right after its start job: its output is followed from there */
        const UnitInfo *started;
} VerifyParams;

/* The start-up limit: start_timeout, or when a rehearsal measured this release, that figure times
 * VERIFY_REHEARSAL_FACTOR plus VERIFY_REHEARSAL_MARGIN_USEC when that is longer. */
#define VERIFY_REHEARSAL_FACTOR 3
#define VERIFY_REHEARSAL_MARGIN_USEC (10 * 60 * USEC_PER_SEC)
uint64_t verify_start_limit(uint64_t start_timeout_usec, uint64_t rehearsed_usec);

typedef enum VerifyEvent {
        VERIFY_HEALTHY,  /* first ok from /api/health: settle begins */
        VERIFY_PROGRESS, /* while starting: a new progress value, or what moves (message) changed */
        VERIFY_PASSED,   /* settled and on the expected version: done */
        VERIFY_FAILED,   /* done; message says why */
} VerifyEvent;

/* Called with VERIFY_HEALTHY/VERIFY_PROGRESS along the way and exactly once with PASSED or FAILED,
 * after which the verifier is finished (free it, even inside the callback). */
typedef void (*VerifyCallback)(VerifyEvent ev, double progress, const char *message, void *userdata);

int verifier_start(
        sd_event *e, Systemd *systemd, const VerifyParams *p, VerifyCallback cb, void *userdata, Verifier **ret);
Verifier *verifier_free(Verifier *v);
