/* SPDX-License-Identifier: MIT */
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>

#include "macro.h"
#include "worker.h"

typedef struct Worker {
        WorkerFunc func;
        WorkerDone done;
        void *userdata;
        int result;
        int efd;
        sd_event_source *source;
} Worker;

static void *worker_thread(void *p) {
        Worker *w = p;

        w->result = w->func(w->userdata);
        /* eventfd_write() is async-signal-safe and publishes w->result to the loop thread. */
        (void) eventfd_write(w->efd, 1);
        return NULL;
}

static int on_worker_done(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Worker *w = userdata;
        eventfd_t v;

        (void) eventfd_read(fd, &v);
        w->done(w->result, w->userdata);
        sd_event_source_disable_unref(w->source);
        (void) close(w->efd);
        free(w);
        return 0;
}

int worker_run(sd_event *e, WorkerFunc func, WorkerDone done, void *userdata) {
        Worker *w;
        pthread_attr_t attr;
        pthread_t t;
        int r;

        w = calloc(1, sizeof(Worker));
        if (!w)
                return -ENOMEM;
        *w = (Worker){.func = func, .done = done, .userdata = userdata};
        w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (w->efd < 0) {
                r = negative_errno();
                free(w);
                return r;
        }
        r = sd_event_add_io(e, &w->source, w->efd, EPOLLIN, on_worker_done, w);
        if (r < 0)
                goto fail;

        (void) pthread_attr_init(&attr);
        (void) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        r = -pthread_create(&t, &attr, worker_thread, w);
        (void) pthread_attr_destroy(&attr);
        if (r < 0)
                goto fail;
        return 0;

fail:
        sd_event_source_disable_unref(w->source);
        (void) close(w->efd);
        free(w);
        return r;
}
