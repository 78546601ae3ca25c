/* SPDX-License-Identifier: MIT */
/* The .d directories of the hooks: which files run, in which order, and what is refused (a
 * symbolic link, a FIFO, a file others may write or that is not the owner's, a directory others
 * may write), with the real file types on a real directory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "hooks.h"
#include "strv.h"
#include "tmpdir.h"

static char *make_dir(const char *name, mode_t mode) {
        char *d = path_join(tmpdir, name);
        assert_non_null(d);
        assert_int_equal(mkdir(d, 0700), 0);
        assert_int_equal(chmod(d, mode), 0);
        return d;
}

static void make_file(const char *dir, const char *name, mode_t mode) {
        _cleanup_free_ char *p = path_join(dir, name);
        assert_int_equal(write_file_atomic(p, "#!/bin/sh\n", 10, 0600), 0);
        assert_int_equal(chmod(p, mode), 0);
}

static void assert_refused(char **refused, const char *dir, const char *name, const char *why) {
        _cleanup_free_ char *want = strdup_printf("%s/%s: %s", dir, name, why);
        assert_non_null(want);
        if (!strv_contains(refused, want))
                fail_msg("'%s' not refused", want);
}

static void test_scan(void **state) {
        _cleanup_free_ char *dir = make_dir("pre-upgrade.d", 0755), *first = NULL, *second = NULL,
                            *link = NULL, *fifo = NULL;
        _cleanup_strv_free_ char **files = NULL, **refused = NULL;

        /* made out of order: run in lexical order */
        make_file(dir, "20-second", 0755);
        make_file(dir, "10-first", 0700 | S_IXOTH | S_IRGRP | S_IROTH);
        make_file(dir, "40-group-writable", 0775);
        make_file(dir, "45-other-writable", 0757);
        make_file(dir, "README", 0644);      /* not executable: not a hook */
        make_file(dir, ".hidden", 0755);     /* skipped */
        make_file(dir, "15-old~", 0755);     /* an editor's backup */
        make_file(dir, "16.dpkg-old", 0755); /* a package manager's */
        first = path_join(dir, "10-first");
        second = path_join(dir, "20-second");
        link = path_join(dir, "30-link");
        fifo = path_join(dir, "50-fifo");
        assert_int_equal(symlink(second, link), 0);
        assert_int_equal(mkfifo(fifo, 0755), 0);
        assert_int_equal(chmod(fifo, 0755), 0);
        if (getuid() == 0) {
                make_file(dir, "60-not-roots", 0755);
                _cleanup_free_ char *p = path_join(dir, "60-not-roots");
                assert_int_equal(chown(p, 65534, 65534), 0);
        }

        assert_int_equal(hooks_scan_dir(dir, getuid(), &files, &refused), 0);
        assert_int_equal(strv_length(files), 2);
        assert_string_equal(files[0], first);
        assert_string_equal(files[1], second);
        assert_refused(refused, dir, "30-link", "a symbolic link");
        assert_refused(refused, dir, "40-group-writable", "writable by group or others");
        assert_refused(refused, dir, "45-other-writable", "writable by group or others");
        assert_refused(refused, dir, "50-fifo", "a FIFO");
        if (getuid() == 0) {
                assert_refused(refused, dir, "60-not-roots", "not owned by root");
                assert_int_equal(strv_length(refused), 5);
        } else
                assert_int_equal(strv_length(refused), 4);
}

static void test_directory(void **state) {
        _cleanup_free_ char *open_dir = make_dir("verify.d", 0777), *missing = path_join(tmpdir, "none.d"),
                            *want = NULL;
        _cleanup_strv_free_ char **files = NULL, **refused = NULL;

        /* a directory others may write: nothing in it runs */
        make_file(open_dir, "10-check", 0755);
        assert_int_equal(hooks_scan_dir(open_dir, getuid(), &files, &refused), 0);
        assert_int_equal(strv_length(files), 0);
        want = strdup_printf("%s: the directory is writable by group or others", open_dir);
        assert_int_equal(strv_length(refused), 1);
        assert_string_equal(refused[0], want);
        files = strv_free(files);
        refused = strv_free(refused);

        /* of another owner */
        assert_int_equal(chmod(open_dir, 0755), 0);
        assert_int_equal(hooks_scan_dir(open_dir, getuid() + 1, &files, &refused), 0);
        assert_int_equal(strv_length(files), 0);
        assert_int_equal(strv_length(refused), 1);
        files = strv_free(files);
        refused = strv_free(refused);

        /* a link to a directory: refused, not followed */
        _cleanup_free_ char *link = path_join(tmpdir, "post-commit.d");
        assert_int_equal(symlink(open_dir, link), 0);
        assert_int_equal(hooks_scan_dir(link, getuid(), &files, &refused), 0);
        assert_int_equal(strv_length(files), 0);
        assert_int_equal(strv_length(refused), 1);
        files = strv_free(files);
        refused = strv_free(refused);

        /* in a directory others may write */
        _cleanup_free_ char *parent = make_dir("open", 0777), *sub = path_join(parent, "verify.d");
        assert_int_equal(mkdir(sub, 0755), 0);
        make_file(sub, "10-check", 0755);
        assert_int_equal(hooks_scan_dir(sub, getuid(), &files, &refused), 0);
        assert_int_equal(strv_length(files), 0);
        assert_int_equal(strv_length(refused), 1);
        assert_non_null(strstr(refused[0], "is writable by group or others"));
        files = strv_free(files);
        refused = strv_free(refused);

        /* none: no hooks, nothing refused */
        assert_int_equal(hooks_scan_dir(missing, getuid(), &files, &refused), 0);
        assert_non_null(files);
        assert_non_null(refused);
        assert_int_equal(strv_length(files), 0);
        assert_int_equal(strv_length(refused), 0);
}

static void test_type_names(void **state) {
        assert_string_equal(hook_type_to_string(HOOK_PRE_UPGRADE), "pre-upgrade");
        assert_string_equal(hook_type_to_string(HOOK_VERIFY), "verify");
        assert_string_equal(hook_type_to_string(HOOK_POST_COMMIT), "post-commit");
        assert_string_equal(hook_type_to_string(HOOK_POST_ROLLBACK), "post-rollback");
        assert_null(hook_type_to_string(_HOOK_TYPE_MAX));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_scan),
                cmocka_unit_test(test_directory),
                cmocka_unit_test(test_type_names),
        };
        return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
