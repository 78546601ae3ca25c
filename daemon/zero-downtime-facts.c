/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include "appdb.h"
#include "bridge.h"
#include "fileio.h"
#include "macro.h"
#include "proxy.h"
#include "rehearse.h"
#include "staged-record.h"
#include "strv.h"
#include "zero-downtime-facts.h"
#include "zero-downtime.h"

/* The memory condition, asked last (it reads the unit's MemoryCurrent): the bridge's check; a
 * figure it can't read counts as no. */
static bool bridge_memory_fits(void *userdata, char **ret_reason) {
        return bridge_memory_ok(userdata, ret_reason) > 0;
}

/* rolling: a fleet's node-by-node rollout, which asks neither nginx nor the memory. */
static char *assess(Manager *m, const char *version, char *const *jar_changesets, bool rolling) {
        _cleanup_(appdb_freep) AppDb *db = NULL;
        _cleanup_(staged_record_done) StagedRecord rec = {};
        _cleanup_free_ char *staging = manager_state_path(m, "staging"), *dir = NULL, *proxy_reason = NULL;
        _cleanup_strv_free_ char **rehearsal_applied = NULL;
        ZeroDowntimeFacts f = {
                .never = m->config->upgrade.zero_downtime == ZERO_DOWNTIME_MODE_NEVER,
                .to = version,
                .applied = m->app_db_changelog,
                .memory_ok = bridge_memory_fits,
                .memory_userdata = m,
        };

        if (manager_app_db(m, m->unit, &db, NULL) >= 0)
                f.db_kind = appdb_kind_to_string(db->kind);
        dir = staging && version ? path_join(staging, version) : NULL;
        if (jar_changesets)
                f.jar_changesets = jar_changesets;
        else if (dir && staged_record_read(dir, &rec) >= 0 && streq(rec.version, version)) {
                f.jar_changesets = rec.changesets;
                f.staged = true;
        }
        f.staged = f.staged || jar_changesets;
        f.rehearsal = rehearse_changelog_verdict(m, version, &rehearsal_applied);
        f.rehearsal_applied = rehearsal_applied;
        if (rolling)
                return zero_downtime_summary_rolling(&f);
        f.proxy = m->proxy ? proxy_installed(m->proxy, &proxy_reason) : -EOPNOTSUPP;
        f.proxy_reason = proxy_reason;
        return zero_downtime_summary(&f);
}

char *zero_downtime_assess(Manager *m, const char *version, char *const *jar_changesets) {
        return assess(m, version, jar_changesets, m->config->fleet.enabled);
}

char *zero_downtime_assess_rolling(Manager *m, const char *version, char *const *jar_changesets) {
        return assess(m, version, jar_changesets, true);
}
