/* SPDX-License-Identifier: MIT */
#pragma once

/* Metabase's application database, as the unit's environment describes it: MB_DB_TYPE with
 * MB_DB_FILE (H2), MB_DB_CONNECTION_URI (postgres://, mysql://, or their jdbc: forms, with
 * user= and password= in the query), or MB_DB_HOST/PORT/DBNAME/USER/PASS. Or backup.app_db in
 * the config, a URI of the same kinds. The password is kept for connecting and never printed:
 * appdb_describe() leaves it out. Pure: no I/O, no logging. */

#include <errno.h>

typedef enum AppDbKind {
        APPDB_H2,
        APPDB_POSTGRES,
        APPDB_MYSQL,
        _APPDB_KIND_MAX,
        _APPDB_KIND_INVALID = -EINVAL,
} AppDbKind;

typedef struct AppDb {
        AppDbKind kind;
        char *h2_file; /* H2: the metabase.db.mv.db file, absolute */
        char *host;    /* PostgreSQL/MySQL */
        unsigned port;
        char *dbname;
        char *user;     /* may be NULL */
        char *password; /* may be NULL; never printed */
        char **options; /* other query parameters of the URI, "key=value" (sslmode=require, ...) */
} AppDb;

/* env: KEY=VALUE strings (Environment= then EnvironmentFile=, later ones win), NULL-terminated.
 * working_dir: the unit's WorkingDirectory, for a relative MB_DB_FILE ("/" when empty).
 * -EINVAL with a message in *ret_error for what can't be understood; -ENOMEM. */
int appdb_from_environment(char *const *env, const char *working_dir, AppDb **ret, char **ret_error);

/* backup.app_db: "postgres://user:pass@host:port/db?sslmode=require", "mysql://...", the jdbc:
 * forms, or "h2:/path/to/metabase.db" (with or without .mv.db). */
int appdb_from_string(const char *s, AppDb **ret, char **ret_error);

AppDb *appdb_free(AppDb *db);
static inline void appdb_freep(AppDb **p) {
        if (*p)
                appdb_free(*p);
}

/* For logs and status: "H2 /opt/metabase/metabase.db.mv.db", "PostgreSQL metabase@127.0.0.1:5432/metabase".
 * Never contains the password. */
char *appdb_describe(const AppDb *db);

/* A libpq connection string: "host='127.0.0.1' port='5432' dbname='metabase' user='metabase'",
 * values quoted and escaped as libpq wants, the password included only with with_password (for
 * a child's PGPASSFILE use without it). PostgreSQL only: NULL with errno EINVAL otherwise. */
char *appdb_libpq_conninfo(const AppDb *db, int with_password);

/* A line for a 0600 PGPASSFILE: "host:port:*:user:password" with ':' and '\' escaped (any
 * database of that server, for the role's own). */
char *appdb_pgpass_line(const AppDb *db);

/* A MySQL/MariaDB option file for a 0600 --defaults-extra-file: a [client] section with host,
 * port, user and password, values quoted and escaped. MySQL only: NULL with errno EINVAL otherwise. */
char *appdb_mysql_defaults(const AppDb *db);

const char *appdb_kind_to_string(AppDbKind k);   /* "h2", "postgres", "mysql" */
AppDbKind appdb_kind_from_string(const char *s); /* also "postgresql", "mariadb" */
