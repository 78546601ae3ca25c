/* SPDX-License-Identifier: MIT */
#pragma once

/* Crash points for the crash-at-every-step tests. Compiled in only with -Dtest_hooks=true (never
 * in a package); there, MBUP_TEST_CRASH_AT=NAME makes the daemon SIGKILL itself when it reaches
 * crash point NAME, after what that point persists is on disk, as a power cut or the OOM killer
 * would. MBUP_TEST_CRASH_ONCE=FILE is created as it fires; while FILE exists the hook does not
 * fire again, so the restarted daemon runs on.
 *
 * The points: "step:<step>" right after the journal records the step (operation.h's names),
 * "swapped" after the JAR's rename and before the journal says so, "done" after the journal
 * records the end and before the history, "history" after the history and before the journal is
 * removed, "download" once the JAR's download has started, "verify" as a staged JAR's
 * verification starts. */

#include "build-config.h"

#if ENABLE_TEST_HOOKS
void test_hook_crash_point(const char *name);
#define TEST_HOOKS_DESCRIPTION " +test-hooks"
#else
static inline void test_hook_crash_point(const char *name) {
}
#define TEST_HOOKS_DESCRIPTION ""
#endif
