/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "dbversion.h"
#include "macro.h"
#include "strv.h"

#define EDN_KEYWORD_MAX 32U
#define EDN_NUMBER_DIGITS_MAX 9U

typedef struct Cursor {
        const char *p, *end;
} Cursor;

/* EDN whitespace: blanks, and commas; a ';' comment runs to the end of the line. */
static void skip(Cursor *c) {
        while (c->p < c->end) {
                char ch = *c->p;
                if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == ',' || ch == '\f')
                        c->p++;
                else if (ch == ';') {
                        while (c->p < c->end && *c->p != '\n')
                                c->p++;
                } else
                        break;
        }
}

static bool expect(Cursor *c, char ch) {
        skip(c);
        if (c->p >= c->end || *c->p != ch)
                return false;
        c->p++;
        return true;
}

static bool peek(Cursor *c, char ch) {
        skip(c);
        return c->p < c->end && *c->p == ch;
}

static bool keyword_char(char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                ch == '-' || ch == '_' || ch == '.';
}

/* ":name" into buf (without the colon). */
static int read_keyword(Cursor *c, char buf[static EDN_KEYWORD_MAX + 1]) {
        size_t n = 0;

        if (!expect(c, ':'))
                return -EBADMSG;
        while (c->p < c->end && keyword_char(*c->p)) {
                if (n >= EDN_KEYWORD_MAX)
                        return -EBADMSG;
                buf[n++] = *c->p++;
        }
        if (n == 0)
                return -EBADMSG;
        buf[n] = '\0';
        return 0;
}

static int read_number(Cursor *c, unsigned *ret) {
        unsigned v = 0;
        size_t n = 0;

        skip(c);
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
                if (n >= EDN_NUMBER_DIGITS_MAX)
                        return -EBADMSG;
                v = v * 10 + (unsigned) (*c->p++ - '0');
                n++;
        }
        /* the number must end here: "14N", "14.0", "14x" are not this file's shape */
        if (n == 0 || (c->p < c->end && !strchr(" \t\n\r,;}", *c->p)))
                return -EBADMSG;
        *ret = v;
        return 0;
}

/* {:major N :minor N :patch N} */
static int read_version(Cursor *c, DbVersion *ret) {
        bool seen[3] = {};
        DbVersion v = {};

        if (!expect(c, '{'))
                return -EBADMSG;
        while (!peek(c, '}')) {
                char key[EDN_KEYWORD_MAX + 1];
                unsigned *field, i;
                int r;

                r = read_keyword(c, key);
                if (r < 0)
                        return r;
                if (streq(key, "major"))
                        i = 0, field = &v.major;
                else if (streq(key, "minor"))
                        i = 1, field = &v.minor;
                else if (streq(key, "patch"))
                        i = 2, field = &v.patch;
                else
                        return -EBADMSG;
                if (seen[i])
                        return -EBADMSG;
                seen[i] = true;
                r = read_number(c, field);
                if (r < 0)
                        return r;
        }
        c->p++; /* '}' */
        if (!seen[0])
                return -EBADMSG;
        *ret = v;
        return 0;
}

int db_versions_edn_lookup(const char *text, size_t n, const char *db, DbVersion *ret) {
        char seen[8][EDN_KEYWORD_MAX + 1];
        size_t n_seen = 0;
        Cursor c = {text, text + n};
        bool found = false;
        DbVersion v = {};

        if (!text || !db || !ret)
                return -EINVAL;
        if (n > DB_VERSIONS_EDN_MAX)
                return -EFBIG;
        if (memchr(text, '\0', n))
                return -EBADMSG;
        if (!expect(&c, '{'))
                return -EBADMSG;
        while (!peek(&c, '}')) {
                char key[EDN_KEYWORD_MAX + 1];
                DbVersion e;
                int r;

                r = read_keyword(&c, key);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < n_seen; i++)
                        if (streq(seen[i], key))
                                return -EBADMSG; /* EDN refuses duplicate keys in a map */
                if (n_seen >= ELEMENTSOF(seen))
                        return -EBADMSG; /* four databases today; far more is not this file */
                strcpy(seen[n_seen++], key);
                r = read_version(&c, &e);
                if (r < 0)
                        return r;
                if (streq(key, db)) {
                        v = e;
                        found = true;
                }
        }
        c.p++; /* '}' */
        skip(&c);
        if (c.p != c.end)
                return -EBADMSG;
        if (!found)
                return -ENOENT;
        *ret = v;
        return 0;
}

/* "10.11.6..." -> 10, 11, 6; at least a major. */
static int parse_dotted(const char *s, DbVersion *ret) {
        unsigned *f[3] = {&ret->major, &ret->minor, &ret->patch};
        size_t i = 0;

        *ret = (DbVersion){};
        for (;;) {
                size_t digits = 0;
                unsigned v = 0;

                while (*s >= '0' && *s <= '9') {
                        if (++digits > EDN_NUMBER_DIGITS_MAX)
                                return -EBADMSG;
                        v = v * 10 + (unsigned) (*s++ - '0');
                }
                if (digits == 0)
                        return i == 0 ? -EBADMSG : 0;
                *f[i++] = v;
                if (i == 3 || *s != '.')
                        return 0;
                s++;
        }
}

int db_version_from_server(
        const char *db_kind,
        const char *server_version,
        DbVersion *ret,
        const char **ret_key,
        const char **ret_product) {
        if (!db_kind || !server_version || !ret)
                return -EINVAL;
        if (streq(db_kind, "postgres")) {
                unsigned num;

                if (safe_atou(server_version, &num) < 0 || num < 10000)
                        return -EBADMSG;
                /* server_version_num: major*10000 + minor from 10 on, major*10000 + minor*100 + patch before */
                if (num >= 100000)
                        *ret = (DbVersion){num / 10000, num % 10000, 0};
                else
                        *ret = (DbVersion){num / 10000, (num / 100) % 100, num % 100};
                if (ret_key)
                        *ret_key = "postgres";
                if (ret_product)
                        *ret_product = "PostgreSQL";
                return 0;
        }
        if (streq(db_kind, "mysql")) {
                bool maria = strstr(server_version, "MariaDB");
                const char *s = server_version;

                /* old MariaDB servers prefix their version for old MySQL clients */
                if (maria && startswith(s, "5.5.5-"))
                        s += strlen("5.5.5-");
                if (parse_dotted(s, ret) < 0)
                        return -EBADMSG;
                if (ret_key)
                        *ret_key = maria ? "mariadb" : "mysql";
                if (ret_product)
                        *ret_product = maria ? "MariaDB" : "MySQL";
                return 0;
        }
        return -EINVAL;
}

int db_version_compare(const DbVersion *a, const DbVersion *b) {
        if (a->major != b->major)
                return a->major < b->major ? -1 : 1;
        if (a->minor != b->minor)
                return a->minor < b->minor ? -1 : 1;
        if (a->patch != b->patch)
                return a->patch < b->patch ? -1 : 1;
        return 0;
}
