/* SPDX-License-Identifier: MIT */
#pragma once

/* Decides whether a freshly started Metabase is healthy: polls /api/health while it reports
 * progress (never giving up on a migration that still moves), requires health to stay ok and
 * the unit to stay up for the settle period, then checks the version it reports. */

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
        uint64_t stall_timeout_usec;
        uint64_t settle_usec;
        uint64_t interval_usec;
} VerifyParams;

typedef enum VerifyEvent {
        VERIFY_HEALTHY,  /* first ok from /api/health: settle begins */
        VERIFY_PROGRESS, /* a new progress value while starting */
        VERIFY_PASSED,   /* settled and on the expected version: done */
        VERIFY_FAILED,   /* done; message says why */
} VerifyEvent;

/* Called with VERIFY_HEALTHY/VERIFY_PROGRESS along the way and exactly once with PASSED or FAILED,
 * after which the verifier is finished (free it, even inside the callback). */
typedef void (*VerifyCallback)(VerifyEvent ev, double progress, const char *message, void *userdata);

int verifier_start(
        sd_event *e, Systemd *systemd, const VerifyParams *p, VerifyCallback cb, void *userdata, Verifier **ret);
Verifier *verifier_free(Verifier *v);
