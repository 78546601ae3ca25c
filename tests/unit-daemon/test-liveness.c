/* SPDX-License-Identifier: MIT */
/* What moves while Metabase starts (daemon/liveness.c, unit-output.c, the /proc read in unit.c):
 * the H2 file, the output file and the CPU time move the clock of the last movement, and what does
 * not move (a FIFO or a link swapped in for a file, an idle process) does not; a FIFO never blocks.
 * The start-up limit follows a rehearsal's time (verify.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "liveness.h"
#include "macro.h"
#include "strv.h"
#include "tmpdir.h"
#include "unit-output.h"
#include "unit.h"
#include "verify.h"

#define SEC USEC_PER_SEC
#define T0 (1000 * SEC) /* a monotonic clock well past 0 */

static void append(const char *path, const char *text) {
        FILE *f = fopen(path, "ae");
        assert_non_null(f);
        fputs(text, f);
        assert_int_equal(fclose(f), 0);
}

static char *path_in(const char *name) {
        char *p = strdup_printf("%s/%s", tmpdir, name);
        assert_non_null(p);
        (void) unlink(p);
        return p;
}

static void test_recent_count(void **state) {
        uint64_t times[] = {T0, T0 + 30 * SEC, T0 + 70 * SEC, T0 + 100 * SEC}, counts[] = {5, 7, 9, 12};

        /* a minute back from T0+100s is T0+40s: the base is the sample at T0+30s (7) */
        assert_int_equal(liveness_recent_count(times, counts, 4, T0 + 100 * SEC), 5);
        /* all within the minute: from the first */
        assert_int_equal(liveness_recent_count(times, counts, 2, T0 + 40 * SEC), 2);
        assert_int_equal(liveness_recent_count(times, counts, 1, T0), 0);
        assert_int_equal(liveness_recent_count(times, counts, 0, T0), 0);
}

static void test_cpu_threshold(void **state) {
        /* 10% of a core over 2 s is 200 ms */
        assert_false(liveness_cpu_moving(200 * 1000 * 1000, 2 * SEC));
        assert_true(liveness_cpu_moving(201 * 1000 * 1000, 2 * SEC));
        assert_false(liveness_cpu_moving(0, 2 * SEC));
        assert_false(liveness_cpu_moving(1000, 0));
}

static void test_start_limit(void **state) {
        uint64_t h = 3600 * SEC;

        assert_int_equal(verify_start_limit(6 * h, 0), 6 * h);
        /* a 5 min rehearsal: 25 min, below the configured limit */
        assert_int_equal(verify_start_limit(6 * h, 300 * SEC), 6 * h);
        /* a 3 h rehearsal: 9 h 10 min */
        assert_int_equal(verify_start_limit(6 * h, 3 * h), 9 * h + 600 * SEC);
        assert_int_equal(verify_start_limit(30 * 60 * SEC, 3 * h), 9 * h + 600 * SEC);
        assert_int_equal(verify_start_limit(h, UINT64_MAX / 2), h);
}

static void test_h2_file(void **state) {
        _cleanup_free_ char *h2 = path_in("metabase.db.mv.db"), *d = NULL, *w = NULL;
        Liveness *l = NULL;

        append(h2, "H2 file");
        assert_int_equal(
                liveness_new(
                        NULL,
                        &(LivenessParams){.unit = "x.service", .h2_file = h2, .stall_timeout_usec = 4 * SEC},
                        &l),
                0);
        liveness_poll(l, T0);
        assert_int_equal(liveness_last_moved(l), 0);
        liveness_poll(l, T0 + 2 * SEC); /* unchanged */
        assert_int_equal(liveness_last_moved(l), 0);
        append(h2, " grows");
        liveness_poll(l, T0 + 3 * SEC);
        assert_int_equal(liveness_last_moved(l), T0 + 3 * SEC);
        d = liveness_describe(l, T0 + 4 * SEC);
        assert_non_null(strstr(d, "migrating: the H2 file is being written"));
        w = liveness_watched(l);
        assert_non_null(strstr(w, "the H2 file"));

        /* swapped for a FIFO by the file's owner: not opened, no move, no wait */
        assert_int_equal(unlink(h2), 0);
        assert_int_equal(mkfifo(h2, 0600), 0);
        liveness_poll(l, T0 + 5 * SEC);
        assert_int_equal(liveness_last_moved(l), T0 + 3 * SEC);
        liveness_free(l);
}

typedef struct Lines {
        char **lines;
} Lines;

static void on_line(const char *line, void *userdata) {
        Lines *s = userdata;
        assert_int_equal(strv_extend(&s->lines, line), 0);
}

static void test_output_file(void **state) {
        _cleanup_free_ char *log = path_in("metabase.log"), *target = path_in("elsewhere.log"), *d = NULL;
        UnitInfo info = {.std_output = (char *) "append", .cpu_usage_nsec = UINT64_MAX};
        Lines seen = {};
        Liveness *l = NULL;

        append(log, "before the start\n");
        info.std_output_file = log;
        assert_int_equal(
                liveness_new(
                        NULL,
                        &(LivenessParams){
                                .unit = "x.service",
                                .stall_timeout_usec = 4 * SEC,
                                .on_line = on_line,
                                .userdata = &seen},
                        &l),
                0);
        liveness_feed_unit(l, &info, T0);
        liveness_poll(l, T0); /* the file's size now is where following starts */
        assert_int_equal(liveness_last_moved(l), 0);
        append(log, "Running Database Migrations...\nSetting up Liquibase...\npartial");
        liveness_poll(l, T0 + 2 * SEC);
        assert_int_equal(liveness_last_moved(l), T0 + 2 * SEC);
        assert_int_equal(strv_length(seen.lines), 2);
        assert_string_equal(seen.lines[0], "Running Database Migrations...");
        assert_string_equal(seen.lines[1], "Setting up Liquibase...");
        append(log, " line\n");
        liveness_poll(l, T0 + 4 * SEC);
        assert_int_equal(strv_length(seen.lines), 3);
        assert_string_equal(seen.lines[2], "partial line");
        d = liveness_describe(l, T0 + 5 * SEC);
        assert_non_null(strstr(d, "starting: Metabase is writing its log (3 lines in the last minute)"));

        /* a link swapped in: never followed */
        append(target, "x\n");
        assert_int_equal(unlink(log), 0);
        assert_int_equal(symlink(target, log), 0);
        append(target, "more\n");
        liveness_poll(l, T0 + 6 * SEC);
        assert_int_equal(liveness_last_moved(l), T0 + 4 * SEC);
        /* a FIFO: not opened (a blocking open would hang this test) */
        assert_int_equal(unlink(log), 0);
        assert_int_equal(mkfifo(log, 0600), 0);
        liveness_poll(l, T0 + 8 * SEC);
        assert_int_equal(liveness_last_moved(l), T0 + 4 * SEC);
        assert_int_equal(strv_length(seen.lines), 3);
        free(d);
        d = liveness_describe(l, T0 + 30 * SEC);
        assert_string_equal(d, "nothing moved for 26s");
        liveness_free(l);
        strv_free(seen.lines);
}

static void test_cpu(void **state) {
        UnitInfo info = {.cpu_usage_nsec = 0};
        _cleanup_free_ char *d = NULL, *w = NULL;
        Liveness *l = NULL;
        uint64_t cpu = 0;

        assert_int_equal(
                liveness_new(NULL, &(LivenessParams){.unit = "x.service", .stall_timeout_usec = 4 * SEC}, &l),
                0);
        liveness_feed_unit(l, &info, T0);
        info.cpu_usage_nsec = 500 * 1000 * 1000; /* half a second in 1 s: not measured yet */
        liveness_feed_unit(l, &info, T0 + SEC);
        assert_int_equal(liveness_last_moved(l), 0);
        info.cpu_usage_nsec = 1000 * 1000 * 1000; /* a second in 2 s */
        liveness_feed_unit(l, &info, T0 + 2 * SEC);
        assert_int_equal(liveness_last_moved(l), T0 + 2 * SEC);
        d = liveness_describe(l, T0 + 2 * SEC);
        assert_string_equal(d, "starting: CPU moving (50% of a core)");
        assert_int_not_equal(liveness_moving_mask(l, T0 + 2 * SEC), 0);
        /* idle: 10 ms in 2 s */
        info.cpu_usage_nsec += 10 * 1000 * 1000;
        liveness_feed_unit(l, &info, T0 + 4 * SEC);
        assert_int_equal(liveness_last_moved(l), T0 + 2 * SEC);
        free(d);
        d = liveness_describe(l, T0 + 4 * SEC); /* moved 2 s ago, idle now */
        assert_string_equal(d, "nothing moved for 2s");
        assert_int_equal(liveness_moving_mask(l, T0 + 4 * SEC), 0);
        w = liveness_watched(l);
        assert_non_null(strstr(w, "the unit's CPU time (CPUUsageNSec)"));
        liveness_free(l);

        /* no accounting: this process's own figures in /proc */
        assert_int_equal(unit_cpu_nsec_from_proc(NULL, (uint32_t) getpid(), &cpu), 0);
        assert_int_equal(unit_cpu_nsec_from_proc("/no/such.service", (uint32_t) getpid(), &cpu), 0);
        assert_int_equal(unit_cpu_nsec_from_proc(NULL, 0, &cpu), -ESRCH);
}

/* systemd 252 does not say where StandardOutput=append: goes: the main process's stdout does. */
static void test_output_file_of_pid(void **state) {
        _cleanup_free_ char *log = path_in("stdout.log"), *got = NULL;
        UnitInfo info = {.std_output = (char *) "append"};
        int fd, status;
        pid_t pid;

        fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                (void) dup2(fd, STDOUT_FILENO);
                (void) pause();
                _exit(0);
        }
        (void) close(fd);
        info.main_pid = (uint32_t) pid;
        for (int i = 0; i < 200 && !got; i++) {
                got = unit_info_output_file(&info);
                if (got && !streq(got, log))
                        got = mfree_str(got); /* not yet dup2()ed */
                if (!got)
                        (void) usleep(10000);
        }
        assert_non_null(got);
        assert_string_equal(got, log);
        info.std_output = (char *) "journal";
        assert_null(unit_info_output_file(&info));
        (void) kill(pid, SIGKILL);
        (void) waitpid(pid, &status, 0);
}

static void test_output_journal_or_nothing(void **state) {
        UnitOutput *o = NULL;
        const char *src;

        assert_int_equal(unit_output_new("no-such-unit-mbup.service", NULL, NULL, &o), 0);
        assert_null(unit_output_source(o));
        assert_true(unit_output_poll(o, NULL) < 0);
        (void) unit_output_follow_journal(o, "/no/such.service");
        src = unit_output_source(o);
        /* with a journal: nothing new for a unit that does not exist; without: nothing to follow */
        if (src)
                assert_int_equal(unit_output_poll(o, NULL), 0);
        else
                assert_true(unit_output_poll(o, NULL) < 0);
        unit_output_free(o);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_recent_count),
                cmocka_unit_test(test_cpu_threshold),
                cmocka_unit_test(test_start_limit),
                cmocka_unit_test(test_h2_file),
                cmocka_unit_test(test_output_file),
                cmocka_unit_test(test_cpu),
                cmocka_unit_test(test_output_file_of_pid),
                cmocka_unit_test(test_output_journal_or_nothing),
        };
        return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
