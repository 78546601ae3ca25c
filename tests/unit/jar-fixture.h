/* SPDX-License-Identifier: MIT */
#pragma once

/* Builds JAR (ZIP) files with libzip at test time, so that no binary fixtures are committed.
 * Used by test-jar and by the fuzz-jar seed generator. */

#include <stdbool.h>
#include <stddef.h>

typedef struct JarFixtureEntry {
        const char *name;
        const void *data; /* NULL: a directory entry */
        size_t size;
        bool store; /* no compression */
} JarFixtureEntry;

/* Writes a ZIP archive with the given entries to path (replacing it). Returns 0 or -errno. */
int jar_fixture_write(const char *path, const JarFixtureEntry *entries, size_t n);

/* A Metabase-like JAR: version.properties with 'tag' (omitted if NULL), a manifest naming
 * 'main_class' (omitted if NULL) and that class with the class-file version 'major' (65 = Java 21).
 * 'store' writes every entry uncompressed. */
int jar_fixture_write_metabase(
        const char *path, const char *tag, const char *main_class, unsigned major, bool store);

typedef struct JarFixtureClass {
        const char *name; /* the entry, e.g. "metabase/util__init.class" */
        unsigned major;   /* class-file major version */
} JarFixtureClass;

/* Like jar_fixture_write_metabase() (the main class at 'main_major'), plus the given classes:
 * a release as Metabase builds it, a gen-class main class at 49 and the rest at the Java it needs. */
int jar_fixture_write_release(
        const char *path,
        const char *tag,
        const char *main_class,
        unsigned main_major,
        const JarFixtureClass *classes,
        size_t n_classes,
        bool store);
