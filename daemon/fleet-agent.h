/* SPDX-License-Identifier: MIT */
#pragma once

/* The fleet agent: mbupgraded-db fleet-agent, a child that holds this node's connection to the
 * coordination database (docs/fleet.md). It runs as dbserver_user(), with the database's
 * credentials as fd 3 (state_dir/fleet.pass, 0600, while it runs) and the fleet's key as fd 4
 * (fleet.key_file, root's alone); it is started again, with backoff, when it ends.
 *
 * This module owns the process and its line protocol (common/fleet-protocol.h): it writes the
 * commands, keeps which ones wait for their answer, parses every line the agent writes and hands
 * it to its owner typed. It knows nothing of rollouts: what a line means is fleet.c's. */

#include <stdbool.h>
#include <stdint.h>

#include "fleet-protocol.h"
#include "manager.h"

typedef struct FleetAgent FleetAgent;

/* What the agent is asked; each answer ends with a line of its own (or an error line). */
typedef enum FleetCommand {
        FLEET_COMMAND_HEARTBEAT, /* heartbeat: the nodes, the rollout... then "fleet N" */
        FLEET_COMMAND_PROPOSE,   /* propose: "proposed ID" */
        FLEET_COMMAND_LEAD,      /* lead: "leader ID" */
        FLEET_COMMAND_SET,       /* set: "set ID STATE" */
        FLEET_COMMAND_BACKUP,    /* backup: "backup ID" */
        FLEET_COMMAND_CHECK,     /* check-backup: "backup-ok ID" */
} FleetCommand;

typedef struct FleetAgentOps {
        /* A line that answers nothing by itself: a part of a heartbeat's answer (node, rollout,
         * committed, ended, forged, restored) or another node's news (notify). */
        void (*line)(FleetLine *l, void *userdata);
        /* The line that answers cmd, the oldest command written: of the command's own kind, or
         * FLEET_LINE_ERROR (its name the error's kind, its reason the message). */
        void (*answer)(FleetCommand cmd, FleetLine *l, void *userdata);
        /* The agent ended with these commands unanswered; their answers never come. */
        void (*ended)(const FleetCommand *unanswered, size_t n, void *userdata);
        /* Why the agent does not run or cannot be told (it is started again by itself). */
        void (*error)(const char *message, void *userdata);
} FleetAgentOps;

/* For node (MBUP_FLEET_NODE); nothing runs before fleet_agent_start(). */
int fleet_agent_new(Manager *m, const char *node, const FleetAgentOps *ops, void *userdata, FleetAgent **ret);
/* Stops the agent, removes its credentials file. */
FleetAgent *fleet_agent_free(FleetAgent *a);

/* Starts the agent; on failure its restart is scheduled and ops->error() says why. */
int fleet_agent_start(FleetAgent *a);

bool fleet_agent_running(FleetAgent *a);
/* Whether cmd is written and not answered yet. */
bool fleet_agent_asked(FleetAgent *a, FleetCommand cmd);

/* The commands: -ENOTCONN while the agent does not run, -ENOBUFS with too many in hand, -ENOMEM;
 * a reason is made one short line of printable ASCII first (fleet_agent_reason()). */
int fleet_agent_heartbeat(
        FleetAgent *a,
        const char *version,
        bool busy,
        const char *staged,
        uint64_t rollout,
        const char *step,
        const char *reason);
/* mode: "rolling" or "all-stop", fixed for the rollout; why: the proposer's reason for it. */
int fleet_agent_propose(
        FleetAgent *a, const char *from, const char *to, const char *sha256, const char *mode, const char *why);
int fleet_agent_lead(FleetAgent *a, uint64_t id);
int fleet_agent_set(FleetAgent *a, uint64_t id, const char *state, const char *reason);
int fleet_agent_backup(FleetAgent *a, uint64_t id, const char *where);
int fleet_agent_check_backup(FleetAgent *a, uint64_t id);

/* s as a command carries it: one line of printable ASCII, not too long (malloc'd). */
char *fleet_agent_reason(const char *s);
