/* SPDX-License-Identifier: MIT */
#pragma once

/* The administrator's hooks: commands run at four points of an operation, each from the config
 * (hooks.pre_upgrade, ...: /bin/sh -c) and then the files of DIR/<type>.d/ in lexical order.
 *
 * pre-upgrade (the last of pre-flight, before the stop) and verify (once the new version answers
 * healthy, while it settles) are gates the engine waits for, for upgrades and rollbacks: a hook
 * that exits non-zero, is killed at hooks.timeout, cannot be run, or is refused fails the gate
 * (pre-upgrade: the operation is refused; verify: it rolls back) and the hooks after it do not run.
 * post-commit and post-rollback run once an operation has ended (EVENT_OPERATION_FINISHED), all of
 * them, and change nothing.
 *
 * A hook runs as hooks.user (never root), without supplementary groups or capabilities, with
 * PR_SET_NO_NEW_PRIVS, in a process group of its own (killed whole with SIGKILL at its limit),
 * stdin /dev/null, in / with an environment of PATH, HOME=/, MBUP_HOOK=<type> and the operation's
 * facts (notify_facts_env()). Its stdout and stderr go to the journal line by line (escaped), and
 * its last lines into the reason of a gate it failed. The network stays: a hook may have to tell a
 * load balancer. */

#include <stdbool.h>
#include <sys/types.h>

#include "manager.h"
#include "operation.h"

typedef enum HookType {
        HOOK_PRE_UPGRADE,
        HOOK_VERIFY,
        HOOK_POST_COMMIT,
        HOOK_POST_ROLLBACK,
        _HOOK_TYPE_MAX,
} HookType;

/* "pre-upgrade", "verify", "post-commit", "post-rollback": also the directory's name before ".d". */
const char *hook_type_to_string(HookType t);

/* The files of dir to run, in lexical order, as absolute paths in *ret_files: regular files owned
 * by owner (root), not writable by group or others, executable by others. Names that start with
 * '.', end in '~' or hold ".dpkg-" are skipped, and so is a file nobody else may execute (a
 * README). Anything else (a symbolic link, a FIFO, a directory, a file of another owner or that
 * others may write) is refused: logged, and said in *ret_refused ("NAME: a symbolic link"). A dir
 * (or its parent) that is not owner's or that group or others may write, or that is a symbolic
 * link, is refused as a whole. A missing dir has no files. Both lists are never NULL on success. */
int hooks_scan_dir(const char *dir, uid_t owner, char ***ret_files, char ***ret_refused);

typedef struct HookRun HookRun;

/* The hooks ended: ok, or reason says which one failed and how, with its last lines of output. */
typedef void (*HookDone)(bool ok, const char *reason, void *userdata);

/* Starts the gate (HOOK_PRE_UPGRADE or HOOK_VERIFY) of op: 0 when there is nothing to run (no
 * hook, a dry run, an operation that is no upgrade or rollback), and then done is never called;
 * 1 when done will be called, from the event loop, once; the run frees itself after it. The
 * outcome is added to op->hooks (the history's "hooks"); op must outlive the run (free the run
 * first: hook_run_free()). -ENOMEM. */
int hook_gate_start(Manager *m, HookType type, Operation *op, HookDone done, void *userdata, HookRun **ret);
/* Kills its running hook; done is not called. NULL is fine. */
HookRun *hook_run_free(HookRun *h);

/* post-commit after an upgrade or a rollback committed; post-rollback after an operation rolled
 * back (or failed to). */
typedef struct Hooks Hooks;
int hooks_new(Manager *m, Hooks **ret);
Hooks *hooks_free(Hooks *h);
