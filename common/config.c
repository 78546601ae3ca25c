/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

#include "config.h"
#include "macro.h"
#include "strv.h"

#define CONFIG_FILE_MAX (1024U * 1024U)
#define CONFIG_VALUE_MAX 4096U /* PATH_MAX; URLs and names are far shorter in practice */
#define CONFIG_QUOTE_MAX 64U   /* how much of a bad value an error message repeats */
#define CONFIG_KEEP_MAX 1000U
#define CONFIG_GROUP_NAME_MAX 32U
#define CONFIG_UNIT_NAME_MAX 255U
#define CONFIG_NODE_NAME_MAX 64U
#define CONFIG_NODES_MAX 100U
/* Longer durations are surely a typo, and keeping them short keeps "now + d" from overflowing. */
#define CONFIG_DURATION_MAX (3650U * 24U * 3600U * USEC_PER_SEC)

#define DEFAULT_FEED_OSS "https://static.metabase.com/version-info.json"
#define DEFAULT_FEED_ENTERPRISE "https://static.metabase.com/version-info-ee.json"
#define DEFAULT_DOWNLOADS "https://downloads.metabase.com"
#define DEFAULT_UNIT "metabase.service"
#define DEFAULT_BACKUP_DIR "/var/lib/mbupgraded/backups"
#define DEFAULT_STATE_DIR "/var/lib/mbupgraded"
#define DEFAULT_ADMIN_GROUP "mbupgrade"
#define DEFAULT_MAINTENANCE_FLAG "/run/mbupgraded/maintenance"
#define DEFAULT_UPSTREAM_FILE "/run/mbupgraded/upstream.conf"
#define DEFAULT_NGINX_UNIT "nginx.service"

#define USEC_PER_MINUTE (60U * USEC_PER_SEC)
#define USEC_PER_HOUR (60U * USEC_PER_MINUTE)
#define USEC_PER_DAY (24U * USEC_PER_HOUR)
#define USEC_PER_WEEK (7U * USEC_PER_DAY)

static const char *const edition_table[_EDITION_MAX] = {
        [EDITION_OSS] = "oss",
        [EDITION_ENTERPRISE] = "enterprise",
};

static const char *const channel_table[_CHANNEL_MAX] = {
        [CHANNEL_LATEST] = "latest",
        [CHANNEL_BETA] = "beta",
};

static const char *const follow_table[_FOLLOW_MAX] = {
        [FOLLOW_LATEST] = "latest",
        [FOLLOW_NEWEST] = "newest",
};

static const char *const apply_mode_table[_APPLY_MAX] = {
        [APPLY_NEVER] = "never",
        [APPLY_WINDOW] = "window",
        [APPLY_IMMEDIATELY] = "immediately",
};

static const char *const pg_backup_method_table[_PG_BACKUP_MAX] = {
        [PG_BACKUP_DUMP] = "dump",
        [PG_BACKUP_CLONE] = "clone",
};

static const char *const notify_event_table[_NOTIFY_EVENT_MAX] = {
        [NOTIFY_AVAILABLE] = "available",
        [NOTIFY_STAGED] = "staged",
        [NOTIFY_DUE] = "due",
        [NOTIFY_BLOCKED] = "blocked",
        [NOTIFY_COMMITTED] = "committed",
        [NOTIFY_ROLLED_BACK] = "rolled-back",
        [NOTIFY_ROLLBACK_FAILED] = "rollback-failed",
        [NOTIFY_FAILED] = "failed",
        [NOTIFY_REFUSED] = "refused",
        [NOTIFY_REHEARSAL] = "rehearsal",
};

#define DEFINE_STRING_TABLE(name, type, table, max)                             \
        const char *name##_to_string(type v) {                                  \
                return v >= 0 && v < max ? table[v] : NULL;                     \
        }                                                                       \
        type name##_from_string(const char *s) {                                \
                return (type) string_table_lookup(table, ELEMENTSOF(table), s); \
        }

DEFINE_STRING_TABLE(edition, Edition, edition_table, _EDITION_MAX);
DEFINE_STRING_TABLE(channel, Channel, channel_table, _CHANNEL_MAX);
DEFINE_STRING_TABLE(follow, FollowMode, follow_table, _FOLLOW_MAX);
DEFINE_STRING_TABLE(apply_mode, ApplyMode, apply_mode_table, _APPLY_MAX);
DEFINE_STRING_TABLE(pg_backup_method, PgBackupMethod, pg_backup_method_table, _PG_BACKUP_MAX);
DEFINE_STRING_TABLE(notify_event, NotifyEvent, notify_event_table, _NOTIFY_EVENT_MAX);

static const char *const rehearse_mode_table[_REHEARSE_MAX] = {
        [REHEARSE_AUTO] = "auto",
        [REHEARSE_ALWAYS] = "always",
        [REHEARSE_NEVER] = "never",
};
DEFINE_STRING_TABLE(rehearse_mode, RehearseMode, rehearse_mode_table, _REHEARSE_MAX);

static const char *const zero_downtime_mode_table[_ZERO_DOWNTIME_MODE_MAX] = {
        [ZERO_DOWNTIME_MODE_AUTO] = "auto",
        [ZERO_DOWNTIME_MODE_NEVER] = "never",
};
DEFINE_STRING_TABLE(zero_downtime_mode, ZeroDowntimeMode, zero_downtime_mode_table, _ZERO_DOWNTIME_MODE_MAX);

/* ---- sizes ---- */

int parse_size(const char *s, uint64_t *ret) {
        static const char suffixes[] = "KMGT";
        size_t n, digits;
        uint64_t v;
        int shift = 0;

        if (isempty(s))
                return -EINVAL;
        n = strlen(s);
        digits = strspn(s, "0123456789");
        if (digits == 0 || n > digits + 1)
                return -EINVAL;
        if (n == digits + 1) {
                const char *u = strchr(suffixes, s[digits]);
                if (!u || s[digits] == '\0')
                        return -EINVAL;
                shift = 10 * (int) (u - suffixes + 1);
        }
        _cleanup_free_ char *number = strndup(s, digits);
        if (!number)
                return -ENOMEM;
        if (safe_atou64(number, &v) < 0 || v > (UINT64_MAX >> shift))
                return -EINVAL;
        *ret = v << shift;
        return 0;
}

/* ---- durations ---- */

static const struct {
        const char *suffix;
        uint64_t usec;
        bool output; /* used by format_duration() */
} duration_units[] = {
        /* largest first */
        {"w", USEC_PER_WEEK, false}, /* "7d" reads better than "1w" in a config file */
        {"d", USEC_PER_DAY, true},
        {"h", USEC_PER_HOUR, true},
        {"m", USEC_PER_MINUTE, true},
        {"s", USEC_PER_SEC, true},
        {"ms", USEC_PER_MSEC, true},
        {"us", 1, true},
};

int parse_duration(const char *s, uint64_t *ret_usec) {
        uint64_t total = 0;
        const char *p = s;

        if (isempty(s))
                return -EINVAL;

        /* A bare number is seconds. */
        if (strspn(s, "0123456789") == strlen(s)) {
                uint64_t v;

                if (safe_atou64(s, &v) < 0 || v > UINT64_MAX / USEC_PER_SEC)
                        return -EINVAL;
                *ret_usec = v * USEC_PER_SEC;
                return 0;
        }

        while (*p) {
                size_t ndigits, nletters, i;
                uint64_t v = 0;

                ndigits = strspn(p, "0123456789");
                if (ndigits == 0)
                        return -EINVAL;
                for (i = 0; i < ndigits; i++) {
                        if (v > (UINT64_MAX - (uint64_t) (p[i] - '0')) / 10)
                                return -EINVAL;
                        v = v * 10 + (uint64_t) (p[i] - '0');
                }
                p += ndigits;

                nletters = strspn(p, "abcdefghijklmnopqrstuvwxyz");
                if (nletters == 0) /* "1h30": a number without a unit is only allowed alone */
                        return -EINVAL;
                for (i = 0; i < ELEMENTSOF(duration_units); i++)
                        if (strlen(duration_units[i].suffix) == nletters &&
                            strncmp(p, duration_units[i].suffix, nletters) == 0)
                                break;
                if (i >= ELEMENTSOF(duration_units))
                        return -EINVAL;
                p += nletters;

                if (v > UINT64_MAX / duration_units[i].usec)
                        return -EINVAL;
                v *= duration_units[i].usec;
                if (total > UINT64_MAX - v)
                        return -EINVAL;
                total += v;
        }

        *ret_usec = total;
        return 0;
}

char *format_duration(uint64_t usec, char *buf, size_t n) {
        char best[64] = "0";
        size_t best_len = SIZE_MAX, best_first = SIZE_MAX;

        assert(buf);
        assert(n > 0);

        /* Try every set of units, each taken greedily, and keep the shortest result: 90s stays
         * "90s" rather than "1m30s", 90m is "90m", and 1d1s is "1d1s" rather than "86401s". */
        for (unsigned mask = 1; usec > 0 && mask < 1U << ELEMENTSOF(duration_units); mask++) {
                char cand[64];
                size_t len = 0, parts = 0, first = SIZE_MAX;
                uint64_t rem = usec;
                bool ok = true;

                for (size_t i = 0; i < ELEMENTSOF(duration_units); i++) {
                        uint64_t k;
                        int w;

                        if (!(mask & (1U << i)))
                                continue;
                        if (!duration_units[i].output) {
                                ok = false;
                                break;
                        }
                        k = rem / duration_units[i].usec;
                        if (k == 0)
                                continue;
                        rem -= k * duration_units[i].usec;
                        w = snprintf(
                                cand + len, sizeof(cand) - len, "%" PRIu64 "%s", k, duration_units[i].suffix);
                        assert(w > 0 && (size_t) w < sizeof(cand) - len);
                        len += (size_t) w;
                        if (parts++ == 0)
                                first = i;
                }
                if (!ok || rem != 0 || parts == 0)
                        continue;
                /* On a tie, the larger leading unit reads better: "2h30s" rather than "7230s". */
                if (len < best_len || (len == best_len && first < best_first)) {
                        memcpy(best, cand, len + 1);
                        best_len = len;
                        best_first = first;
                }
        }

        (void) snprintf(buf, n, "%s", best);
        return buf;
}

/* ---- the Config object ---- */

Config *config_free(Config *c) {
        if (!c)
                return NULL;

        free(c->path);
        free(c->releases.feed);
        free(c->releases.downloads);
        free(c->releases.ca_file);
        free(c->releases.signing_key);
        strv_free(c->policy.skip);
        free(c->service.unit);
        free(c->service.jar);
        free(c->service.health_url);
        free(c->backup.dir);
        free(c->backup.app_db);
        free(c->notify.webhook);
        free(c->notify.command);
        free(c->notify.user);
        free(c->hooks.pre_upgrade);
        free(c->hooks.verify);
        free(c->hooks.post_commit);
        free(c->hooks.post_rollback);
        free(c->hooks.user);
        free(c->hooks.dir);
        free(c->fleet.node);
        free(c->fleet.database);
        strv_free(c->fleet.nodes);
        free(c->fleet.key_file);
        free(c->metrics_file);
        free(c->maintenance_flag);
        free(c->proxy.upstream_file);
        free(c->proxy.nginx_unit);
        free(c->proxy.url);
        free(c->proxy.ca_file);
        free(c->proxy.failover_file);
        free(c->state_dir);
        free(c->admin_group);
        free(c);
        return NULL;
}

DEFINE_POINTER_CLEANUP(Config, config_free, config_freep);

Config *config_new(void) {
        _cleanup_(config_freep) Config *c = NULL;

        c = calloc(1, sizeof(Config));
        if (!c)
                return NULL;

        *c = (Config){
                .releases =
                        {
                                .edition = EDITION_OSS,
                                .channel = CHANNEL_LATEST,
                                .follow = FOLLOW_LATEST,
                                .check_every_usec = 6 * USEC_PER_HOUR,
                                .require_checksum = true,
                        },
                .policy =
                        {
                                .apply = APPLY_WINDOW,
                                .allow = VERSION_STEP_MINOR,
                                .min_age_usec = 7 * USEC_PER_DAY,
                                .hold = false,
                                .stepwise = true,
                                .rehearse = REHEARSE_AUTO,
                        },
                .service =
                        {
                                /* Metabase's migrations may take hours at one progress figure; the
                                 * stall_timeout is what ends a hang (verify.h, liveness.h) */
                                .start_timeout_usec = 6 * USEC_PER_HOUR,
                                .stall_timeout_usec = 5 * USEC_PER_MINUTE,
                                .settle_usec = 60 * USEC_PER_SEC,
                        },
                .backup =
                        {
                                .keep = 5,
                        },
                .rehearsal =
                        {
                                .memory_max = 3ULL << 30,
                                .max_copy_size = 20ULL << 30,
                        },
                .hooks =
                        {
                                .timeout_usec = 5 * USEC_PER_MINUTE,
                        },
                .fleet =
                        {
                                .heartbeat_usec = 5 * USEC_PER_SEC,
                                .lost_after_usec = 30 * USEC_PER_SEC,
                                .parallel = 2,
                        },
        };

        /* Strings are never NULL, "" means "not set", and skip is an empty list rather than NULL,
         * so that callers need no special cases. */
        if (!(c->releases.feed = strdup(DEFAULT_FEED_OSS)) ||
            !(c->releases.downloads = strdup(DEFAULT_DOWNLOADS)) || !(c->releases.ca_file = strdup("")) ||
            !(c->releases.signing_key = strdup("")) || !(c->policy.skip = calloc(1, sizeof(char *))) ||
            !(c->service.unit = strdup(DEFAULT_UNIT)) || !(c->service.jar = strdup("")) ||
            !(c->service.health_url = strdup("")) || !(c->backup.dir = strdup(DEFAULT_BACKUP_DIR)) ||
            !(c->backup.app_db = strdup("")) || !(c->state_dir = strdup(DEFAULT_STATE_DIR)) ||
            !(c->admin_group = strdup(DEFAULT_ADMIN_GROUP)) || !(c->notify.webhook = strdup("")) ||
            !(c->notify.command = strdup("")) || !(c->metrics_file = strdup("")) ||
            !(c->maintenance_flag = strdup(DEFAULT_MAINTENANCE_FLAG)) || !(c->fleet.node = strdup("")) ||
            !(c->fleet.database = strdup("")) || !(c->fleet.key_file = strdup("")) ||
            !(c->fleet.nodes = calloc(1, sizeof(char *))))
                return NULL;
        if (!(c->notify.user = strdup("nobody")))
                return NULL;
        if (!(c->hooks.pre_upgrade = strdup("")) || !(c->hooks.verify = strdup("")) ||
            !(c->hooks.post_commit = strdup("")) || !(c->hooks.post_rollback = strdup("")) ||
            !(c->hooks.user = strdup("nobody")) || !(c->hooks.dir = strdup("")))
                return NULL;
        c->notify.webhook_events.mask = c->notify.command_events.mask = NOTIFY_EVENTS_ALL;
        if (!(c->proxy.upstream_file = strdup(DEFAULT_UPSTREAM_FILE)) ||
            !(c->proxy.nginx_unit = strdup(DEFAULT_NGINX_UNIT)) || !(c->proxy.url = strdup("")) ||
            !(c->proxy.ca_file = strdup("")) || !(c->proxy.failover_file = strdup("")))
                return NULL;

        return TAKE_PTR(c);
}

/* ---- the parser ---- */

typedef struct ConfigParser ConfigParser;

/* Parses one scalar value into *data. 'value' is "" for a YAML null ("key:", "~", "null"). */
typedef int (*ConfigParseFunc)(ConfigParser *p, const char *value, void *data);

typedef struct ConfigKey {
        const char *name;
        const char *expected;            /* for messages: "expected <this>, got ..." */
        ConfigParseFunc parse;           /* for a scalar, or for each item of a list */
        size_t offset;                   /* of the field in Config */
        const struct ConfigKey *section; /* a mapping of further keys, NULL-name terminated */
        bool list;
} ConfigKey;

struct ConfigParser {
        const char *path;
        const char *text;
        size_t size;
        yaml_parser_t yaml;
        char **ret_error;

        /* What is being parsed, for messages. */
        char key_path[128];
        const char *expected;
        size_t line;

        bool feed_set;
};

static int config_error_at(ConfigParser *p, int r, size_t line, const char *key, const char *fmt, ...)
        _printf_(5, 6);

/* Builds "FILE:LINE: KEY: MESSAGE" (without KEY if NULL) and returns r. */
static int config_error_at(ConfigParser *p, int r, size_t line, const char *key, const char *fmt, ...) {
        _cleanup_free_ char *m = NULL;
        va_list ap;

        if (!p->ret_error)
                return r;

        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);
        if (!m)
                return r;

        if (key)
                *p->ret_error = strdup_printf("%s:%zu: %s: %s", p->path, line, key, m);
        else
                *p->ret_error = strdup_printf("%s:%zu: %s", p->path, line, m);
        return r;
}

/* The usual complaint about the value being parsed: "KEY: expected X, got 'value'". */
static int config_bad_value(ConfigParser *p, const char *value) {
        _cleanup_free_ char *q = strndup_sanitized(value, strlen(value), CONFIG_QUOTE_MAX);

        return config_error_at(
                p, -EINVAL, p->line, p->key_path, "expected %s, got '%s'", p->expected, q ?: "(out of memory)");
}

static bool has_control_chars(const char *s) {
        for (const char *c = s; *c; c++)
                if ((unsigned char) *c < 0x20 || *c == 0x7f)
                        return true;
        return false;
}

/* Strings: "" is fine for every key that documents it; the others have their own parsers. */
static int config_parse_string(ConfigParser *p, const char *value, void *data) {
        if (strlen(value) > CONFIG_VALUE_MAX || has_control_chars(value))
                return config_bad_value(p, value);
        return free_and_strdup(data, value);
}

static bool path_is_valid_absolute(const char *s) {
        return s[0] == '/' && strlen(s) < PATH_MAX && !has_control_chars(s);
}

static int config_parse_path(ConfigParser *p, const char *value, void *data) {
        _cleanup_free_ char *c = NULL;
        size_t n;

        if (!path_is_valid_absolute(value))
                return config_bad_value(p, value);

        /* "/var/lib/mbupgraded/" and "/var/lib/mbupgraded" are the same directory. */
        c = strdup(value);
        if (!c)
                return -ENOMEM;
        n = strlen(c);
        while (n > 1 && c[n - 1] == '/')
                c[--n] = '\0';

        free(*(char **) data);
        *(char **) data = TAKE_PTR(c);
        return 0;
}

static int config_parse_path_or_empty(ConfigParser *p, const char *value, void *data) {
        if (isempty(value))
                return free_and_strdup(data, "");
        return config_parse_path(p, value, data);
}

static bool url_is_valid(const char *s) {
        const char *host;

        if (startswith(s, "https://"))
                host = s + 8;
        else if (startswith(s, "http://"))
                host = s + 7;
        else if (startswith(s, "file:///"))
                host = "localhost"; /* a mirror on disk, laid out like downloads.metabase.com */
        else
                return false;

        if (host[0] == '\0' || strchr("/?#", host[0]))
                return false;
        if (strlen(s) > CONFIG_VALUE_MAX)
                return false;
        for (const char *c = s; *c; c++)
                if ((unsigned char) *c <= 0x20 || (unsigned char) *c >= 0x7f)
                        return false;
        return true;
}

static int config_parse_url(ConfigParser *p, const char *value, void *data) {
        if (!url_is_valid(value))
                return config_bad_value(p, value);
        return free_and_strdup(data, value);
}

static int config_parse_url_or_empty(ConfigParser *p, const char *value, void *data) {
        if (isempty(value))
                return free_and_strdup(data, "");
        return config_parse_url(p, value, data);
}

/* Where notifications go: a web server (https, or plain http to this machine only, as the fetch
 * helper allows), never a file. */
static int config_parse_webhook(ConfigParser *p, const char *value, void *data) {
        if (isempty(value))
                return free_and_strdup(data, "");
        if (!url_is_valid(value) || startswith(value, "file:"))
                return config_bad_value(p, value);
        if (startswith(value, "http://")) {
                const char *host = value + strlen("http://");
                size_t n = strcspn(host, ":/?#");
                if (!((n == 9 && strncmp(host, "localhost", 9) == 0) || strncmp(host, "127.", 4) == 0 ||
                      strncmp(host, "[::1]", 5) == 0))
                        return config_bad_value(p, value);
        }
        return free_and_strdup(data, value);
}

static int config_parse_feed(ConfigParser *p, const char *value, void *data) {
        int r;

        r = config_parse_url(p, value, data);
        if (r < 0)
                return r;
        p->feed_set = true;
        return 0;
}

/* The download base: {downloads}/{version}/metabase.jar, so a trailing slash is dropped. */
static int config_parse_downloads(ConfigParser *p, const char *value, void *data) {
        char **s = data;
        size_t n;
        int r;

        r = config_parse_url(p, value, data);
        if (r < 0)
                return r;
        n = strlen(*s);
        while (n > 0 && (*s)[n - 1] == '/')
                (*s)[--n] = '\0';
        if (!url_is_valid(*s))
                return config_bad_value(p, value);
        return 0;
}

static int config_parse_bool(ConfigParser *p, const char *value, void *data) {
        bool *b = data;

        if (strcasecmp(value, "true") == 0 || strcasecmp(value, "yes") == 0)
                *b = true;
        else if (strcasecmp(value, "false") == 0 || strcasecmp(value, "no") == 0)
                *b = false;
        else
                return config_bad_value(p, value);
        return 0;
}

static int config_parse_duration_common(ConfigParser *p, const char *value, void *data, bool nonzero) {
        uint64_t usec;

        if (parse_duration(value, &usec) < 0 || usec > CONFIG_DURATION_MAX || (nonzero && usec == 0))
                return config_bad_value(p, value);
        *(uint64_t *) data = usec;
        return 0;
}

static int config_parse_duration(ConfigParser *p, const char *value, void *data) {
        return config_parse_duration_common(p, value, data, false);
}

static int config_parse_duration_nonzero(ConfigParser *p, const char *value, void *data) {
        return config_parse_duration_common(p, value, data, true);
}

static int config_parse_rehearse(ConfigParser *p, const char *value, void *data) {
        RehearseMode m = rehearse_mode_from_string(value);

        if (m < 0)
                return config_bad_value(p, value);
        *(RehearseMode *) data = m;
        return 0;
}

static int config_parse_zero_downtime(ConfigParser *p, const char *value, void *data) {
        ZeroDowntimeMode m = zero_downtime_mode_from_string(value);

        if (m < 0)
                return config_bad_value(p, value);
        *(ZeroDowntimeMode *) data = m;
        return 0;
}

static int config_parse_size_common(ConfigParser *p, const char *value, void *data, bool nonzero) {
        uint64_t v;

        if (parse_size(value, &v) < 0 || (nonzero && v == 0))
                return config_bad_value(p, value);
        *(uint64_t *) data = v;
        return 0;
}

static int config_parse_size(ConfigParser *p, const char *value, void *data) {
        return config_parse_size_common(p, value, data, false);
}

static int config_parse_size_nonzero(ConfigParser *p, const char *value, void *data) {
        return config_parse_size_common(p, value, data, true);
}

static int config_parse_edition(ConfigParser *p, const char *value, void *data) {
        Edition e = edition_from_string(value);

        if (e < 0)
                return config_bad_value(p, value);
        *(Edition *) data = e;
        return 0;
}

static int config_parse_channel(ConfigParser *p, const char *value, void *data) {
        Channel ch = channel_from_string(value);

        if (ch < 0)
                return config_bad_value(p, value);
        *(Channel *) data = ch;
        return 0;
}

static int config_parse_follow(ConfigParser *p, const char *value, void *data) {
        FollowMode f = follow_from_string(value);

        if (f < 0)
                return config_bad_value(p, value);
        *(FollowMode *) data = f;
        return 0;
}

static int config_parse_apply(ConfigParser *p, const char *value, void *data) {
        ApplyMode m = apply_mode_from_string(value);

        if (m < 0)
                return config_bad_value(p, value);
        *(ApplyMode *) data = m;
        return 0;
}

static int config_parse_pg_backup(ConfigParser *p, const char *value, void *data) {
        PgBackupMethod m = pg_backup_method_from_string(value);

        if (m < 0)
                return config_bad_value(p, value);
        *(PgBackupMethod *) data = m;
        return 0;
}

static int config_parse_allow(ConfigParser *p, const char *value, void *data) {
        VersionStep s = version_step_from_string(value);

        if (s < 0 || s == VERSION_STEP_NONE) /* "none" would be "hold: true" */
                return config_bad_value(p, value);
        *(VersionStep *) data = s;
        return 0;
}

static int config_parse_keep(ConfigParser *p, const char *value, void *data) {
        unsigned k;

        if (safe_atou(value, &k) < 0 || k < 1 || k > CONFIG_KEEP_MAX)
                return config_bad_value(p, value);
        *(unsigned *) data = k;
        return 0;
}

/* One item of notify.webhook_events or notify.command_events: the first replaces the default (all). */
static int config_parse_notify_event_item(ConfigParser *p, const char *value, void *data) {
        NotifyEvents *events = data;
        NotifyEvent e = notify_event_from_string(value);

        if (e < 0)
                return config_bad_value(p, value);
        if (!events->listed)
                *events = (NotifyEvents){.listed = true};
        events->mask |= 1U << e;
        return 0;
}

/* One item of policy.skip. Stored in canonical form, without duplicates. */
static int config_parse_skip_item(ConfigParser *p, const char *value, void *data) {
        char ***l = data, buf[MB_VERSION_STRING_MAX + 1];
        MbVersion v;

        if (mb_version_parse(value, &v) < 0)
                return config_bad_value(p, value);
        mb_version_format(&v, buf);
        if (strv_contains(*l, buf))
                return 0;
        return strv_extend(l, buf);
}

/* A node's name: what a hostname may be, and '_'; at most 64 characters. */
static bool node_name_is_valid(const char *s) {
        size_t n = strlen(s);
        return n > 0 && n <= CONFIG_NODE_NAME_MAX && s[0] != '-' && s[0] != '.' &&
                strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static int config_parse_node_or_empty(ConfigParser *p, const char *value, void *data) {
        if (!isempty(value) && !node_name_is_valid(value))
                return config_bad_value(p, value);
        return free_and_strdup(data, value);
}

/* One item of fleet.nodes, without duplicates. */
static int config_parse_node_item(ConfigParser *p, const char *value, void *data) {
        char ***l = data;

        if (!node_name_is_valid(value))
                return config_bad_value(p, value);
        if (strv_contains(*l, value))
                return 0;
        return strv_extend(l, value);
}

/* The coordination database: a libpq URI (its password, if any, is read like the application
 * database's); "" = beside the application database. */
static int config_parse_pg_uri_or_empty(ConfigParser *p, const char *value, void *data) {
        if (isempty(value))
                return free_and_strdup(data, "");
        if ((!startswith(value, "postgres://") && !startswith(value, "postgresql://")) ||
            strlen(value) > CONFIG_VALUE_MAX || has_control_chars(value) || strchr(value, ' '))
                return config_bad_value(p, value);
        return free_and_strdup(data, value);
}

static int config_parse_count(ConfigParser *p, const char *value, void *data) {
        unsigned k;

        if (safe_atou(value, &k) < 0 || k > CONFIG_NODES_MAX)
                return config_bad_value(p, value);
        *(unsigned *) data = k;
        return 0;
}

static int config_parse_parallel(ConfigParser *p, const char *value, void *data) {
        unsigned k;

        if (safe_atou(value, &k) < 0 || k < 1 || k > CONFIG_NODES_MAX)
                return config_bad_value(p, value);
        *(unsigned *) data = k;
        return 0;
}

/* systemd's unit name characters; a template needs an instance ("foo@bar.service"). */
static int config_parse_unit(ConfigParser *p, const char *value, void *data) {
        size_t n = strlen(value);
        const char *at;

        if (n <= strlen(".service") || n > CONFIG_UNIT_NAME_MAX || !endswith(value, ".service") ||
            value[0] == '.' || value[0] == '@' ||
            strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:-_.\\@") != n)
                return config_bad_value(p, value);
        at = strchr(value, '@');
        if (at && (strchr(at + 1, '@') || streq(at, "@.service")))
                return config_bad_value(p, value);
        return free_and_strdup(data, value);
}

/* What shadow's groupadd accepts with its default settings, plus upper case. */
static int config_parse_group(ConfigParser *p, const char *value, void *data) {
        size_t n = strlen(value), body;

        if (n == 0) /* root only */
                return free_and_strdup(data, "");

        body = value[n - 1] == '$' ? n - 1 : n;
        if (n > CONFIG_GROUP_NAME_MAX || body == 0 ||
            !strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_", value[0]) ||
            strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != body)
                return config_bad_value(p, value);
        return free_and_strdup(data, value);
}

#define FIELD(f) offsetof(Config, f)
#define DURATION_EXPECTED "a duration like 90s, 5m, 6h or 7d"
#define NONZERO_DURATION_EXPECTED "a duration longer than 0 like 90s, 5m, 6h or 7d"

static const ConfigKey releases_keys[] = {
        {"edition", "oss or enterprise", config_parse_edition, FIELD(releases.edition)},
        {"feed", "an https://, http:// or file:/// URL", config_parse_feed, FIELD(releases.feed)},
        {"downloads", "an https://, http:// or file:/// URL", config_parse_downloads, FIELD(releases.downloads)},
        {"channel", "latest or beta", config_parse_channel, FIELD(releases.channel)},
        {"follow", "latest or newest", config_parse_follow, FIELD(releases.follow)},
        {"check_every",
         NONZERO_DURATION_EXPECTED,
         config_parse_duration_nonzero,
         FIELD(releases.check_every_usec)},
        {"ca_file", "an absolute path or \"\"", config_parse_path_or_empty, FIELD(releases.ca_file)},
        {"require_checksum", "true or false", config_parse_bool, FIELD(releases.require_checksum)},
        {"signing_key",
         "the absolute path of a PEM public key, or \"\"",
         config_parse_path_or_empty,
         FIELD(releases.signing_key)},
        {},
};

static const ConfigKey policy_keys[] = {
        {"apply", "never, window or immediately", config_parse_apply, FIELD(policy.apply)},
        {"allow", "patch, minor or major", config_parse_allow, FIELD(policy.allow)},
        {"min_age", DURATION_EXPECTED, config_parse_duration, FIELD(policy.min_age_usec)},
        {"hold", "true or false", config_parse_bool, FIELD(policy.hold)},
        {"skip", "a version like v0.56.3", config_parse_skip_item, FIELD(policy.skip), .list = true},
        {"stepwise", "true or false", config_parse_bool, FIELD(policy.stepwise)},
        {"window_max", DURATION_EXPECTED, config_parse_duration, FIELD(policy.window_max_usec)},
        {"rehearse", "auto, always or never", config_parse_rehearse, FIELD(policy.rehearse)},
        {"approve", "true or false", config_parse_bool, FIELD(policy.approve)},
        {},
};

static const ConfigKey service_keys[] = {
        {"unit", "a unit name ending in .service", config_parse_unit, FIELD(service.unit)},
        {"jar", "an absolute path or \"\"", config_parse_path_or_empty, FIELD(service.jar)},
        {"health_url",
         "an http:// or https:// URL, or \"\"",
         config_parse_url_or_empty,
         FIELD(service.health_url)},
        {"start_timeout",
         NONZERO_DURATION_EXPECTED,
         config_parse_duration_nonzero,
         FIELD(service.start_timeout_usec)},
        {"stall_timeout",
         NONZERO_DURATION_EXPECTED,
         config_parse_duration_nonzero,
         FIELD(service.stall_timeout_usec)},
        {"settle", DURATION_EXPECTED, config_parse_duration, FIELD(service.settle_usec)},
        {},
};

static const ConfigKey backup_keys[] = {
        {"dir", "an absolute path", config_parse_path, FIELD(backup.dir)},
        {"keep", "a number from 1 to 1000", config_parse_keep, FIELD(backup.keep)},
        {"app_db", "a single-line string", config_parse_string, FIELD(backup.app_db)},
        {"postgres", "dump or clone", config_parse_pg_backup, FIELD(backup.postgres)},
        {},
};

#define NOTIFY_EVENTS_EXPECTED                                                                               \
        "one of available, staged, due, blocked, committed, rolled-back, rollback-failed, failed, refused, " \
        "rehearsal"

static const ConfigKey notify_keys[] = {
        {"webhook",
         "an https:// URL (http:// only to this machine), or \"\"",
         config_parse_webhook,
         FIELD(notify.webhook)},
        {"command", "a single-line shell command, or \"\"", config_parse_string, FIELD(notify.command)},
        {"user", "the user notify.command runs as (not root)", config_parse_string, FIELD(notify.user)},
        {"webhook_events",
         NOTIFY_EVENTS_EXPECTED,
         config_parse_notify_event_item,
         FIELD(notify.webhook_events),
         .list = true},
        {"command_events",
         NOTIFY_EVENTS_EXPECTED,
         config_parse_notify_event_item,
         FIELD(notify.command_events),
         .list = true},
        {},
};

#define HOOK_EXPECTED "a single-line shell command, or \"\""

static const ConfigKey hooks_keys[] = {
        {"pre_upgrade", HOOK_EXPECTED, config_parse_string, FIELD(hooks.pre_upgrade)},
        {"verify", HOOK_EXPECTED, config_parse_string, FIELD(hooks.verify)},
        {"post_commit", HOOK_EXPECTED, config_parse_string, FIELD(hooks.post_commit)},
        {"post_rollback", HOOK_EXPECTED, config_parse_string, FIELD(hooks.post_rollback)},
        {"timeout", NONZERO_DURATION_EXPECTED, config_parse_duration_nonzero, FIELD(hooks.timeout_usec)},
        {"user", "the user the hooks run as (not root)", config_parse_string, FIELD(hooks.user)},
        {"dir", "an absolute path or \"\"", config_parse_path_or_empty, FIELD(hooks.dir)},
        {},
};

#define SIZE_EXPECTED "a size like 512M, 3G or 1T"

static const ConfigKey rehearsal_keys[] = {
        {"memory_max",
         "a size larger than 0 like 512M, 3G",
         config_parse_size_nonzero,
         FIELD(rehearsal.memory_max)},
        {"max_copy_size", SIZE_EXPECTED, config_parse_size, FIELD(rehearsal.max_copy_size)},
        {"timeout", DURATION_EXPECTED, config_parse_duration, FIELD(rehearsal.timeout_usec)},
        {},
};

static const ConfigKey fleet_keys[] = {
        {"enabled", "true or false", config_parse_bool, FIELD(fleet.enabled)},
        {"node",
         "a node name (letters, digits, '.', '_', '-') or \"\"",
         config_parse_node_or_empty,
         FIELD(fleet.node)},
        {"database",
         "a postgres:// or postgresql:// URI, or \"\"",
         config_parse_pg_uri_or_empty,
         FIELD(fleet.database)},
        {"nodes",
         "a node name (letters, digits, '.', '_', '-')",
         config_parse_node_item,
         FIELD(fleet.nodes),
         .list = true},
        {"expect", "a number of nodes from 0 to 100", config_parse_count, FIELD(fleet.expect)},
        {"heartbeat", NONZERO_DURATION_EXPECTED, config_parse_duration_nonzero, FIELD(fleet.heartbeat_usec)},
        {"lost_after", NONZERO_DURATION_EXPECTED, config_parse_duration_nonzero, FIELD(fleet.lost_after_usec)},
        {"parallel", "a number from 1 to 100", config_parse_parallel, FIELD(fleet.parallel)},
        {"key_file", "an absolute path or \"\"", config_parse_path_or_empty, FIELD(fleet.key_file)},
        {},
};

static const ConfigKey proxy_keys[] = {
        {"upstream_file", "an absolute path or \"\"", config_parse_path_or_empty, FIELD(proxy.upstream_file)},
        {"nginx_unit", "a unit name ending in .service", config_parse_unit, FIELD(proxy.nginx_unit)},
        {"url", "an https:// URL (http:// only to this machine), or \"\"", config_parse_webhook, FIELD(proxy.url)},
        {"ca_file", "an absolute path or \"\"", config_parse_path_or_empty, FIELD(proxy.ca_file)},
        {"failover_file", "an absolute path or \"\"", config_parse_path_or_empty, FIELD(proxy.failover_file)},
        {},
};

static const ConfigKey upgrade_keys[] = {
        {"zero_downtime", "auto or never", config_parse_zero_downtime, FIELD(upgrade.zero_downtime)},
        {},
};

static const ConfigKey root_keys[] = {
        {"releases", "a mapping of keys", .section = releases_keys},
        {"policy", "a mapping of keys", .section = policy_keys},
        {"service", "a mapping of keys", .section = service_keys},
        {"backup", "a mapping of keys", .section = backup_keys},
        {"notify", "a mapping of keys", .section = notify_keys},
        {"hooks", "a mapping of keys", .section = hooks_keys},
        {"rehearsal", "a mapping of keys", .section = rehearsal_keys},
        {"fleet", "a mapping of keys", .section = fleet_keys},
        {"proxy", "a mapping of keys", .section = proxy_keys},
        {"upgrade", "a mapping of keys", .section = upgrade_keys},
        {"metrics_file", "an absolute path or \"\"", config_parse_path_or_empty, FIELD(metrics_file)},
        {"maintenance_flag", "an absolute path or \"\"", config_parse_path_or_empty, FIELD(maintenance_flag)},
        {"state_dir", "an absolute path", config_parse_path, FIELD(state_dir)},
        {"admin_group", "a group name, or \"\" for root only", config_parse_group, FIELD(admin_group)},
        {},
};

#define CONFIG_SECTION_KEYS_MAX 16

/* The line of a top-level "KEY:" (1 if there is none: the section's defaults broke the rule). */
static size_t top_level_key_line(const ConfigParser *p, const char *key) {
        size_t line = 1, n = strlen(key);

        for (size_t i = 0; i < p->size; i++) {
                if ((i == 0 || p->text[i - 1] == '\n') && i + n < p->size &&
                    strncmp(p->text + i, key, n) == 0 && (p->text[i + n] == ':' || p->text[i + n] == ' '))
                        return line;
                if (p->text[i] == '\n')
                        line++;
        }
        return 1;
}

/* Counts the lines up to a byte offset, for libyaml's reader errors which have no mark. */
static size_t line_of_offset(const ConfigParser *p, size_t offset) {
        size_t line = 1;

        for (size_t i = 0; i < offset && i < p->size; i++)
                if (p->text[i] == '\n')
                        line++;
        return line;
}

static size_t event_line(const yaml_event_t *e) {
        return e->start_mark.line + 1;
}

static int next_event(ConfigParser *p, yaml_event_t *ret) {
        if (!yaml_parser_parse(&p->yaml, ret)) {
                const yaml_parser_t *y = &p->yaml;
                size_t line = y->error == YAML_READER_ERROR ? line_of_offset(p, y->problem_offset)
                                                            : y->problem_mark.line + 1;

                if (y->error == YAML_MEMORY_ERROR)
                        return -ENOMEM;
                if (y->context)
                        return config_error_at(
                                p,
                                -EINVAL,
                                line,
                                NULL,
                                "invalid YAML: %s (%s started on line %zu)",
                                strempty(y->problem),
                                y->context,
                                y->context_mark.line + 1);
                return config_error_at(p, -EINVAL, line, NULL, "invalid YAML: %s", strempty(y->problem));
        }

        if (ret->type == YAML_ALIAS_EVENT) {
                size_t line = event_line(ret);

                yaml_event_delete(ret);
                return config_error_at(p, -EINVAL, line, NULL, "YAML aliases (*name) are not supported here");
        }
        return 0;
}

static const char *event_kind(const yaml_event_t *e) {
        switch (e->type) {
        case YAML_MAPPING_START_EVENT:
                return "a mapping";
        case YAML_SEQUENCE_START_EVENT:
                return "a list";
        case YAML_SCALAR_EVENT:
                return "a single value";
        default:
                return "something else";
        }
}

/* A plain "key:", "key: ~" or "key: null" says nothing: we treat it as "" (or as an empty
 * mapping or list). A quoted "null" is the string. */
static bool scalar_is_null(const yaml_event_t *e) {
        const char *v = (const char *) e->data.scalar.value;

        if (e->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
                return false;
        return e->data.scalar.length == 0 || streq(v, "~") || streq(v, "null") || streq(v, "Null") ||
                streq(v, "NULL");
}

static int parse_scalar(ConfigParser *p, const ConfigKey *k, const yaml_event_t *e, Config *c) {
        const char *v = (const char *) e->data.scalar.value;

        p->line = event_line(e);
        p->expected = k->expected;
        if (strlen(v) != e->data.scalar.length)
                return config_error_at(p, -EINVAL, p->line, p->key_path, "the value contains a NUL character");
        if (scalar_is_null(e))
                v = "";
        return k->parse(p, v, (uint8_t *) c + k->offset);
}

static int parse_list(ConfigParser *p, const ConfigKey *k, const yaml_event_t *start, Config *c) {
        /* The key appears only once (duplicates are refused), and the default is the empty list,
         * so the items are simply appended. */
        if (start->type == YAML_SCALAR_EVENT)
                return 0; /* null: the empty list */

        for (;;) {
                _cleanup_(yaml_event_delete) yaml_event_t e = {};
                int r;

                r = next_event(p, &e);
                if (r < 0)
                        return r;
                if (e.type == YAML_SEQUENCE_END_EVENT)
                        return 0;
                if (e.type != YAML_SCALAR_EVENT)
                        return config_error_at(
                                p,
                                -EINVAL,
                                event_line(&e),
                                p->key_path,
                                "expected %s, got %s",
                                k->expected,
                                event_kind(&e));

                r = parse_scalar(p, k, &e, c);
                if (r < 0)
                        return r;
        }
}

static int parse_mapping(ConfigParser *p, const ConfigKey *keys, const char *section, Config *c);

static int parse_value(ConfigParser *p, const ConfigKey *k, Config *c) {
        _cleanup_(yaml_event_delete) yaml_event_t e = {};
        int r;

        r = next_event(p, &e);
        if (r < 0)
                return r;

        if (k->section) {
                if (e.type == YAML_MAPPING_START_EVENT)
                        return parse_mapping(p, k->section, k->name, c);
                if (e.type == YAML_SCALAR_EVENT && scalar_is_null(&e))
                        return 0; /* "releases:" alone: all defaults */
                return config_error_at(
                        p,
                        -EINVAL,
                        event_line(&e),
                        p->key_path,
                        "expected a mapping of keys, got %s",
                        event_kind(&e));
        }

        if (k->list) {
                if (e.type == YAML_SEQUENCE_START_EVENT || (e.type == YAML_SCALAR_EVENT && scalar_is_null(&e)))
                        return parse_list(p, k, &e, c);
                return config_error_at(
                        p,
                        -EINVAL,
                        event_line(&e),
                        p->key_path,
                        "expected a list (of %s), got %s",
                        k->expected,
                        event_kind(&e));
        }

        if (e.type != YAML_SCALAR_EVENT)
                return config_error_at(
                        p,
                        -EINVAL,
                        event_line(&e),
                        p->key_path,
                        "expected %s, got %s",
                        k->expected,
                        event_kind(&e));
        return parse_scalar(p, k, &e, c);
}

static int parse_mapping(ConfigParser *p, const ConfigKey *keys, const char *section, Config *c) {
        size_t seen[CONFIG_SECTION_KEYS_MAX] = {};

        for (;;) {
                _cleanup_(yaml_event_delete) yaml_event_t e = {};
                _cleanup_free_ char *name = NULL;
                const ConfigKey *k;
                size_t line;
                int r;

                r = next_event(p, &e);
                if (r < 0)
                        return r;
                if (e.type == YAML_MAPPING_END_EVENT)
                        return 0;

                line = event_line(&e);
                if (e.type != YAML_SCALAR_EVENT)
                        return config_error_at(
                                p, -EINVAL, line, section, "expected a key name, got %s", event_kind(&e));

                name = strndup_sanitized(
                        (const char *) e.data.scalar.value, e.data.scalar.length, CONFIG_QUOTE_MAX);
                if (!name)
                        return -ENOMEM;
                if (isempty(name) && free_and_strdup(&name, "\"\"") < 0)
                        return -ENOMEM;
                if (section)
                        (void) snprintf(p->key_path, sizeof(p->key_path), "%s.%s", section, name);
                else
                        (void) snprintf(p->key_path, sizeof(p->key_path), "%s", name);

                for (k = keys; k->name; k++)
                        if (strlen(k->name) == e.data.scalar.length &&
                            memcmp(k->name, e.data.scalar.value, e.data.scalar.length) == 0)
                                break;
                if (!k->name) {
                        _cleanup_free_ char *known = NULL;

                        for (const ConfigKey *i = keys; i->name; i++) {
                                char *s = strdup_printf("%s%s%s", strempty(known), known ? ", " : "", i->name);
                                if (!s)
                                        return -ENOMEM;
                                free(known);
                                known = s;
                        }
                        return config_error_at(
                                p, -EINVAL, line, p->key_path, "unknown key (known keys: %s)", strempty(known));
                }

                assert((size_t) (k - keys) < ELEMENTSOF(seen));
                if (seen[k - keys] > 0)
                        return config_error_at(
                                p,
                                -EINVAL,
                                line,
                                p->key_path,
                                "duplicate key (first set on line %zu)",
                                seen[k - keys]);
                seen[k - keys] = line;

                r = parse_value(p, k, c);
                if (r < 0)
                        return r;
        }
}

static int parse_stream(ConfigParser *p, Config *c) {
        yaml_event_type_t expect[] = {YAML_STREAM_START_EVENT, YAML_DOCUMENT_START_EVENT};

        for (size_t i = 0; i < ELEMENTSOF(expect); i++) {
                _cleanup_(yaml_event_delete) yaml_event_t e = {};
                int r;

                r = next_event(p, &e);
                if (r < 0)
                        return r;
                if (i == 1 && e.type == YAML_STREAM_END_EVENT)
                        return 0; /* no document at all: an empty file, or just comments */
                if (e.type != expect[i])
                        return config_error_at(p, -EINVAL, event_line(&e), NULL, "invalid YAML");
        }

        {
                _cleanup_(yaml_event_delete) yaml_event_t e = {};
                int r;

                r = next_event(p, &e);
                if (r < 0)
                        return r;
                if (e.type == YAML_MAPPING_START_EVENT) {
                        r = parse_mapping(p, root_keys, NULL, c);
                        if (r < 0)
                                return r;
                } else if (!(e.type == YAML_SCALAR_EVENT && scalar_is_null(&e)))
                        return config_error_at(
                                p,
                                -EINVAL,
                                event_line(&e),
                                NULL,
                                "expected a mapping of keys at the top level, got %s",
                                event_kind(&e));
        }

        for (size_t i = 0; i < 2; i++) {
                _cleanup_(yaml_event_delete) yaml_event_t e = {};
                int r;

                r = next_event(p, &e);
                if (r < 0)
                        return r;
                if (e.type == YAML_DOCUMENT_START_EVENT)
                        return config_error_at(
                                p,
                                -EINVAL,
                                event_line(&e),
                                NULL,
                                "more than one YAML document: expected a single mapping of keys");
                if (e.type != (i == 0 ? YAML_DOCUMENT_END_EVENT : YAML_STREAM_END_EVENT))
                        return config_error_at(p, -EINVAL, event_line(&e), NULL, "invalid YAML");
        }

        return 0;
}

static int read_config_file(const char *path, char **ret, size_t *ret_size, char **ret_error) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t n = 0;
        struct stat st;
        int r;

        /* O_NONBLOCK: a FIFO must not hang us; it is refused below. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                r = negative_errno();
                goto fail;
        }
        if (fstat(fd, &st) < 0) {
                r = negative_errno();
                goto fail;
        }
        if (S_ISDIR(st.st_mode)) {
                r = -EISDIR;
                goto fail;
        }
        if (!S_ISREG(st.st_mode)) {
                if (ret_error)
                        *ret_error = strdup_printf("%s: not a regular file", path);
                return -EBADFD;
        }

        buf = malloc(CONFIG_FILE_MAX + 1);
        if (!buf)
                return -ENOMEM;
        while (n <= CONFIG_FILE_MAX) {
                ssize_t k;

                k = read(fd, buf + n, CONFIG_FILE_MAX + 1 - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = negative_errno();
                        goto fail;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        if (n > CONFIG_FILE_MAX) {
                if (ret_error)
                        *ret_error = strdup_printf(
                                "%s: the file is larger than %u KiB", path, CONFIG_FILE_MAX / 1024);
                return -EFBIG;
        }

        buf[n] = '\0';
        *ret = TAKE_PTR(buf);
        *ret_size = n;
        return 0;

fail:
        if (ret_error)
                *ret_error = strdup_printf("%s: %s", path, strerror(-r));
        return r;
}

int config_load(const char *path, Config **ret, char **ret_error) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_free_ char *text = NULL;
        ConfigParser p = {
                .path = path,
                .ret_error = ret_error,
        };
        size_t size;
        int r;

        assert(path);
        assert(ret);

        r = read_config_file(path, &text, &size, ret_error);
        if (r < 0)
                return r;

        c = config_new();
        if (!c)
                return -ENOMEM;
        c->path = strdup(path);
        if (!c->path)
                return -ENOMEM;

        if (!yaml_parser_initialize(&p.yaml))
                return -ENOMEM;
        p.text = text;
        p.size = size;
        yaml_parser_set_input_string(&p.yaml, (const unsigned char *) text, size);
        r = parse_stream(&p, c);
        yaml_parser_delete(&p.yaml);
        if (r < 0)
                return r;

        if (!p.feed_set && c->releases.edition == EDITION_ENTERPRISE) {
                r = free_and_strdup(&c->releases.feed, DEFAULT_FEED_ENTERPRISE);
                if (r < 0)
                        return r;
        }
        c->policy.n_skip = strv_length(c->policy.skip);

        /* What no single key can say: said at the line of the fleet: section. */
        size_t named = strv_length(c->fleet.nodes), fleet_line = top_level_key_line(&p, "fleet");
        if (c->fleet.expect > 0 && named > 0 && c->fleet.expect != named)
                return config_error_at(
                        &p,
                        -EINVAL,
                        fleet_line,
                        "fleet",
                        "expect is %u but nodes names %zu nodes; give one of them, or the same number",
                        c->fleet.expect,
                        named);
        if (!isempty(c->fleet.node) && named > 0 && !strv_contains(c->fleet.nodes, c->fleet.node))
                return config_error_at(
                        &p, -EINVAL, fleet_line, "fleet", "node '%s' is not one of nodes", c->fleet.node);
        if (c->fleet.lost_after_usec < 2 * c->fleet.heartbeat_usec)
                return config_error_at(
                        &p,
                        -EINVAL,
                        fleet_line,
                        "fleet",
                        "lost_after must be at least twice heartbeat, or a node is lost between two heartbeats");
        if (c->fleet.enabled && c->fleet.expect == 0 && named == 0)
                return config_error_at(
                        &p,
                        -EINVAL,
                        fleet_line,
                        "fleet",
                        "enabled, but neither expect nor nodes says how many nodes there are");

        *ret = TAKE_PTR(c);
        return 0;
}
