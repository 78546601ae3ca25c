/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "config.h"
#include "macro.h"
#include "strv.h"

#define MIN (60 * USEC_PER_SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)

static char *tmpdir;
static char *cfg; /* tmpdir/mbupgraded.yaml */

static int setup(void **state) {
        char t[] = "/tmp/test-config-XXXXXX";

        if (!mkdtemp(t))
                return -1;
        tmpdir = strdup(t);
        cfg = strdup_printf("%s/mbupgraded.yaml", t);
        return tmpdir && cfg ? 0 : -1;
}

static int teardown(void **state) {
        char *cmd;

        cmd = strdup_printf("rm -rf -- '%s'", tmpdir);
        if (!cmd || system(cmd) != 0)
                return -1;
        free(cmd);
        free(tmpdir);
        free(cfg);
        return 0;
}

static void write_config(const char *text) {
        FILE *f = fopen(cfg, "we");

        assert_non_null(f);
        assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
        assert_int_equal(fclose(f), 0);
}

static Config *load_ok(const char *text) {
        Config *c = NULL;
        char *error = NULL;

        write_config(text);
        if (config_load(cfg, &c, &error) < 0)
                fail_msg("config_load failed: %s\n--- input:\n%s", error, text);
        assert_null(error);
        assert_non_null(c);
        return c;
}

/* Loads text, expects -EINVAL and exactly "FILE:" + message. */
static void load_fails(const char *text, const char *message) {
        Config *c = NULL;
        char *error = NULL, *expected;

        write_config(text);
        assert_int_equal(config_load(cfg, &c, &error), -EINVAL);
        assert_null(c);
        assert_non_null(error);
        expected = strdup_printf("%s:%s", cfg, message);
        if (!streq(error, expected))
                fail_msg("--- input:\n%s\n--- got:      %s\n--- expected: %s", text, error, expected);
        free(expected);
        free(error);
}

static void assert_defaults(const Config *c) {
        assert_int_equal(c->releases.edition, EDITION_OSS);
        assert_string_equal(c->releases.feed, "https://static.metabase.com/version-info.json");
        assert_string_equal(c->releases.downloads, "https://downloads.metabase.com");
        assert_int_equal(c->releases.channel, CHANNEL_LATEST);
        assert_int_equal(c->releases.follow, FOLLOW_LATEST);
        assert_int_equal(c->releases.check_every_usec, 6 * HOUR);
        assert_string_equal(c->releases.ca_file, "");
        assert_true(c->releases.require_checksum);
        assert_string_equal(c->releases.signing_key, "");

        assert_int_equal(c->policy.apply, APPLY_WINDOW);
        assert_int_equal(c->policy.allow, VERSION_STEP_MINOR);
        assert_int_equal(c->policy.min_age_usec, 7 * DAY);
        assert_false(c->policy.hold);
        assert_non_null(c->policy.skip);
        assert_null(c->policy.skip[0]);
        assert_int_equal(c->policy.n_skip, 0);
        assert_true(c->policy.stepwise);

        assert_string_equal(c->service.unit, "metabase.service");
        assert_string_equal(c->service.jar, "");
        assert_string_equal(c->service.health_url, "");
        assert_int_equal(c->service.start_timeout_usec, 6 * HOUR);
        assert_int_equal(c->service.stall_timeout_usec, 5 * MIN);
        assert_int_equal(c->service.settle_usec, 60 * USEC_PER_SEC);

        assert_string_equal(c->backup.dir, "/var/lib/mbupgraded/backups");
        assert_int_equal(c->backup.keep, 5);
        assert_string_equal(c->backup.app_db, "");
        assert_int_equal(c->backup.postgres, PG_BACKUP_DUMP);

        assert_false(c->fleet.enabled);
        assert_string_equal(c->fleet.node, "");
        assert_string_equal(c->fleet.database, "");
        assert_non_null(c->fleet.nodes);
        assert_null(c->fleet.nodes[0]);
        assert_int_equal(c->fleet.expect, 0);
        assert_int_equal(c->fleet.heartbeat_usec, 5 * USEC_PER_SEC);
        assert_int_equal(c->fleet.lost_after_usec, 30 * USEC_PER_SEC);
        assert_int_equal(c->fleet.parallel, 2);
        assert_string_equal(c->notify.webhook, "");
        assert_string_equal(c->notify.command, "");
        assert_string_equal(c->metrics_file, "");
        assert_string_equal(c->maintenance_flag, "/run/mbupgraded/maintenance");
        assert_string_equal(c->proxy.upstream_file, "/run/mbupgraded/upstream.conf");
        assert_string_equal(c->proxy.nginx_unit, "nginx.service");
        assert_string_equal(c->proxy.url, "");
        assert_string_equal(c->proxy.ca_file, "");
        assert_string_equal(c->state_dir, "/var/lib/mbupgraded");
        assert_string_equal(c->admin_group, "mbupgrade");
}

static void test_defaults(void **state) {
        static const char *const empty_ones[] = {
                "",
                "\n\n",
                "# only a comment\n",
                "# comment\n   # another\n\n",
                "---\n",
                "---\n...\n",
                "~\n",
                "{}\n",
                "releases:\npolicy:\nservice: ~\nbackup: {}\n",
        };
        Config *c;

        c = config_new();
        assert_non_null(c);
        assert_null(c->path);
        assert_defaults(c);
        assert_null(config_free(c));
        assert_null(config_free(NULL));

        for (size_t i = 0; i < ELEMENTSOF(empty_ones); i++) {
                c = load_ok(empty_ones[i]);
                assert_string_equal(c->path, cfg);
                assert_defaults(c);
                config_free(c);
        }
}

static void test_every_key(void **state) {
        Config *c;

        c = load_ok("# every key, none at its default\n"
                    "releases:\n"
                    "  edition: enterprise\n"
                    "  feed: https://mirror.example.com/feed.json\n"
                    "  downloads: https://mirror.example.com/metabase/\n"
                    "  channel: beta\n"
                    "  follow: newest\n"
                    "  check_every: 90m\n"
                    "  ca_file: /etc/ssl/mirror-ca.pem\n"
                    "  require_checksum: no\n"
                    "  signing_key: /etc/mbupgraded/release-key.pem\n"
                    "policy:\n"
                    "  apply: immediately\n"
                    "  allow: major\n"
                    "  min_age: 0\n"
                    "  hold: yes\n"
                    "  skip: [v0.56.3, 0.56.4.1, \"v1.57.0\"]\n"
                    "  stepwise: false\n"
                    "service:\n"
                    "  unit: metabase@prod.service\n"
                    "  jar: /srv/metabase/metabase.jar\n"
                    "  health_url: http://127.0.0.1:3001/api/health\n"
                    "  start_timeout: 1h\n"
                    "  stall_timeout: 10m\n"
                    "  settle: 2m30s\n"
                    "backup:\n"
                    "  dir: /srv/backups/\n"
                    "  keep: 1000\n"
                    "  app_db: 'postgres://metabase@localhost/metabase'\n"
                    "  postgres: clone\n"
                    "state_dir: /srv/mbupgraded\n"
                    "admin_group: \"\"\n");

        assert_int_equal(c->releases.edition, EDITION_ENTERPRISE);
        assert_string_equal(c->releases.feed, "https://mirror.example.com/feed.json");
        /* the trailing slash is dropped: {downloads}/{version}/metabase.jar */
        assert_string_equal(c->releases.downloads, "https://mirror.example.com/metabase");
        assert_int_equal(c->releases.channel, CHANNEL_BETA);
        assert_int_equal(c->releases.follow, FOLLOW_NEWEST);
        assert_int_equal(c->releases.check_every_usec, 90 * MIN);
        assert_string_equal(c->releases.ca_file, "/etc/ssl/mirror-ca.pem");
        assert_false(c->releases.require_checksum);
        assert_string_equal(c->releases.signing_key, "/etc/mbupgraded/release-key.pem");

        assert_int_equal(c->policy.apply, APPLY_IMMEDIATELY);
        assert_int_equal(c->policy.allow, VERSION_STEP_MAJOR);
        assert_int_equal(c->policy.min_age_usec, 0);
        assert_true(c->policy.hold);
        assert_int_equal(c->policy.n_skip, 3);
        assert_int_equal(strv_length(c->policy.skip), 3);
        /* canonical form */
        assert_string_equal(c->policy.skip[0], "v0.56.3");
        assert_string_equal(c->policy.skip[1], "v0.56.4.1");
        assert_string_equal(c->policy.skip[2], "v1.57.0");
        assert_false(c->policy.stepwise);

        assert_string_equal(c->service.unit, "metabase@prod.service");
        assert_string_equal(c->service.jar, "/srv/metabase/metabase.jar");
        assert_string_equal(c->service.health_url, "http://127.0.0.1:3001/api/health");
        assert_int_equal(c->service.start_timeout_usec, HOUR);
        assert_int_equal(c->service.stall_timeout_usec, 10 * MIN);
        assert_int_equal(c->service.settle_usec, 150 * USEC_PER_SEC);

        assert_string_equal(c->backup.dir, "/srv/backups");
        assert_int_equal(c->backup.keep, 1000);
        assert_string_equal(c->backup.app_db, "postgres://metabase@localhost/metabase");
        assert_int_equal(c->backup.postgres, PG_BACKUP_CLONE);

        assert_string_equal(c->state_dir, "/srv/mbupgraded");
        assert_string_equal(c->admin_group, "");
        config_free(c);
}

static void test_values(void **state) {
        Config *c;

        /* Enterprise picks its own feed unless one is given. */
        c = load_ok("releases:\n  edition: enterprise\n");
        assert_string_equal(c->releases.feed, "https://static.metabase.com/version-info-ee.json");
        config_free(c);
        c = load_ok(
                "releases:\n  feed: https://static.metabase.com/version-info.json\n  edition: enterprise\n");
        assert_string_equal(c->releases.feed, "https://static.metabase.com/version-info.json");
        config_free(c);
        c = load_ok("releases:\n  edition: oss\n");
        assert_string_equal(c->releases.feed, "https://static.metabase.com/version-info.json");
        config_free(c);

        /* Booleans, in any case. */
        c = load_ok("policy:\n  hold: TRUE\n  stepwise: No\nreleases: {require_checksum: 'false'}\n");
        assert_true(c->policy.hold);
        assert_false(c->policy.stepwise);
        assert_false(c->releases.require_checksum);
        config_free(c);

        /* Null and empty values: "" for strings, the empty list for skip. */
        c = load_ok("releases:\n  ca_file:\n  signing_key: ~\nservice:\n  jar: ''\n  health_url: null\n"
                    "policy:\n  skip:\nadmin_group:\n");
        assert_string_equal(c->releases.ca_file, "");
        assert_string_equal(c->releases.signing_key, "");
        assert_string_equal(c->service.jar, "");
        assert_string_equal(c->service.health_url, "");
        assert_int_equal(c->policy.n_skip, 0);
        assert_non_null(c->policy.skip);
        assert_string_equal(c->admin_group, "");
        config_free(c);

        /* Block lists, duplicates folded, flow mappings, a document end marker. */
        c = load_ok("---\npolicy:\n  skip:\n    - v0.56.3\n    - 0.56.3\n    - v0.55.1\n"
                    "service: {unit: x.service}\n...\n");
        assert_int_equal(c->policy.n_skip, 2);
        assert_string_equal(c->policy.skip[0], "v0.56.3");
        assert_string_equal(c->policy.skip[1], "v0.55.1");
        assert_string_equal(c->service.unit, "x.service");
        config_free(c);

        /* Durations: a bare number is seconds; combinations. */
        c = load_ok("releases:\n  check_every: 30\nservice:\n  settle: 1m30s\n  start_timeout: 2h\n"
                    "policy:\n  min_age: 2w\n");
        assert_int_equal(c->releases.check_every_usec, 30 * USEC_PER_SEC);
        assert_int_equal(c->service.settle_usec, 90 * USEC_PER_SEC);
        assert_int_equal(c->service.start_timeout_usec, 2 * HOUR);
        assert_int_equal(c->policy.min_age_usec, 14 * DAY);
        config_free(c);

        /* Group and unit names. */
        c = load_ok("admin_group: Metabase_Admins-2\nservice:\n  unit: my-metabase.service\n");
        assert_string_equal(c->admin_group, "Metabase_Admins-2");
        assert_string_equal(c->service.unit, "my-metabase.service");
        config_free(c);

        /* keep bounds */
        c = load_ok("backup:\n  keep: 1\n");
        assert_int_equal(c->backup.keep, 1);
        config_free(c);

        /* "/" stays "/" */
        c = load_ok("state_dir: /\n");
        assert_string_equal(c->state_dir, "/");
        config_free(c);
}

static void test_errors(void **state) {
        static const struct {
                const char *yaml;
                const char *message; /* after "FILE:" */
        } cases[] = {
                /* enums */
                {"policy:\n  apply: window\n  allow: huge\n",
                 "3: policy.allow: expected patch, minor or major, got 'huge'"},
                {"policy:\n  allow: none\n", "2: policy.allow: expected patch, minor or major, got 'none'"},
                {"policy:\n  allow: Minor\n", "2: policy.allow: expected patch, minor or major, got 'Minor'"},
                {"policy:\n  apply: sometimes\n",
                 "2: policy.apply: expected never, window or immediately, got 'sometimes'"},
                {"releases:\n  edition: ee\n", "2: releases.edition: expected oss or enterprise, got 'ee'"},
                {"backup:\n  postgres: snapshot\n",
                 "2: backup.postgres: expected dump or clone, got 'snapshot'"},
                {"releases:\n  channel: nightly\n",
                 "2: releases.channel: expected latest or beta, got 'nightly'"},
                {"releases:\n  follow: promoted\n",
                 "2: releases.follow: expected latest or newest, got 'promoted'"},
                /* unknown keys */
                {"colour: blue\n",
                 "1: colour: unknown key (known keys: releases, policy, service, backup, notify, hooks, rehearsal, fleet, proxy, upgrade, metrics_file, maintenance_flag, "
                 "state_dir, admin_group)"},
                {"releases:\n  edition: oss\n  mirror: x\n",
                 "3: releases.mirror: unknown key (known keys: edition, feed, downloads, channel, follow, check_every, "
                 "ca_file, require_checksum, signing_key)"},
                {"policy:\n  skip: []\n  holds: true\n",
                 "3: policy.holds: unknown key (known keys: apply, allow, min_age, hold, skip, stepwise, window_max, rehearse, approve)"},
                {"service:\n\n\n  Unit: x.service\n",
                 "4: service.Unit: unknown key (known keys: unit, jar, health_url, start_timeout, stall_timeout, "
                 "settle)"},
                {"backup:\n  keep: 3\n  kept: 3\n",
                 "3: backup.kept: unknown key (known keys: dir, keep, app_db, postgres)"},
                {"\"\": 1\n",
                 "1: \"\": unknown key (known keys: releases, policy, service, backup, notify, hooks, rehearsal, fleet, proxy, upgrade, metrics_file, maintenance_flag, "
                 "state_dir, admin_group)"},
                /* wrong types */
                {"policy:\n  allow:\n    step: minor\n",
                 "3: policy.allow: expected patch, minor or major, got a mapping"},
                {"policy:\n  hold: [true]\n", "2: policy.hold: expected true or false, got a list"},
                {"releases: oss\n", "1: releases: expected a mapping of keys, got a single value"},
                {"releases:\n  - edition: oss\n", "2: releases: expected a mapping of keys, got a list"},
                {"policy:\n  skip: v0.56.3\n",
                 "2: policy.skip: expected a list (of a version like v0.56.3), got a single value"},
                {"policy:\n  skip:\n    - [v0.56.3]\n",
                 "3: policy.skip: expected a version like v0.56.3, got a list"},
                {"policy:\n  skip: {v0.56.3: yes}\n",
                 "2: policy.skip: expected a list (of a version like v0.56.3), got a mapping"},
                {"state_dir:\n  path: /x\n", "2: state_dir: expected an absolute path, got a mapping"},
                {"[a, b]\n", "1: expected a mapping of keys at the top level, got a list"},
                {"just a string\n", "1: expected a mapping of keys at the top level, got a single value"},
                {"? [a, b]\n: c\n", "1: expected a key name, got a list"},
                {"releases:\n  ? {a: b}\n  : c\n", "2: releases: expected a key name, got a mapping"},
                /* booleans */
                {"policy:\n  hold: on\n", "2: policy.hold: expected true or false, got 'on'"},
                {"policy:\n  stepwise: 1\n", "2: policy.stepwise: expected true or false, got '1'"},
                {"releases:\n  require_checksum:\n",
                 "2: releases.require_checksum: expected true or false, got ''"},
                /* durations */
                {"releases:\n  check_every: 6 hours\n",
                 "2: releases.check_every: expected a duration longer than 0 like 90s, 5m, 6h or 7d, "
                 "got '6 hours'"},
                {"releases:\n  check_every: 0\n",
                 "2: releases.check_every: expected a duration longer than 0 like 90s, 5m, 6h or 7d, got '0'"},
                {"policy:\n  min_age: -1d\n",
                 "2: policy.min_age: expected a duration like 90s, 5m, 6h or 7d, got '-1d'"},
                {"policy:\n  min_age: 1.5d\n",
                 "2: policy.min_age: expected a duration like 90s, 5m, 6h or 7d, got '1.5d'"},
                {"policy:\n  min_age: 1h30\n",
                 "2: policy.min_age: expected a duration like 90s, 5m, 6h or 7d, got '1h30'"},
                {"policy:\n  min_age: 3651d\n",
                 "2: policy.min_age: expected a duration like 90s, 5m, 6h or 7d, got '3651d'"},
                {"service:\n  settle: 99999999999999999999s\n",
                 "2: service.settle: expected a duration like 90s, 5m, 6h or 7d, got '99999999999999999999s'"},
                {"service:\n  stall_timeout: 5M\n",
                 "2: service.stall_timeout: expected a duration longer than 0 like 90s, 5m, 6h or 7d, got '5M'"},
                {"service:\n  start_timeout: ''\n",
                 "2: service.start_timeout: expected a duration longer than 0 like 90s, 5m, 6h or 7d, got ''"},
                /* versions in skip */
                {"policy:\n  skip:\n    - v0.56.3\n    - v0.56\n",
                 "4: policy.skip: expected a version like v0.56.3, got 'v0.56'"},
                {"policy:\n  skip: [v2.56.3]\n",
                 "2: policy.skip: expected a version like v0.56.3, got 'v2.56.3'"},
                {"policy:\n  skip: [\"v0.56.3/..\"]\n",
                 "2: policy.skip: expected a version like v0.56.3, got 'v0.56.3/..'"},
                {"policy:\n  skip: [~]\n", "2: policy.skip: expected a version like v0.56.3, got ''"},
                /* keep */
                {"backup:\n  keep: 0\n", "2: backup.keep: expected a number from 1 to 1000, got '0'"},
                {"backup:\n  keep: 1001\n", "2: backup.keep: expected a number from 1 to 1000, got '1001'"},
                {"backup:\n  keep: -1\n", "2: backup.keep: expected a number from 1 to 1000, got '-1'"},
                {"backup:\n  keep: five\n", "2: backup.keep: expected a number from 1 to 1000, got 'five'"},
                {"backup:\n  keep: 99999999999999999999999\n",
                 "2: backup.keep: expected a number from 1 to 1000, got '99999999999999999999999'"},
                /* paths */
                {"state_dir: var/lib/mbupgraded\n",
                 "1: state_dir: expected an absolute path, got 'var/lib/mbupgraded'"},
                {"state_dir: ''\n", "1: state_dir: expected an absolute path, got ''"},
                {"backup:\n  dir: ./backups\n", "2: backup.dir: expected an absolute path, got './backups'"},
                {"service:\n  jar: metabase.jar\n",
                 "2: service.jar: expected an absolute path or \"\", got 'metabase.jar'"},
                {"releases:\n  ca_file: ca.pem\n",
                 "2: releases.ca_file: expected an absolute path or \"\", got 'ca.pem'"},
                {"releases:\n  signing_key: key.pem\n",
                 "2: releases.signing_key: expected the absolute path of a PEM public key, or \"\", "
                 "got 'key.pem'"},
                {"state_dir: \"/var/lib/x\\ty\"\n",
                 "1: state_dir: expected an absolute path, got '/var/lib/x?y'"},
                /* URLs */
                {"releases:\n  feed: ftp://example.com/feed.json\n",
                 "2: releases.feed: expected an https://, http:// or file:/// URL, got 'ftp://example.com/feed.json'"},
                {"releases:\n  feed: ''\n",
                 "2: releases.feed: expected an https://, http:// or file:/// URL, got ''"},
                {"releases:\n  feed: https:///feed.json\n",
                 "2: releases.feed: expected an https://, http:// or file:/// URL, got 'https:///feed.json'"},
                {"releases:\n  downloads: https://a b/\n",
                 "2: releases.downloads: expected an https://, http:// or file:/// URL, got 'https://a b/'"},
                {"releases:\n  downloads: https://\n",
                 "2: releases.downloads: expected an https://, http:// or file:/// URL, got 'https://'"},
                {"service:\n  health_url: 127.0.0.1:3000\n",
                 "2: service.health_url: expected an http:// or https:// URL, or \"\", got '127.0.0.1:3000'"},
                /* unit names */
                {"service:\n  unit: metabase\n",
                 "2: service.unit: expected a unit name ending in .service, got 'metabase'"},
                {"service:\n  unit: metabase.timer\n",
                 "2: service.unit: expected a unit name ending in .service, got 'metabase.timer'"},
                {"service:\n  unit: ../metabase.service\n",
                 "2: service.unit: expected a unit name ending in .service, got '../metabase.service'"},
                {"service:\n  unit: a/b.service\n",
                 "2: service.unit: expected a unit name ending in .service, got 'a/b.service'"},
                {"service:\n  unit: .service\n",
                 "2: service.unit: expected a unit name ending in .service, got '.service'"},
                {"service:\n  unit: metabase@.service\n",
                 "2: service.unit: expected a unit name ending in .service, got 'metabase@.service'"},
                {"service:\n  unit: meta base.service\n",
                 "2: service.unit: expected a unit name ending in .service, got 'meta base.service'"},
                /* group names */
                {"admin_group: 1admins\n",
                 "1: admin_group: expected a group name, or \"\" for root only, got '1admins'"},
                {"admin_group: a b\n",
                 "1: admin_group: expected a group name, or \"\" for root only, got 'a b'"},
                {"admin_group: a:b\n",
                 "1: admin_group: expected a group name, or \"\" for root only, got 'a:b'"},
                {"admin_group: [wheel]\n",
                 "1: admin_group: expected a group name, or \"\" for root only, got a list"},
                {"admin_group: abcdefghijklmnopqrstuvwxyzabcdefg\n",
                 "1: admin_group: expected a group name, or \"\" for root only, "
                 "got 'abcdefghijklmnopqrstuvwxyzabcdefg'"},
                /* duplicates */
                {"policy:\n  hold: true\n  allow: minor\n  hold: false\n",
                 "4: policy.hold: duplicate key (first set on line 2)"},
                {"releases: {}\nreleases:\n  edition: oss\n",
                 "2: releases: duplicate key (first set on line 1)"},
                /* long values are cut in messages */
                {"policy:\n  allow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
                 "2: policy.allow: expected patch, minor or major, got "
                 "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'"},
                /* YAML itself */
                {"releases:\n  edition: oss\n policy: x\n",
                 "3: invalid YAML: did not find expected key (while parsing a block mapping started on line 1)"},
                {"releases:\n  edition: 'oss\n",
                 "3: invalid YAML: found unexpected end of stream "
                 "(while scanning a quoted scalar started on line 2)"},
                {"a: &x 1\nb: *x\n",
                 "1: a: unknown key (known keys: releases, policy, service, backup, notify, hooks, rehearsal, fleet, proxy, upgrade, metrics_file, "
                 "maintenance_flag, "
                 "state_dir, admin_group)"},
                {"state_dir: &x /a\nadmin_group: *x\n", "2: YAML aliases (*name) are not supported here"},
                {"state_dir: /a\n---\nstate_dir: /b\n",
                 "2: more than one YAML document: expected a single mapping of keys"},
                {"state_dir: \"/a\\0b\"\n", "1: state_dir: the value contains a NUL character"},
                {"state_dir: /a\n\xff\xfe\n", "2: invalid YAML: invalid leading UTF-8 octet"},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                load_fails(cases[i].yaml, cases[i].message);
}

static void test_file_errors(void **state) {
        Config *c = NULL;
        char *error = NULL, *path, *big;

        /* Missing */
        path = strdup_printf("%s/missing.yaml", tmpdir);
        assert_int_equal(config_load(path, &c, &error), -ENOENT);
        assert_null(c);
        assert_non_null(strstr(error, "missing.yaml: No such file or directory"));
        free(error);
        error = NULL;
        assert_int_equal(config_load(path, &c, NULL), -ENOENT);
        free(path);

        /* A directory */
        assert_int_equal(config_load(tmpdir, &c, &error), -EISDIR);
        assert_null(c);
        assert_non_null(strstr(error, "Is a directory"));
        free(error);
        error = NULL;

        /* A FIFO: refused, without waiting for a writer */
        path = strdup_printf("%s/fifo.yaml", tmpdir);
        assert_int_equal(mkfifo(path, 0600), 0);
        assert_int_equal(config_load(path, &c, &error), -EBADFD);
        assert_non_null(strstr(error, "not a regular file"));
        free(error);
        error = NULL;
        free(path);

        /* Too large: a comment of more than 1 MiB */
        big = malloc(1024 * 1024 + 2);
        assert_non_null(big);
        big[0] = '#';
        memset(big + 1, 'x', 1024 * 1024);
        big[1024 * 1024 + 1] = '\0';
        write_config(big);
        assert_int_equal(config_load(cfg, &c, &error), -EFBIG);
        assert_non_null(strstr(error, "larger than 1024 KiB"));
        free(error);
        error = NULL;
        /* ... but exactly 1 MiB is fine. */
        big[1024 * 1024] = '\0';
        write_config(big);
        assert_int_equal(config_load(cfg, &c, &error), 0);
        assert_defaults(c);
        config_free(c);
        free(big);
}

static void test_deep_nesting(void **state) {
        /* Deep nesting is refused at the first level that does not fit the schema, without
         * recursing or allocating for the rest. */
        size_t n = 100000;
        char *s = malloc(2 * n + 32), *p;

        assert_non_null(s);
        p = stpcpy(s, "releases:\n  edition: ");
        memset(p, '[', n);
        p[n] = '\0';
        load_fails(s, "2: releases.edition: expected oss or enterprise, got a list");

        p = stpcpy(s, "state_dir: ");
        for (size_t i = 0; i < n; i++)
                *p++ = '{';
        *p = '\0';
        load_fails(s, "1: state_dir: expected an absolute path, got a mapping");
        free(s);
}

static void test_notify_metrics_maintenance(void **state) {
        Config *c;

        c = load_ok("notify:\n"
                    "  webhook: https://hooks.slack.com/services/T0/B0/x\n"
                    "  command: 'mail -s \"$MBUP_TEXT\" root </dev/null'\n"
                    "metrics_file: /var/lib/prometheus/node-exporter/mbupgraded.prom\n"
                    "maintenance_flag: \"\"\n");
        assert_string_equal(c->notify.webhook, "https://hooks.slack.com/services/T0/B0/x");
        assert_string_equal(c->notify.command, "mail -s \"$MBUP_TEXT\" root </dev/null");
        assert_string_equal(c->metrics_file, "/var/lib/prometheus/node-exporter/mbupgraded.prom");
        assert_string_equal(c->maintenance_flag, "");
        config_free(c);

        /* hooks: their defaults, and the commands and limit as given */
        c = load_ok("state_dir: /a\n");
        assert_string_equal(c->hooks.pre_upgrade, "");
        assert_string_equal(c->hooks.user, "nobody");
        assert_string_equal(c->hooks.dir, "");
        assert_int_equal(c->hooks.timeout_usec, 300 * USEC_PER_SEC);
        config_free(c);
        c = load_ok("hooks:\n"
                    "  pre_upgrade: '/usr/local/bin/drain \"$MBUP_VERSION_TO\"'\n"
                    "  verify: /usr/local/bin/smoke-test\n"
                    "  timeout: 30s\n"
                    "  user: mbhooks\n"
                    "  dir: /srv/hooks\n");
        assert_string_equal(c->hooks.pre_upgrade, "/usr/local/bin/drain \"$MBUP_VERSION_TO\"");
        assert_string_equal(c->hooks.verify, "/usr/local/bin/smoke-test");
        assert_string_equal(c->hooks.post_commit, "");
        assert_int_equal(c->hooks.timeout_usec, 30 * USEC_PER_SEC);
        assert_string_equal(c->hooks.user, "mbhooks");
        assert_string_equal(c->hooks.dir, "/srv/hooks");
        config_free(c);
        load_fails(
                "hooks:\n  timeout: 0\n",
                "2: hooks.timeout: expected a duration longer than 0 like 90s, 5m, 6h or 7d, got '0'");
        load_fails("hooks:\n  dir: hooks\n", "2: hooks.dir: expected an absolute path or \"\", got 'hooks'");

        /* plain http only to this machine, as the fetch helper allows */
        c = load_ok("notify:\n  webhook: http://127.0.0.1:8080/hook\n");
        assert_string_equal(c->notify.webhook, "http://127.0.0.1:8080/hook");
        config_free(c);
        c = load_ok("notify:\n  webhook: http://localhost/hook\n");
        config_free(c);
        load_fails(
                "notify:\n  webhook: http://hooks.example.com/x\n",
                "2: notify.webhook: expected an https:// URL (http:// only to this machine), or \"\", got "
                "'http://hooks.example.com/x'");
        load_fails(
                "notify:\n  webhook: http://localhost.example.com/x\n",
                "2: notify.webhook: expected an https:// URL (http:// only to this machine), or \"\", got "
                "'http://localhost.example.com/x'");
        load_fails(
                "notify:\n  webhook: file:///tmp/x\n",
                "2: notify.webhook: expected an https:// URL (http:// only to this machine), or \"\", got "
                "'file:///tmp/x'");
        load_fails(
                "notify:\n  mail: root\n",
                "2: notify.mail: unknown key (known keys: webhook, command, user, webhook_events, command_events)");
        /* the kinds each channel is told of: all by default, else those listed */
        c = load_ok("notify:\n  command_events: [available, blocked, rolled-back]\n");
        assert_true(c->notify.webhook_events.mask == NOTIFY_EVENTS_ALL);
        assert_true(notify_events_has(&c->notify.command_events, NOTIFY_AVAILABLE));
        assert_true(notify_events_has(&c->notify.command_events, NOTIFY_BLOCKED));
        assert_true(notify_events_has(&c->notify.command_events, NOTIFY_ROLLED_BACK));
        assert_false(notify_events_has(&c->notify.command_events, NOTIFY_STAGED));
        assert_false(notify_events_has(&c->notify.command_events, NOTIFY_COMMITTED));
        config_free(c);
        load_fails(
                "notify:\n  webhook_events:\n    - due\n    - released\n",
                "4: notify.webhook_events: expected one of available, staged, due, blocked, committed, rolled-back, "
                "rollback-failed, failed, refused, rehearsal, got 'released'");
        load_fails(
                "metrics_file: metrics.prom\n",
                "1: metrics_file: expected an absolute path or \"\", got 'metrics.prom'");
        load_fails(
                "maintenance_flag: run/flag\n",
                "1: maintenance_flag: expected an absolute path or \"\", got 'run/flag'");
        load_fails(
                "proxy:\n  url: file:///tmp/x\n",
                "2: proxy.url: expected an https:// URL (http:// only to this machine), or \"\", got "
                "'file:///tmp/x'");
        load_fails(
                "proxy:\n  nginx_unit: nginx\n",
                "2: proxy.nginx_unit: expected a unit name ending in .service, got 'nginx'");
}

static void test_rehearsal(void **state) {
        Config *c = config_new();
        uint64_t v;

        /* the defaults: auto, 3G for the second Metabase, copies up to 20G */
        assert_non_null(c);
        assert_int_equal(c->policy.rehearse, REHEARSE_AUTO);
        assert_int_equal(c->rehearsal.memory_max, 3ULL << 30);
        assert_int_equal(c->rehearsal.max_copy_size, 20ULL << 30);
        assert_int_equal(c->rehearsal.timeout_usec, 0);
        config_free(c);

        c = load_ok("policy:\n  rehearse: always\nrehearsal:\n  memory_max: 1536M\n  max_copy_size: 0\n"
                    "  timeout: 2h\n");
        assert_int_equal(c->policy.rehearse, REHEARSE_ALWAYS);
        assert_int_equal(c->rehearsal.memory_max, 1536ULL << 20);
        assert_int_equal(c->rehearsal.max_copy_size, 0);
        assert_int_equal(c->rehearsal.timeout_usec, 2 * 3600 * USEC_PER_SEC);
        config_free(c);
        c = load_ok("policy:\n  rehearse: never\n");
        assert_int_equal(c->policy.rehearse, REHEARSE_NEVER);
        config_free(c);
        /* policy.approve: off unless asked for */
        c = config_new();
        assert_false(c->policy.approve);
        config_free(c);
        c = load_ok("policy:\n  approve: true\n");
        assert_true(c->policy.approve);
        config_free(c);

        load_fails(
                "policy:\n  rehearse: sometimes\n",
                "2: policy.rehearse: expected auto, always or never, got 'sometimes'");
        load_fails(
                "rehearsal:\n  memory_max: 0\n",
                "2: rehearsal.memory_max: expected a size larger than 0 like 512M, 3G, got '0'");
        load_fails(
                "rehearsal:\n  memory_max: 2GB\n",
                "2: rehearsal.memory_max: expected a size larger than 0 like 512M, 3G, got '2GB'");
        load_fails(
                "rehearsal:\n  max_copy_size: -1\n",
                "2: rehearsal.max_copy_size: expected a size like 512M, 3G or 1T, got '-1'");
        load_fails(
                "rehearsal:\n  bogus: 1\n",
                "2: rehearsal.bogus: unknown key (known keys: memory_max, max_copy_size, timeout)");

        assert_int_equal(parse_size("1024", &v), 0);
        assert_int_equal(v, 1024);
        assert_int_equal(parse_size("4K", &v), 0);
        assert_int_equal(v, 4096);
        assert_int_equal(parse_size("3G", &v), 0);
        assert_int_equal(v, 3ULL << 30);
        assert_int_equal(parse_size("2T", &v), 0);
        assert_int_equal(v, 2ULL << 40);
        assert_int_equal(parse_size("16777215T", &v), 0);
        static const char *const bad[] = {
                "", "G", "1.5G", "1g", "1GB", "1 G", "-1", "1P", "16777216T", "99999999999999999999", "1K1"};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(parse_size(bad[i], &v), -EINVAL);
        assert_int_equal(parse_size(NULL, &v), -EINVAL);
        assert_string_equal(rehearse_mode_to_string(REHEARSE_ALWAYS), "always");
        assert_int_equal(rehearse_mode_from_string("never"), REHEARSE_NEVER);
        assert_int_equal(rehearse_mode_from_string("x"), -EINVAL);
}

/* upgrade.zero_downtime: auto by default (it takes effect only when every condition holds). */
static void test_zero_downtime(void **state) {
        Config *c = config_new();

        assert_non_null(c);
        assert_int_equal(c->upgrade.zero_downtime, ZERO_DOWNTIME_MODE_AUTO);
        config_free(c);
        c = load_ok("upgrade:\n  zero_downtime: never\n");
        assert_int_equal(c->upgrade.zero_downtime, ZERO_DOWNTIME_MODE_NEVER);
        config_free(c);
        c = load_ok("upgrade:\n  zero_downtime: auto\n");
        assert_int_equal(c->upgrade.zero_downtime, ZERO_DOWNTIME_MODE_AUTO);
        config_free(c);
        load_fails(
                "upgrade:\n  zero_downtime: always\n",
                "2: upgrade.zero_downtime: expected auto or never, got 'always'");
        assert_string_equal(zero_downtime_mode_to_string(ZERO_DOWNTIME_MODE_NEVER), "never");
}

static void test_fleet(void **state) {
        Config *c;

        c = load_ok("fleet:\n"
                    "  enabled: true\n"
                    "  node: mb-2\n"
                    "  database: postgres://mbup@db.example.com:5432/metabase_mbupgraded\n"
                    "  nodes: [mb-1, mb-2, mb-3, mb-2]\n"
                    "  heartbeat: 2s\n"
                    "  lost_after: 10s\n"
                    "  parallel: 3\n");
        assert_true(c->fleet.enabled);
        assert_string_equal(c->fleet.node, "mb-2");
        assert_string_equal(c->fleet.database, "postgres://mbup@db.example.com:5432/metabase_mbupgraded");
        assert_int_equal(strv_length(c->fleet.nodes), 3); /* the duplicate once */
        assert_string_equal(c->fleet.nodes[2], "mb-3");
        assert_int_equal(c->fleet.heartbeat_usec, 2 * USEC_PER_SEC);
        assert_int_equal(c->fleet.lost_after_usec, 10 * USEC_PER_SEC);
        assert_int_equal(c->fleet.parallel, 3);
        config_free(c);

        c = load_ok("fleet:\n  enabled: true\n  expect: 5\n");
        assert_int_equal(c->fleet.expect, 5);
        config_free(c);

        load_fails(
                "fleet:\n  node: -bad\n",
                "2: fleet.node: expected a node name (letters, digits, '.', '_', '-') or \"\", got '-bad'");
        load_fails(
                "fleet:\n  nodes: [mb-1, 'a b']\n",
                "2: fleet.nodes: expected a node name (letters, digits, '.', '_', '-'), got 'a b'");
        load_fails(
                "fleet:\n  database: mysql://x/y\n",
                "2: fleet.database: expected a postgres:// or postgresql:// URI, or \"\", got 'mysql://x/y'");
        load_fails("fleet:\n  parallel: 0\n", "2: fleet.parallel: expected a number from 1 to 100, got '0'");
        load_fails(
                "fleet:\n  expect: 101\n",
                "2: fleet.expect: expected a number of nodes from 0 to 100, got '101'");
        load_fails(
                "state_dir: /x\nfleet:\n  expect: 2\n  nodes: [a, b, c]\n",
                "2: fleet: expect is 2 but nodes names 3 nodes; give one of them, or the same number");
        load_fails("fleet:\n  node: d\n  nodes: [a, b, c]\n", "1: fleet: node 'd' is not one of nodes");
        load_fails(
                "fleet:\n  heartbeat: 10s\n  lost_after: 15s\n",
                "1: fleet: lost_after must be at least twice heartbeat, or a node is lost between two heartbeats");
        load_fails(
                "fleet:\n  enabled: true\n",
                "1: fleet: enabled, but neither expect nor nodes says how many nodes there are");
}

/* The commented config the package installs loads as it is: every key in it is known, every
 * value is one its parser takes. */
static void test_shipped_config(void **state) {
        const char *root = getenv("MBUP_SOURCE_ROOT");
        _cleanup_free_ char *path = NULL, *error = NULL;
        Config *c = NULL;

        if (!root)
                skip(); /* run outside meson test */
        path = strdup_printf("%s/config/mbupgraded.yaml", root);
        assert_non_null(path);
        if (config_load(path, &c, &error) < 0)
                fail_msg("%s: %s", path, error);
        config_free(c);
}

static void test_parse_duration(void **state) {
        static const struct {
                const char *s;
                uint64_t usec;
        } good[] = {
                {"0", 0},
                {"0s", 0},
                {"90", 90 * USEC_PER_SEC},
                {"90s", 90 * USEC_PER_SEC},
                {"5m", 5 * MIN},
                {"6h", 6 * HOUR},
                {"7d", 7 * DAY},
                {"2w", 14 * DAY},
                {"500ms", 500 * USEC_PER_MSEC},
                {"250us", 250},
                {"1h30m", 90 * MIN},
                {"1d2h3m4s5ms6us", DAY + 2 * HOUR + 3 * MIN + 4 * USEC_PER_SEC + 5 * USEC_PER_MSEC + 6},
                {"30m1h", 90 * MIN},
                {"007s", 7 * USEC_PER_SEC},
                {"18446744073709us", 18446744073709ULL},
                {"18446744073709551615us", UINT64_MAX},
        };
        static const char *const bad[] = {
                "",
                "s",
                "m5",
                "5 m",
                " 5m",
                "5m ",
                "5M",
                "5min",
                "5sec",
                "1h30",
                "1.5h",
                "-5m",
                "+5m",
                "5mm",
                "1x",
                "h1",
                "0x10",
                "1e3",
                "5m\n",
                "1h 30m",
                "18446744073709551616us", /* overflow */
                "18446744073709551616",   /* overflow */
                "18446744073709552s",     /* overflow after scaling */
                "213503982335d",          /* overflow after scaling */
                "18446744073709551615us1us",
        };
        uint64_t u;

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                u = 12345;
                if (parse_duration(good[i].s, &u) < 0)
                        fail_msg("'%s' did not parse", good[i].s);
                assert_int_equal(u, good[i].usec);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                u = 12345;
                if (parse_duration(bad[i], &u) != -EINVAL)
                        fail_msg("'%s' parsed", bad[i]);
                assert_int_equal(u, 12345);
        }
        assert_int_equal(parse_duration(NULL, &u), -EINVAL);
}

static void test_format_duration(void **state) {
        static const struct {
                uint64_t usec;
                const char *s;
        } cases[] = {
                {0, "0"},
                {1, "1us"},
                {90 * USEC_PER_SEC, "90s"},
                {60 * USEC_PER_SEC, "1m"},
                {5 * MIN, "5m"},
                {90 * MIN, "90m"},
                {6 * HOUR, "6h"},
                {7 * DAY, "7d"},
                {14 * DAY, "14d"},
                {36 * HOUR, "36h"},
                {DAY + USEC_PER_SEC, "1d1s"},
                {2 * HOUR + 30 * USEC_PER_SEC, "2h30s"},
                {500 * USEC_PER_MSEC, "500ms"},
                {1500 * USEC_PER_MSEC, "1500ms"},
                {61 * USEC_PER_SEC + 1, "61s1us"},
        };
        char buf[64];

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                assert_ptr_equal(format_duration(cases[i].usec, buf, sizeof(buf)), buf);
                assert_string_equal(buf, cases[i].s);
        }

        /* Round trip for many values, down to the microsecond, up to the largest. */
        for (uint64_t u = 1; u < UINT64_MAX / 3; u = u * 3 + 7) {
                uint64_t back = 0;

                format_duration(u, buf, sizeof(buf));
                assert_int_equal(parse_duration(buf, &back), 0);
                assert_int_equal(back, u);
        }
        format_duration(UINT64_MAX, buf, sizeof(buf));
        {
                uint64_t back = 0;
                assert_int_equal(parse_duration(buf, &back), 0);
                assert_int_equal(back, UINT64_MAX);
        }

        /* A short buffer truncates, and is always terminated. */
        format_duration(90 * MIN, buf, 3);
        assert_string_equal(buf, "90");
}

static void test_enum_strings(void **state) {
        for (Edition e = 0; e < _EDITION_MAX; e++)
                assert_int_equal(edition_from_string(edition_to_string(e)), e);
        for (Channel ch = 0; ch < _CHANNEL_MAX; ch++)
                assert_int_equal(channel_from_string(channel_to_string(ch)), ch);
        for (FollowMode f = 0; f < _FOLLOW_MAX; f++)
                assert_int_equal(follow_from_string(follow_to_string(f)), f);
        assert_string_equal(follow_to_string(FOLLOW_NEWEST), "newest");
        assert_int_equal(follow_from_string("promoted"), _FOLLOW_INVALID);
        for (ApplyMode m = 0; m < _APPLY_MAX; m++)
                assert_int_equal(apply_mode_from_string(apply_mode_to_string(m)), m);
        for (PgBackupMethod m = 0; m < _PG_BACKUP_MAX; m++)
                assert_int_equal(pg_backup_method_from_string(pg_backup_method_to_string(m)), m);

        assert_string_equal(edition_to_string(EDITION_ENTERPRISE), "enterprise");
        assert_string_equal(channel_to_string(CHANNEL_BETA), "beta");
        assert_string_equal(apply_mode_to_string(APPLY_IMMEDIATELY), "immediately");
        assert_null(edition_to_string(_EDITION_MAX));
        assert_null(channel_to_string(_CHANNEL_INVALID));
        assert_null(apply_mode_to_string(_APPLY_MAX));
        assert_int_equal(edition_from_string("OSS"), _EDITION_INVALID);
        assert_int_equal(channel_from_string(""), _CHANNEL_INVALID);
        assert_int_equal(apply_mode_from_string(NULL), _APPLY_INVALID);
}

static void test_file_mirror(void **state) {
        Config *c = NULL;
        char *err = NULL;
        char path[] = "/tmp/test-config-mirror-XXXXXX";
        int fd = mkstemp(path);
        const char *text =
                "releases:\n  feed: file:///srv/mirror/version-info.json\n  downloads: file:///srv/mirror\n";

        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        close(fd);
        assert_int_equal(config_load(path, &c, &err), 0);
        assert_string_equal(c->releases.feed, "file:///srv/mirror/version-info.json");
        assert_string_equal(c->releases.downloads, "file:///srv/mirror");
        config_free(c);
        unlink(path);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_file_mirror),
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_every_key),
                cmocka_unit_test(test_values),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_file_errors),
                cmocka_unit_test(test_deep_nesting),
                cmocka_unit_test(test_notify_metrics_maintenance),
                cmocka_unit_test(test_zero_downtime),
                cmocka_unit_test(test_fleet),
                cmocka_unit_test(test_rehearsal),
                cmocka_unit_test(test_shipped_config),
                cmocka_unit_test(test_parse_duration),
                cmocka_unit_test(test_format_duration),
                cmocka_unit_test(test_enum_strings),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
