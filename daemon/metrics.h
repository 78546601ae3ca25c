/* SPDX-License-Identifier: MIT */
#pragma once

/* metrics_file: what the daemon knows, in the Prometheus text format, for node_exporter's textfile
 * collector (names start with mbupgraded_). Rewritten atomically (temp file, fsync, rename)
 * whenever its text changes; the same text is not written again. */

#include <stdbool.h>

#include "manager.h"
#include "operation.h"

typedef struct Metrics Metrics;

/* Reads the last upgrade or rollback from the history and counts the backups; listens to
 * operations and rehearsals finishing and to the state changing (events.h). */
int metrics_new(Manager *m, Metrics **ret);
Metrics *metrics_free(Metrics *x);

/* Counts the backups again (after an operation, or once pruned clones are dropped). */
void metrics_count_backups(Manager *m);
/* Writes metrics_file if what it would say changed. Cheap when nothing did. */
void metrics_update(Manager *m);

/* The text, for the tests. NULL on OOM. */
char *metrics_format(Manager *m);
