/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "fileio.h"
#include "macro.h"
#include "rehearsal.h"
#include "strv.h"
#include "unit-command.h"

void metabase_command_done(MetabaseCommand *c) {
        c->argv = strv_free(c->argv);
        c->env = strv_free(c->env);
        c->working_directory = mfree_str(c->working_directory);
        c->user = mfree_str(c->user);
        c->group = mfree_str(c->group);
}

int metabase_command(const UnitInfo *info, const char *jar, char *const *command, MetabaseCommand *ret) {
        MetabaseCommand c = {
                .argv = unit_info_argv_with_jar(info, unit_info_jar(info), jar, command),
                .env = strv_copy(info->environment ?: STRV_MAKE(NULL)),
                .working_directory = info->working_directory ? strdup(info->working_directory) : NULL,
                .user = info->user ? strdup(info->user) : NULL,
                .group = info->group ? strdup(info->group) : NULL,
        };

        if (!c.argv || !c.env || (info->working_directory && !c.working_directory) ||
            (info->user && !c.user) || (info->group && !c.group)) {
                int r = c.argv ? -ENOMEM : -EINVAL; /* no "-jar JAR" in ExecStart */
                metabase_command_done(&c);
                return r;
        }
        *ret = c;
        return 0;
}

int metabase_command_start(
        Systemd *s, const MetabaseCommand *c, const MetabaseUnit *u, JobCallback cb, void *userdata) {
        _cleanup_free_ char *env = NULL, *wd = NULL;
        int r;

        env = rehearsal_environment_file(c->env);
        wd = c->working_directory ? strdup_printf("-%s", c->working_directory) : NULL;
        if (!env || (c->working_directory && !wd))
                return -ENOMEM;
        r = write_file_atomic(u->env_path, env, strlen(env), 0600);
        explicit_bzero(env, strlen(env));
        if (r < 0)
                return r;
        char *rw[2] = {wd, NULL};
        TransientService t = {
                .name = u->name,
                .description = u->description,
                .argv = c->argv,
                .environment_file = u->env_path,
                .working_directory = c->working_directory,
                .user = c->user,
                .group = c->group,
                .runtime_max_usec = u->runtime_max_usec,
                .output_file = u->log_path,
                .read_write_paths = rw,
        };
        return unit_start_transient(s, &t, cb, userdata);
}
