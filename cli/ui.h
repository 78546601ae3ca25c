/* SPDX-License-Identifier: MIT */
#pragma once

/* mbctl's output for people: when to use colours, the colour of a status value, the daemon's
 * Staged text taken apart, a download's progress bar and an operation's step list. Pure: no
 * I/O but reading the environment in ui_use_colors(). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ANSI_GREEN "\033[32m"
#define ANSI_YELLOW "\033[33m"
#define ANSI_RED "\033[31m"
#define ANSI_GREY "\033[90m"
#define ANSI_BOLD "\033[1m"
#define ANSI_NORMAL "\033[0m"

typedef enum UiColor {
        UI_PLAIN,
        UI_GOOD,   /* green: healthy, committed */
        UI_NOTICE, /* yellow: held, staged, in progress, warnings */
        UI_BAD,    /* red: failed, rollback needed */
        UI_FAINT,  /* grey: not yet */
} UiColor;

/* Colours only on a terminal, with NO_COLOR unset or empty (https://no-color.org) and TERM not
 * "dumb". is_tty: whether the output is a terminal. */
bool ui_use_colors(bool is_tty, const char *no_color, const char *term);

/* The escape sequence of a colour, "" for UI_PLAIN or when colours are off. */
const char *ui_color_on(UiColor c, bool colors);
const char *ui_color_off(UiColor c, bool colors);

/* The colour of a value of a status property (by its D-Bus name), "" values are plain. */
UiColor ui_status_color(const char *property, const char *value);

/* The daemon's Staged property: "v0.56.4 (verified)", "v0.56.4 (downloading 45%, 120 MB)",
 * "v0.56.4 (downloading, 12 MB)", "v0.56.4 (refused: ...)", "v0.56.4 (downloading its checksum)". */
typedef enum StagedState {
        STAGED_NONE,        /* "" */
        STAGED_DOWNLOADING, /* the JAR or its checksum is on its way */
        STAGED_VERIFIED,
        STAGED_REFUSED,
        STAGED_OTHER, /* verifying, failed, ... */
} StagedState;

typedef struct StagedInfo {
        StagedState state;
        char version[32];
        int percent;        /* 0..100, -1 when unknown */
        uint64_t megabytes; /* downloaded so far, 0 when not said */
        const char *detail; /* points into the text: what is in the parentheses, "" when none */
} StagedInfo;

/* -EINVAL when the text does not start with a version; STAGED_NONE for "". */
int ui_parse_staged(const char *text, StagedInfo *ret);

/* "[#########-----------]" with width cells inside the brackets (percent < 0: all '-'), into buf
 * of size n (truncated if too small). Returns buf. */
char *ui_progress_bar(int percent, unsigned width, char *buf, size_t n);

/* An operation's steps as they happen: planned ones first (by kind), then the daemon's Step
 * property as it changes. */
typedef enum StepState {
        UI_STEP_PENDING,
        UI_STEP_CURRENT,
        UI_STEP_DONE,
        UI_STEP_FAILED,
} StepState;

#define UI_STEP_LIST_MAX 24

typedef struct StepList {
        struct {
                char name[24];
                StepState state;
        } steps[UI_STEP_LIST_MAX];
        size_t n;
} StepList;

/* The steps an operation of this kind ("upgrade", "rollback", "backup", "restore") goes
 * through when all goes well, all pending. An unknown kind starts empty. */
void step_list_init(StepList *l, const char *kind);
/* The daemon says the operation is at step 'name' now: steps before it are done, planned ones it
 * skipped are dropped, the first rollback step marks the step it left failed and plans the rest
 * of the rollback. "" is ignored. */
void step_list_set(StepList *l, const char *name);
/* The operation ended: the current step is done when the result is "committed" or
 * "rolled-back" (the rollback itself worked), failed otherwise; pending ones are dropped. */
void step_list_finish(StepList *l, const char *result);
/* The index of the current step, or -1. */
int step_list_current(const StepList *l);
