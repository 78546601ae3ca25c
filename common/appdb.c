/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <string.h>

#include "appdb.h"
#include "fileio.h"
#include "macro.h"
#include "strv.h"

#define APPDB_VALUE_MAX 1024

static const char *const appdb_kind_table[_APPDB_KIND_MAX] = {
        [APPDB_H2] = "h2",
        [APPDB_POSTGRES] = "postgres",
        [APPDB_MYSQL] = "mysql",
};

const char *appdb_kind_to_string(AppDbKind k) {
        return k >= 0 && k < _APPDB_KIND_MAX ? appdb_kind_table[k] : NULL;
}

AppDbKind appdb_kind_from_string(const char *s) {
        if (s && streq(s, "postgresql"))
                return APPDB_POSTGRES;
        if (s && streq(s, "mariadb"))
                return APPDB_MYSQL;
        return (AppDbKind) string_table_lookup(appdb_kind_table, _APPDB_KIND_MAX, s);
}

AppDb *appdb_free(AppDb *db) {
        if (!db)
                return NULL;
        free(db->h2_file);
        free(db->host);
        free(db->dbname);
        free(db->user);
        if (db->password)
                explicit_bzero(db->password, strlen(db->password));
        free(db->password);
        strv_free(db->options);
        free(db);
        return NULL;
}

static unsigned default_port(AppDbKind k) {
        return k == APPDB_MYSQL ? 3306 : 5432;
}

static bool value_ok(const char *s) {
        if (!s || strlen(s) > APPDB_VALUE_MAX)
                return false;
        for (const char *c = s; *c; c++)
                if ((unsigned char) *c < ' ' || *c == 0x7f)
                        return false;
        return true;
}

static bool host_ok(const char *s) {
        if (isempty(s) || strlen(s) > 255)
                return false;
        for (const char *c = s; *c; c++)
                if (!isalnum((unsigned char) *c) && !strchr(".-_:[]", *c))
                        return false;
        return true;
}

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        c = (char) tolower((unsigned char) c);
        return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes n bytes of s; NULL on a bad escape or a NUL. */
static char *url_decode(const char *s, size_t n) {
        _cleanup_free_ char *d = malloc(n + 1);
        size_t k = 0;

        if (!d)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '%') {
                        int a, b;
                        if (i + 2 >= n)
                                return NULL;
                        a = hexval(s[i + 1]);
                        b = hexval(s[i + 2]);
                        if (a < 0 || b < 0 || (a == 0 && b == 0))
                                return NULL;
                        d[k++] = (char) (a * 16 + b);
                        i += 2;
                } else
                        d[k++] = s[i];
        }
        d[k] = '\0';
        return TAKE_PTR(d);
}

static int parse_port(const char *s, size_t n, unsigned *ret) {
        _cleanup_free_ char *c = strndup(s, n);
        unsigned p;

        if (!c)
                return -ENOMEM;
        if (safe_atou(c, &p) < 0 || p == 0 || p > 65535)
                return -EINVAL;
        *ret = p;
        return 0;
}

/* postgres://[user[:password]@]host[:port]/dbname[?k=v&...], the jdbc:postgresql: and mysql forms. */
static int parse_uri(const char *uri, AppDb *db, char **ret_error) {
        const char *p = uri, *auth_end, *host, *host_end, *path, *query;
        AppDbKind kind;

        if (startswith(p, "jdbc:"))
                p += strlen("jdbc:");
        if (startswith(p, "postgres://") || startswith(p, "postgresql://")) {
                kind = APPDB_POSTGRES;
                p = strstr(p, "://") + 3;
        } else if (startswith(p, "mysql://") || startswith(p, "mariadb://")) {
                kind = APPDB_MYSQL;
                p = strstr(p, "://") + 3;
        } else
                return set_error_message(
                        ret_error,
                        -EINVAL,
                        "the application database URI must start with postgres://, mysql:// or their jdbc: forms");
        if (db->kind != APPDB_H2 && db->kind != kind)
                return set_error_message(
                        ret_error,
                        -EINVAL,
                        "MB_DB_TYPE says %s but the connection URI is for %s",
                        appdb_kind_to_string(db->kind),
                        appdb_kind_to_string(kind));
        db->kind = kind;

        path = strchr(p, '/');
        if (!path)
                return set_error_message(ret_error, -EINVAL, "the application database URI names no database");
        auth_end = memchr(p, '@', (size_t) (path - p));
        if (auth_end) {
                const char *colon = memchr(p, ':', (size_t) (auth_end - p));
                free(db->user);
                db->user = url_decode(p, (size_t) ((colon ?: auth_end) - p));
                if (colon) {
                        free(db->password);
                        db->password = url_decode(colon + 1, (size_t) (auth_end - colon - 1));
                }
                if (!db->user || (colon && !db->password))
                        return set_error_message(
                                ret_error, -EINVAL, "the application database URI has a bad user or password");
                host = auth_end + 1;
        } else
                host = p;

        /* [v6]:port or host:port */
        if (host[0] == '[') {
                host_end = memchr(host, ']', (size_t) (path - host));
                if (!host_end)
                        return set_error_message(
                                ret_error, -EINVAL, "the application database URI has a bad host");
                host_end++;
        } else {
                host_end = memchr(host, ':', (size_t) (path - host));
                if (!host_end)
                        host_end = path;
        }
        free(db->host);
        db->host = strndup(host, (size_t) (host_end - host));
        if (!db->host)
                return -ENOMEM;
        if (!host_ok(db->host))
                return set_error_message(ret_error, -EINVAL, "the application database URI has a bad host");
        db->port = default_port(kind);
        if (host_end < path && *host_end == ':' &&
            parse_port(host_end + 1, (size_t) (path - host_end - 1), &db->port) < 0)
                return set_error_message(ret_error, -EINVAL, "the application database URI has a bad port");

        query = strchr(path, '?');
        free(db->dbname);
        db->dbname = url_decode(path + 1, query ? (size_t) (query - path - 1) : strlen(path + 1));
        if (!db->dbname || isempty(db->dbname) || strchr(db->dbname, '/'))
                return set_error_message(
                        ret_error, -EINVAL, "the application database URI names no valid database");

        for (const char *q = query ? query + 1 : NULL; q && *q;) {
                const char *amp = strchr(q, '&'), *end = amp ?: q + strlen(q),
                           *eq = memchr(q, '=', (size_t) (end - q));
                _cleanup_free_ char *key = NULL, *value = NULL;

                if (eq) {
                        key = url_decode(q, (size_t) (eq - q));
                        value = url_decode(eq + 1, (size_t) (end - eq - 1));
                        if (!key || !value || !value_ok(value))
                                return set_error_message(
                                        ret_error,
                                        -EINVAL,
                                        "the application database URI has a bad query parameter");
                        if (streq(key, "user"))
                                free(db->user), db->user = TAKE_PTR(value);
                        else if (streq(key, "password"))
                                free(db->password), db->password = TAKE_PTR(value);
                        else {
                                _cleanup_free_ char *kv = strdup_printf("%s=%s", key, value);
                                if (!kv || strv_extend(&db->options, kv) < 0)
                                        return -ENOMEM;
                        }
                }
                q = amp ? amp + 1 : NULL;
        }
        return 0;
}

static const char *env_get(char *const *env, const char *key) {
        size_t n = strlen(key);
        const char *v = NULL;

        for (char *const *e = env; e && *e; e++)
                if (strncmp(*e, key, n) == 0 && (*e)[n] == '=')
                        v = *e + n + 1;
        return v;
}

static int set_h2_file(AppDb *db, const char *file, const char *working_dir) {
        _cleanup_free_ char *base = NULL;

        if (isempty(file))
                file = "metabase.db";
        base = file[0] == '/' ? strdup(file) : path_join(!isempty(working_dir) ? working_dir : "/", file);
        if (!base)
                return -ENOMEM;
        /* MB_DB_FILE names the database without H2's suffix, but people also write the file name. */
        if (endswith(base, ".mv.db"))
                base[strlen(base) - strlen(".mv.db")] = '\0';
        free(db->h2_file);
        db->h2_file = strdup_printf("%s.mv.db", base);
        return db->h2_file ? 0 : -ENOMEM;
}

int appdb_from_environment(char *const *env, const char *working_dir, AppDb **ret, char **ret_error) {
        _cleanup_(appdb_freep) AppDb *db = NULL;
        const char *type = env_get(env, "MB_DB_TYPE"), *uri = env_get(env, "MB_DB_CONNECTION_URI"), *v;
        int r;

        db = calloc(1, sizeof(AppDb));
        if (!db)
                return -ENOMEM;
        db->kind = APPDB_H2;
        if (!isempty(type)) {
                db->kind = appdb_kind_from_string(type);
                if (db->kind < 0)
                        return set_error_message(
                                ret_error, -EINVAL, "MB_DB_TYPE=%.40s is not h2, postgres or mysql", type);
        }
        if (!isempty(uri)) {
                r = parse_uri(uri, db, ret_error);
                if (r < 0)
                        return r;
        } else if (db->kind != APPDB_H2) {
                const char *host = env_get(env, "MB_DB_HOST"), *port = env_get(env, "MB_DB_PORT"),
                           *dbname = env_get(env, "MB_DB_DBNAME");

                db->host = strdup(!isempty(host) ? host : "localhost");
                db->port = default_port(db->kind);
                if (!db->host)
                        return -ENOMEM;
                if (!host_ok(db->host))
                        return set_error_message(ret_error, -EINVAL, "MB_DB_HOST is not a valid host name");
                if (!isempty(port) && parse_port(port, strlen(port), &db->port) < 0)
                        return set_error_message(
                                ret_error, -EINVAL, "MB_DB_PORT=%.20s is not a port number", port);
                if (isempty(dbname) || !value_ok(dbname))
                        return set_error_message(
                                ret_error,
                                -EINVAL,
                                "MB_DB_DBNAME is not set: which database does Metabase use?");
                db->dbname = strdup(dbname);
                if (!db->dbname)
                        return -ENOMEM;
        }
        /* MB_DB_USER and MB_DB_PASS complete (or override) a URI, as Metabase does. */
        if (db->kind != APPDB_H2) {
                if ((v = env_get(env, "MB_DB_USER")) && !isempty(v) && free_and_strdup(&db->user, v) < 0)
                        return -ENOMEM;
                if ((v = env_get(env, "MB_DB_PASS")) && !isempty(v) && free_and_strdup(&db->password, v) < 0)
                        return -ENOMEM;
                if ((db->user && !value_ok(db->user)) || (db->password && !value_ok(db->password)))
                        return set_error_message(
                                ret_error, -EINVAL, "MB_DB_USER or MB_DB_PASS has control characters");
        } else {
                r = set_h2_file(db, env_get(env, "MB_DB_FILE"), working_dir);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(db);
        return 0;
}

int appdb_from_string(const char *s, AppDb **ret, char **ret_error) {
        _cleanup_(appdb_freep) AppDb *db = NULL;
        int r;

        if (isempty(s) || !value_ok(s))
                return set_error_message(
                        ret_error, -EINVAL, "backup.app_db is empty or has control characters");
        db = calloc(1, sizeof(AppDb));
        if (!db)
                return -ENOMEM;
        db->kind = APPDB_H2;
        if (startswith(s, "h2:")) {
                if (s[3] != '/')
                        return set_error_message(
                                ret_error, -EINVAL, "backup.app_db h2: needs an absolute path");
                r = set_h2_file(db, s + 3, "/");
        } else
                r = parse_uri(s, db, ret_error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(db);
        return 0;
}

char *appdb_describe(const AppDb *db) {
        const char *name = db->kind == APPDB_POSTGRES ? "PostgreSQL" : "MySQL";

        if (db->kind == APPDB_H2)
                return strdup_printf("H2 %s", db->h2_file);
        return strdup_printf(
                "%s %s%s%s:%u/%s", name, strempty(db->user), db->user ? "@" : "", db->host, db->port, db->dbname);
}

/* libpq: 'value' with \ and ' escaped. */
static int append_kv(char **s, const char *key, const char *value) {
        size_t n = strlen(value);
        _cleanup_free_ char *q = malloc(2 * n + 3);
        char *p, *joined;

        if (!q)
                return -ENOMEM;
        p = q;
        *p++ = '\'';
        for (const char *c = value; *c; c++) {
                if (*c == '\'' || *c == '\\')
                        *p++ = '\\';
                *p++ = *c;
        }
        *p++ = '\'';
        *p = '\0';
        joined = strdup_printf("%s%s%s=%s", strempty(*s), isempty(*s) ? "" : " ", key, q);
        if (!joined)
                return -ENOMEM;
        free(*s);
        *s = joined;
        return 0;
}

char *appdb_libpq_conninfo(const AppDb *db, int with_password) {
        _cleanup_free_ char *s = NULL;
        char port[8];

        if (db->kind != APPDB_POSTGRES) {
                errno = EINVAL;
                return NULL;
        }
        snprintf(port, sizeof(port), "%u", db->port);
        if (append_kv(&s, "host", db->host) < 0 || append_kv(&s, "port", port) < 0 ||
            append_kv(&s, "dbname", db->dbname) < 0 || (db->user && append_kv(&s, "user", db->user) < 0) ||
            (with_password && db->password && append_kv(&s, "password", db->password) < 0))
                goto oom;
        for (char **o = db->options; o && *o; o++) {
                _cleanup_free_ char *k = strdup(*o);
                char *eq = k ? strchr(k, '=') : NULL;
                if (!eq)
                        goto oom;
                *eq = '\0';
                /* Only what libpq knows as connection options; JDBC-only ones are left out. */
                if (!streq(k, "sslmode") && !streq(k, "sslrootcert") && !streq(k, "sslcert") &&
                    !streq(k, "sslkey") && !streq(k, "connect_timeout") && !streq(k, "application_name"))
                        continue;
                if (append_kv(&s, k, eq + 1) < 0)
                        goto oom;
        }
        return TAKE_PTR(s);
oom:
        errno = ENOMEM;
        return NULL;
}

static char *pgpass_escape(const char *s) {
        char *d = malloc(2 * strlen(s) + 1), *p = d;

        if (!d)
                return NULL;
        for (const char *c = s; *c; c++) {
                if (*c == ':' || *c == '\\')
                        *p++ = '\\';
                *p++ = *c;
        }
        *p = '\0';
        return d;
}

char *appdb_pgpass_line(const AppDb *db) {
        _cleanup_free_ char *h = NULL, *u = NULL, *pw = NULL;

        if (db->kind != APPDB_POSTGRES) {
                errno = EINVAL;
                return NULL;
        }
        /* Any database: the same role's password also opens the maintenance database, which
         * backup.postgres: clone connects to. */
        h = pgpass_escape(db->host);
        u = pgpass_escape(strempty(db->user));
        pw = pgpass_escape(strempty(db->password));
        if (!h || !u || !pw)
                return NULL;
        return strdup_printf("%s:%u:*:%s:%s\n", h, db->port, u, pw);
}

/* A MySQL option-file value in double quotes: backslash, quote and control characters escaped
 * as the client's option parser reads them back. */
static char *mycnf_quote(const char *s) {
        char *d = malloc(2 * strlen(s) + 3), *p = d;

        if (!d)
                return NULL;
        *p++ = '"';
        for (const char *c = s; *c; c++)
                switch (*c) {
                case '\\':
                case '"':
                case '\'':
                        *p++ = '\\';
                        *p++ = *c;
                        break;
                case '\n':
                        *p++ = '\\';
                        *p++ = 'n';
                        break;
                case '\r':
                        *p++ = '\\';
                        *p++ = 'r';
                        break;
                case '\t':
                        *p++ = '\\';
                        *p++ = 't';
                        break;
                default:
                        *p++ = *c;
                }
        *p++ = '"';
        *p = '\0';
        return d;
}

char *appdb_mysql_defaults(const AppDb *db) {
        _cleanup_free_ char *h = NULL, *u = NULL, *pw = NULL;

        if (db->kind != APPDB_MYSQL) {
                errno = EINVAL;
                return NULL;
        }
        h = mycnf_quote(db->host);
        u = mycnf_quote(strempty(db->user));
        pw = mycnf_quote(strempty(db->password));
        if (!h || !u || !pw)
                return NULL;
        return strdup_printf(
                "# written by mbupgraded for its database helper; removed after the operation\n"
                "[client]\nhost=%s\nport=%u\nuser=%s\npassword=%s\n",
                h,
                db->port,
                u,
                pw);
}
