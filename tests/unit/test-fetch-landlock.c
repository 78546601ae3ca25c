/* SPDX-License-Identifier: MIT */
/* The fetch helper's Landlock confinement (fetch/fetch.c, confine()), shown by the kernel: the
 * real helper binary (a -Dtest_hooks=true build), run as the daemon runs it (an unprivileged user,
 * --output-fd), with MBUP_TEST_FETCH_PROBE=DIR, tries once confined to create a file in DIR,
 * which that user may write (a control shows it can without the helper), and to read
 * /etc/shadow. Then the same on a "kernel without Landlock" (a seccomp filter answering ENOSYS
 * to landlock_create_ruleset, as an older kernel does): the helper says so and still downloads.
 *
 *   test-fetch-landlock HELPER
 *
 * Exit status 77 (skipped) on a kernel without Landlock: there is nothing to show. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "macro.h"
#include "strv.h"

#define NOBODY 65534

static const char *helper;
static char dir[] = "/tmp/mbup-landlock.XXXXXX";

/* As the daemon's child_spawn_opts(): another user (nobody, when we are root), no groups. */
static void drop_user(void) {
        if (geteuid() != 0)
                return;
        if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
            setresuid(NOBODY, NOBODY, NOBODY) < 0)
                _exit(126);
}

/* What a kernel without Landlock answers: ENOSYS to landlock_create_ruleset. */
static void no_landlock(void) {
        struct sock_filter f[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_landlock_create_ruleset, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = {.len = ELEMENTSOF(f), .filter = f};

        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
                _exit(125);
}

static char *read_all(int fd) {
        char *buf = NULL;
        size_t n = 0;

        for (;;) {
                char *p = realloc(buf, n + 4097);
                ssize_t k;

                assert_non_null(p);
                buf = p;
                k = read(fd, buf + n, 4096);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                n += (size_t) k;
        }
        buf[n] = '\0';
        return buf;
}

/* The helper fetching file://DIR/src into a descriptor, as the daemon runs it; its stdout, its
 * stderr, its exit status. */
static int run_helper(bool without_landlock, char **ret_out, char **ret_err) {
        _cleanup_free_ char *url = strdup_printf("file://%s/src", dir), *part = strdup_printf("%s.part", dir);
        int out[2], err[2], fd, status;
        pid_t pid;

        assert_non_null(url);
        assert_non_null(part);
        fd = open(part, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(pipe2(out, O_CLOEXEC), 0);
        assert_int_equal(pipe2(err, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                /* dup2() onto itself would keep close-on-exec */
                if (dup2(out[1], STDOUT_FILENO) < 0 || dup2(err[1], STDERR_FILENO) < 0 ||
                    (fd == 3 ? fcntl(fd, F_SETFD, 0) : dup2(fd, 3)) < 0)
                        _exit(127);
                if (without_landlock)
                        no_landlock();
                drop_user();
                setenv("MBUP_TEST_FETCH_PROBE", dir, 1);
                execl(helper, helper, "--url", url, "--output-fd", "3", "--no-fsync", (char *) NULL);
                _exit(127);
        }
        (void) close(out[1]);
        (void) close(err[1]);
        *ret_out = read_all(out[0]);
        *ret_err = read_all(err[0]);
        (void) close(out[0]);
        (void) close(err[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        printf("# %s:\n%s%s", without_landlock ? "without Landlock" : "confined", *ret_out, *ret_err);
        /* what it wrote, through the descriptor Landlock leaves it */
        {
                char got[16] = {};
                assert_int_equal(pread(fd, got, sizeof(got) - 1, 0), 6);
                assert_string_equal(got, "hello\n");
        }
        (void) close(fd);
        (void) unlink(part);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The control: the helper's user can create a file in dir without the helper. */
static void test_user_can_write_dir(void **state) {
        _cleanup_free_ char *path = strdup_printf("%s/control", dir);
        int status;
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0) {
                int fd;
                drop_user();
                fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                _exit(fd >= 0 ? 0 : 1);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(unlink(path), 0);
}

static void test_confined(void **state) {
        _cleanup_free_ char *out = NULL, *err = NULL,
                            *create = strdup_printf("probe create %s/mbup-fetch-probe: EACCES", dir);

        assert_int_equal(run_helper(false, &out, &err), 0);
        assert_non_null(strstr(out, "done 6 5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"));
        assert_non_null(strstr(err, "probe landlock ABI "));
        /* Landlock's refusal: the user may write dir (the control above) */
        assert_non_null(strstr(err, create));
        /* the user switch's: root's file, not the fetch user's (Landlock leaves reading alone) */
        assert_true(
                strstr(err, "probe read /etc/shadow: EACCES") || strstr(err, "probe read /etc/shadow: EPERM"));
        assert_null(strstr(err, "not available"));
}

static void test_kernel_without_landlock(void **state) {
        _cleanup_free_ char *out = NULL, *err = NULL,
                            *create = strdup_printf("probe create %s/mbup-fetch-probe: ok", dir);

        assert_int_equal(run_helper(true, &out, &err), 0);
        assert_non_null(strstr(out, "done 6 "));
        assert_non_null(strstr(
                err, "mbupgraded-fetch: Landlock is not available on this kernel (Function not implemented)"));
        assert_non_null(strstr(err, "probe landlock none"));
        /* nothing but the user's own rights then: what the test above refused goes through */
        assert_non_null(strstr(err, create));
}

int main(int argc, char *argv[]) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_user_can_write_dir),
                cmocka_unit_test(test_confined),
                cmocka_unit_test(test_kernel_without_landlock),
        };
        _cleanup_free_ char *src = NULL;
        FILE *f;
        long abi;
        int r;

        if (argc != 2) {
                fprintf(stderr, "usage: %s HELPER\n", argv[0]);
                return 2;
        }
        helper = argv[1];
        abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
        if (abi < 1) {
                printf("SKIP: Landlock is not available on this kernel (%s; see /sys/kernel/security/lsm): the fetch "
                       "helper's confinement can't be shown here\n",
                       abi < 0 ? strerror(errno) : "ABI 0");
                return 77;
        }
        printf("# Landlock ABI %ld\n", abi);
        if (!mkdtemp(dir))
                return 1;
        src = strdup_printf("%s/src", dir);
        f = src ? fopen(src, "we") : NULL;
        if (!f || fputs("hello\n", f) < 0 || fclose(f) != 0)
                return 1;
        /* the helper's user owns dir (0755, like /tmp for it): only Landlock stands in its way */
        if (geteuid() == 0 && (chown(dir, NOBODY, NOBODY) < 0 || chown(src, NOBODY, NOBODY) < 0))
                return 1;
        (void) chmod(dir, 0755);
        (void) chmod(src, 0644);
        r = cmocka_run_group_tests(tests, NULL, NULL);
        (void) unlink(src);
        (void) rmdir(dir);
        return r;
}
