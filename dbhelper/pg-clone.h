/* SPDX-License-Identifier: MIT */
#pragma once

/* backup.postgres: clone — the application database copied inside the server with CREATE DATABASE
 * ... TEMPLATE, and put back by renaming (pg-clone.c):
 *
 *   mbupgraded-db clone-check                  "clone possible" | "clone impossible REASON", "done"
 *   mbupgraded-db clone NAME                   "size BYTES", "done"
 *   mbupgraded-db restore-clone NAME KEEP_AS   "done" (the newer database kept as KEEP_AS)
 *   mbupgraded-db drop-clone NAME              "done"
 *
 * NAME and KEEP_AS are "<db>_mbup_[0-9A-Za-z_]+", at most 63 bytes. */

#include <stdbool.h>

/* Whether verb is one of the above. */
bool pg_clone_verb(const char *verb);

/* Runs argv[1] (a pg_clone_verb()) with the connection from MBUP_PG_CONNINFO and PGPASSFILE;
 * the helper's exit status: 0, 1 ("error KIND MESSAGE" printed) or 2 (usage). */
int pg_clone_main(int argc, char *argv[]);
