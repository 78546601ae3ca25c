/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "test-hook.h"

#if ENABLE_TEST_HOOKS
void test_hook_crash_point(const char *name) {
        const char *at = secure_getenv("MBUP_TEST_CRASH_AT"), *once = secure_getenv("MBUP_TEST_CRASH_ONCE");
        int fd;

        if (isempty(at) || !streq(at, name))
                return;
        if (!isempty(once)) {
                fd = open(once, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                if (fd < 0)
                        return; /* fired before */
                (void) fsync(fd);
                (void) close(fd);
        }
        log_notice("Test hook: crashing at %s", name);
        (void) raise(SIGKILL);
}
#endif
