/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "file-writer.h"
#include "hash.h"
#include "macro.h"

#define SHA256_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static int make_file(void) {
        char path[] = "/tmp/test-file-writer-XXXXXX";
        int fd;

        fd = mkostemp(path, O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(unlink(path), 0);
        return fd;
}

static char *make_data(size_t n, unsigned seed) {
        char *p = malloc(n);

        assert_non_null(p);
        for (size_t i = 0; i < n; i++)
                p[i] = (char) (((i * 31 + seed) % 251) ^ (i >> 13));
        return p;
}

static void hash_data(const char *p, size_t n, char hex[static SHA256_HEX_SIZE]) {
        Sha256 *h = NULL;

        assert_int_equal(sha256_new(&h), 0);
        assert_int_equal(sha256_update(h, p, n), 0);
        assert_int_equal(sha256_final_hex(h, hex), 0);
        sha256_free(h);
}

static void assert_file_is(int fd, const char *p, size_t n) {
        struct stat st;
        char *got;

        assert_int_equal(fstat(fd, &st), 0);
        assert_int_equal(st.st_size, n);
        got = malloc(n + 1);
        assert_non_null(got);
        assert_int_equal(pread(fd, got, n + 1, 0), n);
        assert_memory_equal(got, p, n);
        free(got);
}

/* Writes p in pieces of odd sizes (as libcurl hands them over), now and then flushing. */
static void write_in_pieces(FileWriter *w, const char *p, size_t n, size_t max_piece, bool flushes) {
        for (size_t done = 0, i = 0; done < n; i++) {
                size_t k = (done * 7 + i * 4093) % max_piece + 1;

                if (k > n - done)
                        k = n - done;
                assert_int_equal(file_writer_write(w, p + done, k), 0);
                done += k;
                if (flushes && i % 97 == 0)
                        assert_int_equal(file_writer_flush(w), 0);
        }
}

static void check_stream(size_t n, size_t max_piece, bool flushes) {
        char expected[SHA256_HEX_SIZE], hex[SHA256_HEX_SIZE];
        FileWriter *w = NULL;
        Sha256 *h = NULL;
        uint64_t size = 0;
        char *data = make_data(n, 1);
        int fd = make_file();

        hash_data(data, n, expected);
        assert_int_equal(sha256_new(&h), 0);
        assert_int_equal(file_writer_new(fd, 0, h, &w), 0);
        write_in_pieces(w, data, n, max_piece, flushes);
        assert_int_equal(file_writer_finish(w, hex, &size), 0);
        assert_string_equal(hex, expected);
        assert_int_equal(size, n);
        assert_file_is(fd, data, n);

        assert_null(file_writer_free(w));
        assert_int_equal(close(fd), 0);
        free(data);
}

static void test_stream(void **state) {
        /* Around the ring more than once, pieces not aligned to anything. */
        check_stream(2 * FILE_WRITER_RING_SIZE + 12345, 70000, false);
        /* Pieces as libcurl's buffer (16 KiB), adding up to exactly the ring, twice: the last slot is
         * full and nothing is left to hand over at the end. */
        check_stream(2 * FILE_WRITER_RING_SIZE, 16384, false);
        /* Flushes in between, with a slot partly filled. */
        check_stream(FILE_WRITER_RING_SIZE + 999, 30000, true);
        /* Less than a slot; a single byte. */
        check_stream(1000, 100, false);
        check_stream(1, 1, false);
}

static void test_empty(void **state) {
        char hex[SHA256_HEX_SIZE];
        FileWriter *w = NULL;
        Sha256 *h = NULL;
        uint64_t size = 77;
        int fd = make_file();

        assert_int_equal(sha256_new(&h), 0);
        assert_int_equal(file_writer_new(fd, 0, h, &w), 0);
        assert_int_equal(file_writer_flush(w), 0);
        assert_int_equal(file_writer_write(w, NULL, 0), 0);
        assert_int_equal(file_writer_finish(w, hex, &size), 0);
        assert_string_equal(hex, SHA256_EMPTY);
        assert_int_equal(size, 0);
        assert_file_is(fd, "", 0);
        assert_null(file_writer_free(w));
        assert_null(file_writer_free(NULL));
        assert_int_equal(close(fd), 0);
}

static void test_after_prefix(void **state) {
        /* --resume: the file holds a prefix already, which the caller hashed. */
        size_t n = FILE_WRITER_RING_SIZE + 4321, prefix = 777777;
        char expected[SHA256_HEX_SIZE], hex[SHA256_HEX_SIZE];
        char *data = make_data(n, 2);
        FileWriter *w = NULL;
        Sha256 *h = NULL;
        uint64_t size = 0;
        int fd = make_file();

        hash_data(data, n, expected);
        assert_int_equal(pwrite(fd, data, prefix, 0), prefix);
        assert_int_equal(sha256_new(&h), 0);
        assert_int_equal(sha256_update(h, data, prefix), 0);

        assert_int_equal(file_writer_new(fd, prefix, h, &w), 0);
        write_in_pieces(w, data + prefix, n - prefix, 16384, false);
        assert_int_equal(file_writer_finish(w, hex, &size), 0);
        assert_string_equal(hex, expected);
        assert_int_equal(size, n);
        assert_file_is(fd, data, n);

        assert_null(file_writer_free(w));
        assert_int_equal(close(fd), 0);
        free(data);
}

static void test_reset(void **state) {
        /* A server that sends the whole file instead of the rest: forget what was written. */
        size_t n1 = 1024 * 1024 + 5, n2 = FILE_WRITER_RING_SIZE / 2 + 3;
        char expected[SHA256_HEX_SIZE], hex[SHA256_HEX_SIZE];
        char *d1 = make_data(n1, 3), *d2 = make_data(n2, 4);
        FileWriter *w = NULL;
        Sha256 *h = NULL;
        uint64_t size = 0;
        int fd = make_file();

        hash_data(d2, n2, expected);
        assert_int_equal(sha256_new(&h), 0);
        assert_int_equal(file_writer_new(fd, 0, h, &w), 0);
        /* Not flushed: the reset does it. */
        write_in_pieces(w, d1, n1, 16384, false);
        assert_int_equal(file_writer_reset(w), 0);
        assert_file_is(fd, d1, n1);
        assert_int_equal(ftruncate(fd, 0), 0);

        write_in_pieces(w, d2, n2, 16384, false);
        assert_int_equal(file_writer_finish(w, hex, &size), 0);
        assert_string_equal(hex, expected);
        assert_int_equal(size, n2);
        assert_file_is(fd, d2, n2);

        assert_null(file_writer_free(w));
        assert_int_equal(close(fd), 0);
        free(d1);
        free(d2);
}

static void test_write_error(void **state) {
        char hex[SHA256_HEX_SIZE] = "untouched";
        size_t n = 3 * FILE_WRITER_RING_SIZE;
        char *data = make_data(n, 5);
        FileWriter *w = NULL;
        Sha256 *h = NULL;
        uint64_t size = 77;
        int fd, r = 0;

        /* Not open for writing: every pwrite() fails, and the caller hears of it at the latest
         * when the ring has gone round once, and again on every call after. */
        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(sha256_new(&h), 0);
        assert_int_equal(file_writer_new(fd, 0, h, &w), 0);
        for (size_t done = 0; done < n && r == 0; done += 16384)
                r = file_writer_write(w, data + done, 16384);
        if (r == 0)
                r = file_writer_flush(w);
        assert_int_equal(r, -EBADF);
        assert_int_equal(file_writer_write(w, data, 1), -EBADF);
        assert_int_equal(file_writer_flush(w), -EBADF);
        assert_int_equal(file_writer_reset(w), -EBADF);
        assert_int_equal(file_writer_finish(w, hex, &size), -EBADF);
        assert_string_equal(hex, "untouched");
        assert_int_equal(size, 77);
        assert_null(file_writer_free(w));
        assert_int_equal(close(fd), 0);

        /* An error at the very end shows at the flush. */
        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(sha256_new(&h), 0);
        assert_int_equal(file_writer_new(fd, 0, h, &w), 0);
        assert_int_equal(file_writer_write(w, data, 10), 0);
        assert_int_equal(file_writer_flush(w), -EBADF);
        assert_null(file_writer_free(w));
        assert_int_equal(close(fd), 0);
        free(data);
}

static void test_free_without_finish(void **state) {
        /* A failed download: whatever is queued is dropped, the thread stops, nothing leaks. */
        size_t n = FILE_WRITER_RING_SIZE - 1;
        char *data = make_data(n, 6);
        FileWriter *w = NULL;
        Sha256 *h = NULL;
        int fd = make_file();

        assert_int_equal(sha256_new(&h), 0);
        assert_int_equal(file_writer_new(fd, 0, h, &w), 0);
        write_in_pieces(w, data, n, 16384, false);
        assert_null(file_writer_free(w));
        assert_int_equal(close(fd), 0);
        free(data);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_stream),
                cmocka_unit_test(test_empty),
                cmocka_unit_test(test_after_prefix),
                cmocka_unit_test(test_reset),
                cmocka_unit_test(test_write_error),
                cmocka_unit_test(test_free_without_finish),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
