/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "macro.h"
#include "manager.h"

#define SUBSCRIBERS_MAX 16

typedef struct Subscriber {
        int order;
        EventHandler handler;
        void *userdata;
} Subscriber;

struct Events {
        Subscriber subs[_EVENT_KIND_MAX][SUBSCRIBERS_MAX];
        size_t n_subs[_EVENT_KIND_MAX];
        unsigned delivering; /* nesting depth of events_emit() */
};

int events_new(Events **ret) {
        Events *e = calloc(1, sizeof(Events));

        if (!e)
                return -ENOMEM;
        *ret = e;
        return 0;
}

Events *events_free(Events *e) {
        free(e);
        return NULL;
}

int events_subscribe(Events *e, EventKind kind, int order, EventHandler handler, void *userdata) {
        Subscriber *s;
        size_t n, i;

        if (!e || kind < 0 || kind >= _EVENT_KIND_MAX || !handler)
                return -EINVAL;
        if (e->delivering > 0)
                return -EBUSY;
        n = e->n_subs[kind];
        if (n >= SUBSCRIBERS_MAX)
                return -ENOSPC;
        s = e->subs[kind];
        /* After every subscriber of the same or a lower order: stable. */
        for (i = n; i > 0 && s[i - 1].order > order; i--)
                s[i] = s[i - 1];
        s[i] = (Subscriber){.order = order, .handler = handler, .userdata = userdata};
        e->n_subs[kind] = n + 1;
        return 0;
}

void events_emit(Manager *m, const Event *ev) {
        Events *e = m ? m->events : NULL;
        size_t n;

        if (!e || ev->kind < 0 || ev->kind >= _EVENT_KIND_MAX)
                return;
        n = e->n_subs[ev->kind];
        e->delivering++;
        for (size_t i = 0; i < n; i++)
                e->subs[ev->kind][i].handler(m, ev, e->subs[ev->kind][i].userdata);
        e->delivering--;
}
