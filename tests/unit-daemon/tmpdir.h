/* SPDX-License-Identifier: MIT */
#pragma once

/* A scratch directory per test program: cmocka group setup and teardown. */

#include <stdlib.h>
#include <string.h>

#include "strv.h"

static char *tmpdir;

static inline int tmpdir_setup(void **state) {
        char t[] = "/tmp/mbup-unit-XXXXXX";
        tmpdir = mkdtemp(t) ? strdup(t) : NULL;
        return tmpdir ? 0 : -1;
}

static inline int tmpdir_teardown(void **state) {
        char *cmd = strdup_printf("rm -rf '%s'", tmpdir);
        int r = cmd ? system(cmd) : -1;
        free(cmd);
        free(tmpdir);
        return r == 0 ? 0 : -1;
}
