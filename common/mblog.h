/* SPDX-License-Identifier: MIT */
#pragma once

/* Recognises the lines Metabase (and the JVM under it) prints when it cannot start, in Metabase's
 * own words (see docs/metabase.md for where each text comes from), and says what to do about
 * each. Used on the unit's output read back from the journal and on a rehearsal's log. */

#include <errno.h>
#include <stddef.h>

typedef enum MbLogCondition {
        MB_LOG_NONE,
        MB_LOG_MIGRATION_LOCK,         /* "Database has migration lock; cannot run migrations." */
        MB_LOG_DOWNGRADE,              /* "Downgrade detected." / "Database has migrations from v" */
        MB_LOG_MANUAL_UPGRADE,         /* MB_DB_AUTOMIGRATE=false: "Database requires manual upgrade." */
        MB_LOG_DB_VERSION_UNSUPPORTED, /* "Metabase postgres DB version not supported (found ..." */
        MB_LOG_JAVA_TOO_OLD,           /* java.lang.UnsupportedClassVersionError */
        MB_LOG_INIT_FAILED,            /* "Metabase Initialization FAILED" (says nothing of why) */
        _MB_LOG_CONDITION_MAX,
        _MB_LOG_CONDITION_INVALID = -EINVAL,
} MbLogCondition;

/* The condition one line of output shows, MB_LOG_NONE if none. NULL is MB_LOG_NONE. */
MbLogCondition mb_log_classify(const char *line);

/* The most telling condition in a block of lines (a journal excerpt, a log file's tail) of
 * length n: a specific one (lock, downgrade, ...) wins over MB_LOG_INIT_FAILED, which only says
 * that start-up failed; among specific ones the first seen wins. */
MbLogCondition mb_log_classify_text(const char *text, size_t n);

/* A short name ("migration lock held") and a sentence that says what to do; NULL for
 * MB_LOG_NONE and out-of-range values. */
const char *mb_log_condition_to_string(MbLogCondition c);
const char *mb_log_condition_explain(MbLogCondition c);
