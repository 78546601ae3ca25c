/* SPDX-License-Identifier: MIT */
#pragma once

/* This node's place in a fleet (fleet.enabled; docs/fleet.md). mbupgraded-db fleet-agent runs
 * beside the daemon for as long as it does (started again, with backoff, when it ends); every
 * fleet.heartbeat the daemon tells it this node's version and state, and keeps the list of nodes
 * it answers with: the Fleet property, which mbctl fleet status shows. The rollout itself comes
 * next (issue 7). */

#include "manager.h"

typedef struct Fleet Fleet;

/* NULL in *ret when fleet.enabled is false. */
int fleet_new(Manager *m, Fleet **ret);
Fleet *fleet_free(Fleet *f);

/* The Fleet property: {"node", "expected", "error", "nodes": [{"name", "version", "state",
 * "staged", "age_ms", "lost"}], "missing": [names]}; "" when not in a fleet. */
char *fleet_json(Manager *m);
