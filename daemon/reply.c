/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "bus-names.h"
#include "macro.h"
#include "reply.h"

struct Reply {
        unsigned n_ref;
        bool answered;
        sd_bus_message *call;
};

/* Whether r is there to be answered; from now on it is answered. */
static bool answer_once(Reply *r) {
        if (!r || r->answered)
                return false;
        r->answered = true;
        return true;
}

int refusal_set(Refusal *r, Outcome outcome, int err, const char *fmt, ...) {
        va_list ap;
        char *reason = NULL;

        va_start(ap, fmt);
        if (vasprintf(&reason, fmt, ap) < 0)
                reason = NULL;
        va_end(ap);
        if (r) {
                free(r->reason);
                r->outcome = outcome;
                r->reason = reason;
        } else
                free(reason);
        return err < 0 ? err : -EPERM;
}

void refusal_done(Refusal *r) {
        r->reason = mfree_str(r->reason);
        r->outcome = OUTCOME_OK;
}

Reply *reply_new(sd_bus_message *call) {
        Reply *r;

        if (!call)
                return NULL;
        r = calloc(1, sizeof(Reply));
        if (!r)
                return NULL;
        r->n_ref = 1;
        r->call = sd_bus_message_ref(call);
        return r;
}

Reply *reply_ref(Reply *r) {
        if (r)
                r->n_ref++;
        return r;
}

Reply *reply_unref(Reply *r) {
        if (!r || --r->n_ref > 0)
                return NULL;
        sd_bus_message_unref(r->call);
        free(r);
        return NULL;
}

void reply_accepted(Reply *r, uint64_t id, const char *summary) {
        if (!answer_once(r))
                return;
        (void) sd_bus_reply_method_return(r->call, "ts", id, strempty(summary));
}

void reply_text(Reply *r, const char *text) {
        if (!answer_once(r))
                return;
        (void) sd_bus_reply_method_return(r->call, "s", strempty(text));
}

void reply_done(Reply *r) {
        if (!answer_once(r))
                return;
        (void) sd_bus_reply_method_return(r->call, NULL);
}

void reply_refused(Reply *r, Outcome outcome, const char *reason) {
        if (!answer_once(r))
                return;
        (void) sd_bus_reply_method_errorf(
                r->call, outcome_to_error_name(outcome) ?: SD_BUS_ERROR_FAILED, "%s", strempty(reason));
}

const char *outcome_to_error_name(Outcome o) {
        static const char *const names[_OUTCOME_MAX] = {
                [OUTCOME_OK] = NULL,
                [OUTCOME_FAILED] = SD_BUS_ERROR_FAILED,
                [OUTCOME_REFUSED] = MB_ERROR_REFUSED,
                [OUTCOME_BUSY] = MB_ERROR_BUSY,
                [OUTCOME_NOTHING] = MB_ERROR_NOTHING,
                [OUTCOME_TOO_LATE] = MB_ERROR_TOO_LATE,
                [OUTCOME_INVALID] = SD_BUS_ERROR_INVALID_ARGS,
                [OUTCOME_CONFIRM] = MB_ERROR_UNCONFIRMED,
        };
        return o >= 0 && o < _OUTCOME_MAX ? names[o] : SD_BUS_ERROR_FAILED;
}

int reply_refusal(Reply *reply, int r, const Refusal *refusal) {
        if (refusal && refusal->reason)
                reply_refused(reply, refusal->outcome, refusal->reason);
        else
                reply_refused(reply, OUTCOME_FAILED, strerror(-r));
        return r;
}
