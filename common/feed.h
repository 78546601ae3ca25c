/* SPDX-License-Identifier: MIT */
#pragma once

/* Metabase's release feed (version-info.json), its metabase.sha256 files and download URLs.
 *
 * The feed is hostile input: it decides what is downloaded and where it is written. So the parser
 * bounds everything (size, nesting, number of values, releases, string lengths), keeps only
 * releases whose version passes mb_version_parse() (in canonical form, so a version can go into a
 * path or a URL as is), and drops whatever it does not understand. Pure: no I/O, no logging. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "version.h"

#define FEED_SIZE_MAX (4U * 1024U * 1024U) /* bytes */
#define FEED_DEPTH_MAX 16                  /* nesting of objects and arrays */
/* json-c allocates up to ~750 bytes for a 3-byte "{}," and ~64 for a 2-byte "0,": 4 MiB of them
 * would take a gigabyte. Counted before json-c sees the input. */
#define FEED_CONTAINERS_MAX 16384U /* objects and arrays */
#define FEED_COMMAS_MAX 262144U    /* ~ values */
#define FEED_RELEASES_MAX 2000U    /* entries looked at; the rest is dropped and counted as rejected */
#define FEED_STRING_MAX 4096U      /* highlights and URLs; longer ones are dropped */
#define FEED_HIGHLIGHTS_MAX 50U    /* per release; the rest is dropped */

typedef struct Release {
        char *version; /* canonical: "v0.56.3", "v0.56.3.1" */
        MbVersion v;
        char *released;         /* "YYYY-MM-DD", NULL when absent or not a valid date */
        uint64_t released_usec; /* midnight UTC of 'released', 0 = unknown */
        bool patch;
        char **highlights;      /* never NULL; controls and invalid UTF-8 replaced by '?' */
        int rollout;            /* 0..100, -1 = absent or not an integer in 0..100 */
        char *announcement_url; /* an http(s) URL or NULL */
        bool beta;              /* from the feed's "beta" entry */
        bool latest;            /* the feed's "latest" entry: the release Metabase recommends */
} Release;

typedef struct Feed {
        Release *releases; /* newest first (mb_version_compare), no two with the same version */
        size_t n;
        size_t n_rejected;     /* entries dropped: bad version, not an object, over the limits */
        char *rejected_reason; /* the first reason, for people, or NULL: "'older'[3]: invalid
                                * version 'v0.56.4/../x'" (the feed's text sanitized and cut) */
} Feed;

/* Parses version-info.json: {"latest": R, "older": [R, ...], "beta": R, "nightly": R}. Metabase's
 * release tooling adds every new release to "older" first and promotes one later to "latest" (with
 * a "rollout"), so "older" may hold releases newer than "latest"; those keep latest = false.
 * "beta" is read only with include_beta (and marked beta), "nightly" never. An entry with the
 * same version as an earlier one is dropped silently (latest wins over older, older over beta).
 * Errors: -EFBIG over FEED_SIZE_MAX; -EBADMSG when the data is not JSON, too deep or too big, not
 * an object, or has no valid "latest"; -ENOMEM. For all but -ENOMEM, *ret_error (if ret_error is
 * non-NULL) gets a message for people: "the feed is not JSON: ...", "the feed has no 'latest'
 * release". */
int feed_parse(const char *data, size_t size, bool include_beta, Feed **ret, char **ret_error);
Feed *feed_free(Feed *f);

/* The "latest" entry (every parsed feed has one). */
const Release *feed_latest(const Feed *f);

/* The release with this version (any spelling mb_version_parse() accepts), or NULL. */
const Release *feed_find(const Feed *f, const char *version);

/* Parses a metabase.sha256 file: "HASH", "HASH  metabase.jar" or "HASH *metabase.jar" (the name
 * may carry a directory: ".../metabase.jar"), with an optional "\n" or "\r\n" at the end. The hash
 * is 64 hex digits in either case; ret_hex gets it in lowercase. -EBADMSG for anything else. */
int feed_checksum_parse(const char *data, size_t size, char ret_hex[static 65]);

/* "{base}/{version}/metabase.jar", or "{base}/enterprise/{version}/metabase.jar" for
 * EDITION_ENTERPRISE, with trailing slashes of base dropped and the version in canonical form.
 * NULL with errno EINVAL when the version is not valid or belongs to the other edition (v0.x is
 * OSS, v1.x enterprise) or base is empty; NULL with errno ENOMEM on OOM. */
char *feed_download_url(const char *downloads_base, Edition e, const char *version);
