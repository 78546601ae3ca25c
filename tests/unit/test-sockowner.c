/* SPDX-License-Identifier: MIT */
/* sockowner_check() against real listeners: one made by this process (in its own cgroup) counts
 * for this cgroup and for no other. */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "macro.h"
#include "sockowner.h"
#include "strv.h"

/* This process's cgroup2 path ("0::/x" in /proc/self/cgroup). */
static char *own_cgroup(void) {
        FILE *f = fopen("/proc/self/cgroup", "re");
        char line[4096];
        char *r = NULL;

        assert_non_null(f);
        while (fgets(line, sizeof(line), f))
                if (startswith(line, "0::")) {
                        line[strcspn(line, "\n")] = '\0';
                        r = strdup(line + 3);
                }
        fclose(f);
        assert_non_null(r);
        return r;
}

static char *made = NULL; /* a cgroup other_cgroup() made */

/* Another cgroup than ours: a directory of the cgroup2 tree's root other than our own path's
 * first component, or the root itself when we are not in it. NULL when there is none. */
static char *other_cgroup(const char *own) {
        const char *roots[] = {"/sys/fs/cgroup/unified", "/sys/fs/cgroup"};
        if (!streq(own, "/"))
                return strdup("/");
        for (size_t i = 0; i < ELEMENTSOF(roots); i++) {
                _cleanup_free_ char *probe = strdup_printf("%s/cgroup.procs", roots[i]);
                DIR *d;
                struct dirent *de;
                char *r = NULL;

                if (access(probe, F_OK) < 0 || !(d = opendir(roots[i])))
                        continue;
                while (!r && (de = readdir(d)))
                        if (de->d_type == DT_DIR && de->d_name[0] != '.') {
                                _cleanup_free_ char *cg = strdup_printf("/%s", de->d_name);
                                if (sockowner_cgroup_id(cg) != 0)
                                        r = TAKE_PTR(cg);
                        }
                closedir(d);
                if (r)
                        return r;
                /* none: make one (root), removed by the caller */
                _cleanup_free_ char *mine = strdup_printf("/test-sockowner-%d", (int) getpid());
                _cleanup_free_ char *dir = strdup_printf("%s%s", roots[i], mine);
                if (mkdir(dir, 0755) >= 0) {
                        made = TAKE_PTR(dir);
                        return TAKE_PTR(mine);
                }
        }
        return NULL;
}

static int listener(int family, uint16_t *port) {
        union {
                struct sockaddr sa;
                struct sockaddr_in in;
                struct sockaddr_in6 in6;
        } sa = {};
        socklen_t len = family == AF_INET ? sizeof(sa.in) : sizeof(sa.in6);
        int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        sa.sa.sa_family = (sa_family_t) family;
        if (family == AF_INET)
                sa.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(bind(fd, &sa.sa, len), 0);
        assert_int_equal(listen(fd, 4), 0);
        assert_int_equal(getsockname(fd, &sa.sa, &len), 0);
        *port = ntohs(family == AF_INET ? sa.in.sin_port : sa.in6.sin6_port);
        return fd;
}

static int connect_to(uint16_t port) {
        struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(port)};
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_true(fd >= 0);
        assert_int_equal(connect(fd, (struct sockaddr *) &in, sizeof(in)), 0);
        return fd;
}

static void check(int family) {
        _cleanup_free_ char *cg = own_cgroup(), *reason = NULL, *other = NULL;
        uint16_t port;
        int l, c, r;

        if (sockowner_cgroup_id(cg) == 0)
                skip(); /* no cgroup2 file system visible here */
        l = listener(family, &port);
        c = connect_to(port);
        r = sockowner_check(c, cg, &reason);
        if (r == -EOPNOTSUPP)
                skip(); /* a kernel without INET_DIAG_CGROUP_ID */
        assert_int_equal(r, 1);
        reason = mfree_str(reason);

        /* The same listener, judged for another cgroup: not that unit's. */
        other = other_cgroup(cg);
        if (!other) {
                close(c);
                close(l);
                skip(); /* no other cgroup, and none can be made here */
        }
        r = sockowner_check(c, other, &reason);
        assert_int_equal(r, 0);
        assert_non_null(reason);
        assert_non_null(strstr(reason, "is held by a listener that is not"));
        _cleanup_free_ char *uid = strdup_printf("uid %u,", (unsigned) getuid());
        assert_non_null(strstr(reason, uid));
        /* our own pid: the scan of /proc finds who holds it */
        _cleanup_free_ char *me = strdup_printf("pid %d,", (int) getpid());
        assert_non_null(strstr(reason, me));
        reason = mfree_str(reason);
        /* An unknown cgroup: cannot tell, never "owned". */
        r = sockowner_check(c, "/no/such/cgroup", &reason);
        assert_true(r < 0);
        if (made) {
                (void) rmdir(made);
                made = mfree_str(made);
        }
        close(c);
        close(l);
}

static void test_ipv4_listener(void **state) {
        check(AF_INET);
}

/* Java listens on [::]: a connection to 127.0.0.1 lands there. */
static void test_ipv6_wildcard_listener(void **state) {
        check(AF_INET6);
}

/* sockowner_port_held(), before a stop and a start: whose listener is on the port, with no
 * connection to it. */
static void test_port_held(void **state) {
        _cleanup_free_ char *cg = own_cgroup(), *reason = NULL, *me = strdup_printf("pid %d,", (int) getpid());
        uint16_t port;
        int l, r;

        if (sockowner_cgroup_id(cg) == 0)
                skip(); /* no cgroup2 file system visible here */
        l = listener(AF_INET, &port);
        /* the unit's own listener (ours): not held by another */
        r = sockowner_port_held("127.0.0.1", port, cg, &reason);
        if (r == -EOPNOTSUPP)
                skip();
        assert_int_equal(r, 0);
        assert_null(reason);
        /* the unit stopped (no cgroup): any listener is another's, named */
        assert_int_equal(sockowner_port_held("127.0.0.1", port, NULL, &reason), 1);
        assert_non_null(strstr(reason, "is held by a listener that is not the unit's"));
        assert_non_null(strstr(reason, me));
        reason = mfree_str(reason);
        assert_int_equal(sockowner_port_held("localhost", port, "", &reason), 1);
        reason = mfree_str(reason);
        /* a name it does not resolve: any listener on the port could be in the way */
        assert_int_equal(sockowner_port_held("metabase.example", port, NULL, &reason), 1);
        reason = mfree_str(reason);
        /* 127.0.0.1's listener takes no connection to ::1 */
        assert_int_equal(sockowner_port_held("::1", port, NULL, &reason), 0);
        close(l);
        /* gone: nothing holds it */
        assert_int_equal(sockowner_port_held("127.0.0.1", port, NULL, &reason), 0);
        assert_null(reason);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ipv4_listener),
                cmocka_unit_test(test_ipv6_wildcard_listener),
                cmocka_unit_test(test_port_held),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
