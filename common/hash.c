/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <fcntl.h>
/* The one-shot SHA-256 functions, not EVP: the same assembly (SHA extensions where the CPU has
 * them), without EVP's provider machinery, which keeps about 2 MB more of libcrypto resident in
 * the daemon after its first use (measured with bench/footprint.sh). */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>
#include <sys/stat.h>

#include "hash.h"
#include "macro.h"

/* Large enough that the per-call cost of read() and SHA256_Update() vanishes, small enough to
 * stay in the L2 cache between the copy out of the page cache and the hashing. */
#define SHA256_FD_BUFFER_SIZE (1024U * 1024U)

struct Sha256 {
        SHA256_CTX ctx;
        bool finished;
};

DEFINE_POINTER_CLEANUP(Sha256, sha256_free, sha256_freep);

int sha256_new(Sha256 **ret) {
        _cleanup_(sha256_freep) Sha256 *s = NULL;

        assert(ret);

        s = calloc(1, sizeof(Sha256));
        if (!s)
                return -ENOMEM;
        if (SHA256_Init(&s->ctx) != 1)
                return -EIO;

        *ret = TAKE_PTR(s);
        return 0;
}

int sha256_update(Sha256 *s, const void *p, size_t n) {
        assert(s);
        assert(p || n == 0);

        if (s->finished)
                return -ESTALE;
        if (n == 0)
                return 0;
        if (SHA256_Update(&s->ctx, p, n) != 1)
                return -EIO;
        return 0;
}

int sha256_final_hex(Sha256 *s, char ret_hex[static SHA256_HEX_SIZE]) {
        static const char hex[] = "0123456789abcdef";
        unsigned char md[SHA256_DIGEST_LENGTH];
        unsigned n = SHA256_DIGEST_LENGTH;

        assert(s);

        if (s->finished)
                return -ESTALE;
        s->finished = true;
        if (SHA256_Final(md, &s->ctx) != 1)
                return -EIO;

        for (unsigned i = 0; i < n; i++) {
                ret_hex[2 * i] = hex[md[i] >> 4];
                ret_hex[2 * i + 1] = hex[md[i] & 15];
        }
        ret_hex[2 * n] = '\0';
        return 0;
}

Sha256 *sha256_free(Sha256 *s) {
        if (!s)
                return NULL;
        explicit_bzero(&s->ctx, sizeof(s->ctx));
        free(s);
        return NULL;
}

int sha256_fd(int fd, char ret_hex[static SHA256_HEX_SIZE], uint64_t *ret_size) {
        _cleanup_(sha256_freep) Sha256 *s = NULL;
        _cleanup_free_ void *buf = NULL;
        char hex[SHA256_HEX_SIZE];
        bool use_pread = true;
        uint64_t size = 0;
        int r;

        assert(fd >= 0);

        r = sha256_new(&s);
        if (r < 0)
                return r;

        if (posix_memalign(&buf, 4096, SHA256_FD_BUFFER_SIZE) != 0)
                return -ENOMEM;

        /* Only a hint for the kernel's read-ahead; harmless if it fails (e.g. on a pipe). */
        (void) posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

        for (;;) {
                ssize_t n;

                if (use_pread) {
                        n = pread(fd, buf, SHA256_FD_BUFFER_SIZE, (off_t) size);
                        if (n < 0 && errno == ESPIPE && size == 0) {
                                /* A pipe or socket: hash what is left of the stream instead. */
                                use_pread = false;
                                continue;
                        }
                } else
                        n = read(fd, buf, SHA256_FD_BUFFER_SIZE);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        break;

                r = sha256_update(s, buf, (size_t) n);
                if (r < 0)
                        return r;
                size += (uint64_t) n;
        }

        r = sha256_final_hex(s, hex);
        if (r < 0)
                return r;

        memcpy(ret_hex, hex, SHA256_HEX_SIZE);
        if (ret_size)
                *ret_size = size;
        return 0;
}

int sha256_hex_is_valid(const char *s) {
        size_t i;

        if (!s)
                return false;
        for (i = 0; i < 64; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
                      (s[i] >= 'A' && s[i] <= 'F')))
                        return false;
        return s[i] == '\0';
}
