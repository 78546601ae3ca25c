/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "fileio.h"
#include "journal.h"
#include "log.h"
#include "macro.h"

#define JOURNAL_FILE "operation.json"
#define JOURNAL_UNREADABLE_FILE JOURNAL_FILE ".unreadable"

int journal_save(const char *state_dir, const Operation *op) {
        _cleanup_free_ char *path = path_join(state_dir, JOURNAL_FILE);

        if (!path)
                return -ENOMEM;
        return operation_save(op, path);
}

char *journal_unreadable_path(const char *state_dir) {
        return path_join(state_dir, JOURNAL_UNREADABLE_FILE);
}

int journal_load(const char *state_dir, Operation **ret, char **ret_unreadable, int *ret_error) {
        _cleanup_free_ char *path = path_join(state_dir, JOURNAL_FILE),
                            *bad = journal_unreadable_path(state_dir);
        Operation *op = NULL;
        int r;

        *ret = NULL;
        *ret_unreadable = NULL;
        *ret_error = 0;
        if (!path || !bad)
                return -ENOMEM;
        r = operation_load(path, &op);
        if (r == -ENOENT) {
                /* A damaged journal set aside by an earlier start, not cleared by a person yet. */
                if (access(bad, F_OK) >= 0) {
                        *ret_unreadable = TAKE_PTR(bad);
                        *ret_error = -EBADMSG;
                }
                return 0;
        }
        if (r < 0) {
                /* Kept for a person. When even the rename fails, the journal itself is what a
                 * person must look at. */
                log_error_errno(
                        r,
                        "The journal %s can't be read (%m); kept as %s. Check the service by hand.",
                        path,
                        bad);
                if (rename(path, bad) >= 0)
                        (void) fsync_parent_directory(bad);
                else
                        free_and_replace(bad, path);
                *ret_unreadable = TAKE_PTR(bad);
                *ret_error = r;
                return 0;
        }
        *ret = op;
        return 1;
}

void journal_remove(const char *state_dir) {
        _cleanup_free_ char *path = path_join(state_dir, JOURNAL_FILE);

        if (path && unlink(path) >= 0)
                (void) fsync_parent_directory(path);
}
