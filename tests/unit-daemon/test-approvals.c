/* SPDX-License-Identifier: MIT */
/* approved.json through its one owner: an approval recorded is read back, once; a damaged file, a
 * symlink in its place or one past the size limit approves nothing (and the next approval writes
 * a good file); policy.approve decides whether a release waits at all. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "approvals.h"
#include "fileio.h"
#include "strv.h"
#include "tmpdir.h"

static const Initiator alice = {.kind = INITIATOR_MBCTL, .uid = 1001, .user = "alice"};

static char *state_dir(const char *name) {
        char *d = path_join(tmpdir, name);
        assert_non_null(d);
        assert_int_equal(mkdir(d, 0700), 0);
        return d;
}

static void write_raw(const char *dir, const char *text) {
        _cleanup_free_ char *path = path_join(dir, "approved.json");
        assert_int_equal(write_file_atomic(path, text, strlen(text), 0600), 0);
}

static void test_add_and_read_back(void **state) {
        _cleanup_free_ char *dir = state_dir("add"), *path = path_join(dir, "approved.json"), *text = NULL;
        struct stat st;

        assert_false(approvals_has(dir, "v0.57.1")); /* no file: nothing approved */
        assert_int_equal(approvals_add(dir, "v0.57.1", &alice), 0);
        assert_true(approvals_has(dir, "v0.57.1"));
        assert_false(approvals_has(dir, "v0.57.2"));
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        /* who approved is in the file */
        assert_int_equal(read_full_file(path, 1 << 20, &text, NULL), 0);
        assert_non_null(strstr(text, "\"alice\""));
        assert_non_null(strstr(text, "1001"));
        /* approved twice: one entry */
        assert_int_equal(approvals_add(dir, "v0.57.1", &alice), 0);
        free(text);
        assert_int_equal(read_full_file(path, 1 << 20, &text, NULL), 0);
        assert_null(strstr(strstr(text, "v0.57.1") + 1, "v0.57.1"));
        assert_int_equal(approvals_add(dir, "not-a-version", &alice), -EINVAL);
}

static void test_damaged_counts_as_none(void **state) {
        _cleanup_free_ char *dir = state_dir("damaged"), *path = path_join(dir, "approved.json");

        write_raw(dir, "{\"approved\":[{\"version\":\"v0.57.1\"}");
        assert_false(approvals_has(dir, "v0.57.1"));
        write_raw(dir, "{\"approved\":\"v0.57.1\"}");
        assert_false(approvals_has(dir, "v0.57.1"));
        /* the next approval writes a good file: only what it approves */
        assert_int_equal(approvals_add(dir, "v0.57.2", &alice), 0);
        assert_true(approvals_has(dir, "v0.57.2"));
        assert_false(approvals_has(dir, "v0.57.1"));

        /* a symlink in its place is not followed, even to a file that approves */
        _cleanup_free_ char *other = path_join(tmpdir, "elsewhere.json");
        const char *good = "{\"approved\":[{\"version\":\"v0.58.0\"}]}";
        assert_int_equal(write_file_atomic(other, good, strlen(good), 0600), 0);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(symlink(other, path), 0);
        assert_false(approvals_has(dir, "v0.58.0"));
        assert_int_equal(unlink(path), 0);

        /* past the size limit: not read */
        size_t n = 300 * 1024;
        char *big = malloc(n + 64);
        assert_non_null(big);
        strcpy(big, "{\"approved\":[{\"version\":\"v0.58.0\"}],\"pad\":\"");
        memset(big + strlen(big), 'x', n);
        strcpy(big + n, "\"}");
        write_raw(dir, big);
        free(big);
        assert_false(approvals_has(dir, "v0.58.0"));
}

static void test_policy_decides(void **state) {
        _cleanup_free_ char *dir = state_dir("policy");
        Config *c = config_new();
        char *hops[] = {(char *) "v0.57.1", (char *) "v0.58.0", NULL};

        assert_non_null(c);
        free(c->state_dir);
        c->state_dir = strdup(dir);
        c->policy.approve = false;
        assert_false(approvals_waiting(c, "v0.57.1"));
        assert_null(approvals_missing(c, hops));
        c->policy.approve = true;
        assert_true(approvals_waiting(c, "v0.57.1"));
        assert_string_equal(approvals_missing(c, hops), "v0.57.1");
        assert_int_equal(approvals_add(dir, "v0.57.1", &alice), 0);
        assert_false(approvals_waiting(c, "v0.57.1"));
        assert_string_equal(approvals_missing(c, hops), "v0.58.0");
        assert_int_equal(approvals_add(dir, "v0.58.0", &alice), 0);
        assert_null(approvals_missing(c, hops));
        config_free(c);
}

static void test_oldest_dropped(void **state) {
        _cleanup_free_ char *dir = state_dir("many");

        for (unsigned i = 0; i < APPROVALS_MAX + 1; i++) {
                _cleanup_free_ char *v = strdup_printf("v0.%u.0", 100 + i);
                assert_int_equal(approvals_add(dir, v, &alice), 0);
        }
        assert_false(approvals_has(dir, "v0.100.0"));
        assert_true(approvals_has(dir, "v0.101.0"));
        assert_true(approvals_has(dir, "v0.164.0"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_add_and_read_back),
                cmocka_unit_test(test_damaged_counts_as_none),
                cmocka_unit_test(test_policy_decides),
                cmocka_unit_test(test_oldest_dropped),
        };
        return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
