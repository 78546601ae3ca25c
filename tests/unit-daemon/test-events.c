/* SPDX-License-Identifier: MIT */
/* The daemon's events (daemon/events.c): subscribers of a kind run in their order, equal orders
 * as they subscribed; only that kind's; a handler may emit again; subscribing while an event is
 * delivered is refused; the registry has a limit; a Manager without one emits nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "events.h"
#include "manager.h"

static char trace[256];

static void note(Manager *m, const Event *e, void *userdata) {
        size_t n = strlen(trace);
        (void) snprintf(trace + n, sizeof(trace) - n, "%s%d", n ? " " : "", e->kind);
        (void) snprintf(trace + strlen(trace), sizeof(trace) - strlen(trace), ":%s", (const char *) userdata);
}

static void test_order(void **state) {
        Manager m = {};

        assert_int_equal(events_new(&m.events), 0);
        trace[0] = '\0';
        assert_int_equal(
                events_subscribe(m.events, EVENT_OPERATION_FINISHED, EVENT_ORDER_NEXT, note, "next"), 0);
        assert_int_equal(
                events_subscribe(m.events, EVENT_OPERATION_FINISHED, EVENT_ORDER_TELL, note, "tell1"), 0);
        assert_int_equal(
                events_subscribe(m.events, EVENT_OPERATION_FINISHED, EVENT_ORDER_RECORD, note, "record"), 0);
        assert_int_equal(
                events_subscribe(m.events, EVENT_OPERATION_FINISHED, EVENT_ORDER_TELL, note, "tell2"), 0);
        assert_int_equal(events_subscribe(m.events, EVENT_STEP_BEGAN, EVENT_ORDER_SIGNAL, note, "step"), 0);
        events_emit(&m, &(Event){.kind = EVENT_OPERATION_FINISHED});
        assert_string_equal(trace, "2:record 2:tell1 2:tell2 2:next");
        trace[0] = '\0';
        events_emit(&m, &(Event){.kind = EVENT_STEP_BEGAN});
        assert_string_equal(trace, "1:step");
        trace[0] = '\0';
        events_emit(&m, &(Event){.kind = EVENT_PLAN_FINISHED}); /* nobody listens */
        events_emit(&m, &(Event){.kind = _EVENT_KIND_MAX});     /* not a kind */
        assert_string_equal(trace, "");
        m.events = events_free(m.events);
        events_emit(&m, &(Event){.kind = EVENT_OPERATION_FINISHED}); /* no registry: nothing */
        assert_string_equal(trace, "");
}

static void reemit(Manager *m, const Event *e, void *userdata) {
        note(m, e, userdata);
        /* a plan's end announced while an operation's end is delivered */
        if (e->kind == EVENT_OPERATION_FINISHED)
                events_emit(m, &(Event){.kind = EVENT_PLAN_FINISHED});
        /* no subscribing while delivering */
        assert_int_equal(events_subscribe(m->events, EVENT_STEP_BEGAN, 0, note, "late"), -EBUSY);
}

static void test_reentrant(void **state) {
        Manager m = {};

        assert_int_equal(events_new(&m.events), 0);
        trace[0] = '\0';
        assert_int_equal(
                events_subscribe(m.events, EVENT_OPERATION_FINISHED, EVENT_ORDER_RECORD, reemit, "a"), 0);
        assert_int_equal(events_subscribe(m.events, EVENT_OPERATION_FINISHED, EVENT_ORDER_NEXT, note, "b"), 0);
        assert_int_equal(
                events_subscribe(m.events, EVENT_PLAN_FINISHED, EVENT_ORDER_SIGNAL, reemit, "plan"), 0);
        events_emit(&m, &(Event){.kind = EVENT_OPERATION_FINISHED});
        assert_string_equal(trace, "2:a 3:plan 2:b");
        /* after the delivery, subscribing works again */
        assert_int_equal(events_subscribe(m.events, EVENT_STEP_BEGAN, 0, note, "late"), 0);
        m.events = events_free(m.events);
}

static void test_limits(void **state) {
        Events *e = NULL;
        int r = 0, n = 0;

        assert_int_equal(events_new(&e), 0);
        assert_int_equal(events_subscribe(e, _EVENT_KIND_MAX, 0, note, NULL), -EINVAL);
        assert_int_equal(events_subscribe(e, EVENT_STEP_BEGAN, 0, NULL, NULL), -EINVAL);
        assert_int_equal(events_subscribe(NULL, EVENT_STEP_BEGAN, 0, note, NULL), -EINVAL);
        while ((r = events_subscribe(e, EVENT_STEP_BEGAN, n, note, "x")) == 0)
                n++;
        assert_int_equal(r, -ENOSPC);
        assert_true(n >= 8); /* room for every module of the daemon */
        events_free(e);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_order),
                cmocka_unit_test(test_reentrant),
                cmocka_unit_test(test_limits),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
