/* SPDX-License-Identifier: MIT */
#pragma once

/* The application database server's version against the minimum a Metabase release supports.
 * Newer releases carry the minimums in the JAR, metabase/app_db/supported-db-versions.edn, an EDN
 * map read by src/metabase/app_db/setup.clj (load-supported-db-versions):
 *   {:h2 {:major 2 :minor 1 :patch 214} :postgres {:major 14 :minor 0 :patch 0}
 *    :mysql {:major 8 :minor 4 :patch 0} :mariadb {:major 10 :minor 6 :patch 0}}
 * Metabase compares [major minor patch] of the server (JDBC metadata) with that entry.
 * Pure: no I/O, no logging. */

#include <errno.h>
#include <stddef.h>

#define DB_VERSIONS_EDN_PATH "metabase/app_db/supported-db-versions.edn"
#define DB_VERSIONS_EDN_MAX (16U * 1024U)

typedef struct DbVersion {
        unsigned major, minor, patch;
} DbVersion;

/* The entry for 'db' ("postgres", "mysql", "mariadb", "h2") in the EDN text of n bytes. Only the
 * shape above is accepted (comments and commas as EDN allows; a missing :minor or :patch is 0):
 * -EBADMSG for anything else (duplicate keys included, as EDN has them), -EFBIG past
 * DB_VERSIONS_EDN_MAX, -ENOENT when the map has no entry for db. */
int db_versions_edn_lookup(const char *text, size_t n, const char *db, DbVersion *ret);

/* What mbupgraded-db's "server_version" says, for db_kind "postgres" (server_version_num:
 * 150018 is 15.18, 90624 is 9.6.24) or "mysql" (mysql_get_server_info(): "8.0.35",
 * "10.11.6-MariaDB-0+deb12u1", "5.5.5-10.3.39-MariaDB"). *ret_key is the EDN key Metabase
 * looks up ("postgres", "mysql" or "mariadb"), *ret_product "PostgreSQL", "MySQL" or "MariaDB".
 * -EBADMSG if it can't be read. */
int db_version_from_server(
        const char *db_kind,
        const char *server_version,
        DbVersion *ret,
        const char **ret_key,
        const char **ret_product);

int db_version_compare(const DbVersion *a, const DbVersion *b);
