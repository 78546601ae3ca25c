/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "dbserver.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "secrets.h"

static const char *const secret_file[_SECRET_USE_MAX] = {
        [SECRET_OPERATION] = "appdb.secret",
        [SECRET_DROP] = "appdb.drop",
        [SECRET_PROBE] = "appdb.probe",
};

char *secret_path(const char *state_dir, SecretUse use) {
        return path_join(state_dir, secret_file[use]);
}

int secret_write(const char *path, const AppDb *db) {
        _cleanup_free_ char *secret = dbserver_secret(db);
        int r;

        if (!secret)
                return -errno ?: -ENOMEM;
        r = dbserver_write_secret(path, secret);
        explicit_bzero(secret, strlen(secret));
        return r;
}

void secrets_clear_stale(const char *state_dir, bool operation_pending) {
        for (SecretUse u = 0; u < _SECRET_USE_MAX; u++) {
                if (u == SECRET_OPERATION && operation_pending)
                        continue;
                _cleanup_free_ char *p = secret_path(state_dir, u);
                if (p && unlink(p) >= 0)
                        log_info("Removed %s, left by a daemon that stopped while it was in use", p);
        }
}
