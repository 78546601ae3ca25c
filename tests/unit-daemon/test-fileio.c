/* SPDX-License-Identifier: MIT */
/* Crash-safe file operations: atomic writes and copies leave either the old or the new content,
 * hash what they copy, keep owner and mode, and leave no temporary files behind. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "strv.h"
#include "tmpdir.h"

static size_t count_entries(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *e;
        size_t n = 0;

        assert_non_null(d);
        while ((e = readdir(d)))
                if (e->d_name[0] != '.' || (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")))
                        n++;
        closedir(d);
        return n;
}

static void test_write_atomic(void **state) {
        _cleanup_free_ char *d = path_join(tmpdir, "w"), *p = NULL, *text = NULL;
        struct stat st;
        size_t n;

        assert_int_equal(mkdir_parents_and_self(d, 0755), 0);
        p = path_join(d, "f.json");
        assert_int_equal(write_file_atomic(p, "one", 3, 0600), 0);
        assert_int_equal(write_file_atomic(p, "second", 6, 0640), 0);
        assert_int_equal(read_full_file(p, 100, &text, &n), 0);
        assert_string_equal(text, "second");
        assert_int_equal(n, 6);
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0640);
        assert_int_equal(count_entries(d), 1); /* no temporary files left */
        free(text);
        text = NULL;
        assert_int_equal(read_full_file(p, 3, &text, &n), -EFBIG);
        assert_int_equal(read_full_file(d, 100, &text, &n), -EBADFD);
}

static void test_tail_lines(void **state) {
        _cleanup_free_ char *d = path_join(tmpdir, "t"), *p = NULL, *text = NULL;
        size_t n;

        assert_int_equal(mkdir_parents_and_self(d, 0755), 0);
        p = path_join(d, "log");
        assert_int_equal(write_file_atomic(p, "one\ntwo\nthree\n", 14, 0600), 0);
        /* all of it */
        assert_int_equal(read_file_tail_lines(p, 100, &text, &n), 0);
        assert_string_equal(text, "one\ntwo\nthree\n");
        assert_int_equal(n, 14);
        free(text);
        /* exactly the last two lines */
        assert_int_equal(read_file_tail_lines(p, 10, &text, &n), 0);
        assert_string_equal(text, "two\nthree\n");
        free(text);
        /* a cut inside "two": only whole lines */
        assert_int_equal(read_file_tail_lines(p, 8, &text, &n), 0);
        assert_string_equal(text, "three\n");
        free(text);
        /* a line longer than max: nothing */
        assert_int_equal(read_file_tail_lines(p, 4, &text, &n), 0);
        assert_string_equal(text, "");
        assert_int_equal(n, 0);
        free(text);
        text = NULL;
        assert_int_equal(read_file_tail_lines(d, 100, &text, &n), -EBADFD);
}

static void test_copy_hashes_and_keeps_mode(void **state) {
        _cleanup_free_ char *d = path_join(tmpdir, "c"), *src = NULL, *dst = NULL, *tmp = NULL;
        char sha[SHA256_HEX_SIZE];
        uint64_t size;
        struct stat st;
        FILE *f;

        assert_int_equal(mkdir_parents_and_self(d, 0755), 0);
        src = path_join(d, "src");
        dst = path_join(d, "dst");
        f = fopen(src, "we");
        assert_non_null(f);
        /* 5 MiB + 3: more than one read buffer */
        for (int i = 0; i < 5 * 1024 * 1024 + 3; i++)
                fputc('a' + i % 26, f);
        fclose(f);

        assert_int_equal(
                copy_file_atomic(
                        src,
                        dst,
                        &(CopyOptions){.mode = 0604, .uid = (uid_t) -1, .gid = (gid_t) -1},
                        sha,
                        &size,
                        NULL),
                0);
        assert_int_equal(size, 5 * 1024 * 1024 + 3);
        {
                char again[SHA256_HEX_SIZE];
                int fd = open(dst, O_RDONLY | O_CLOEXEC);
                assert_true(fd >= 0);
                assert_int_equal(sha256_fd(fd, again, NULL), 0);
                close(fd);
                assert_string_equal(sha, again);
        }
        assert_int_equal(stat(dst, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0604);

        /* no_replace leaves the copy at a temporary name for the caller to rename */
        assert_int_equal(
                copy_file_atomic(
                        src,
                        dst,
                        &(CopyOptions){.mode = 0600, .uid = (uid_t) -1, .gid = (gid_t) -1, .no_replace = true},
                        NULL,
                        NULL,
                        &tmp),
                0);
        assert_non_null(tmp);
        assert_int_equal(access(tmp, F_OK), 0);
        assert_int_equal(rename_and_sync(tmp, dst), 0);
        assert_int_equal(count_entries(d), 2);

        /* a directory or a missing file is refused, and leaves nothing behind */
        assert_true(
                copy_file_atomic(d, dst, &(CopyOptions){.mode = 0600, .uid = (uid_t) -1}, NULL, NULL, NULL) <
                0);
        assert_int_equal(
                copy_file_atomic(
                        "/nonexistent", dst, &(CopyOptions){.mode = 0600, .uid = (uid_t) -1}, NULL, NULL, NULL),
                -ENOENT);
        assert_int_equal(count_entries(d), 2);
}

static void test_mkdir_exact_mode(void **state) {
        _cleanup_free_ char *old = path_join(tmpdir, "m"), *p = path_join(tmpdir, "m/a/b");
        _cleanup_free_ char *a = path_join(tmpdir, "m/a");
        struct stat st;
        mode_t u;

        assert_int_equal(mkdir(old, 0700), 0);
        u = umask(0077);
        assert_int_equal(mkdir_parents_and_self_exact(p, 0755), 0);
        (void) umask(u);
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0755);
        assert_int_equal(stat(a, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0755);
        /* what was there keeps its mode */
        assert_int_equal(stat(old, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
        /* all there already: nothing changes */
        assert_int_equal(chmod(p, 0711), 0);
        assert_int_equal(mkdir_parents_and_self_exact(p, 0755), 0);
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0711);
}

static void test_disk_free_walks_up(void **state) {
        _cleanup_free_ char *p = path_join(tmpdir, "does/not/exist/yet");
        uint64_t free_bytes = 0, free2 = 0;
        dev_t dev, dev2;

        assert_int_equal(disk_free_bytes(p, &free_bytes, &dev), 0);
        assert_int_equal(disk_free_bytes(tmpdir, &free2, &dev2), 0);
        assert_true(free_bytes > 0);
        assert_true(dev == dev2);
}

static void test_paths(void **state) {
        _cleanup_free_ char *a = path_join("/a/", "/b"), *b = path_join("/a", "b"),
                            *c = path_dirname("/x/y/z.jar");
        assert_string_equal(a, "/a/b");
        assert_string_equal(b, "/a/b");
        assert_string_equal(c, "/x/y");
}

static void test_run_capture(void **state) {
        char *out = NULL;
        int status = -1;

        /* stdout and stderr, in order, and the exit status */
        assert_int_equal(
                run_capture(
                        STRV_MAKE("/bin/sh", "-c", "printf out; printf err >&2; exit 3"), 100, &out, &status),
                0);
        assert_string_equal(out, "outerr");
        assert_int_equal(status, 3);
        free(out);

        /* more than max: the first max bytes, and the child is not left blocked on a full pipe */
        assert_int_equal(
                run_capture(
                        STRV_MAKE("/bin/sh", "-c", "head -c 1000000 /dev/zero | tr '\\0' x"), 10, &out, &status),
                0);
        assert_string_equal(out, "xxxxxxxxxx");
        assert_int_equal(status, 0);
        free(out);

        /* stdin is /dev/null: cat ends at once */
        assert_int_equal(run_capture(STRV_MAKE("/bin/cat"), 100, &out, &status), 0);
        assert_string_equal(out, "");
        assert_int_equal(status, 0);
        free(out);

        /* not there: an error, not a status; killed: 128 + the signal */
        assert_int_equal(run_capture(STRV_MAKE("/nonexistent/tool"), 100, &out, &status), -ENOENT);
        assert_int_equal(run_capture(STRV_MAKE("/bin/sh", "-c", "kill -TERM $$"), 100, &out, &status), 0);
        assert_int_equal(status, 128 + 15);
        free(out);
}

/* Files another user controls: a FIFO in their place never blocks (the open returns at once, with
 * no writer, and is refused), a symlink is never followed where others can write the directory
 * (nor with OPEN_REGULAR_NOFOLLOW anywhere), an owner other than the expected one is refused. */
static void test_open_regular_refuses(void **state) {
        _cleanup_free_ char *d = path_join(tmpdir, "hostile"), *file = NULL, *fifo = NULL, *link = NULL,
                            *to = NULL, *text = NULL;
        CopyOptions o = {.mode = 0600, .uid = (uid_t) -1, .gid = (gid_t) -1};
        struct stat st;
        size_t n;
        int fd;

        assert_int_equal(mkdir_parents_and_self(d, 0755), 0);
        /* a directory anyone can write, like a data directory the Metabase user owns */
        assert_int_equal(chmod(d, 01777), 0);
        assert_false(directory_is_trusted(d));
        file = path_join(d, "real");
        fifo = path_join(d, "fifo");
        link = path_join(d, "link");
        to = path_join(d, "copy");
        assert_int_equal(write_file_atomic(file, "secret\n", 7, 0600), 0);
        assert_int_equal(mkfifo(fifo, 0600), 0);
        assert_int_equal(symlink(file, link), 0);

        /* the FIFO: refused, not waited on (a blocking open would hang this test: no writer) */
        assert_int_equal(open_regular(fifo, 0, (uid_t) -1, NULL), -EBADFD);
        assert_int_equal(read_full_file(fifo, 100, &text, &n), -EBADFD);
        assert_int_equal(read_file_tail_lines(fifo, 100, &text, &n), -EBADFD);
        assert_int_equal(copy_file_atomic(fifo, to, &o, NULL, NULL, NULL), -EBADFD);
        assert_null(text);

        /* the link: not followed in a directory others write, nor with OPEN_REGULAR_NOFOLLOW */
        assert_int_equal(open_regular(link, 0, (uid_t) -1, NULL), -ELOOP);
        assert_int_equal(open_regular(link, OPEN_REGULAR_NOFOLLOW, (uid_t) -1, NULL), -ELOOP);
        assert_int_equal(read_full_file(link, 100, &text, &n), -ELOOP);
        assert_int_equal(copy_file_atomic(link, to, &o, NULL, NULL, NULL), -ELOOP);
        assert_int_equal(access(to, F_OK), -1); /* nothing made */

        /* the owner: checked on what was opened */
        fd = open_regular(file, 0, getuid(), &st);
        assert_true(fd >= 0);
        assert_true(S_ISREG(st.st_mode));
        close(fd);
        assert_int_equal(open_regular(file, 0, getuid() + 1, NULL), -EPERM);
        assert_int_equal(read_full_file_full(file, 100, 0, getuid() + 1, &text, &n), -EPERM);
        o.check_owner = true;
        o.owner = getuid() + 1;
        assert_int_equal(copy_file_atomic(file, to, &o, NULL, NULL, NULL), -EPERM);
        o.owner = getuid();
        assert_int_equal(copy_file_atomic(file, to, &o, NULL, NULL, NULL), 0);
        assert_int_equal(read_full_file_full(to, 100, OPEN_REGULAR_NOFOLLOW, getuid(), &text, &n), 0);
        assert_string_equal(text, "secret\n");

        /* a directory only root writes: a link root put there is followed (as root only) */
        if (getuid() == 0) {
                _cleanup_free_ char *t = path_join(tmpdir, "trusted"), *tl = NULL, *tt = NULL;
                assert_int_equal(mkdir_parents_and_self(t, 0755), 0);
                assert_int_equal(chmod(t, 0755), 0);
                assert_true(directory_is_trusted(t));
                tl = path_join(t, "link");
                assert_int_equal(symlink(file, tl), 0);
                assert_int_equal(read_full_file(tl, 100, &tt, &n), 0);
                assert_string_equal(tt, "secret\n");
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_write_atomic),
                cmocka_unit_test(test_tail_lines),
                cmocka_unit_test(test_copy_hashes_and_keeps_mode),
                cmocka_unit_test(test_mkdir_exact_mode),
                cmocka_unit_test(test_disk_free_walks_up),
                cmocka_unit_test(test_paths),
                cmocka_unit_test(test_run_capture),
                cmocka_unit_test(test_open_regular_refuses),
        };
        return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
