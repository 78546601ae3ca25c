/* SPDX-License-Identifier: MIT */
#pragma once

/* Staging: a release downloaded by mbupgraded-fetch into state_dir/staging/VERSION/ (root's),
 * beside its metabase.sha256 and, with releases.signing_key, its signature; verified (checksum,
 * signature, version.properties, the Java its classes need) in a worker thread; recorded in
 * verified.json (staged-record.c). One staging at a time, one more queued; the newest two kept. */

#include <stdbool.h>

#include "child.h"
#include "manager.h"

typedef struct Staging Staging;

int staging_new(Manager *m, Staging **ret);
Staging *staging_free(Staging *st);

/* Stages version (downloads and verifies it, or finds it staged already) and calls cb: on success
 * jar is the verified JAR and sha256 what it was verified with; refused when verification said
 * no. For a node joining its fleet's rollout. */
typedef void (*StageCallback)(
        Manager *m, int r, bool refused, const char *jar, const char *sha256, const char *error);
void staging_stage(Manager *m, const char *version, StageCallback cb);

/* Whether the stage in dir is of version and verified under the configuration as it is now
 * (checksum and signature as required today); its SHA-256 in ret_sha256, and in ret_stale why
 * a stage that is not counts no more. */
bool staging_is_verified(
        Manager *m, const char *dir, const char *version, char *ret_sha256, const char **ret_stale);
/* A staging runs. */
bool staging_busy(Manager *m);
/* The Staged property ("v0.56.2 (verified)", or why not); never NULL. */
const char *staging_staged(Manager *m);
