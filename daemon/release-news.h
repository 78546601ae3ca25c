/* SPDX-License-Identifier: MIT */
#pragma once

/* The word of a release before anything changes: each release is told once to the journal, to
 * notify.webhook and to notify.command (through notify.c, filtered by notify.*_events) as it goes:
 * available (a new release in the feed, with what the policy will do with it and when), staged
 * (downloaded and verified, ready), due (the next window applies it: when) and blocked (it won't
 * be applied unattended: why, and what to do). What was told is remembered in
 * state_dir/release-news.json, so that neither a new check nor a restart tells it again.
 * Learns of it all by events: a read of the feed (EVENT_CHECK_FINISHED), a release staged ahead
 * (EVENT_RELEASE_STAGED), a rehearsal's verdict (EVENT_REHEARSAL_FINISHED), a release the plans
 * won't apply (EVENT_RELEASE_BLOCKED); asks the feed for the policy's verdict and the plans for
 * what the window would do. Also keeps the window timer's next elapse (the NextWindow property),
 * read from systemd. */

#include <stdint.h>

#include "manager.h"

/* The maintenance window's timer (unit-files/mbupgraded-window.timer). */
#define WINDOW_TIMER_UNIT "mbupgraded-window.timer"

typedef struct ReleaseNews ReleaseNews;

/* Reads state_dir/release-news.json and the window timer's next elapse; subscribes to the events. */
int release_news_new(Manager *m, ReleaseNews **ret);
ReleaseNews *release_news_free(ReleaseNews *rn);

/* When the window timer elapses next (µs since the epoch), 0 when it is not active or not known. */
uint64_t release_news_next_window(Manager *m);
