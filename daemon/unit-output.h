/* SPDX-License-Identifier: MIT */
#pragma once

/* Follows what a service unit writes: from the journal (entries with _SYSTEMD_UNIT= or
 * _SYSTEMD_USER_UNIT= the unit, or _SYSTEMD_CGROUP= its control group, from the end of the journal
 * as it was when following began), or,
 * when its StandardOutput= is a file (file:, append:, truncate:), from that file's growth (from its
 * size when it was first seen). Polled from the event loop: every poll does bounded work and
 * never waits (the file is looked at with fstatat() and opened only as a regular file,
 * O_NONBLOCK|O_NOFOLLOW; the journal's files are mapped memory). Each whole line is handed to a
 * callback. */

#include <stdbool.h>
#include <stdint.h>

typedef struct UnitOutput UnitOutput;

typedef void (*UnitOutputLineCallback)(const char *line, void *userdata);

/* A follower of unit's output, following nothing yet; cb may be NULL. */
int unit_output_new(const char *unit, UnitOutputLineCallback cb, void *userdata, UnitOutput **ret);
UnitOutput *unit_output_free(UnitOutput *o);

/* Follows the unit's entries in the journal from now on (control_group: its ControlGroup, which
 * journald records even where it can't name the unit; may be NULL). Once opened, a no-op. -errno
 * when the journal can't be opened. */
int unit_output_follow_journal(UnitOutput *o, const char *control_group);

/* Follows path instead of the journal (the unit's StandardOutput= file). The same path again is a
 * no-op; another path starts over from that file's current size. */
int unit_output_set_file(UnitOutput *o, const char *path);

/* Reads what is new: returns the number of bytes (file) or entries (journal) that appeared since
 * the last poll, 0 when none, < 0 when there is nothing to follow. *ret_lines, if given, gets the
 * number of whole lines handed to the callback. */
int64_t unit_output_poll(UnitOutput *o, uint64_t *ret_lines);

/* "the journal" or "/var/log/metabase.log"; NULL when neither can be followed. */
const char *unit_output_source(const UnitOutput *o);
