/* SPDX-License-Identifier: MIT */
#pragma once

/* The daemon's side of mbupgraded-fetch, the unprivileged download helper: who it runs as, and
 * one download into a file of root's that the daemon opens and hands it as a descriptor
 * (OUTPUT.part, renamed to OUTPUT on the helper's "done"). Releases and webhooks use it. */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "child.h"

/* mbupgraded-fetch: $MBUPGRADED_FETCH, or the installed one. */
const char *fetch_helper(void);
/* The user it runs as (MBUPGRADED_FETCH_USER, else mbupgrade-fetch), and ChildOptions for it. */
const char *fetch_user(void);
int fetch_credentials(ChildOptions *o);
/* releases.ca_file opened for the helper (--ca-fd): a descriptor, or a negative errno (logged). */
int fetch_open_ca(const char *path);

/* Downloads url into output (at most max_size bytes; resume: a JAR, continued from an existing
 * .part and not fsynced), trusting ca_file when not empty. on_exit gets the helper's last line. */
int fetchclient_spawn(
        sd_event *event,
        const char *ca_file,
        const char *url,
        const char *output,
        uint64_t max_size,
        bool resume,
        ChildLineCallback on_line,
        ChildExitCallback on_exit,
        void *userdata,
        Child **ret);

/* The helper's end: "done SIZE SHA" -> 0 (size and SHA-256 when asked); "error KIND MESSAGE", a
 * crash or another exit -> -EIO with a message for people in *ret_error. */
int fetchclient_verdict(int status, const char *last, uint64_t *ret_size, char *ret_sha, char **ret_error);
