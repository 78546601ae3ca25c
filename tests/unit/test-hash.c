/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "hash.h"
#include "macro.h"

/* FIPS 180-2 / NIST CSRC examples. */
#define SHA256_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA256_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA256_448 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
#define SHA256_MILLION_A "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
#define SHA256_QUICK_FOX "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592"

static void hash_string(const char *s, char hex[static SHA256_HEX_SIZE]) {
        Sha256 *h = NULL;

        assert_int_equal(sha256_new(&h), 0);
        assert_int_equal(sha256_update(h, s, strlen(s)), 0);
        assert_int_equal(sha256_final_hex(h, hex), 0);
        assert_null(sha256_free(h));
}

static void test_known_answers(void **state) {
        char hex[SHA256_HEX_SIZE];

        hash_string("", hex);
        assert_string_equal(hex, SHA256_EMPTY);
        hash_string("abc", hex);
        assert_string_equal(hex, SHA256_ABC);
        hash_string("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", hex);
        assert_string_equal(hex, SHA256_448);
        hash_string("The quick brown fox jumps over the lazy dog", hex);
        assert_string_equal(hex, SHA256_QUICK_FOX);
}

static void test_incremental(void **state) {
        char hex[SHA256_HEX_SIZE], chunk[1000];
        Sha256 *h = NULL;

        /* One million 'a', fed in odd-sized pieces, and an empty update. */
        memset(chunk, 'a', sizeof(chunk));
        assert_int_equal(sha256_new(&h), 0);
        assert_int_equal(sha256_update(h, NULL, 0), 0);
        for (size_t done = 0; done < 1000000;) {
                size_t n = done % 997 + 1;

                if (n > 1000000 - done)
                        n = 1000000 - done;
                assert_int_equal(sha256_update(h, chunk, n), 0);
                done += n;
        }
        assert_int_equal(sha256_final_hex(h, hex), 0);
        assert_string_equal(hex, SHA256_MILLION_A);

        /* Finished: no more updates, no second digest. */
        assert_int_equal(sha256_update(h, "x", 1), -ESTALE);
        assert_int_equal(sha256_final_hex(h, hex), -ESTALE);
        assert_null(sha256_free(h));
        assert_null(sha256_free(NULL));
}

static int make_file(const void *data, size_t n) {
        char path[] = "/tmp/test-hash-XXXXXX";
        int fd;

        fd = mkostemp(path, O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(unlink(path), 0);
        for (size_t done = 0; done < n;) {
                ssize_t k = write(fd, (const char *) data + done, n - done);
                assert_true(k > 0);
                done += (size_t) k;
        }
        return fd;
}

static void test_fd(void **state) {
        char hex[SHA256_HEX_SIZE];
        uint64_t size = 77;
        char *big;
        int fd;

        fd = make_file("abc", 3);
        /* The file offset is at the end: sha256_fd hashes from offset 0 anyway. */
        assert_int_equal(sha256_fd(fd, hex, &size), 0);
        assert_string_equal(hex, SHA256_ABC);
        assert_int_equal(size, 3);
        assert_int_equal(sha256_fd(fd, hex, NULL), 0);
        assert_string_equal(hex, SHA256_ABC);
        assert_int_equal(close(fd), 0);

        fd = make_file("", 0);
        assert_int_equal(sha256_fd(fd, hex, &size), 0);
        assert_string_equal(hex, SHA256_EMPTY);
        assert_int_equal(size, 0);
        assert_int_equal(close(fd), 0);

        /* Several buffers' worth, not a multiple of the buffer size. */
        big = malloc(1000000);
        assert_non_null(big);
        memset(big, 'a', 1000000);
        fd = make_file(big, 1000000);
        assert_int_equal(sha256_fd(fd, hex, &size), 0);
        assert_string_equal(hex, SHA256_MILLION_A);
        assert_int_equal(size, 1000000);
        assert_int_equal(close(fd), 0);

        free(big);

        /* Past the read buffer's size (1 MiB), not a multiple of it: the same digest as hashing
         * the bytes in memory. */
        big = malloc(3 * 1024 * 1024 + 1);
        assert_non_null(big);
        for (size_t i = 0; i < 3 * 1024 * 1024 + 1; i++)
                big[i] = (char) (i * 31 % 251);
        {
                char expected[SHA256_HEX_SIZE];
                Sha256 *h = NULL;

                assert_int_equal(sha256_new(&h), 0);
                assert_int_equal(sha256_update(h, big, 3 * 1024 * 1024 + 1), 0);
                assert_int_equal(sha256_final_hex(h, expected), 0);
                sha256_free(h);

                fd = make_file(big, 3 * 1024 * 1024 + 1);
                assert_int_equal(sha256_fd(fd, hex, &size), 0);
                assert_string_equal(hex, expected);
                assert_int_equal(size, 3 * 1024 * 1024 + 1);
                assert_int_equal(close(fd), 0);
        }
        free(big);
}

static void test_fd_pipe(void **state) {
        char hex[SHA256_HEX_SIZE];
        uint64_t size = 0;
        int p[2];

        /* A pipe can't be pread(): sha256_fd falls back to read(). */
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        assert_int_equal(write(p[1], "abc", 3), 3);
        assert_int_equal(close(p[1]), 0);
        assert_int_equal(sha256_fd(p[0], hex, &size), 0);
        assert_string_equal(hex, SHA256_ABC);
        assert_int_equal(size, 3);
        assert_int_equal(close(p[0]), 0);
}

static void test_fd_errors(void **state) {
        char hex[SHA256_HEX_SIZE] = "untouched";
        uint64_t size = 77;
        int fd;

        /* A directory can be opened but not read. */
        fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(sha256_fd(fd, hex, &size), -EISDIR);
        assert_string_equal(hex, "untouched");
        assert_int_equal(size, 77);
        assert_int_equal(close(fd), 0);
}

static void test_hex_is_valid(void **state) {
        assert_true(sha256_hex_is_valid(SHA256_ABC));
        assert_true(sha256_hex_is_valid("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
        assert_false(sha256_hex_is_valid(NULL));
        assert_false(sha256_hex_is_valid(""));
        /* 63 and 65 digits */
        assert_false(sha256_hex_is_valid("a7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
        assert_false(sha256_hex_is_valid(SHA256_ABC "0"));
        assert_false(sha256_hex_is_valid("ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
        assert_false(sha256_hex_is_valid(" a7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
        assert_false(sha256_hex_is_valid(SHA256_ABC "\n"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_known_answers),
                cmocka_unit_test(test_incremental),
                cmocka_unit_test(test_fd),
                cmocka_unit_test(test_fd_pipe),
                cmocka_unit_test(test_fd_errors),
                cmocka_unit_test(test_hex_is_valid),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
