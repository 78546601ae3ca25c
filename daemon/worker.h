/* SPDX-License-Identifier: MIT */
#pragma once

/* Runs blocking work (hashing, copying gigabytes, fsync) in a thread and reports back on the
 * event loop, so the D-Bus API keeps answering. */

#include <systemd/sd-event.h>

typedef int (*WorkerFunc)(void *userdata);
typedef void (*WorkerDone)(int result, void *userdata);

/* Starts func(userdata) in a new thread; done(result, userdata) runs later on the event loop. */
int worker_run(sd_event *e, WorkerFunc func, WorkerDone done, void *userdata);
