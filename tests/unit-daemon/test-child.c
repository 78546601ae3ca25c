/* SPDX-License-Identifier: MIT */
/* Helper processes watched from the event loop: lines arrive in order, the verdict is the last
 * line, exit codes and deaths by signal are told apart, and a killed helper calls nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <signal.h>
#include <string.h>

#include <unistd.h>

#include "child.h"
#include "fileio.h"
#include "macro.h"
#include "strv.h"

typedef struct Seen {
        sd_event *e;
        char **lines;
        int status;
        char *last;
        bool exited;
} Seen;

static void on_line(Child *c, const char *line, void *userdata) {
        Seen *s = userdata;
        assert_int_equal(strv_extend(&s->lines, line), 0);
}

static void on_exit_cb(Child *c, int status, const char *last_line, void *userdata) {
        Seen *s = userdata;
        s->status = status;
        s->last = strdup(last_line);
        s->exited = true;
        sd_event_exit(s->e, 0);
}

static void run(const char *script, Seen *s) {
        char *argv[] = {(char *) "/bin/sh", (char *) "-c", (char *) script, NULL};

        assert_int_equal(sd_event_new(&s->e), 0);
        assert_int_equal(child_spawn(s->e, argv, on_line, on_exit_cb, s, NULL), 0);
        assert_int_equal(sd_event_loop(s->e), 0);
        sd_event_unref(s->e);
}

static void seen_done(Seen *s) {
        strv_free(s->lines);
        free(s->last);
}

static void test_lines_and_verdict(void **state) {
        Seen s = {};

        run("echo 'progress 1 10'; printf 'progress 5 10\\ndone 10 abc'; exit 0", &s);
        assert_true(s.exited);
        assert_int_equal(s.status, 0);
        assert_int_equal(strv_length(s.lines), 3);
        assert_string_equal(s.lines[0], "progress 1 10");
        assert_string_equal(s.lines[2], "done 10 abc");
        assert_string_equal(s.last, "done 10 abc");
        seen_done(&s);
}

static void test_exit_status_and_signal(void **state) {
        Seen s = {}, t = {};

        run("echo 'error http 404'; exit 1", &s);
        assert_int_equal(s.status, 1);
        assert_string_equal(s.last, "error http 404");
        seen_done(&s);

        run("kill -KILL $$", &t);
        assert_int_equal(t.status, -(128 + SIGKILL));
        assert_string_equal(t.last, "");
        seen_done(&t);
}

static void test_missing_binary(void **state) {
        char *argv[] = {(char *) "/nonexistent/helper", NULL};
        sd_event *e = NULL;
        Seen s = {};

        assert_int_equal(sd_event_new(&e), 0);
        s.e = e;
        /* posix_spawn reports a failed exec as an error or as exit status 127 */
        int r = child_spawn(e, argv, on_line, on_exit_cb, &s, NULL);
        if (r >= 0) {
                assert_int_equal(sd_event_loop(e), 0);
                assert_int_equal(s.status, 127);
        } else
                assert_int_equal(r, -ENOENT);
        sd_event_unref(e);
        seen_done(&s);
}

static int on_timer(sd_event_source *src, uint64_t usec, void *userdata) {
        return sd_event_exit(sd_event_source_get_event(src), 0);
}

static void test_kill_calls_nothing(void **state) {
        char *argv[] = {(char *) "/bin/sleep", (char *) "30", NULL};
        Child *c = NULL;
        Seen s = {};

        assert_int_equal(sd_event_new(&s.e), 0);
        assert_int_equal(child_spawn(s.e, argv, on_line, on_exit_cb, &s, &c), 0);
        c = child_kill(c);
        assert_null(c);
        /* let the loop reap it */
        assert_int_equal(
                sd_event_add_time_relative(s.e, NULL, CLOCK_MONOTONIC, 300 * USEC_PER_MSEC, 0, on_timer, NULL),
                0);
        assert_int_equal(sd_event_loop(s.e), 0);
        assert_false(s.exited);
        sd_event_unref(s.e);
}

static void run_opts(const char *script, const ChildOptions *o, Seen *s) {
        char *argv[] = {(char *) "/bin/sh", (char *) "-c", (char *) script, NULL};

        assert_int_equal(sd_event_new(&s->e), 0);
        assert_int_equal(child_spawn_opts(s->e, argv, o, on_line, on_exit_cb, s, NULL), 0);
        assert_int_equal(sd_event_loop(s->e), 0);
        sd_event_unref(s->e);
}

static void destroy_count(void *userdata) {
        ((Seen *) userdata)->status += 1000;
}

/* The descriptor passed as fd 3 is the one file the child writes; stdin is the file named. */
static void test_pass_fd_and_stdin(void **state) {
        char path[] = "/tmp/test-child-XXXXXX", in[] = "/tmp/test-child-in-XXXXXX";
        _cleanup_free_ char *text = NULL;
        int fd = mkstemp(path), infd = mkstemp(in);
        Seen s = {};
        ChildOptions o = {.pass_fd = fd, .stdin_path = in};

        assert_true(fd >= 0 && infd >= 0);
        assert_int_equal(write(infd, "from stdin\n", 11), 11);
        close(infd);
        run_opts("read l; echo \"$l\" >&3; echo ok", &o, &s);
        assert_int_equal(s.status, 0);
        assert_string_equal(s.last, "ok");
        assert_int_equal(read_full_file(path, 1024, &text, NULL), 0);
        assert_string_equal(text, "from stdin\n");
        close(fd);
        unlink(path);
        unlink(in);
        seen_done(&s);
}

/* As root: the child runs as nobody with no groups and no_new_privs, and destroy() runs. */
static void test_drop(void **state) {
        Seen s = {};
        ChildOptions o = {.pass_fd = -EBADF, .drop = true, .destroy = destroy_count};

        if (geteuid() != 0)
                skip();
        assert_int_equal(child_lookup_user("nobody", &o.uid, &o.gid), 0);
        assert_int_equal(child_lookup_user("root", &o.uid, &o.gid), -EPERM);
        assert_int_equal(child_lookup_user("no-such-user-mbup", &o.uid, &o.gid), -ENXIO);
        assert_int_equal(child_lookup_user("nobody", &o.uid, &o.gid), 0);
        run_opts("echo $(id -u) $(id -g) $(id -G) $(grep NoNewPrivs /proc/self/status | cut -f2)", &o, &s);
        _cleanup_free_ char *want = strdup_printf("%u %u %u 1", o.uid, o.gid, o.gid);
        assert_string_equal(s.last, want);
        /* exit status 0, plus destroy() once */
        assert_int_equal(s.status, 1000);
        seen_done(&s);

        /* root is never a target */
        o.uid = 0;
        assert_int_equal(sd_event_new(&s.e), 0);
        assert_int_equal(
                child_spawn_opts(s.e, (char *[]){(char *) "/bin/true", NULL}, &o, NULL, on_exit_cb, &s, NULL),
                -EPERM);
        sd_event_unref(s.e);
}

int main(void) {
        sigset_t mask;

        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigprocmask(SIG_BLOCK, &mask, NULL);

        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_lines_and_verdict),
                cmocka_unit_test(test_exit_status_and_signal),
                cmocka_unit_test(test_missing_binary),
                cmocka_unit_test(test_kill_calls_nothing),
                cmocka_unit_test(test_pass_fd_and_stdin),
                cmocka_unit_test(test_drop),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
