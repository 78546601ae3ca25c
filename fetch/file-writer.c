/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <pthread.h>

#include "file-writer.h"
#include "macro.h"

/* Small enough that the hashing finds in the cache what pwrite() has just read; large enough that
 * the thread wakes rarely. */
#define SLOT_SIZE (256U * 1024U)
#define SLOTS (FILE_WRITER_RING_SIZE / SLOT_SIZE)

typedef struct Slot {
        char *data;
        size_t size;
} Slot;

struct FileWriter {
        int fd;
        Slot slots[SLOTS];
        bool started;

        /* The caller's: the slot it fills, not yet handed over, and the error it has seen. */
        unsigned fill;
        int failed;

        /* The thread's while a slot is queued, the caller's (under lock) when none is. */
        uint64_t offset; /* where the next slot goes in the file */
        Sha256 *sha256;

        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t thread_cond; /* a slot handed over, or stop, for the thread */
        pthread_cond_t caller_cond; /* a slot written, or an error, for the caller */

        /* Under lock. */
        unsigned first;  /* the oldest slot handed over */
        unsigned queued; /* slots handed over and not done yet, from first on; the thread works
                          * on slot first while it is one of them */
        bool thread_waiting;
        bool caller_waiting;
        bool stop;
        int error;
};

static int pwrite_all(int fd, const char *p, size_t n, uint64_t offset) {
        while (n > 0) {
                ssize_t k = pwrite(fd, p, n, (off_t) offset);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                p += k;
                n -= (size_t) k;
                offset += (uint64_t) k;
        }
        return 0;
}

static void *file_writer_thread(void *userdata) {
        FileWriter *w = userdata;

        pthread_mutex_lock(&w->lock);
        for (;;) {
                Slot *s;
                int r;

                while (!w->stop && w->queued == 0) {
                        w->thread_waiting = true;
                        pthread_cond_wait(&w->thread_cond, &w->lock);
                        w->thread_waiting = false;
                }
                if (w->stop)
                        break;

                s = &w->slots[w->first];
                /* After an error, the slots are only handed back: the caller learns of it and stops. */
                r = w->error;
                pthread_mutex_unlock(&w->lock);

                if (r >= 0)
                        r = pwrite_all(w->fd, s->data, s->size, w->offset);
                if (r >= 0)
                        r = sha256_update(w->sha256, s->data, s->size);
                if (r >= 0)
                        w->offset += s->size;

                pthread_mutex_lock(&w->lock);
                if (r < 0 && w->error >= 0)
                        w->error = r;
                s->size = 0;
                w->first = (w->first + 1) % SLOTS;
                w->queued--;
                if (w->caller_waiting)
                        pthread_cond_signal(&w->caller_cond);
        }
        pthread_mutex_unlock(&w->lock);
        return NULL;
}

FileWriter *file_writer_free(FileWriter *w) {
        if (!w)
                return NULL;

        if (w->started) {
                pthread_mutex_lock(&w->lock);
                w->stop = true;
                pthread_cond_signal(&w->thread_cond);
                pthread_mutex_unlock(&w->lock);
                (void) pthread_join(w->thread, NULL);
        }
        pthread_cond_destroy(&w->caller_cond);
        pthread_cond_destroy(&w->thread_cond);
        pthread_mutex_destroy(&w->lock);
        for (unsigned i = 0; i < SLOTS; i++)
                free(w->slots[i].data);
        sha256_free(w->sha256);
        free(w);
        return NULL;
}

DEFINE_POINTER_CLEANUP(FileWriter, file_writer_free, file_writer_freep);

int file_writer_new(int fd, uint64_t offset, Sha256 *sha256, FileWriter **ret) {
        _cleanup_(file_writer_freep) FileWriter *w = NULL;
        int r;

        assert(fd >= 0);
        assert(sha256);
        assert(ret);

        w = calloc(1, sizeof(FileWriter));
        if (!w) {
                sha256_free(sha256);
                return -ENOMEM;
        }
        w->fd = fd;
        w->offset = offset;
        w->sha256 = sha256;
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->thread_cond, NULL);
        pthread_cond_init(&w->caller_cond, NULL);

        for (unsigned i = 0; i < SLOTS; i++) {
                w->slots[i].data = malloc(SLOT_SIZE);
                if (!w->slots[i].data)
                        return -ENOMEM;
        }

        r = -pthread_create(&w->thread, NULL, file_writer_thread, w);
        if (r < 0)
                return r;
        w->started = true;

        *ret = TAKE_PTR(w);
        return 0;
}

/* Hands the slot being filled to the thread, and waits until the next one is free. */
static int file_writer_hand_over(FileWriter *w) {
        int r;

        pthread_mutex_lock(&w->lock);
        w->queued++;
        if (w->thread_waiting)
                pthread_cond_signal(&w->thread_cond);
        w->fill = (w->fill + 1) % SLOTS;
        while (w->queued == SLOTS && w->error >= 0) {
                w->caller_waiting = true;
                pthread_cond_wait(&w->caller_cond, &w->lock);
                w->caller_waiting = false;
        }
        r = w->failed = w->error;
        pthread_mutex_unlock(&w->lock);
        return r;
}

int file_writer_write(FileWriter *w, const void *p, size_t n) {
        const char *c = p;
        int r;

        assert(w);
        assert(p || n == 0);

        /* After an error the ring is left alone: the slot to fill may still be queued. */
        if (w->failed < 0)
                return w->failed;

        while (n > 0) {
                Slot *s = &w->slots[w->fill];
                size_t k = n < SLOT_SIZE - s->size ? n : SLOT_SIZE - s->size;

                memcpy(s->data + s->size, c, k);
                s->size += k;
                c += k;
                n -= k;
                if (s->size == SLOT_SIZE) {
                        r = file_writer_hand_over(w);
                        if (r < 0)
                                return r;
                }
        }

        /* Without taking the lock: an error shows at the next hand-over, or at the flush. */
        return 0;
}

int file_writer_flush(FileWriter *w) {
        int r;

        assert(w);

        if (w->failed < 0)
                return w->failed;

        pthread_mutex_lock(&w->lock);
        if (w->slots[w->fill].size > 0) {
                w->queued++;
                w->fill = (w->fill + 1) % SLOTS;
                if (w->thread_waiting)
                        pthread_cond_signal(&w->thread_cond);
        }
        while (w->queued > 0) {
                w->caller_waiting = true;
                pthread_cond_wait(&w->caller_cond, &w->lock);
                w->caller_waiting = false;
        }
        r = w->failed = w->error;
        pthread_mutex_unlock(&w->lock);
        return r;
}

int file_writer_reset(FileWriter *w) {
        Sha256 *fresh = NULL;
        int r;

        assert(w);

        r = file_writer_flush(w);
        if (r < 0)
                return r;
        r = sha256_new(&fresh);
        if (r < 0)
                return r;

        /* Nothing queued: the thread waits, and w->offset and w->sha256 are ours. The mutex makes
         * the thread see them when it takes the next slot. */
        pthread_mutex_lock(&w->lock);
        sha256_free(w->sha256);
        w->sha256 = fresh;
        w->offset = 0;
        pthread_mutex_unlock(&w->lock);
        return 0;
}

int file_writer_finish(FileWriter *w, char ret_hex[static SHA256_HEX_SIZE], uint64_t *ret_size) {
        int r;

        assert(w);

        r = file_writer_flush(w);
        if (r < 0)
                return r;
        /* As in file_writer_reset(), the thread is idle. */
        pthread_mutex_lock(&w->lock);
        r = sha256_final_hex(w->sha256, ret_hex);
        if (r >= 0 && ret_size)
                *ret_size = w->offset;
        pthread_mutex_unlock(&w->lock);
        return r;
}
