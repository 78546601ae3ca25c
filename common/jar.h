/* SPDX-License-Identifier: MIT */
#pragma once

/* Inspects a Metabase JAR with libzip, reading only the central directory and three small
 * entries: version.properties, META-INF/MANIFEST.MF and the main class's header. */

#include <stdbool.h>
#include <stdint.h>

#include "hash.h"
#include "version.h"

typedef enum JarInspectFlags {
        JAR_INSPECT_HASH = 1 << 0, /* also compute the SHA-256 of the whole file */
} JarInspectFlags;

typedef struct JarInfo {
        char *tag; /* version.properties "tag", validated with mb_version_parse() */
        MbVersion version;
        char *hash;           /* version.properties "hash", may be NULL */
        char *branch;         /* may be NULL */
        char *date;           /* may be NULL */
        char *main_class;     /* Main-Class of META-INF/MANIFEST.MF, e.g. "metabase.core" */
        unsigned class_major; /* class-file major version of the main class (65 = Java 21) */
        unsigned java_needed; /* class_major - 44 */
        uint64_t size;
        bool has_sha256;
        char sha256[SHA256_HEX_SIZE];
} JarInfo;

/* Opens a regular file (refuses anything else) and inspects it. On failure returns a negative
 * errno and, if ret_error is non-NULL, a sentence for a person that says what is wrong
 * ("not a ZIP archive", "no version.properties: this is not a Metabase JAR", ...).
 * -EBADMSG: the file is not a usable Metabase JAR; -EISDIR/-EBADFD: a directory/another
 * non-regular file (jar_inspect() opens with O_NONBLOCK, so a FIFO does not hang it); other
 * errors: I/O. jar_inspect_fd() leaves fd open and reads it from offset 0 whatever its position. */
int jar_inspect(const char *path, JarInspectFlags flags, JarInfo **ret, char **ret_error);
int jar_inspect_fd(int fd, JarInspectFlags flags, JarInfo **ret, char **ret_error);

JarInfo *jar_info_free(JarInfo *i);

/* Reads the entry 'name' (e.g. "metabase/app_db/supported-db-versions.edn") of the JAR at path
 * into a NUL-terminated buffer, inflating at most max + 1 bytes whatever the entry declares.
 * -ENOENT: no such entry; -EFBIG: larger than max; -EBADMSG: not a readable ZIP or entry. */
int jar_read_resource(const char *path, const char *name, size_t max, char **ret, size_t *ret_size);
