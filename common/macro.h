/* SPDX-License-Identifier: MIT */
#pragma once

/* Small helpers every module uses: cleanup attributes, TAKE_PTR, array sizes. */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_ __attribute__((noreturn))
#define _fallthrough_ __attribute__((fallthrough))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* Hand ownership of a pointer on: returns it and leaves NULL behind, so a cleanup attribute
 * does not free it. */
#define TAKE_PTR(p)                  \
        ({                           \
                typeof(p) _p_ = (p); \
                (p) = NULL;          \
                _p_;                 \
        })

#define TAKE_FD(fd)              \
        ({                       \
                int _fd_ = (fd); \
                (fd) = -EBADF;   \
                _fd_;            \
        })

/* Defines a cleanup helper 'name' calling 'func' on a non-NULL 'type *'. */
#define DEFINE_POINTER_CLEANUP(type, func, name) \
        static inline void name(type **p) {      \
                if (*p)                          \
                        func(*p);                \
        }

static inline char *mfree_str(char *p) {
        free(p);
        return NULL;
}

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                (void) close(*fd);
                errno = saved;
        }
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f) {
        if (*f)
                (void) fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

static inline void strv_freep(char ***l) {
        if (*l) {
                for (char **i = *l; *i; i++)
                        free(*i);
                free(*l);
        }
}
#define _cleanup_strv_free_ _cleanup_(strv_freep)

#define streq(a, b) (strcmp((a), (b)) == 0)
/* Frees *a and moves b into it, leaving b NULL. */
#define free_and_replace(a, b) \
        ({                     \
                free(a);       \
                (a) = (b);     \
                (b) = NULL;    \
                0;             \
        })
/* A NULL-terminated string array literal. */
#define STRV_MAKE(...) ((char *const[]){__VA_ARGS__, NULL})

/* Equal, where NULL equals only NULL. */
static inline bool streq_ptr(const char *a, const char *b) {
        return (a && b) ? streq(a, b) : a == b;
}
#define isempty(s) (!(s) || (s)[0] == '\0')
#define strempty(s) ((s) ?: "")

/* Returns a negative errno for a libc call that set errno, never 0 even if errno was 0. */
static inline int negative_errno(void) {
        return errno > 0 ? -errno : -EIO;
}

#define USEC_PER_SEC ((uint64_t) 1000000ULL)
#define USEC_PER_MSEC ((uint64_t) 1000ULL)
#define USEC_INFINITY ((uint64_t) UINT64_MAX)
