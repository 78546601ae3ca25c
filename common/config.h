/* SPDX-License-Identifier: MIT */
#pragma once

/* /etc/mbupgraded/mbupgraded.yaml, parsed with libyaml. Every key has a default, so an empty
 * file (or none, for the default path) is the stock Debian setup. See config/mbupgraded.yaml. */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "version.h"

#define CONFIG_DEFAULT_PATH "/etc/mbupgraded/mbupgraded.yaml"

typedef enum Edition {
        EDITION_OSS,
        EDITION_ENTERPRISE,
        _EDITION_MAX,
        _EDITION_INVALID = -EINVAL,
} Edition;

typedef enum Channel {
        CHANNEL_LATEST,
        CHANNEL_BETA,
        _CHANNEL_MAX,
        _CHANNEL_INVALID = -EINVAL,
} Channel;

/* releases.follow: which release unattended upgrades aim at. */
typedef enum FollowMode {
        FOLLOW_LATEST, /* the feed's "latest" (Metabase's recommendation, with its rollout), never past it */
        FOLLOW_NEWEST, /* the newest release in the feed, hotfixes included (never a beta or nightly) */
        _FOLLOW_MAX,
        _FOLLOW_INVALID = -EINVAL,
} FollowMode;

typedef enum PgBackupMethod {
        PG_BACKUP_DUMP,  /* pg_dump --format=custom */
        PG_BACKUP_CLONE, /* CREATE DATABASE ... TEMPLATE, when the role may; else a dump */
        _PG_BACKUP_MAX,
        _PG_BACKUP_INVALID = -EINVAL,
} PgBackupMethod;

/* What notify.webhook and notify.command are told of (notify.webhook_events, notify.command_events):
 * the word of a release (release-news.c) and the end of an operation or a rehearsal (notify.c). */
typedef enum NotifyEvent {
        NOTIFY_AVAILABLE,       /* a new release in the feed, with what the policy will do with it */
        NOTIFY_STAGED,          /* staged ahead: downloaded and verified */
        NOTIFY_DUE,             /* the next window will apply it */
        NOTIFY_BLOCKED,         /* it won't be applied unattended: why, what to do */
        NOTIFY_COMMITTED,       /* an operation committed */
        NOTIFY_ROLLED_BACK,     /* an operation failed and was rolled back */
        NOTIFY_ROLLBACK_FAILED, /* so did its rollback: a person is needed */
        NOTIFY_FAILED,          /* an operation failed, nothing was changed */
        NOTIFY_REFUSED,         /* an operation was refused, nothing was changed */
        NOTIFY_REHEARSAL,       /* a rehearsal's verdict */
        _NOTIFY_EVENT_MAX,
        _NOTIFY_EVENT_INVALID = -EINVAL,
} NotifyEvent;

#define NOTIFY_EVENTS_ALL ((1U << _NOTIFY_EVENT_MAX) - 1)

/* notify.*_events: the kinds a channel is told of, a bit per NotifyEvent. */
typedef struct NotifyEvents {
        uint32_t mask;
        bool listed; /* the key listed kinds: the default (all) no longer applies */
} NotifyEvents;

typedef enum ApplyMode {
        APPLY_NEVER,
        APPLY_WINDOW,
        APPLY_IMMEDIATELY,
        _APPLY_MAX,
        _APPLY_INVALID = -EINVAL,
} ApplyMode;

/* policy.rehearse: when an upgrade is rehearsed on a copy of the application database first. */
typedef enum RehearseMode {
        REHEARSE_AUTO,   /* when the host has the memory for a second Metabase and the copy fits */
        REHEARSE_ALWAYS, /* every release before it is applied unattended */
        REHEARSE_NEVER,  /* only mbctl rehearse */
        _REHEARSE_MAX,
        _REHEARSE_INVALID = -EINVAL,
} RehearseMode;

/* upgrade.zero_downtime: whether an upgrade may serve through a bridge instance (daemon/zero-downtime.h). */
typedef enum ZeroDowntimeMode {
        ZERO_DOWNTIME_MODE_AUTO,  /* when every condition holds */
        ZERO_DOWNTIME_MODE_NEVER, /* always the usual path, with the maintenance page */
        _ZERO_DOWNTIME_MODE_MAX,
        _ZERO_DOWNTIME_MODE_INVALID = -EINVAL,
} ZeroDowntimeMode;

typedef struct Config {
        char *path; /* the file it was read from, NULL for built-in defaults */

        struct {
                Edition edition;
                char *feed; /* default depends on edition */
                char *downloads;
                Channel channel;
                FollowMode follow;
                uint64_t check_every_usec;
                char *ca_file; /* "" = none */
                bool require_checksum;
                char *signing_key; /* "" = none */
        } releases;

        struct {
                ApplyMode apply;
                VersionStep allow; /* PATCH, MINOR or MAJOR */
                uint64_t min_age_usec;
                bool hold;
                char **skip; /* NULL-terminated, validated versions */
                size_t n_skip;
                bool stepwise;
                uint64_t window_max_usec; /* 0: no limit; else the window's length */
                RehearseMode rehearse;
                bool approve; /* a release waits for mbctl approve before the window applies it */
        } policy;

        struct {
                char *unit;
                char *jar;        /* "" = from ExecStart */
                char *health_url; /* "" = from MB_JETTY_PORT */
                uint64_t start_timeout_usec;
                uint64_t stall_timeout_usec;
                uint64_t settle_usec;
        } service;

        struct {
                char *dir;
                unsigned keep;
                char *app_db; /* "" = from the unit's environment */
                PgBackupMethod postgres;
        } backup;

        struct {
                char *webhook; /* "" = none; https://, or http:// to this machine */
                char *command; /* "" = none; run through /bin/sh -c */
                char *user;    /* the command runs as this user (never root), default nobody */
                NotifyEvents webhook_events, command_events; /* default: all */
        } notify;

        struct {
                /* single-line shell commands run through /bin/sh -c, "" = none; before the files of
                 * DIR/<type>.d/ (pre-upgrade.d, verify.d, post-commit.d, post-rollback.d) */
                char *pre_upgrade;
                char *verify;
                char *post_commit;
                char *post_rollback;
                uint64_t timeout_usec; /* each hook's limit; killed at it, and failed */
                char *user;            /* the hooks run as this user (never root), default nobody */
                char *dir;             /* "" = the config file's directory's hooks/ */
        } hooks;

        struct {
                uint64_t memory_max; /* bytes: MemoryMax= of the rehearsal's unit; auto needs this much free */
                uint64_t max_copy_size; /* bytes: auto copies no bigger database than this; 0 = no limit */
                uint64_t timeout_usec;  /* the longest a rehearsal may run; 0 = service.start_timeout */
        } rehearsal;

        struct {
                bool enabled;
                char *node;      /* "" = the hostname */
                char *database;  /* "" = the application database's server, database <name>_mbupgraded */
                char **nodes;    /* every node's name; never NULL, may be empty */
                unsigned expect; /* how many nodes; 0 = as many as nodes names */
                uint64_t heartbeat_usec;
                uint64_t lost_after_usec;
                unsigned parallel; /* followers swapped and started at once */
                char *key_file;    /* "" = rows unsigned; else the fleet's HMAC key, root's 0600 */
        } fleet;

        struct {
                /* "" = none; where nginx's upstream is (daemon/proxy.h): root's, in a directory
                 * only root can write */
                char *upstream_file;
                char *nginx_unit; /* the unit reloaded after a switch, default nginx.service */
                char *url;        /* "" = none; the site through nginx, for the version it serves */
                char *ca_file;    /* "" = the system's CAs; for url */
                /* "" = none; the upstream group nginx retries the unit's port from while a bridge
                 * serves (daemon/proxy.h): root's, in a directory only root can write */
                char *failover_file;
        } proxy;

        struct {
                ZeroDowntimeMode zero_downtime;
        } upgrade;

        char *metrics_file;     /* "" = none; Prometheus text format, for node_exporter */
        char *maintenance_flag; /* "" = none; exists while Metabase is down for an operation */
        char *state_dir;
        char *admin_group;
} Config;

/* A config with every default. NULL on OOM. Strings are never NULL ("" = not set) and
 * policy.skip is never NULL (an empty list). */
Config *config_new(void);
Config *config_free(Config *c);

/* Reads 'path'. On failure returns a negative errno and, if ret_error is non-NULL, a message
 * naming file, line and key: "/etc/x.yaml:12: policy.allow: expected patch, minor or major,
 * got 'huge'". -ENOENT if the file does not exist. Unknown keys and wrong types are -EINVAL. */
int config_load(const char *path, Config **ret, char **ret_error);

/* Durations: "90s", "5m", "6h", "7d", "2w", "500ms", combinations like "1h30m"; a bare number
 * is seconds. -EINVAL on anything else or on overflow. */
int parse_duration(const char *s, uint64_t *ret_usec);
/* Writes the shortest exact form ("90s", "90m", "1d1s", "0"; weeks are written as days, "14d"),
 * truncated to n - 1 characters; returns buf. */
char *format_duration(uint64_t usec, char *buf, size_t n);

/* Sizes: "512M", "2G", "1T", "4096K", "1024" (bytes), binary multiples (K = 1024). -EINVAL on
 * anything else or on overflow. */
int parse_size(const char *s, uint64_t *ret);

const char *edition_to_string(Edition e); /* "oss", "enterprise" */
Edition edition_from_string(const char *s);
const char *channel_to_string(Channel c); /* "latest", "beta" */
Channel channel_from_string(const char *s);
const char *follow_to_string(FollowMode f); /* "latest", "newest" */
FollowMode follow_from_string(const char *s);
/* "available", "staged", "due", "blocked", "committed", "rolled-back", "rollback-failed", "failed",
 * "refused", "rehearsal" */
const char *notify_event_to_string(NotifyEvent e);
NotifyEvent notify_event_from_string(const char *s);
/* Whether a channel told of events is told of e. */
static inline bool notify_events_has(const NotifyEvents *events, NotifyEvent e) {
        return e >= 0 && e < _NOTIFY_EVENT_MAX && (events->mask & (1U << e));
}
const char *apply_mode_to_string(ApplyMode m); /* "never", "window", "immediately" */
ApplyMode apply_mode_from_string(const char *s);
const char *pg_backup_method_to_string(PgBackupMethod m); /* "dump", "clone" */
PgBackupMethod pg_backup_method_from_string(const char *s);
const char *rehearse_mode_to_string(RehearseMode m); /* "auto", "always", "never" */
RehearseMode rehearse_mode_from_string(const char *s);
const char *zero_downtime_mode_to_string(ZeroDowntimeMode m); /* "auto", "never" */
ZeroDowntimeMode zero_downtime_mode_from_string(const char *s);
