/* SPDX-License-Identifier: MIT */
#pragma once

/* Rehearsals: before a release is applied, its JAR migrates a scratch copy of the application
 * database while production keeps serving. The copy is <db>_mbup_rehearsal on the same server
 * (mbupgraded-db scratch-copy), or for H2 a copy of the file (best effort: the file is open in
 * the running Metabase). The JAR runs as a transient unit, mbupgraded-rehearsal.service, with the
 * unit's Java, arguments, user and environment but for the database, a free loopback port, the
 * scheduler and e-mail off, and rehearsal.memory_max. /api/health is watched to the end; then the
 * unit is stopped and the copy dropped. The result, per version, in state_dir/rehearsals.json:
 * a failed one blocks the unattended upgrade of that version; a passed one's duration is the
 * upgrade's expected downtime. state_dir/rehearsal/ holds the run's files; a daemon that died
 * during a rehearsal removes its unit and copy when it starts again. */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <systemd/sd-bus.h>

#include "manager.h"
#include "reply.h"
#include "zero-downtime.h"

#define REHEARSAL_UNIT "mbupgraded-rehearsal.service"

typedef struct Rehearsal Rehearsal;

typedef enum RehearsalResult {
        REHEARSAL_PASSED,
        REHEARSAL_FAILED,   /* blocks the unattended upgrade of that version */
        REHEARSAL_WARNING,  /* failed on a best-effort copy (H2), or for want of memory: does not block */
        REHEARSAL_CANCELED, /* an upgrade was asked for, or the daemon stopped: no verdict */
        REHEARSAL_SKIPPED,  /* policy.rehearse: auto and the host can't: no verdict */
        _REHEARSAL_RESULT_MAX,
        _REHEARSAL_RESULT_INVALID = -EINVAL,
} RehearsalResult;

const char *rehearsal_result_to_string(RehearsalResult r);

enum {
        REHEARSE_UNATTENDED = 1 << 0, /* policy.rehearse decides whether it runs at all */
};

/* Removes what a rehearsal of an earlier run of the daemon left (its unit, its copy). */
int rehearse_new(Manager *m, Rehearsal **ret);
Rehearsal *rehearse_free(Rehearsal *r);

/* Starts a rehearsal of version (its verified JAR: jar, sha256): 0 and its id in *ret_id, or a
 * negative errno and why in *refusal (OUTCOME_BUSY while an operation or another rehearsal runs). */
int rehearse_start(
        Manager *m,
        const char *version,
        const char *jar,
        const char *sha256,
        uint64_t flags,
        uint64_t *ret_id,
        Refusal *refusal);
/* An operation begins: a running rehearsal is stopped and cleaned up (no verdict). */
void rehearse_cancel(Manager *m, const char *why);

bool rehearse_running(Manager *m);
/* The version being rehearsed, NULL when none. */
const char *rehearse_running_version(Manager *m);
/* Whether version has a rehearsal result at all (any verdict). */
bool rehearse_has_result(Manager *m, const char *version);
/* Why version must not be applied unattended: its last rehearsal failed (with the log's lines),
 * or NULL. */
const char *rehearse_blocked(Manager *m, const char *version);
/* The last passed rehearsal's measured downtime of version (the new JAR's start to its first
 * healthy answer), 0 when it has none. */
uint64_t rehearse_expected_usec(Manager *m, const char *version);

/* What version's last passed rehearsal did to the copy's DATABASECHANGELOG (recorded in
 * rehearsals.json as changelog_new): NONE when there is no such record (none passed, H2, or not
 * read); MIGRATED with the IDs it added in *ret_applied. */
ZeroDowntimeRehearsal rehearse_changelog_verdict(Manager *m, const char *version, char ***ret_applied);

/* The Rehearsal property: one line for people, "" when nothing was ever rehearsed. */
const char *rehearse_status(Manager *m);
/* Its lines in the metrics file. */
void rehearse_metrics(Manager *m, FILE *f);
