/* SPDX-License-Identifier: MIT */
#pragma once

/* The operation journal, state_dir/operation.json: the one file that says what an interrupted
 * operation did, written before every step (temp, fsync, rename) and removed at the end. This
 * module owns its name and its damaged copy (operation.json.unreadable); operation.c owns its
 * format, engine.c decides when it is written and what a resume does with it. */

#include "operation.h"

/* Writes op as the journal. */
int journal_save(const char *state_dir, const Operation *op);

/* The journal read back: 1 with *ret the operation to resume; 0 when there is none. When it
 * cannot be read, it is renamed aside (never guessed at) and 0 is returned with *ret_unreadable
 * the kept file's path and *ret_error why; also when an earlier start kept one that is still
 * there. Negative only when out of memory. */
int journal_load(const char *state_dir, Operation **ret, char **ret_unreadable, int *ret_error);

/* The journal removed once the operation has ended (history written first). */
void journal_remove(const char *state_dir);

/* The path of a journal kept aside for a person (whether it exists or not); NULL on OOM. */
char *journal_unreadable_path(const char *state_dir);
