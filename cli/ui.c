/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "strv.h"
#include "ui.h"

bool ui_use_colors(bool is_tty, const char *no_color, const char *term) {
        return is_tty && isempty(no_color) && !streq_ptr(term, "dumb");
}

const char *ui_color_on(UiColor c, bool colors) {
        if (!colors)
                return "";
        switch (c) {
        case UI_GOOD:
                return ANSI_GREEN;
        case UI_NOTICE:
                return ANSI_YELLOW;
        case UI_BAD:
                return ANSI_RED;
        case UI_FAINT:
                return ANSI_GREY;
        default:
                return "";
        }
}

const char *ui_color_off(UiColor c, bool colors) {
        return colors && c != UI_PLAIN ? ANSI_NORMAL : "";
}

UiColor ui_status_color(const char *property, const char *value) {
        if (isempty(value))
                return UI_PLAIN;
        if (streq(property, "State")) {
                if (streq(value, "idle"))
                        return UI_GOOD;
                return streq(value, "rolling-back") ? UI_BAD : UI_NOTICE;
        }
        if (streq(property, "UnitActiveState")) {
                if (streq(value, "active"))
                        return UI_GOOD;
                return streq(value, "failed") ? UI_BAD : UI_NOTICE;
        }
        if (streq(property, "Step"))
                return startswith(value, "rollback") ? UI_BAD : UI_NOTICE;
        if (streq(property, "LastResult")) {
                if (startswith(value, "committed"))
                        return UI_GOOD;
                if (startswith(value, "rolled") || startswith(value, "rollback") ||
                    startswith(value, "failed"))
                        return UI_BAD;
                return UI_NOTICE;
        }
        if (streq(property, "Staged")) {
                StagedInfo s;
                if (ui_parse_staged(value, &s) < 0)
                        return UI_NOTICE;
                return s.state == STAGED_REFUSED ? UI_BAD : UI_NOTICE;
        }
        if (streq(property, "Rehearsal")) {
                /* "v0.56.2 passed ...", "v0.56.3 failed ...", or one running */
                const char *sp = strchr(value, ' ');
                if (sp && startswith(sp + 1, "passed"))
                        return UI_GOOD;
                if (sp && startswith(sp + 1, "failed"))
                        return UI_BAD;
                return UI_NOTICE;
        }
        if (streq(property, "NewestAllowed") || streq(property, "Hold"))
                return UI_NOTICE;
        if (streq(property, "LastCheck"))
                return strstr(value, " failed: ") ? UI_NOTICE : UI_PLAIN;
        if (streq(property, "StatusText")) {
                if (startswith(value, "Rollback failed"))
                        return UI_BAD;
                return strstr(value, " rolled back ") || strstr(value, " failed") ? UI_NOTICE : UI_PLAIN;
        }
        return UI_PLAIN;
}

int ui_parse_staged(const char *text, StagedInfo *ret) {
        StagedInfo s = {.state = STAGED_NONE, .percent = -1, .detail = ""};
        const char *open;
        size_t n;

        if (isempty(text)) {
                *ret = s;
                return 0;
        }
        if (text[0] != 'v')
                return -EINVAL;
        n = strcspn(text, " ");
        if (n < 2 || n >= sizeof(s.version))
                return -EINVAL;
        memcpy(s.version, text, n);
        s.version[n] = '\0';
        open = text[n] == ' ' && text[n + 1] == '(' ? text + n + 2 : NULL;
        if (!open) {
                s.state = STAGED_OTHER;
                *ret = s;
                return 0;
        }
        s.detail = open;
        if (startswith(open, "verified"))
                s.state = STAGED_VERIFIED;
        else if (startswith(open, "refused"))
                s.state = STAGED_REFUSED;
        else if (startswith(open, "downloading")) {
                const char *p = open + strlen("downloading");
                unsigned pct;
                uint64_t mb;
                int k = 0;

                s.state = STAGED_DOWNLOADING;
                /* " 45%, 120 MB)" or ", 12 MB)" or " its checksum)" */
                if (sscanf(p, " %u%%%n", &pct, &k) == 1 && k > 0 && pct <= 100) {
                        s.percent = (int) pct;
                        p += k;
                }
                if (sscanf(p, ", %" SCNu64 " MB", &mb) == 1)
                        s.megabytes = mb;
        } else
                s.state = STAGED_OTHER;
        *ret = s;
        return 0;
}

char *ui_progress_bar(int percent, unsigned width, char *buf, size_t n) {
        unsigned filled;
        size_t k = 0;

        if (n == 0)
                return buf;
        filled = percent < 0 ? 0 : (unsigned) (percent > 100 ? 100 : percent) * width / 100;
        if (k + 1 < n)
                buf[k++] = '[';
        for (unsigned i = 0; i < width && k + 1 < n; i++)
                buf[k++] = i < filled ? '#' : '-';
        if (k + 1 < n)
                buf[k++] = ']';
        buf[k] = '\0';
        return buf;
}

static bool step_is_rollback(const char *name) {
        return startswith(name, "rollback-");
}

static void step_list_append(StepList *l, const char *name, StepState state) {
        if (l->n >= ELEMENTSOF(l->steps))
                return;
        snprintf(l->steps[l->n].name, sizeof(l->steps[l->n].name), "%s", name);
        l->steps[l->n].state = state;
        l->n++;
}

static void step_list_drop_pending(StepList *l) {
        size_t k = 0;

        for (size_t i = 0; i < l->n; i++)
                if (l->steps[i].state != UI_STEP_PENDING)
                        l->steps[k++] = l->steps[i];
        l->n = k;
}

void step_list_init(StepList *l, const char *kind) {
        static const char *const upgrade
                [] = {"preflight", "stop", "backup", "swap", "start", "verify", "settle", NULL},
         *const rollback[] =
                 {"preflight", "stop", "backup", "swap", "restore-database", "start", "verify", "settle", NULL},
         *const restore[] = {"preflight", "stop", "backup", "restore-database", "start", "verify", "settle", NULL},
         *const backup[] = {"preflight", "backup", NULL};
        static const struct {
                const char *kind;
                const char *const *steps;
        } plans[] = {
                {"upgrade", upgrade},
                {"rollback", rollback},
                {"restore", restore},
                {"backup", backup},
        };

        *l = (StepList){};
        for (size_t i = 0; i < ELEMENTSOF(plans); i++)
                if (streq(plans[i].kind, strempty(kind)))
                        for (const char *const *s = plans[i].steps; *s; s++)
                                step_list_append(l, *s, UI_STEP_PENDING);
}

int step_list_current(const StepList *l) {
        for (size_t i = 0; i < l->n; i++)
                if (l->steps[i].state == UI_STEP_CURRENT)
                        return (int) i;
        return -1;
}

void step_list_set(StepList *l, const char *name) {
        int cur = step_list_current(l);
        size_t from = cur < 0 ? 0 : (size_t) cur;
        ssize_t found = -1;

        if (isempty(name) || (cur >= 0 && streq(l->steps[cur].name, name)))
                return;
        for (size_t i = from; i < l->n; i++)
                if (l->steps[i].state == UI_STEP_PENDING && streq(l->steps[i].name, name)) {
                        found = (ssize_t) i;
                        break;
                }
        if (cur >= 0)
                l->steps[cur].state = step_is_rollback(name) && !step_is_rollback(l->steps[cur].name)
                        ? UI_STEP_FAILED
                        : UI_STEP_DONE;
        if (found >= 0) {
                /* Planned steps it went past without saying so did not happen (a backup with no
                 * database to back up, say): drop them rather than claim them. */
                size_t k = 0;
                for (size_t i = 0; i < l->n; i++)
                        if (!(l->steps[i].state == UI_STEP_PENDING && (ssize_t) i < found))
                                l->steps[k++] = l->steps[i];
                found -= (ssize_t) (l->n - k);
                l->n = k;
                l->steps[found].state = UI_STEP_CURRENT;
                return;
        }
        /* Not planned (or planned already behind us): the rollback replaces what was left. */
        step_list_drop_pending(l);
        step_list_append(l, name, UI_STEP_CURRENT);
        if (step_is_rollback(name)) {
                static const char *const rollback[] = {
                        "rollback-stop", "rollback-restore", "rollback-start", "rollback-verify"};
                bool after = false;
                for (size_t i = 0; i < ELEMENTSOF(rollback); i++) {
                        if (after)
                                step_list_append(l, rollback[i], UI_STEP_PENDING);
                        if (streq(rollback[i], name))
                                after = true;
                }
        }
}

void step_list_finish(StepList *l, const char *result) {
        int cur = step_list_current(l);

        if (cur >= 0)
                l->steps[cur].state = streq_ptr(result, "committed") || streq_ptr(result, "rolled-back")
                        ? UI_STEP_DONE
                        : UI_STEP_FAILED;
        step_list_drop_pending(l);
}
