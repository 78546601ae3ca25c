/* SPDX-License-Identifier: MIT */
#pragma once

/* state_dir/history.jsonl, the record of past operations and rehearsals: one JSON object a line,
 * oldest first, only ever appended, each line fsynced. This module is the only code that opens it.
 * A line that is no JSON object (torn by a crash in the middle of an append) is skipped by every
 * reader, and the next append starts on a line of its own. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How much of the file's end the queries read: the newest entries are what they look for. */
#define HISTORY_QUERY_MAX (16U * 1024U * 1024U)

/* Appends entry (a JSON object, without a newline) and fsyncs it; the directory too when the
 * file was created. */
int history_append(const char *state_dir, const char *entry);

/* The same, unless an entry with the same "id" and "kind" is there already: an operation resumed
 * after a crash between its append and the journal's removal. 0 also when it was there. */
int history_append_once(const char *state_dir, const char *entry);

/* The newest whole lines, at most max bytes of them, oldest first; "" when there is no history. */
int history_read_tail(const char *state_dir, size_t max, char **ret);

/* One entry, as the queries answer it: strings are "" when the entry lacks them. */
typedef struct HistoryEntry {
        char *kind, *result, *from, *to;
        uint64_t started_usec, finished_usec, downtime_usec;
} HistoryEntry;

void history_entry_done(HistoryEntry *e);

/* Which entries a query considers, by their "kind" and "result". */
typedef bool (*HistoryMatch)(const char *kind, const char *result);

/* The newest entry that matches: 1 and *ret filled, 0 when there is none (or no history). */
int history_find_last(const char *state_dir, HistoryMatch match, HistoryEntry *ret);

/* The downtime of every operation in the history, summed ("downtime_ms": every period in which
 * Metabase did not answer healthy); 0 when there is none. */
uint64_t history_downtime_total_usec(const char *state_dir);

/* The longest time from start to end among the entries that match; 0 when there is none. */
uint64_t history_longest_usec(const char *state_dir, HistoryMatch match);
