/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include "backups.h"
#include "bus-api.h"
#include "daemon.h"
#include "dbserver.h"
#include "engine.h"
#include "fileio.h"
#include "fleet.h"
#include "hooks.h"
#include "log.h"
#include "maintenance.h"
#include "metrics.h"
#include "notify.h"
#include "rehearse.h"
#include "secrets.h"
#include "feed-watch.h"
#include "plan.h"
#include "release-news.h"
#include "proxy.h"
#include "bridge.h"
#include "staging.h"

int daemon_new(Config *config, Manager **ret) {
        Manager *m;

        m = calloc(1, sizeof(Manager));
        if (!m)
                return -ENOMEM;
        m->config = config;
        if (events_new(&m->events) < 0 || engine_new(m, &m->engine) < 0) {
                events_free(m->events);
                free(m);
                return -ENOMEM;
        }
        *ret = m;
        return 0;
}

Manager *daemon_free(Manager *m) {
        if (!m)
                return NULL;
        m->engine = engine_free(m->engine);
        backups_cancel(m);
        m->release_news = release_news_free(m->release_news);
        m->planner = planner_free(m->planner);
        m->feed_watch = feed_watch_free(m->feed_watch);
        m->staging = staging_free(m->staging);
        m->notifier = notifier_free(m->notifier);
        m->hooks = hooks_free(m->hooks);
        m->fleet = fleet_free(m->fleet);
        m->rehearsal = rehearse_free(m->rehearsal);
        m->metrics = metrics_free(m->metrics);
        m->bridge = bridge_free(m->bridge);
        m->proxy = proxy_free(m->proxy);
        operation_free(m->op);
        manager_done(m);
        sd_bus_flush_close_unref(m->bus);
        sd_event_unref(m->event);
        config_free(m->config);
        events_free(m->events);
        free(m);
        return NULL;
}

int daemon_startup(Manager *m) {
        _cleanup_free_ char *releases = NULL;
        int r;

        /* 0755 under UMask=0077 too: a rehearsal, run as metabase.service's User=, reads its JAR
         * under state_dir/staging (StateDirectoryMode=0755 when the unit makes it). */
        r = mkdir_parents_and_self_exact(m->config->state_dir, 0755);
        if (r < 0)
                return log_error_errno(r, "Failed to create state_dir %s: %m", m->config->state_dir);
        releases = manager_state_path(m, "releases");
        if (!releases)
                return -ENOMEM;
        r = mkdir_parents_and_self(releases, 0755);
        if (r < 0)
                return log_error_errno(r, "Failed to create %s: %m", releases);
        r = mkdir_parents_and_self(m->config->backup.dir, 0700);
        if (r < 0)
                return log_error_errno(r, "Failed to create backup.dir %s: %m", m->config->backup.dir);

        r = sd_event_default(&m->event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the event loop: %m");
        (void) sd_event_set_watchdog(m->event, true);

        r = sd_bus_open_system(&m->bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus: %m");
        r = sd_bus_attach_event(m->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the bus to the event loop: %m");

        r = manager_load(m);
        if (r < 0)
                return r;

        r = bus_api_register(m);
        if (r < 0)
                return r;

        r = notifier_new(m, &m->notifier);
        if (r < 0)
                return log_error_errno(r, "Failed to set up notifications: %m");
        r = hooks_new(m, &m->hooks);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the hooks: %m");
        r = metrics_new(m, &m->metrics);
        if (r < 0)
                return log_error_errno(r, "Failed to set up metrics: %m");
        r = proxy_new(m, &m->proxy);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the proxy: %m");
        proxy_start(m->proxy);

        /* Before the engine: a rehearsal left by a daemon that died is removed first. */
        r = rehearse_new(m, &m->rehearsal);
        if (r < 0)
                return log_error_errno(r, "Failed to set up rehearsals: %m");
        /* After the proxy (a leftover that nginx names is kept), before the engine. */
        r = bridge_new(m, &m->bridge);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the bridge: %m");
        r = engine_resume(m);
        if (r < 0)
                return r;
        secrets_clear_stale(m->config->state_dir, m->op != NULL);
        r = staging_new(m, &m->staging);
        if (r < 0)
                return r;
        r = feed_watch_new(m, &m->feed_watch);
        if (r < 0)
                return r;
        r = planner_new(m, &m->planner);
        if (r < 0)
                return r;
        r = release_news_new(m, &m->release_news);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the word of new releases: %m");
        r = fleet_new(m, &m->fleet);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the fleet: %m");
        /* A flag left by a daemon that died, or by a boot that did not remove /run. */
        if (!m->op && !m->journal_damaged)
                maintenance_end(m);
        metrics_update(m);
        if (!m->op && !m->journal_damaged)
                manager_set_status(
                        m,
                        "Idle; %s runs %s",
                        m->config->service.unit,
                        m->installed_version ?: "an unknown version");
        return 0;
}
