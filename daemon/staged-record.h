/* SPDX-License-Identifier: MIT */
#pragma once

/* verified.json in a staging directory (state_dir/staging/VERSION/): what staging verified of the
 * JAR beside it (its SHA-256 and size, the published checksum and the signature, with the key's
 * fingerprint) and what the scan of its classes found (the Java it needs). Staging writes it once
 * the JAR is verified; a stage is reused, and pre-flight skips the scan, only on a record that
 * matches. This module is the only code that opens it. */

#include <stdbool.h>
#include <stdint.h>

typedef struct StagedRecord {
        char *version;
        char *sha256;
        uint64_t size;
        unsigned java_needed, class_major, main_class_major;
        int64_t classes;
        char *newest_class;       /* NULL: none recorded */
        bool checksum;            /* a published metabase.sha256 was checked */
        char *checksum_sha256;    /* what it said; NULL without one */
        bool signature;           /* a detached signature was checked */
        char *signing_key_sha256; /* the key's fingerprint; NULL without a signature */
        uint64_t verified_usec;
        char **changesets; /* the JAR's Liquibase change set IDs (jar_read_changesets()), in order;
                            * NULL: not read (staged before, or the JAR has no readable changelog) */
} StagedRecord;

void staged_record_done(StagedRecord *s);

/* Writes DIR/verified.json atomically (0644: a rehearsal reads the stage as the unit's user). */
int staged_record_write(const char *dir, const StagedRecord *s);

/* -ENOENT when there is none, -EBADMSG when it is no JSON object. Missing strings are "" (the
 * optional ones NULL), missing numbers 0. */
int staged_record_read(const char *dir, StagedRecord *ret);

/* Removes it (and syncs the directory): the stage carries no verdict any more. */
int staged_record_remove(const char *dir);
