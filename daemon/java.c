/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/wait.h>

#include "fileio.h"
#include "java.h"
#include "macro.h"
#include "strv.h"

int java_parse_version(const char *s, unsigned *ret) {
        unsigned a = 0, b = 0;
        int n = 0;

        if (sscanf(s, "%u%n", &a, &n) != 1 || n == 0)
                return -EINVAL;
        if (a == 1 && s[n] == '.') {
                if (sscanf(s + n + 1, "%u", &b) != 1)
                        return -EINVAL;
                a = b;
        }
        if (a < 1 || a > 1000)
                return -EINVAL;
        *ret = a;
        return 0;
}

static int from_release_file(const char *java_real, unsigned *ret) {
        _cleanup_free_ char *bindir = path_dirname(java_real), *home = NULL, *release = NULL, *text = NULL;
        const char *p;
        char *q;

        if (!bindir)
                return -ENOMEM;
        home = path_dirname(bindir);
        if (!home)
                return -ENOMEM;
        release = path_join(home, "release");
        if (!release)
                return -ENOMEM;
        if (read_full_file(release, 64 * 1024, &text, NULL) < 0)
                return -ENOENT;
        p = strstr(text, "\nJAVA_VERSION=");
        if (!p && startswith(text, "JAVA_VERSION="))
                p = text - 1;
        if (!p)
                return -ENOENT;
        p += strlen("\nJAVA_VERSION=");
        if (*p == '"')
                p++;
        q = strpbrk(p, "\"\n");
        if (q)
                *q = '\0';
        return java_parse_version(p, ret);
}

static int from_java_version_output(const char *java, unsigned *ret) {
        int pipefd[2];
        char buf[4096];
        size_t n = 0;
        pid_t pid;
        int status;
        char *v;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return negative_errno();
        pid = fork();
        if (pid < 0) {
                (void) close(pipefd[0]);
                (void) close(pipefd[1]);
                return negative_errno();
        }
        if (pid == 0) {
                (void) dup2(pipefd[1], STDERR_FILENO);
                (void) dup2(pipefd[1], STDOUT_FILENO);
                execl(java, java, "-version", (char *) NULL);
                _exit(127);
        }
        (void) close(pipefd[1]);
        for (;;) {
                ssize_t k = read(pipefd[0], buf + n, sizeof(buf) - 1 - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                n += (size_t) k;
                if (n >= sizeof(buf) - 1)
                        break;
        }
        buf[n] = '\0';
        (void) close(pipefd[0]);
        (void) waitpid(pid, &status, 0);
        v = strstr(buf, "version \"");
        if (!v)
                return -ENOENT;
        return java_parse_version(v + strlen("version \""), ret);
}

int java_feature_version(const char *java_path, unsigned *ret, char **ret_error) {
        char real[PATH_MAX];
        int r;

        if (!java_path || java_path[0] != '/') {
                *ret_error = strdup_printf(
                        "ExecStart does not name Java by an absolute path (%s)", strempty(java_path));
                return -EINVAL;
        }
        if (!realpath(java_path, real)) {
                r = negative_errno();
                *ret_error = strdup_printf("cannot resolve %s: %s", java_path, strerror(-r));
                return r;
        }
        if (from_release_file(real, ret) >= 0)
                return 0;
        /* Only where a JVM can start: under mbupgraded.service (MemoryDenyWriteExecute=yes) it
         * cannot, and the release file is what tells. */
        r = from_java_version_output(real, ret);
        if (r < 0)
                *ret_error = strdup_printf(
                        "cannot tell the Java version of %s: no JDK release file beside its bin/, and no version "
                        "from '%s -version' (which cannot run under mbupgraded.service's "
                        "MemoryDenyWriteExecute=yes)",
                        real,
                        real);
        return r;
}
