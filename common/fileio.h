/* SPDX-License-Identifier: MIT */
#pragma once

/* Crash-safe file operations: everything that must survive a power loss is written to a
 * temporary name in the same directory, fsynced, renamed into place, and its directory fsynced. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "hash.h"

/* Writes data to path atomically with the given mode. */
int write_file_atomic(const char *path, const void *data, size_t size, mode_t mode);

/* write(2) until all n bytes are written; -errno. */
int write_all(int fd, const void *p, size_t n);

/* Whether only root can add, remove or rename entries in dir: root's and not writable by group
 * or others. */
bool directory_is_trusted(const char *dir);

/* Opens path for reading in a way another user who controls the file or its directory can't turn
 * against root: O_NONBLOCK (a FIFO in its place never blocks the open), O_NOFOLLOW unless the
 * directory holding it is trusted (directory_is_trusted()) or always with OPEN_REGULAR_NOFOLLOW
 * (-ELOOP on a symlink), then fstat() of what was opened: -EBADFD unless a regular file, -EPERM
 * unless owned by owner (when owner != (uid_t) -1). The descriptor, or -errno. */
typedef enum OpenRegularFlags {
        OPEN_REGULAR_NOFOLLOW = 1 << 0,
} OpenRegularFlags;
int open_regular(const char *path, OpenRegularFlags flags, uid_t owner, struct stat *ret_st);

/* Reads a whole (regular) file, at most max bytes (-EFBIG beyond), NUL-terminated; opened with
 * open_regular() (the _full variant with its flags and owner). */
int read_full_file(const char *path, size_t max, char **ret, size_t *ret_size);
int read_full_file_full(
        const char *path, size_t max, OpenRegularFlags flags, uid_t owner, char **ret, size_t *ret_size);
/* Reads fd to its end (a pipe too), at most max bytes (-EFBIG past that), NUL-terminated. */
int read_full_fd(int fd, size_t max, char **ret, size_t *ret_size);

/* The end of a (regular) text file: its last whole lines that fit in max bytes, NUL-terminated; the
 * whole file when it is smaller. For logs that only grow, like the history. */
int read_file_tail_lines(const char *path, size_t max, char **ret, size_t *ret_size);

/* fsyncs the directory that holds path. */
int fsync_parent_directory(const char *path);

/* mkdir -p with the mode for the directories it creates; each one it creates is fsynced in its
 * parent. */
int mkdir_parents_and_self(const char *path, mode_t mode);

/* The same, and each directory it creates gets exactly mode, whatever the umask (the daemon's
 * UMask=0077 would make a 0755 one 0700); directories that were there keep theirs. */
int mkdir_parents_and_self_exact(const char *path, mode_t mode);

/* Copies the regular file 'from' to 'to' through a temporary name beside 'to': copy, hash while
 * copying, fchown/fchmod to uid/gid/mode (uid == (uid_t)-1: keep), fsync, and then, unless
 * no_replace is set, rename over 'to' and fsync its directory. With no_replace the data stays at
 * ret_tmp_path (caller renames later), which must then be non-NULL. ret_sha256 may be NULL. */
typedef struct CopyOptions {
        mode_t mode;
        uid_t uid;
        gid_t gid;
        bool no_replace;
        bool check_owner; /* 'from' must be owned by owner (-EPERM otherwise) */
        uid_t owner;
} CopyOptions;
int copy_file_atomic(
        const char *from,
        const char *to,
        const CopyOptions *opts,
        char *ret_sha256 /* SHA256_HEX_SIZE or NULL */,
        uint64_t *ret_size,
        char **ret_tmp_path);

/* rename() then fsync of the target's directory. */
int rename_and_sync(const char *from, const char *to);

/* Free bytes for an unprivileged writer on the filesystem holding path (or its nearest existing
 * parent). ret_dev identifies the filesystem. */
int disk_free_bytes(const char *path, uint64_t *ret_bytes, dev_t *ret_dev);

/* dirname/basename that return new strings. */
char *path_dirname(const char *path);
char *path_join(const char *a, const char *b);

/* The one rule for the paths the daemon acts on and journals (operation.json): absolute, shorter
 * than PATH_MAX, printable, and canonical: no empty, "." or ".." component and no trailing '/'.
 * What enters (a caller's argument, the unit's paths) is made canonical first; what the journal
 * holds is checked with it both when written and when read back. */
bool path_is_canonical(const char *p);
/* An absolute path made canonical, lexically: empty and "." components dropped, ".." taking the
 * component before it away. Symbolic links are not resolved: the result's directory must be the
 * very directory the original names (same device and inode), else -ELOOP (a link before a ".."
 * makes them differ; neither is guessed). -EINVAL for a relative path or one ending in "." or
 * "..", -ENOENT (or another stat() error) when its directory is missing. */
int path_make_canonical(const char *p, char **ret);

/* Runs argv (argv[0] an absolute path), stdin /dev/null, stdout and stderr into one pipe; returns
 * the first max bytes it printed (the rest is read and dropped, so it never blocks on a full pipe)
 * and its exit status (128 + the signal when killed). -ENOENT or -EACCES when argv[0] can't be
 * run. Blocking: for mbctl and worker threads, never the daemon's event loop. */
int run_capture(char *const argv[], size_t max, char **ret_output, int *ret_status);

/* unlink() and, when it removed something, an fsync of the directory that held it: the removal
 * survives a power loss. -errno of the unlink (-ENOENT: there was nothing). */
int unlink_synced(const char *path);
