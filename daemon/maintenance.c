/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "maintenance.h"
#include "strv.h"

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
        /* 0755 (also under the daemon's UMask=0077): nginx (www-data) must see the file; what it
         * says is no secret. */
        r = mkdir_parents_and_self_exact(dir, 0755);
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
