/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "macro.h"
#include "rehearsal.h"
#include "strv.h"

#define PORT_FIRST 20000U
#define PORT_COUNT 12000U
#define PORT_TRIES 64U
#define EXCERPT_ERROR_LINES 6U
#define EXCERPT_TAIL_LINES 5U

char *format_size(uint64_t bytes, char *buf, size_t n) {
        static const char units[] = "KMGT";
        int i = -1;

        while (i < 3 && bytes >= 1024 && bytes % 1024 == 0) {
                bytes /= 1024;
                i++;
        }
        if (i < 0)
                (void) snprintf(buf, n, "%" PRIu64, bytes);
        else
                (void) snprintf(buf, n, "%" PRIu64 "%c", bytes, units[i]);
        return buf;
}

/* "1.4G": rounded, for what was measured rather than configured. */
static char *format_size_rounded(uint64_t bytes, char *buf, size_t n) {
        static const char units[] = "KMGT";
        double v = (double) bytes;
        int i = -1;

        while (i < 3 && v >= 1024) {
                v /= 1024;
                i++;
        }
        if (i < 0)
                (void) snprintf(buf, n, "%" PRIu64 " bytes", bytes);
        else
                (void) snprintf(buf, n, "%.1f%c", v, units[i]);
        return buf;
}

int rehearsal_decide(const RehearsalHost *h, char **ret_reason) {
        char a[32], b[32];
        char *reason;
        int yes;

        switch (h->mode) {
        case REHEARSE_NEVER:
                reason = strdup("policy.rehearse is never");
                yes = 0;
                break;
        case REHEARSE_ALWAYS:
                reason = strdup("policy.rehearse is always");
                yes = 1;
                break;
        default:
                if (h->memory_available != REHEARSAL_SIZE_UNKNOWN && h->memory_available < h->memory_max) {
                        reason = strdup_printf(
                                "only %s of memory is available and a second Metabase may take "
                                "rehearsal.memory_max (%s); rehearse by hand with mbctl rehearse, or set "
                                "policy.rehearse: always",
                                format_size_rounded(h->memory_available, a, sizeof(a)),
                                format_size(h->memory_max, b, sizeof(b)));
                        yes = 0;
                } else if (
                        h->db_kind != APPDB_H2 && h->max_copy_size > 0 &&
                        h->db_size != REHEARSAL_SIZE_UNKNOWN && h->db_size > h->max_copy_size) {
                        reason = strdup_printf(
                                "the application database is %s, more than rehearsal.max_copy_size (%s) to copy on "
                                "its server",
                                format_size_rounded(h->db_size, a, sizeof(a)),
                                format_size(h->max_copy_size, b, sizeof(b)));
                        yes = 0;
                } else if (
                        h->db_kind == APPDB_H2 && h->db_size != REHEARSAL_SIZE_UNKNOWN &&
                        h->disk_free != REHEARSAL_SIZE_UNKNOWN &&
                        (h->db_size > h->disk_free || h->disk_free - h->db_size < (64U << 20))) {
                        reason = strdup_printf(
                                "a copy of the H2 database (%s) does not fit in state_dir (%s free, and 64M to spare)",
                                format_size_rounded(h->db_size, a, sizeof(a)),
                                format_size_rounded(h->disk_free, b, sizeof(b)));
                        yes = 0;
                } else {
                        reason = strdup(
                                "policy.rehearse is auto, and the memory and the disk for a copy are there");
                        yes = 1;
                }
        }
        if (!reason)
                return -ENOMEM;
        *ret_reason = reason;
        return yes;
}

/* The application database's and the web server's settings, which the rehearsal has its own of. */
static bool is_replaced(const char *assignment) {
        static const char *const keys[] = {
                "MB_DB_TYPE",
                "MB_DB_CONNECTION_URI",
                "MB_DB_HOST",
                "MB_DB_PORT",
                "MB_DB_DBNAME",
                "MB_DB_USER",
                "MB_DB_PASS",
                "MB_DB_FILE",
                "MB_DB_IN_MEMORY",
                "MB_JETTY_HOST",
                "MB_JETTY_PORT",
                "MB_DISABLE_SCHEDULER",
                "MB_EMAIL_SMTP_HOST",
                "MB_EMAIL_SMTP_PORT",
                "MB_CHECK_FOR_UPDATES",
                "MB_ANON_TRACKING_ENABLED",
        };
        const char *eq = strchr(assignment, '=');
        size_t n = eq ? (size_t) (eq - assignment) : strlen(assignment);

        /* MB_JETTY_SSL, MB_JETTY_SSL_PORT, ...: a second listener on production's port. */
        if (startswith(assignment, "MB_JETTY_SSL"))
                return true;
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (strlen(keys[i]) == n && strncmp(assignment, keys[i], n) == 0)
                        return true;
        return false;
}

/* env with KEY=VALUE set: replaces an earlier KEY, or appends. */
static int env_set(char ***env, const char *key, const char *value) {
        _cleanup_free_ char *a = strdup_printf("%s=%s", key, value);
        size_t n = strlen(key);

        if (!a)
                return -ENOMEM;
        for (char **e = *env; e && *e; e++)
                if (strncmp(*e, key, n) == 0 && (*e)[n] == '=') {
                        free(*e);
                        *e = TAKE_PTR(a);
                        return 0;
                }
        return strv_extend(env, a);
}

static int env_set_from_assignment(char ***env, const char *assignment) {
        const char *eq = strchr(assignment, '=');
        _cleanup_free_ char *key = NULL;

        if (!eq)
                return 0;
        key = strndup(assignment, (size_t) (eq - assignment));
        return key ? env_set(env, key, eq + 1) : -ENOMEM;
}

static char *h2_base(const char *file) {
        size_t n = strlen(file);

        /* MB_DB_FILE names the database without H2's .mv.db */
        if (endswith(file, ".mv.db"))
                n -= strlen(".mv.db");
        return strndup(file, n);
}

char **rehearsal_environment(char *const *unit_env, const AppDb *scratch, unsigned port) {
        _cleanup_strv_free_ char **env = NULL;
        char portbuf[16];
        int r = 0;

        for (char *const *e = unit_env; e && *e; e++)
                if (!is_replaced(*e) && env_set_from_assignment(&env, *e) < 0)
                        return NULL;
        (void) snprintf(portbuf, sizeof(portbuf), "%u", port);
        if (scratch->kind == APPDB_H2) {
                _cleanup_free_ char *base = h2_base(scratch->h2_file);
                r = base ? env_set(&env, "MB_DB_TYPE", "h2") : -ENOMEM;
                if (r >= 0)
                        r = env_set(&env, "MB_DB_FILE", base);
        } else {
                const char *type = scratch->kind == APPDB_POSTGRES ? "postgres" : "mysql";
                char dbport[16];

                (void) snprintf(dbport, sizeof(dbport), "%u", scratch->port);
                r = env_set(&env, "MB_DB_TYPE", type);
                if (r >= 0 && scratch->options && scratch->options[0]) {
                        /* sslmode=require and the like only fit in a URI; the credentials beside it */
                        _cleanup_free_ char *uri = strdup_printf(
                                "%s://%s:%u/%s?", type, scratch->host, scratch->port, scratch->dbname);
                        for (char **o = scratch->options; uri && *o; o++) {
                                char *u = strdup_printf("%s%s%s", uri, o == scratch->options ? "" : "&", *o);
                                free(uri);
                                uri = u;
                        }
                        r = uri ? env_set(&env, "MB_DB_CONNECTION_URI", uri) : -ENOMEM;
                } else if (r >= 0) {
                        r = env_set(&env, "MB_DB_HOST", scratch->host);
                        if (r >= 0)
                                r = env_set(&env, "MB_DB_PORT", dbport);
                        if (r >= 0)
                                r = env_set(&env, "MB_DB_DBNAME", scratch->dbname);
                }
                if (r >= 0 && scratch->user)
                        r = env_set(&env, "MB_DB_USER", scratch->user);
                if (r >= 0 && scratch->password)
                        r = env_set(&env, "MB_DB_PASS", scratch->password);
        }
        if (r >= 0)
                r = env_set(&env, "MB_JETTY_HOST", "127.0.0.1");
        if (r >= 0)
                r = env_set(&env, "MB_JETTY_PORT", portbuf);
        /* Nothing scheduled: no pulses, alerts or subscriptions sent, no syncs of the data sources. */
        if (r >= 0)
                r = env_set(&env, "MB_DISABLE_SCHEDULER", "true");
        /* E-mail (password resets, first logins, ...) to a port nothing listens on. Environment
         * variables win over what the copy of the database says. */
        if (r >= 0)
                r = env_set(&env, "MB_EMAIL_SMTP_HOST", "127.0.0.1");
        if (r >= 0)
                r = env_set(&env, "MB_EMAIL_SMTP_PORT", "9");
        if (r >= 0)
                r = env_set(&env, "MB_CHECK_FOR_UPDATES", "false");
        if (r >= 0)
                r = env_set(&env, "MB_ANON_TRACKING_ENABLED", "false");
        if (r < 0)
                return NULL;
        return TAKE_PTR(env);
}

static bool valid_env_name(const char *s, size_t n) {
        if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
                      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
                        return false;
        return true;
}

char *rehearsal_environment_file(char *const *env) {
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        if (!f)
                return NULL;
        for (char *const *e = env; e && *e; e++) {
                const char *eq = strchr(*e, '=');

                if (!eq || !valid_env_name(*e, (size_t) (eq - *e)))
                        continue;
                fprintf(f, "%.*s=\"", (int) (eq - *e), *e);
                for (const char *c = eq + 1; *c; c++) {
                        if (strchr("\\\"`$", *c))
                                fputc('\\', f);
                        fputc(*c, f);
                }
                fputs("\"\n", f);
        }
        if (fclose(f) != 0) {
                free(text);
                return NULL;
        }
        return text;
}

static bool line_reports_error(const char *line, size_t n) {
        static const char *const words[] = {"ERROR", "FATAL", "Exception", "FAILED", "Caused by", "Error:"};

        for (size_t i = 0; i < ELEMENTSOF(words); i++) {
                size_t w = strlen(words[i]);
                for (size_t j = 0; j + w <= n; j++)
                        if (memcmp(line + j, words[i], w) == 0)
                                return true;
        }
        return false;
}

char *rehearsal_log_excerpt(const char *log, size_t n, size_t max) {
        /* [start, end) of the lines picked, newest last */
        size_t starts[EXCERPT_ERROR_LINES], ends[EXCERPT_ERROR_LINES], picked = 0;
        size_t tail_starts[EXCERPT_TAIL_LINES], tail_ends[EXCERPT_TAIL_LINES], tail = 0;
        size_t *ps, *pe, count, cap;
        char *out;
        size_t o = 0;

        for (size_t i = 0; i < n;) {
                size_t j = i;
                while (j < n && log[j] != '\n')
                        j++;
                if (j > i) {
                        if (line_reports_error(log + i, j - i)) {
                                starts[picked % EXCERPT_ERROR_LINES] = i;
                                ends[picked % EXCERPT_ERROR_LINES] = j;
                                picked++;
                        }
                        tail_starts[tail % EXCERPT_TAIL_LINES] = i;
                        tail_ends[tail % EXCERPT_TAIL_LINES] = j;
                        tail++;
                }
                i = j + 1;
        }
        if (picked > 0) {
                ps = starts, pe = ends, count = picked, cap = EXCERPT_ERROR_LINES;
        } else {
                ps = tail_starts, pe = tail_ends, count = tail, cap = EXCERPT_TAIL_LINES;
        }
        out = malloc(max + 1);
        if (!out)
                return NULL;
        for (size_t k = count > cap ? count - cap : 0; k < count; k++) {
                size_t s = ps[k % cap], e = pe[k % cap];
                if (o > 0 && o < max)
                        out[o++] = '\n';
                for (size_t i = s; i < e && o < max; i++) {
                        unsigned char c = (unsigned char) log[i];
                        out[o++] = c < 0x20 || c == 0x7f ? ' ' : (char) c;
                }
        }
        out[o] = '\0';
        return out;
}

int rehearsal_pick_port(unsigned *ret) {
        for (unsigned i = 0; i < PORT_TRIES; i++) {
                struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
                uint32_t rnd;
                unsigned port;
                int fd, r;

                if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
                        rnd = (uint32_t) getpid() * 2654435761U + i;
                port = PORT_FIRST + rnd % PORT_COUNT;
                a.sin_port = htons((uint16_t) port);
                fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0)
                        return negative_errno();
                /* No SO_REUSEADDR: a port in TIME_WAIT is no free port for Jetty either. */
                r = bind(fd, (struct sockaddr *) &a, sizeof(a));
                close(fd);
                if (r == 0) {
                        *ret = port;
                        return 0;
                }
        }
        return -EADDRINUSE;
}
