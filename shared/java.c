/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <limits.h>
#include <string.h>

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
        _cleanup_free_ char *out = NULL;
        int status, r;
        char *v;

        r = run_capture(STRV_MAKE((char *) java, "-version"), 4096, &out, &status);
        if (r < 0)
                return r;
        v = strstr(out, "version \"");
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
