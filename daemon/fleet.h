/* SPDX-License-Identifier: MIT */
#pragma once

/* This node's place in a fleet (fleet.enabled; docs/fleet.md). mbupgraded-db fleet-agent runs
 * beside the daemon for as long as it does (started again, with backoff, when it ends: all that is
 * fleet-agent.h's) and holds its connection to the coordination database. Every fleet.heartbeat,
 * and at once whenever this node's part changes or another node's agent says something changed,
 * the daemon tells it this node's version, state and step in the rollout, and reads back the
 * rollout and every node.
 *
 * From that answer this node follows the rollout: it joins one another node proposed (stages the
 * release and passes pre-flight), and opens the engine's gates as the rollout's state allows.
 * The node that holds the rollout's advisory lock (the proposer, or whoever took over from a
 * leader that was lost) also moves the rollout on: staging, stopping, leading, following,
 * committed, or rolling-back and rolled-back, aborted. A node that was away catches up with the
 * version the fleet committed by itself. */

#include "manager.h"

typedef struct Fleet Fleet;

/* NULL in *ret when fleet.enabled is false. */
int fleet_new(Manager *m, Fleet **ret);
Fleet *fleet_free(Fleet *f);

/* The Fleet property: {"node", "expected", "error", "nodes": [{"name", "version", "state",
 * "staged", "age_ms", "lost", "self", "rollout", "step", "reason"}], "missing": [names],
 * "rollout": {"id", "from", "to", "state", "leader", "backup", "reason", "leading"} or null,
 * "committed": {"id", "version"} or null}; "" when not in a fleet. */
char *fleet_json(Manager *m);

/* The engine's side: fleet_new() listens to EVENT_FLEET_PART (propose, record the backup, tell
 * the new step) and opens the engine's gates with engine_fleet_*(). */
