/* SPDX-License-Identifier: MIT */
#pragma once

/* Inspects a Metabase JAR with libzip: the central directory, version.properties,
 * META-INF/MANIFEST.MF, and the first 8 bytes of every class (the class-file version), which say
 * which Java the release needs. Metabase's Main-Class is a Clojure gen-class stub that is always
 * at class-file version 49 (Java 5), whatever the rest needs: the main class alone says nothing. */

#include <stdbool.h>
#include <stdint.h>

#include "hash.h"
#include "version.h"

typedef enum JarInspectFlags {
        JAR_INSPECT_HASH = 1 << 0,    /* also compute the SHA-256 of the whole file */
        JAR_INSPECT_NO_SCAN = 1 << 1, /* skip the class scan (its result was recorded before):
                                       * class_major is then the main class's alone */
} JarInspectFlags;

typedef struct JarInfo {
        char *tag; /* version.properties "tag", validated with mb_version_parse() */
        MbVersion version;
        char *hash;                /* version.properties "hash", may be NULL */
        char *branch;              /* may be NULL */
        char *date;                /* may be NULL */
        char *main_class;          /* Main-Class of META-INF/MANIFEST.MF, e.g. "metabase.core" */
        unsigned class_major;      /* highest class-file major among the classes (65 = Java 21), the
                                    * META-INF/versions/N/ copies of a multi-release JAR aside */
        unsigned java_needed;      /* class_major - 44 */
        char *newest_class;        /* an entry at class_major, for messages; NULL if not scanned */
        unsigned main_class_major; /* the main class's own (49 for a gen-class stub) */
        unsigned classes;          /* how many classes were scanned */
        bool scanned;
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

/* The Java Metabase says a release needs, by its number: 8 up to v0.43, 11 for v0.44-v0.52, 21
 * from v0.53 (v1.x enterprise releases alike). The class scan is what the JVM enforces; this is
 * the cross-check, and the answer when there is no scan. */
unsigned jar_java_for_version(const MbVersion *v);

/* --add-opens java.base/java.nio=ALL-UNNAMED: how Metabase says to run v0.53 and later. */
#define JAVA_ADD_OPENS_NIO "java.base/java.nio=ALL-UNNAMED"

/* Whether Metabase says to run this release with --add-opens java.base/java.nio=ALL-UNNAMED
 * (v0.53 and later, which need Java 21). */
bool jar_wants_add_opens(const MbVersion *v);
/* Whether a command line (ExecStart) has it, as "--add-opens X" or "--add-opens=X". */
bool java_argv_has_add_opens(char *const *argv);

/* How to get Java 'need' on this Debian, for a fix message. codename is /etc/os-release's
 * VERSION_CODENAME ("bookworm", "trixie"; NULL if unknown), arch dpkg's ("amd64"). Debian 12 has
 * OpenJDK 17 only: Java 21 comes from Eclipse Temurin's apt repository there. Returns the sentence
 * and the java binary that installs, or NULL on OOM. */
char *java_install_hint(unsigned need, const char *codename, const char *arch, char **ret_java);
/* The whole fix: install (as above, for this system) and point the unit's ExecStart at it. */
char *java_fix_message(unsigned need, const char *unit, const char *jar);

/* The Java a release needs: what its classes say (what the JVM enforces), or Metabase's table when
 * no class but the main class says anything (a gen-class stub at 49 says nothing). *ret_warning
 * (if wanted) is set to a sentence when the two disagree or the table had to be used, else NULL. */
unsigned jar_java_needed(const JarInfo *info, char **ret_warning);
/* Why a release needs Java 'need' (from jar_java_needed()), for a message: "its class X is at
 * class-file version 65; the main class Y is at 49". */
char *jar_java_reason(const JarInfo *info, unsigned need);

/* Liquibase's change sets, as Metabase carries them (docs/metabase.md): the master changelog
 * liquibase.yaml at the JAR's root, which includes every file under migrations/ ("includeAll",
 * sorted by name) or names files ("include: file:"); each YAML file lists "- changeSet:" mappings
 * with an "id:" (vNN.YYYY-MM-DDTHH:MM:SS since v49; the stand-in's vNN.NNN). */
#define JAR_CHANGELOG_MASTER "liquibase.yaml"
#define JAR_CHANGELOG_MAX (64U * 1024U * 1024U)

/* Appends the change set IDs of one YAML changelog to *ids, in order. -EBADMSG: a change set
 * without an id. */
int jar_changelog_parse_ids(const char *yaml, char ***ids);
/* Every change set ID of the JAR's changelog, in Liquibase's order. -ENOENT: no liquibase.yaml or
 * no change set; -EOPNOTSUPP: an included file that is not YAML; -EBADMSG: unreadable. */
int jar_read_changesets(const char *path, char ***ret_ids, char **ret_error);
