/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "maintenance.h"
#include "strv.h"

/* The flag's directory, and any parent made for it, 0755 whatever the daemon's UMask=0077 made
 * them: nginx (www-data) must see the file; what it says is no secret. Directories that were
 * there already keep their mode. */
static int make_flag_dir(const char *dir) {
        _cleanup_free_ char *p = strdup(dir);
        size_t first_new = SIZE_MAX, n;
        struct stat st;
        int r;

        if (!p)
                return -ENOMEM;
        n = strlen(p);
        for (size_t i = 1; i <= n && first_new == SIZE_MAX; i++) {
                if (p[i] != '/' && p[i] != '\0')
                        continue;
                p[i] = '\0';
                if (stat(p, &st) < 0 && errno == ENOENT)
                        first_new = i;
                p[i] = i < n ? '/' : '\0';
        }
        r = mkdir_parents_and_self(dir, 0755);
        if (r < 0 || first_new == SIZE_MAX)
                return r;
        for (size_t i = first_new; i <= n; i++) {
                if (p[i] != '/' && p[i] != '\0')
                        continue;
                p[i] = '\0';
                if (chmod(p, 0755) < 0)
                        return negative_errno();
                p[i] = i < n ? '/' : '\0';
        }
        return 0;
}

void maintenance_begin(Manager *m, const char *what) {
        const char *flag = m->config->maintenance_flag;
        _cleanup_free_ char *dir = NULL, *text = NULL;
        int r;

        if (isempty(flag))
                return;
        dir = path_dirname(flag);
        text = strdup_printf("%s\n", what);
        if (!dir || !text)
                return;
        r = make_flag_dir(dir);
        if (r >= 0)
                r = write_file_atomic(flag, text, strlen(text), 0644);
        if (r < 0)
                log_warning_errno(r, "Failed to create maintenance_flag %s, ignoring: %m", flag);
}

void maintenance_end(Manager *m) {
        const char *flag = m->config->maintenance_flag;

        if (isempty(flag))
                return;
        if (unlink(flag) < 0 && errno != ENOENT)
                log_warning_errno(-errno, "Failed to remove maintenance_flag %s, ignoring: %m", flag);
}
