/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "fleet-agent.h"
#include "fleet-protocol.h"
#include "fleet.h"
#include "log.h"
#include "macro.h"
#include "feed-watch.h"
#include "plan.h"
#include "staging.h"
#include "strv.h"
#include "version.h"

#define FLEET_NODES_MAX 1000U
/* A named node that is up but does not join a rollout in this long aborts it (it may be busy
 * with an operation of its own); at least lost_after. */
#define FLEET_JOIN_TIMEOUT_USEC (120 * USEC_PER_SEC)
/* A node that failed to catch up with the fleet's version tries again after this long. */
#define FLEET_CONVERGE_RETRY_USEC (10 * 60 * USEC_PER_SEC)

typedef struct FleetNode {
        char *name, *version, *state, *staged, *step, *reason;
        uint64_t age_ms, rollout;
} FleetNode;

typedef struct Rollout {
        uint64_t id; /* 0: none open */
        char *from, *to, *sha256, *state, *leader, *backup, *reason;
        char *mode, *mode_reason; /* "rolling" or "all-stop" ("": a row from before modes), and why */
} Rollout;

struct Fleet {
        Manager *m;
        char *node;
        FleetAgent *agent; /* the process and its line protocol (fleet-agent.h) */
        sd_event_source *heartbeat_timer;
        FleetNode *nodes, *pending; /* the last full answer, and the one being read */
        size_t n_nodes, n_pending;
        Rollout rollout, pending_rollout;
        uint64_t committed_id, pending_committed_id;
        uint64_t ended_id, pending_ended_id; /* this node's rollout, over: how it ended */
        char *ended_state, *ended_reason, *pending_ended_state, *pending_ended_reason;
        char *committed_to, *committed_sha256, *pending_committed_to, *pending_committed_sha256;
        uint64_t answered_usec; /* CLOCK_MONOTONIC of the last full answer, 0 before the first */
        char *error;            /* why the fleet can't be seen, "" when it can */

        bool heartbeat_again; /* something changed while a heartbeat was in hand */

        uint64_t leading;   /* the rollout whose lock this agent's session holds */
        uint64_t migrating; /* the rollout this node moved to leading: it migrates (only it) */
        bool set_in_flight; /* the leader moved the rollout on; the next answer shows it */
        uint64_t joined;    /* the rollout this node tried to join */
        char *state_seen;   /* the rollout's state, as first seen at state_seen_usec */
        uint64_t state_seen_id, state_seen_usec;

        uint64_t part_rollout; /* this node's part when no operation runs: the last one */
        char *part_step, *part_reason;

        uint64_t converge_id, converge_usec; /* the last attempt to catch up, and when */

        /* check-backup: a rollout's backup checked before this node starts its new version. */
        uint64_t checking_id, backup_ok_id, backup_bad_id;
        char *backup_bad_reason;
        /* Rows not signed with the fleet's key: this node's rollout's, as the last answer says. */
        uint64_t forged_id, pending_forged_id, forged_warned[8];
        char *proposal_lost; /* "busy": why this node's proposal was refused */
};

static uint64_t now_monotonic_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static void nodes_free(FleetNode *n, size_t k) {
        for (size_t i = 0; i < k; i++) {
                free(n[i].name);
                free(n[i].version);
                free(n[i].state);
                free(n[i].staged);
                free(n[i].step);
                free(n[i].reason);
        }
        free(n);
}

static void rollout_clear(Rollout *r) {
        free(r->from);
        free(r->to);
        free(r->sha256);
        free(r->state);
        free(r->leader);
        free(r->backup);
        free(r->reason);
        free(r->mode);
        free(r->mode_reason);
        *r = (Rollout){};
}

/* Why the fleet can't be seen: message, "" when it can. */
static void set_error(Fleet *f, const char *message) {
        char *s;

        if (streq_ptr(strempty(message), f->error))
                return;
        s = strdup(strempty(message));
        if (!s)
                return;
        if (!isempty(s))
                log_warning("Fleet: %s", s);
        free(f->error);
        f->error = s;
        manager_properties_changed(f->m, "Fleet", NULL);
}

static void send_heartbeat(Fleet *f);
static void evaluate(Fleet *f);

static bool rollout_state_is_end(const char *s) {
        return streq_ptr(s, "committed") || streq_ptr(s, "rolled-back") || streq_ptr(s, "aborted");
}

/* This node's step changed: tell the fleet now. */
static bool rehearses_here(Fleet *f);

static void fleet_changed(Fleet *f) {
        if (!f)
                return;
        f->heartbeat_again = true;
        send_heartbeat(f);
}
static void proposal_lost(Fleet *f);

/* This node's part, for the heartbeat and the others: the running operation's, else the last. */
static uint64_t my_rollout(Fleet *f) {
        const Operation *op = f->m->op;
        return op && op->fleet_rollout ? op->fleet_rollout : f->part_rollout;
}

static const char *my_step(Fleet *f) {
        const Operation *op = f->m->op;
        if (op && op->fleet_rollout)
                return engine_fleet_step(f->m);
        return f->part_rollout ? strempty(f->part_step) : "-";
}

static void set_part(Fleet *f, uint64_t rollout, const char *step, const char *reason) {
        f->part_rollout = rollout;
        (void) free_and_strdup(&f->part_step, step);
        (void) free_and_strdup(&f->part_reason, reason);
        fleet_changed(f);
}

/* A line of the rollout: its strings become the pending rollout's. */
static void read_rollout_line(Fleet *f, FleetLine *l) {
        Rollout *r = &f->pending_rollout;

        rollout_clear(r);
        *r = (Rollout){
                .id = l->id,
                .from = TAKE_PTR(l->from),
                .to = TAKE_PTR(l->to),
                .sha256 = TAKE_PTR(l->sha256),
                .state = TAKE_PTR(l->state),
                .leader = TAKE_PTR(l->leader),
                .backup = TAKE_PTR(l->backup),
                .reason = TAKE_PTR(l->reason),
                .mode = TAKE_PTR(l->mode),
                .mode_reason = TAKE_PTR(l->mode_reason),
        };
}

static void read_node_line(Fleet *f, FleetLine *l) {
        FleetNode *p;

        if (isempty(l->name) || f->n_pending >= FLEET_NODES_MAX)
                return;
        p = reallocarray(f->pending, f->n_pending + 1, sizeof(FleetNode));
        if (!p)
                return;
        f->pending = p;
        p[f->n_pending++] = (FleetNode){
                .name = TAKE_PTR(l->name),
                .version = TAKE_PTR(l->version),
                .state = TAKE_PTR(l->state),
                .staged = TAKE_PTR(l->staged),
                .step = TAKE_PTR(l->step),
                .reason = TAKE_PTR(l->reason),
                .age_ms = l->age_ms,
                .rollout = l->id,
        };
}

/* "fleet N": the answer to a heartbeat is complete. */
static void heartbeat_answered(Fleet *f) {
        nodes_free(f->nodes, f->n_nodes);
        f->nodes = TAKE_PTR(f->pending);
        f->n_nodes = f->n_pending;
        f->n_pending = 0;
        rollout_clear(&f->rollout);
        f->rollout = f->pending_rollout;
        f->pending_rollout = (Rollout){};
        f->committed_id = f->pending_committed_id;
        free_and_replace(f->committed_to, f->pending_committed_to);
        free_and_replace(f->committed_sha256, f->pending_committed_sha256);
        f->pending_committed_id = 0;
        f->ended_id = f->pending_ended_id;
        free_and_replace(f->ended_state, f->pending_ended_state);
        free_and_replace(f->ended_reason, f->pending_ended_reason);
        f->pending_ended_id = 0;
        f->forged_id = f->pending_forged_id;
        f->pending_forged_id = 0;
        f->answered_usec = now_monotonic_usec();
        f->m->fleet_rehearses = rehearses_here(f);
        f->set_in_flight = false;
        if (f->rollout.id &&
            (f->rollout.id != f->state_seen_id || !streq_ptr(f->rollout.state, f->state_seen))) {
                log_info(
                        "Fleet: rollout %" PRIu64 " (%s -> %s) is %s%s%s",
                        f->rollout.id,
                        f->rollout.from,
                        f->rollout.to,
                        f->rollout.state,
                        isempty(f->rollout.reason) ? "" : ": ",
                        strempty(f->rollout.reason));
                f->state_seen_id = f->rollout.id;
                (void) free_and_strdup(&f->state_seen, f->rollout.state);
                f->state_seen_usec = now_monotonic_usec();
        }
        if (f->leading && f->leading != f->rollout.id)
                f->leading = 0; /* ended: the agent let the lock go */
        set_error(f, "");
        manager_properties_changed(f->m, "Fleet", NULL);
        if (f->proposal_lost)
                proposal_lost(f);
        evaluate(f);
        if (f->heartbeat_again)
                send_heartbeat(f);
}

/* A line of an answer being read (the nodes, the rollout, the last committed and ended ones, the
 * rows not signed), kept for heartbeat_answered(); or another node's notification. */
static void on_agent_line(FleetLine *l, void *userdata) {
        Fleet *f = userdata;
        Manager *m = f->m;
        uint64_t id = l->id;

        if (l->kind == FLEET_LINE_NOTIFY) {
                /* Another node changed something: look now, not a period later. */
                f->heartbeat_again = true;
                send_heartbeat(f);
                return;
        }
        if (l->kind == FLEET_LINE_NODE) {
                read_node_line(f, l);
                return;
        }
        if (l->kind == FLEET_LINE_ROLLOUT) {
                read_rollout_line(f, l);
                return;
        }
        if (l->kind == FLEET_LINE_COMMITTED) {
                f->pending_committed_id = id;
                free_and_replace(f->pending_committed_to, l->to);
                free_and_replace(f->pending_committed_sha256, l->sha256);
                return;
        }
        if (l->kind == FLEET_LINE_ENDED) {
                f->pending_ended_id = id;
                free_and_replace(f->pending_ended_state, l->state);
                free_and_replace(f->pending_ended_reason, l->reason);
                return;
        }
        if (l->kind == FLEET_LINE_FORGED) {
                /* A row someone without the fleet's key wrote: not believed; said once. */
                bool warned = false;
                for (size_t i = 0; i < ELEMENTSOF(f->forged_warned); i++)
                        warned = warned || f->forged_warned[i] == id;
                if (!warned) {
                        memmove(f->forged_warned + 1,
                                f->forged_warned,
                                sizeof(f->forged_warned) - sizeof(f->forged_warned[0]));
                        f->forged_warned[0] = id;
                        log_warning(
                                "Fleet: rollout %" PRIu64
                                " in the coordination database is not signed with the fleet's key "
                                "(written by someone without it): ignored",
                                id);
                }
                if (m->op && m->op->fleet_rollout == id)
                        f->pending_forged_id = id;
                return;
        }
        if (l->kind == FLEET_LINE_RESTORED) {
                if (m->op && m->op->fleet_rollout == id)
                        f->pending_forged_id = id;
                log_warning(
                        "Fleet: rollout %" PRIu64
                        " was changed by someone without the fleet's key; this node, its leader, "
                        "wrote it back as it signed it",
                        id);
        }
}

/* The agent could not do what cmd asked. */
static void on_answer_error(Fleet *f, FleetCommand cmd, FleetLine *l) {
        Manager *m = f->m;
        const char *msg = l->reason;
        bool busy = streq(l->name, "busy"), notleader = streq(l->name, "notleader");

        switch (cmd) {
        case FLEET_COMMAND_HEARTBEAT:
                nodes_free(f->pending, f->n_pending);
                f->pending = NULL;
                f->n_pending = 0;
                rollout_clear(&f->pending_rollout);
                set_error(f, msg);
                break;
        case FLEET_COMMAND_PROPOSE:
                if (busy) {
                        /* Another node proposed first (the window runs on every node at
                         * once): the same upgrade joins it, the next answer tells. */
                        (void) free_and_strdup(&f->proposal_lost, msg);
                        f->heartbeat_again = true;
                        send_heartbeat(f);
                        break;
                }
                engine_fleet_refused(m, "the fleet can't be asked: the coordination database does not answer");
                set_error(f, msg);
                break;
        case FLEET_COMMAND_LEAD:
                break;
        case FLEET_COMMAND_CHECK:
                if (streq(l->name, "nobackup")) {
                        f->backup_bad_id = f->checking_id;
                        (void) free_and_strdup(&f->backup_bad_reason, msg);
                        log_warning("Fleet: %s", msg);
                        evaluate(f);
                } else
                        log_warning("Fleet: cannot check the rollout's backup: %s", msg);
                break;
        case FLEET_COMMAND_SET:
        case FLEET_COMMAND_BACKUP:
                if (cmd == FLEET_COMMAND_BACKUP)
                        engine_fleet_backup_recorded(m, msg);
                f->set_in_flight = false;
                if (notleader)
                        f->leading = 0; /* the lock went with a lost session */
                log_warning("Fleet: %s", msg);
                break;
        }
}

/* The answer to cmd. */
static void on_answer(Fleet *f, FleetCommand cmd, FleetLine *l) {
        Manager *m = f->m;
        uint64_t id = l->id;

        if (cmd == FLEET_COMMAND_HEARTBEAT && l->kind == FLEET_LINE_FLEET) {
                heartbeat_answered(f);
                return;
        }
        if (cmd == FLEET_COMMAND_PROPOSE && l->kind == FLEET_LINE_PROPOSED) {
                if (m->op && m->op->fleet_gate == FLEET_GATE_STAGED && m->op->fleet_rollout == 0) {
                        m->op->fleet_rollout = id;
                        f->joined = id;
                        log_notice(
                                "Fleet: proposed rollout %" PRIu64 " of %s -> %s",
                                id,
                                m->op->from_version,
                                m->op->to_version);
                        manager_set_status(
                                m,
                                "Rollout %" PRIu64 " of %s: waiting for every node to stage it",
                                id,
                                m->op->to_version);
                        (void) fleet_agent_lead(f->agent, id);
                        fleet_changed(m->fleet);
                }
                return;
        }
        if (cmd == FLEET_COMMAND_LEAD) {
                if (l->kind == FLEET_LINE_LEADER) {
                        if (f->leading != id)
                                log_notice("Fleet: this node leads rollout %" PRIu64, id);
                        f->leading = id;
                        f->heartbeat_again = true;
                        send_heartbeat(f);
                }
                return;
        }
        if (cmd == FLEET_COMMAND_CHECK && l->kind == FLEET_LINE_BACKUP_OK) {
                if (f->backup_ok_id != id)
                        log_info("Fleet: rollout %" PRIu64 "'s backup of the database exists, as recorded", id);
                f->backup_ok_id = id;
                evaluate(f);
                return;
        }
        if (cmd == FLEET_COMMAND_BACKUP && l->kind == FLEET_LINE_BACKUP) {
                engine_fleet_backup_recorded(m, NULL);
                return;
        }
        if (cmd == FLEET_COMMAND_SET) {
                /* The next answer shows it: ask now. */
                f->heartbeat_again = true;
                send_heartbeat(f);
                return;
        }
}

/* The agent's answer to cmd. */
static void on_agent_answer(FleetCommand cmd, FleetLine *l, void *userdata) {
        Fleet *f = userdata;

        if (l->kind == FLEET_LINE_ERROR)
                on_answer_error(f, cmd, l);
        else
                on_answer(f, cmd, l);
}

/* The agent ended: what was asked is lost with it, and so is the lock (its session is gone). It
 * is started again by itself. */
static void on_agent_ended(const FleetCommand *unanswered, size_t n, void *userdata) {
        Fleet *f = userdata;

        for (size_t i = 0; i < n; i++)
                if (unanswered[i] == FLEET_COMMAND_PROPOSE)
                        engine_fleet_refused(f->m, "the fleet agent ended before the rollout was proposed");
                else if (unanswered[i] == FLEET_COMMAND_BACKUP)
                        engine_fleet_backup_recorded(
                                f->m, "the fleet agent ended before it recorded the backup");
        f->leading = 0;
        f->set_in_flight = false;
}

static void on_agent_error(const char *message, void *userdata) {
        set_error(userdata, message);
}

static const FleetAgentOps agent_ops = {
        .line = on_agent_line,
        .answer = on_agent_answer,
        .ended = on_agent_ended,
        .error = on_agent_error,
};

/* What this node says of itself: VERSION STATE STAGED ROLLOUT STEP [REASON]. */
static void send_heartbeat(Fleet *f) {
        Manager *m = f->m;
        const char *version = m->running_version ?: m->installed_version, *staged = staging_staged(m);
        _cleanup_free_ char *staged_version = NULL;
        const char *why = m->op && m->op->fleet_rollout ? m->op->reason : f->part_reason;

        if (!fleet_agent_running(f->agent))
                return;
        /* An agent waiting on the server (a cut link, until its TCP timeouts) is not sent a
         * backlog to work through when it is back: one heartbeat in hand is enough, and one more
         * is sent when it answers if something changed meanwhile. */
        if (fleet_agent_asked(f->agent, FLEET_COMMAND_HEARTBEAT))
                return;
        f->heartbeat_again = false;
        if (endswith(strempty(staged), " (verified)"))
                staged_version = strndup(staged, strcspn(staged, " "));
        (void) fleet_agent_heartbeat(
                f->agent, version, m->op != NULL, staged_version, my_rollout(f), my_step(f), why);
}

/* Lost, as the last answer says: its heartbeat older than fleet.lost_after by the server's clock.
 * Decisions are taken on answers only: a node whose own agent does not answer sees everything
 * age (fleet_json() says so), but must not conclude from that that the others are gone. */
static bool node_lost(Fleet *f, const FleetNode *n) {
        return n->age_ms * USEC_PER_MSEC > f->m->config->fleet.lost_after_usec;
}

static FleetNode *find_node(Fleet *f, const char *name) {
        for (size_t i = 0; i < f->n_nodes; i++)
                if (streq(f->nodes[i].name, name))
                        return f->nodes + i;
        return NULL;
}

/* A node's step in rollout id: "" when it is not (yet) in it. */
static const char *step_in(const FleetNode *n, uint64_t id) {
        return n && n->rollout == id ? strempty(n->step) : "";
}

static bool step_is(const char *step, const char *const *list) {
        for (; *list; list++)
                if (streq(step, *list))
                        return true;
        return false;
}

/* Steps of a node that went wrong: it is rolling back, or could not take part. */
static const char *const steps_failing[] = {
        "reverting", "reverted", "restarting", "rolled-back", "failed", "broken", "canceled", "resumed", NULL};
/* Steps of a node whose part of a rollback is over. */
static const char *const steps_back[] = {"rolled-back", "failed", "broken", "canceled", "committed", NULL};

/* The nodes a rollout needs: the named ones, else every node that joined it or is up. */
static size_t participants(Fleet *f, uint64_t id, const char **names, size_t max) {
        const Config *c = f->m->config;
        size_t k = 0;

        if (strv_length(c->fleet.nodes) > 0) {
                for (char **n = c->fleet.nodes; *n; n++)
                        if (k < max)
                                names[k++] = *n;
                return k;
        }
        for (size_t i = 0; i < f->n_nodes && k < max; i++)
                if (f->nodes[i].rollout == id || !node_lost(f, f->nodes + i))
                        names[k++] = f->nodes[i].name;
        return k;
}

/* A rollout proposed to go node by node (its release adds no migration; docs/fleet.md). */
static bool rolls(const Rollout *R) {
        return streq_ptr(R->mode, "rolling");
}

/* How many nodes of n a rolling rollout takes down at once after the first: fleet.parallel, and
 * never all of them (the first one serves the new version by then, but n - 1 at most). */
static unsigned roll_width(Fleet *f, size_t n) {
        unsigned p = f->m->config->fleet.parallel;

        if (n > 1 && p > n - 1)
                p = (unsigned) (n - 1);
        return p > 0 ? p : 1;
}

static void rollout_set(Fleet *f, const char *state, const char *fmt, ...) _printf_(3, 4);
static void rollout_set(Fleet *f, const char *state, const char *fmt, ...) {
        _cleanup_free_ char *reason = NULL, *clean = NULL;
        va_list ap;

        if (f->set_in_flight)
                return;
        va_start(ap, fmt);
        if (vasprintf(&reason, fmt, ap) < 0)
                reason = NULL;
        va_end(ap);
        clean = fleet_agent_reason(reason);
        if (!clean)
                return;
        /* The node that moves the rollout to leading is the one that migrates: a leader that took
         * over later never does (the database may be half-way through the migration). */
        if (streq(state, "leading") || streq(state, "rolling"))
                f->migrating = f->rollout.id;
        log_notice(
                "Fleet: rollout %" PRIu64 " -> %s%s%s",
                f->rollout.id,
                state,
                isempty(clean) ? "" : ": ",
                strempty(clean));
        if (fleet_agent_set(f->agent, f->rollout.id, state, clean) >= 0)
                f->set_in_flight = true;
}

/* The leader moves the rollout on from what every node says. */
static void coordinate(Fleet *f) {
        const Rollout *R = &f->rollout;
        const char *names[FLEET_NODES_MAX];
        size_t n = participants(f, R->id, names, ELEMENTSOF(names)), joined = 0, expected;
        const Config *c = f->m->config;
        uint64_t in_state_usec = now_monotonic_usec() - f->state_seen_usec;
        bool all_staged = true, all_stopped = true, all_settled = true, all_back = true;

        expected = strv_length(c->fleet.nodes) ?: c->fleet.expect;
        for (size_t i = 0; i < n; i++) {
                FleetNode *node = find_node(f, names[i]);
                const char *step = step_in(node, R->id);
                bool lost = !node || node_lost(f, node);

                if (*step)
                        joined++;
                /* This node coordinates, so it is up: its own row missing from the last answer is
                 * one the agent left out or had not read yet, not a lost node. Seen in a full run
                 * once (rollout 2 aborted by its own leader, "n1 ... never seen"); the next
                 * heartbeat says its step, and only past the join timeout is it believed. */
                if (!node && streq(names[i], f->node) && in_state_usec <= FLEET_JOIN_TIMEOUT_USEC) {
                        log_warning(
                                "Fleet: this node (%s) is not among the %zu the last heartbeat listed; "
                                "waiting for the next one",
                                f->node,
                                f->n_nodes);
                        return;
                }
                if (streq(R->state, "rolling-back")) {
                        if (!lost && !step_is(step, steps_back) && *step)
                                all_back = false;
                        continue;
                }
                if (lost) {
                        if (streq(R->state, "staging"))
                                rollout_set(
                                        f,
                                        "aborted",
                                        "node %s is unreachable (%s); nothing was stopped",
                                        names[i],
                                        node ? "no heartbeat for longer than fleet.lost_after" : "never seen");
                        else
                                rollout_set(
                                        f,
                                        "rolling-back",
                                        "node %s was lost during the %s step (%s%.1f s)",
                                        names[i],
                                        R->state,
                                        node ? "no heartbeat for " : "not in the last answer, ",
                                        node ? (double) node->age_ms / 1000 : 0.0);
                        return;
                }
                if (step_is(step, steps_failing)) {
                        if (streq(R->state, "staging"))
                                rollout_set(
                                        f,
                                        "aborted",
                                        "node %s can't take part: %s",
                                        names[i],
                                        isempty(node->reason) ? step : node->reason);
                        else
                                rollout_set(
                                        f,
                                        "rolling-back",
                                        "node %s: %s",
                                        names[i],
                                        isempty(node->reason) ? step : node->reason);
                        return;
                }
                if (!*step && streq(R->state, "staging") && in_state_usec > FLEET_JOIN_TIMEOUT_USEC &&
                    in_state_usec > c->fleet.lost_after_usec) {
                        rollout_set(
                                f,
                                "aborted",
                                "node %s did not join the rollout (it runs %s, %s); nothing was stopped",
                                names[i],
                                strempty(node->version),
                                strempty(node->state));
                        return;
                }
                all_staged = all_staged && streq(step, "staged");
                all_stopped = all_stopped && streq(step, "stopped");
                all_settled = all_settled && streq(step, "settled");
        }
        if (streq(R->state, "staging") && all_staged && joined >= expected && joined > 0 && rolls(R))
                rollout_set(
                        f,
                        "rolling",
                        "every node staged %s; it adds no migration: %s goes first, then the others, %u at a time",
                        R->to,
                        f->node,
                        roll_width(f, n));
        else if (streq(R->state, "staging") && all_staged && joined >= expected && joined > 0)
                rollout_set(f, "stopping", "every node staged %s", R->to);
        else if (streq(R->state, "stopping") && all_stopped)
                rollout_set(f, "leading", "every node is stopped; %s migrates the database", f->node);
        else if (streq(R->state, "leading")) {
                const char *mine = step_in(find_node(f, f->node), R->id);
                if (streq(mine, "healthy") || streq(mine, "settled"))
                        rollout_set(f, "following", "%s runs %s on the migrated database", f->node, R->to);
        } else if ((streq(R->state, "following") || streq(R->state, "rolling")) && all_settled)
                rollout_set(f, "committed", "every node runs %s", R->to);
        else if (streq(R->state, "rolling-back") && all_back)
                rollout_set(f, "rolled-back", "%s", strempty(R->reason));
}

/* Who puts the database back: the node that holds a dump; for a clone (or no backup yet) the
 * leader. */
static char *restorer(const Rollout *R) {
        if (startswith(strempty(R->backup), "dump:")) {
                const char *node = R->backup + strlen("dump:");
                return strndup(node, strcspn(node, ":"));
        }
        return strdup(strempty(R->leader));
}

/* FLEET_GATE_REVERTED, rolling back: the restorer once every other node is stopped, the others
 * once it has put the database back. */
static void rollback_restart(Fleet *f) {
        Manager *m = f->m;
        const Rollout *R = &f->rollout;
        _cleanup_free_ char *who = restorer(R);
        const char *names[FLEET_NODES_MAX];
        size_t n;

        if (!who)
                return;
        if (streq(who, f->node) || (isempty(who) && f->leading == R->id)) {
                static const char *const stopped[] = {
                        "reverted",
                        "restarting",
                        "rolled-back",
                        "failed",
                        "broken",
                        "canceled",
                        "committed",
                        "staged",
                        "",
                        NULL};
                n = participants(f, R->id, names, ELEMENTSOF(names));
                for (size_t i = 0; i < n; i++) {
                        FleetNode *node = find_node(f, names[i]);
                        if (streq(names[i], f->node) || !node || node_lost(f, node))
                                continue;
                        if (!step_is(step_in(node, R->id), stopped))
                                return; /* still running the new version */
                }
                if (m->op->backup_done)
                        engine_fleet_restart(m, true, NULL);
                else if (startswith(strempty(R->backup), "clone:"))
                        engine_fleet_restart(m, false, R->backup + strlen("clone:"));
                else
                        engine_fleet_restart(m, false, NULL); /* no backup was taken: nothing migrated */
                return;
        }
        FleetNode *r = find_node(f, who);
        const char *step = step_in(r, R->id);
        if (streq(step, "restarting") || streq(step, "rolled-back") || streq(step, "broken") ||
            ((!r || node_lost(f, r)) && isempty(R->backup)))
                engine_fleet_restart(m, false, NULL);
        else if ((!r || node_lost(f, r)) && !isempty(R->backup))
                manager_set_status(
                        m,
                        "Rolling back rollout %" PRIu64
                        ": waiting for node %s, which holds the database's backup, "
                        "to put it back",
                        R->id,
                        who);
}

/* The status, said (and logged) once while it stays the same. */
static void status_once(Manager *m, const char *text) {
        if (text && !streq_ptr(m->status_text, text))
                manager_set_status(m, "%s", text);
}

/* Steps of a node that is down, or going down, in a rolling rollout. */
static const char *const steps_down[] = {
        "stopping", "stopped", "starting", "reverting", "reverted", "restarting", NULL};

/* Rolling: whether this node may stop now. The first node (the leader's) has settled on the new
 * version; among the others, in the order of participants(), those before this one that have not
 * settled yet are fewer than roll_width(). So a node stops only while the first one serves and at
 * most roll_width() others are down. *ret_wait: the node it waits for. */
static bool roll_turn(Fleet *f, const char **ret_wait) {
        const Rollout *R = &f->rollout;
        const char *names[FLEET_NODES_MAX];
        size_t n = participants(f, R->id, names, ELEMENTSOF(names)), ahead = 0;
        unsigned width = roll_width(f, n);

        *ret_wait = R->leader;
        if (!streq(step_in(find_node(f, R->leader), R->id), "settled"))
                return false;
        for (size_t i = 0; i < n; i++) {
                if (streq(names[i], strempty(R->leader)))
                        continue;
                if (streq(names[i], f->node))
                        return ahead < width;
                if (!streq(step_in(find_node(f, names[i]), R->id), "settled")) {
                        if (ahead == 0)
                                *ret_wait = names[i];
                        ahead++;
                }
        }
        return false;
}

/* Rolling back a rolling rollout: whether this node, serving the new version, goes back now. One
 * at a time, while the others serve: no other node is down, and this is the first of those that
 * serve the new version. *ret_wait: the node it waits for. */
static bool revert_turn(Fleet *f, const char **ret_wait) {
        const Rollout *R = &f->rollout;
        const char *names[FLEET_NODES_MAX];
        size_t n = participants(f, R->id, names, ELEMENTSOF(names));

        *ret_wait = NULL;
        for (size_t i = 0; i < n; i++) {
                FleetNode *node = find_node(f, names[i]);
                if (streq(names[i], f->node) || !node || node_lost(f, node))
                        continue;
                if (step_is(step_in(node, R->id), steps_down)) {
                        *ret_wait = names[i];
                        return false;
                }
        }
        for (size_t i = 0; i < n; i++) {
                const char *step = step_in(find_node(f, names[i]), R->id);
                if (streq(names[i], f->node))
                        return true;
                if ((streq(step, "healthy") || streq(step, "settled")) &&
                    !node_lost(f, find_node(f, names[i]))) {
                        *ret_wait = names[i];
                        return false;
                }
        }
        return true;
}

/* A follower's turn: among the nodes stopped or starting, by name, the first fleet.parallel. */
static bool my_turn(Fleet *f) {
        const Rollout *R = &f->rollout;
        size_t ahead = 0;

        for (size_t i = 0; i < f->n_nodes; i++) {
                const FleetNode *n = f->nodes + i;
                const char *step = step_in(n, R->id);
                if (streq(n->name, f->node))
                        return ahead < f->m->config->fleet.parallel;
                if ((streq(step, "stopped") || streq(step, "starting")) && !node_lost(f, n))
                        ahead++;
        }
        return ahead < f->m->config->fleet.parallel;
}

/* Whether rollout id names a backup that exists (check-backup): 1 yes, -1 no (why in
 * backup_bad_reason), 0 not known yet (asked; evaluate() comes again with the answer). */
static int backup_verified(Fleet *f, uint64_t id) {
        if (f->backup_ok_id == id)
                return 1;
        if (f->backup_bad_id == id)
                return -1;
        if (fleet_agent_asked(f->agent, FLEET_COMMAND_CHECK))
                return 0;
        if (fleet_agent_check_backup(f->agent, id) >= 0)
                f->checking_id = id;
        return 0;
}

/* A node starts the new version on the migrated database only when the rollout names a backup
 * that exists; else it goes back to its old version (and so the fleet rolls back), with why.
 * commit: the rollout was committed meanwhile. */
static void follow_if_backed_up(Fleet *f, uint64_t id, bool commit) {
        Manager *m = f->m;
        _cleanup_free_ char *why = NULL;
        int r = backup_verified(f, id);

        if (r == 0) {
                manager_set_status(
                        m, "Rollout %" PRIu64 ": checking its backup of the database before starting", id);
                return;
        }
        if (r < 0) {
                why = strdup_printf(
                        "this node does not start the new version: %s", strempty(f->backup_bad_reason));
                engine_fleet_rollback(m, why ?: "the rollout names no backup that exists");
                return;
        }
        if (commit)
                engine_fleet_commit(m);
        else
                engine_fleet_follow(m);
}

/* The rollout is rolling: this node's gate, in its turn. */
static void roll(Fleet *f) {
        Manager *m = f->m;
        Operation *op = m->op;
        const Rollout *R = &f->rollout;
        bool first = streq_ptr(R->leader, f->node) && f->leading == R->id && f->migrating == R->id;
        const char *wait = NULL;
        _cleanup_free_ char *status = NULL;

        switch (op->fleet_gate) {
        case FLEET_GATE_STAGED:
                if (first || (!streq_ptr(R->leader, f->node) && roll_turn(f, &wait))) {
                        engine_fleet_stop(m);
                        return;
                }
                status = strdup_printf(
                        "Rollout %" PRIu64 " rolls node by node; %s's turn comes after %s has settled on %s",
                        R->id,
                        f->node,
                        strempty(wait),
                        R->to);
                status_once(m, status);
                break;
        case FLEET_GATE_STOPPED:
                if (first)
                        engine_fleet_lead(m);
                else if (!streq_ptr(R->leader, f->node))
                        follow_if_backed_up(f, R->id, false);
                break;
        case FLEET_GATE_RESUMED:
                engine_fleet_rollback(m, "the daemon stopped during the rollout");
                break;
        case FLEET_GATE_REVERTED:
                engine_fleet_restart(m, false, NULL); /* no schema changed: nothing to wait for */
                break;
        default:
                break;
        }
}

/* The fleet rolls back. A rolling rollout's nodes that serve the new version go back one at a
 * time, while the others serve; the rest at once (they are down, or never stopped). */
static void roll_back(Fleet *f) {
        Manager *m = f->m;
        Operation *op = m->op;
        const Rollout *R = &f->rollout;
        const char *step = engine_fleet_step(m), *wait = NULL;
        _cleanup_free_ char *status = NULL;

        if (op->fleet_gate == FLEET_GATE_REVERTED) {
                if (rolls(R))
                        engine_fleet_restart(m, false, NULL);
                else
                        rollback_restart(f);
                return;
        }
        if (rolls(R) && (streq(step, "healthy") || streq(step, "settled")) && !revert_turn(f, &wait)) {
                status = strdup_printf(
                        "Rollout %" PRIu64 " rolls back node by node; %s goes back to %s after %s",
                        R->id,
                        f->node,
                        R->from,
                        strempty(wait));
                status_once(m, status);
                return;
        }
        engine_fleet_rollback(m, isempty(R->reason) ? "the fleet rolls back" : R->reason);
}

/* Every node's history says how the rollout went: node by node, or all stopped and why. */
static void note_mode(Fleet *f) {
        Operation *op = f->m->op;
        const Rollout *R = &f->rollout;
        _cleanup_free_ char *says = NULL;

        if (isempty(R->mode))
                return; /* proposed by an mbupgraded from before modes */
        says = rolls(R) ? strdup("yes") : strdup_printf("no: %s", strempty(R->mode_reason));
        if (says && !streq_ptr(op->zero_downtime, says))
                free_and_replace(op->zero_downtime, says);
}

/* This node's operation is in the open rollout: open the gate the state allows. */
static void follow(Fleet *f) {
        Manager *m = f->m;
        Operation *op = m->op;
        const Rollout *R = &f->rollout;
        bool going = streq(R->state, "stopping") || streq(R->state, "leading") || streq(R->state, "following");

        op->fleet_rolling = rolls(R);
        note_mode(f);
        if (streq(R->state, "rolling-back") || streq(R->state, "aborted")) {
                roll_back(f);
                return;
        }
        if (streq(R->state, "rolling")) {
                roll(f);
                return;
        }
        if (!going)
                return;
        switch (op->fleet_gate) {
        case FLEET_GATE_STAGED:
                engine_fleet_stop(m);
                break;
        case FLEET_GATE_RESUMED:
                engine_fleet_rollback(m, "the daemon stopped during the rollout");
                break;
        case FLEET_GATE_STOPPED:
                if (streq(R->state, "leading") && f->leading == R->id && f->migrating == R->id)
                        engine_fleet_lead(m);
                else if (streq(R->state, "following") && f->leading != R->id && my_turn(f))
                        follow_if_backed_up(f, R->id, false);
                else if (streq(R->state, "following") && f->leading == R->id)
                        follow_if_backed_up(f, R->id, false); /* took over from a leader that was healthy */
                break;
        default:
                break;
        }
}

/* The rollout this node's operation is part of has ended. */
static void rollout_ended(Fleet *f) {
        Manager *m = f->m;
        Operation *op = m->op;
        _cleanup_free_ char *why = NULL;

        /* How it ended comes with the answer to a heartbeat that named it. */
        if (f->ended_id != op->fleet_rollout)
                return;
        if (streq_ptr(f->ended_state, "committed")) {
                if (op->fleet_gate == FLEET_GATE_STOPPED)
                        follow_if_backed_up(f, op->fleet_rollout, true); /* it would start the new version */
                else
                        engine_fleet_commit(m);
                return;
        }
        if (op->fleet_gate == FLEET_GATE_REVERTED) {
                engine_fleet_restart(m, false, NULL); /* whoever ended it put the database back */
                return;
        }
        why = strdup_printf(
                "rollout %" PRIu64 " %s%s%s",
                op->fleet_rollout,
                streq_ptr(f->ended_state, "aborted") ? "was aborted" : "was rolled back",
                isempty(f->ended_reason) ? "" : ": ",
                strempty(f->ended_reason));
        engine_fleet_rollback(m, why ?: "the rollout ended");
}

static void
on_join_staged(Manager *m, int r, bool refused, const char *jar, const char *sha256, const char *error) {
        Fleet *f = m->fleet;
        _cleanup_(refusal_done) Refusal e = REFUSAL_NULL;
        uint64_t id = f ? f->joined : 0;

        if (!f || !id)
                return;
        if (f->rollout.id != id) {
                log_info("Fleet: staged for rollout %" PRIu64 ", which is over", id);
                return;
        }
        if (r < 0) {
                set_part(f, id, "failed", error ?: "staging failed");
                return;
        }
        if (!streq(sha256, f->rollout.sha256)) {
                set_part(
                        f,
                        id,
                        "failed",
                        "the release this node downloaded has another SHA-256 than the proposer's");
                return;
        }
        if (m->op) {
                set_part(f, id, "failed", "this node is busy with another operation");
                return;
        }
        r = engine_fleet_join(m, jar, sha256, id, &(Initiator){.kind = INITIATOR_FLEET, .rollout = id}, &e);
        if (r < 0)
                set_part(f, id, "failed", e.reason ?: strerror(-r));
}

/* A rollout another node proposed: stage it and pass pre-flight. */
static void join(Fleet *f) {
        Manager *m = f->m;
        const Rollout *R = &f->rollout;

        _cleanup_free_ char *refused = NULL;

        f->joined = R->id;
        if (isempty(m->installed_version) || !streq(m->installed_version, R->from)) {
                _cleanup_free_ char *why = strdup_printf(
                        "this node runs %s, not %s", strempty(m->installed_version), R->from);
                set_part(f, R->id, "failed", why);
                return;
        }
        /* This node's own policy decides whether it takes the release (README: a join applies
         * local policy): its admin's hold first, then what it would take unattended. */
        if (m->hold)
                refused = strdup_printf(
                        "this node is on hold%s%s: it does not join the rollout to %s",
                        m->hold_reason ? ": " : "",
                        strempty(m->hold_reason),
                        R->to);
        else
                refused = feed_watch_policy_refuses(m, R->to);
        if (refused) {
                log_notice(
                        "Fleet: not joining rollout %" PRIu64 " of %s -> %s: %s", R->id, R->from, R->to, refused);
                set_part(f, R->id, "failed", refused);
                return;
        }
        log_notice("Fleet: joining rollout %" PRIu64 " of %s -> %s", R->id, R->from, R->to);
        set_part(f, R->id, "preparing", "");
        staging_stage(m, R->to, on_join_staged);
}

static void
on_converge_staged(Manager *m, int r, bool refused, const char *jar, const char *sha256, const char *error) {
        Fleet *f = m->fleet;
        _cleanup_(refusal_done) Refusal e = REFUSAL_NULL;

        if (!f)
                return;
        if (r < 0) {
                log_warning(
                        "Fleet: cannot stage %s to catch up with the fleet: %s",
                        strempty(f->committed_to),
                        strempty(error));
                return;
        }
        if (!streq_ptr(sha256, f->committed_sha256)) {
                log_warning(
                        "Fleet: the staged %s has another SHA-256 than the fleet committed; not catching up",
                        strempty(f->committed_to));
                return;
        }
        if (m->op || f->rollout.id)
                return;
        r = engine_fleet_converge(m, jar, sha256, &(Initiator){.kind = INITIATOR_FLEET}, &e);
        if (r < 0)
                log_warning(
                        "Fleet: cannot catch up with %s: %s",
                        strempty(f->committed_to),
                        e.reason ?: strerror(-r));
}

/* No rollout open: a node that was away catches up with the version the fleet committed. */
static void converge(Fleet *f) {
        Manager *m = f->m;
        MbVersion mine, fleet;
        int r;

        if (!f->committed_id || isempty(f->committed_to) || isempty(m->installed_version) ||
            streq(m->installed_version, f->committed_to))
                return;
        if (mb_version_parse(m->installed_version, &mine) < 0 ||
            mb_version_parse(f->committed_to, &fleet) < 0 || mb_version_compare(&mine, &fleet) >= 0)
                return;
        if (f->converge_id == f->committed_id &&
            now_monotonic_usec() - f->converge_usec < FLEET_CONVERGE_RETRY_USEC)
                return;
        /* A catch-up starts the new version on the fleet's migrated database: only when the
         * committed rollout names a backup that exists. */
        r = backup_verified(f, f->committed_id);
        if (r == 0)
                return;
        f->converge_id = f->committed_id;
        f->converge_usec = now_monotonic_usec();
        if (r < 0) {
                log_warning(
                        "Fleet: the fleet committed %s (rollout %" PRIu64
                        "), but this node does not catch up: %s",
                        f->committed_to,
                        f->committed_id,
                        strempty(f->backup_bad_reason));
                f->backup_bad_id = 0; /* asked again at the next attempt */
                return;
        }
        f->backup_ok_id = 0; /* a later attempt checks again */
        f->converge_usec = now_monotonic_usec();
        log_notice(
                "Fleet: the fleet committed %s (rollout %" PRIu64 ") and this node runs %s; catching up",
                f->committed_to,
                f->committed_id,
                m->installed_version);
        staging_stage(m, f->committed_to, on_converge_staged);
}

/* This node's proposal lost to another one: the same upgrade joins it, anything else is
 * refused with the reason. */
static void proposal_lost(Fleet *f) {
        Manager *m = f->m;
        Operation *op = m->op;
        const Rollout *R = &f->rollout;
        _cleanup_free_ char *why = TAKE_PTR(f->proposal_lost);

        if (!why && R->id)
                why = strdup_printf(
                        "rollout %" PRIu64
                        " (%s -> %s, %s) is open; it must end first (see mbctl fleet status)",
                        R->id,
                        R->from,
                        R->to,
                        R->state);

        if (!op || op->fleet_gate != FLEET_GATE_STAGED || op->fleet_rollout)
                return;
        if (R->id && streq(R->state, "staging") && streq_ptr(R->from, op->from_version) &&
            streq_ptr(R->to, op->to_version) && streq_ptr(R->sha256, op->to_sha256) && f->joined != R->id) {
                log_notice("Fleet: rollout %" PRIu64 " of the same upgrade is open; this node joins it", R->id);
                op->fleet_rollout = R->id;
                f->joined = R->id;
                manager_set_status(
                        m, "Staged %s for rollout %" PRIu64 "; waiting for every node", op->to_version, R->id);
                fleet_changed(m->fleet);
                return;
        }
        engine_fleet_refused(m, why ?: "another rollout is open");
}

static void evaluate(Fleet *f) {
        Manager *m = f->m;
        Operation *op = m->op;
        const Rollout *R = &f->rollout;

        /* This node's rollout was changed by someone without the fleet's key: it does not go on
         * with it. The leader (which wrote the row back) rolls the fleet back, the others go
         * back to their old version. */
        if (op && op->fleet_rollout && op->fleet_rollout == f->forged_id && !op->fleet_converge) {
                const char *why = "the rollout's row was changed by someone without the fleet's key";
                f->forged_id = 0;
                if (f->leading == R->id && R->id == op->fleet_rollout && !rollout_state_is_end(R->state))
                        rollout_set(f, streq(R->state, "staging") ? "aborted" : "rolling-back", "%s", why);
                else
                        engine_fleet_rollback(m, why);
        }
        if (R->id) {
                FleetNode *leader = isempty(R->leader) ? NULL : find_node(f, R->leader);
                bool lost = !leader || node_lost(f, leader) ||
                        (streq_ptr(R->leader, f->node) && f->leading != R->id);

                /* A leader lost (its session, and so the lock, went with it) is replaced by whoever
                 * takes the lock; a rollout without one yet is left to its proposer for a while. */
                if (f->leading != R->id && !fleet_agent_asked(f->agent, FLEET_COMMAND_LEAD) && lost &&
                    (!isempty(R->leader) ||
                     now_monotonic_usec() - f->state_seen_usec > 2 * m->config->fleet.heartbeat_usec))
                        (void) fleet_agent_lead(f->agent, R->id);
                if (f->leading == R->id)
                        coordinate(f);
                if (f->set_in_flight)
                        return; /* the rollout moves on: follow its next state, not this one */
                if (op && op->fleet_rollout == R->id)
                        follow(f);
                else if (op && op->fleet_rollout && !op->fleet_converge)
                        rollout_ended(f);
                else if (!op && f->joined != R->id && streq(R->state, "staging") && m->feed_watch)
                        join(f);
                return;
        }
        if (op && op->fleet_rollout && !op->fleet_converge)
                rollout_ended(f);
        else if (!op && !plan_busy(m))
                converge(f);
}

static int on_heartbeat_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Fleet *f = userdata;

        send_heartbeat(f);
        return sd_event_source_set_time_relative(s, f->m->config->fleet.heartbeat_usec);
}

/* Pre-flight of an upgrade asked of this node passed: propose it to the fleet. The answer opens
 * the gate (engine_fleet_*) or refuses (engine_fleet_refused). */
static void propose(Manager *m) {
        Fleet *f = m->fleet;
        Operation *op = m->op;
        _cleanup_free_ char *why = NULL;
        bool rolling;

        if (!f || !fleet_agent_running(f->agent) || !f->answered_usec || !isempty(f->error)) {
                engine_fleet_refused(
                        m,
                        f && !isempty(f->error)
                                ? f->error
                                : "the fleet can't be reached yet (no answer from the coordination database); see mbctl fleet status");
                return;
        }
        if (f->rollout.id) {
                /* The same upgrade joins it; anything else waits for its end. */
                proposal_lost(f);
                return;
        }
        /* The mode, from this node's pre-flight (zero_downtime_assess_rolling(), in the summary):
         * node by node when the release adds no migration, else every node stops. */
        rolling = streq_ptr(op->zero_downtime, "yes");
        why = rolling ? strdup_printf("%s adds no migration to the application database", op->to_version)
                      : strdup(startswith(strempty(op->zero_downtime), "no: ") ? op->zero_downtime + 4
                                                                               : "not assessed");
        if (!why ||
            fleet_agent_propose(
                    f->agent,
                    op->from_version,
                    op->to_version,
                    op->to_sha256,
                    rolling ? "rolling" : "all-stop",
                    why) < 0)
                engine_fleet_refused(m, "cannot ask the fleet agent");
}

/* The leader's backup is taken: record where, so that whoever ends the rollout finds it. */
static void backup_taken(Manager *m) {
        Fleet *f = m->fleet;
        const Operation *op = m->op;
        _cleanup_free_ char *where = NULL;

        if (!f || !op->fleet_rollout || f->leading != op->fleet_rollout) {
                engine_fleet_backup_recorded(m, "this node no longer holds the rollout's lock");
                return;
        }
        if (op->backup_clone)
                where = strdup_printf("clone:%s", op->backup_clone);
        else
                where = strdup_printf("dump:%s:%s", f->node, op->backup_path);
        /* A path with a space can't be a token: the record says only which node has it. */
        if (where && strchr(where, ' ')) {
                free(where);
                where = strdup_printf("dump:%s:-", f->node);
        }
        if (!where || fleet_agent_backup(f->agent, op->fleet_rollout, where) < 0)
                engine_fleet_backup_recorded(m, "the fleet agent can't be asked");
}

/* The engine asks: propose the rollout, record the leader's backup, or say the new step now. */
static void on_fleet_part(Manager *m, const Event *e, void *userdata) {
        Fleet *f = userdata;

        switch (e->fleet) {
        case FLEET_ASK_PROPOSE:
                propose(m);
                break;
        case FLEET_ASK_RECORD:
                backup_taken(m);
                break;
        default:
                fleet_changed(f);
        }
}

/* An operation ended: what this node says of its part from now on. */
static void on_operation_finished(Manager *m, const Event *e, void *userdata) {
        Fleet *f = userdata;
        const Operation *op = e->op;
        const char *step;

        if (!op->fleet_rollout || op->fleet_converge)
                return;
        switch (op->result) {
        case RESULT_COMMITTED:
                step = "committed";
                break;
        case RESULT_ROLLED_BACK:
                step = "rolled-back";
                break;
        case RESULT_CANCELED:
                step = "canceled";
                break;
        case RESULT_ROLLBACK_FAILED:
                step = "broken";
                break;
        default:
                step = "failed";
        }
        f->part_rollout = op->fleet_rollout;
        (void) free_and_strdup(&f->part_step, step);
        (void) free_and_strdup(&f->part_reason, op->result == RESULT_COMMITTED ? "" : op->reason);
        /* The engine is idle only after this returns: the heartbeat goes out from the loop. */
        f->heartbeat_again = true;
}

int fleet_new(Manager *m, Fleet **ret) {
        Fleet *f;
        char host[256] = "";
        int r;

        *ret = NULL;
        if (!m->config->fleet.enabled)
                return 0;
        f = calloc(1, sizeof(Fleet));
        if (!f)
                return -ENOMEM;
        f->m = m;
        if (isempty(m->config->fleet.node))
                (void) gethostname(host, sizeof(host) - 1);
        f->node = strdup(isempty(m->config->fleet.node) ? host : m->config->fleet.node);
        f->error = strdup("");
        if (!f->node || !f->error) {
                fleet_free(f);
                return -ENOMEM;
        }
        r = fleet_agent_new(m, f->node, &agent_ops, f, &f->agent);
        if (r < 0) {
                fleet_free(f);
                return r;
        }
        r = sd_event_add_time_relative(
                m->event,
                &f->heartbeat_timer,
                CLOCK_BOOTTIME,
                m->config->fleet.heartbeat_usec,
                USEC_PER_SEC / 10,
                on_heartbeat_timer,
                f);
        if (r >= 0)
                r = sd_event_source_set_enabled(f->heartbeat_timer, SD_EVENT_ON);
        if (r >= 0)
                r = events_subscribe(
                        m->events, EVENT_OPERATION_FINISHED, EVENT_ORDER_RECORD, on_operation_finished, f);
        if (r >= 0)
                r = events_subscribe(m->events, EVENT_FLEET_PART, EVENT_ORDER_RECORD, on_fleet_part, f);
        if (r < 0) {
                fleet_free(f);
                return r;
        }
        if (isempty(m->config->fleet.key_file))
                log_warning(
                        "Fleet: fleet.key_file is not set: the coordination database's rows are not signed, and "
                        "whoever can write them (any node's Metabase has the role's password) can forge a "
                        "rollout; see README, the fleet");
        (void) fleet_agent_start(f->agent);
        /* The first heartbeat at once, not after a period. */
        send_heartbeat(f);
        *ret = f;
        return 0;
}

Fleet *fleet_free(Fleet *f) {
        if (!f)
                return NULL;
        f->heartbeat_timer = sd_event_source_disable_unref(f->heartbeat_timer);
        f->agent = fleet_agent_free(f->agent);
        nodes_free(f->nodes, f->n_nodes);
        nodes_free(f->pending, f->n_pending);
        rollout_clear(&f->rollout);
        rollout_clear(&f->pending_rollout);
        free(f->committed_to);
        free(f->committed_sha256);
        free(f->pending_committed_to);
        free(f->pending_committed_sha256);
        free(f->ended_state);
        free(f->ended_reason);
        free(f->pending_ended_state);
        free(f->pending_ended_reason);
        free(f->state_seen);
        free(f->part_step);
        free(f->part_reason);
        free(f->proposal_lost);
        free(f->backup_bad_reason);
        free(f->node);
        free(f->error);
        free(f);
        return NULL;
}

/* Whether this node rehearses for its fleet, as the last answer says. */
static bool rehearses_here(Fleet *f) {
        if (!f->answered_usec)
                return false;
        for (size_t i = 0; i < f->n_nodes; i++)
                if (!node_lost(f, f->nodes + i))
                        return streq(f->nodes[i].name, f->node);
        return false;
}

static json_object *json_string_or_empty(const char *s) {
        return json_object_new_string(strempty(s));
}

char *fleet_json(Manager *m) {
        Fleet *f = m->fleet;
        const Config *c = m->config;
        json_object *o, *nodes, *missing;
        size_t expected = strv_length(c->fleet.nodes) ?: c->fleet.expect, present = 0;
        uint64_t since_ms = 0;
        _cleanup_free_ char *stale = NULL;
        char *s;

        if (!f)
                return strdup("");
        /* The ages are as of the last answer: a node whose agent hears nothing (its link to the
         * server cut, the server gone) sees every node age, itself included, and says why. */
        if (f->answered_usec > 0) {
                since_ms = (now_monotonic_usec() - f->answered_usec) / USEC_PER_MSEC;
                if (since_ms * USEC_PER_MSEC > c->fleet.lost_after_usec && isempty(f->error))
                        stale = strdup_printf(
                                "no answer from the coordination database for %" PRIu64 " s", since_ms / 1000);
        }
        o = json_object_new_object();
        nodes = json_object_new_array();
        missing = json_object_new_array();
        if (!o || !nodes || !missing) {
                json_object_put(o);
                json_object_put(nodes);
                json_object_put(missing);
                return NULL;
        }
        json_object_object_add(o, "node", json_object_new_string(f->node));
        json_object_object_add(o, "expected", json_object_new_uint64(expected));
        json_object_object_add(o, "error", json_object_new_string(stale ?: strempty(f->error)));
        json_object_object_add(
                o, "heartbeat_ms", json_object_new_uint64(c->fleet.heartbeat_usec / USEC_PER_MSEC));
        json_object_object_add(
                o, "lost_after_ms", json_object_new_uint64(c->fleet.lost_after_usec / USEC_PER_MSEC));
        json_object_object_add(o, "parallel", json_object_new_uint64(c->fleet.parallel));
        json_object_object_add(o, "signed", json_object_new_boolean(!isempty(c->fleet.key_file)));
        for (size_t i = 0; i < f->n_nodes; i++) {
                const FleetNode *n = f->nodes + i;
                json_object *e = json_object_new_object();
                uint64_t age_ms = n->age_ms + since_ms;
                bool lost = age_ms * USEC_PER_MSEC > c->fleet.lost_after_usec;
                json_object_object_add(e, "name", json_object_new_string(n->name));
                json_object_object_add(e, "version", json_string_or_empty(n->version));
                json_object_object_add(e, "state", json_string_or_empty(n->state));
                json_object_object_add(e, "staged", json_string_or_empty(n->staged));
                json_object_object_add(e, "age_ms", json_object_new_uint64(age_ms));
                json_object_object_add(e, "lost", json_object_new_boolean(lost));
                json_object_object_add(e, "self", json_object_new_boolean(streq(n->name, f->node)));
                json_object_object_add(e, "rollout", json_object_new_uint64(n->rollout));
                json_object_object_add(e, "step", json_string_or_empty(n->step));
                json_object_object_add(e, "reason", json_string_or_empty(n->reason));
                json_object_array_add(nodes, e);
                if (!lost)
                        present++;
        }
        /* Named nodes that never said anything; or, counted, how many are short. */
        for (char **name = c->fleet.nodes; name && *name; name++) {
                bool seen = false;
                for (size_t i = 0; i < f->n_nodes; i++)
                        seen = seen || streq(f->nodes[i].name, *name);
                if (!seen)
                        json_object_array_add(missing, json_object_new_string(*name));
        }
        json_object_object_add(o, "nodes", nodes);
        json_object_object_add(o, "missing", missing);
        json_object_object_add(o, "healthy", json_object_new_uint64(present));
        json_object_object_add(o, "answered", json_object_new_boolean(f->answered_usec > 0));
        if (f->rollout.id) {
                json_object *r = json_object_new_object();
                json_object_object_add(r, "id", json_object_new_uint64(f->rollout.id));
                json_object_object_add(r, "from", json_string_or_empty(f->rollout.from));
                json_object_object_add(r, "to", json_string_or_empty(f->rollout.to));
                json_object_object_add(r, "sha256", json_string_or_empty(f->rollout.sha256));
                json_object_object_add(r, "state", json_string_or_empty(f->rollout.state));
                json_object_object_add(r, "leader", json_string_or_empty(f->rollout.leader));
                json_object_object_add(r, "backup", json_string_or_empty(f->rollout.backup));
                json_object_object_add(r, "reason", json_string_or_empty(f->rollout.reason));
                json_object_object_add(
                        r, "mode", json_object_new_string(rolls(&f->rollout) ? "rolling" : "all-stop"));
                json_object_object_add(r, "mode_reason", json_string_or_empty(f->rollout.mode_reason));
                json_object_object_add(r, "leading", json_object_new_boolean(f->leading == f->rollout.id));
                json_object_object_add(o, "rollout", r);
        } else
                json_object_object_add(o, "rollout", NULL);
        if (f->committed_id) {
                json_object *r = json_object_new_object();
                json_object_object_add(r, "id", json_object_new_uint64(f->committed_id));
                json_object_object_add(r, "version", json_string_or_empty(f->committed_to));
                json_object_object_add(o, "committed", r);
        } else
                json_object_object_add(o, "committed", NULL);
        s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
        return s;
}
