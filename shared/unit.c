/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "strv.h"
#include "unit.h"

#define SYSTEMD_DEST "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER "org.freedesktop.systemd1.Manager"
#define SYSTEMD_TIMEOUT_USEC (30 * USEC_PER_SEC)

typedef struct InfoLoad InfoLoad;
typedef struct PendingJob PendingJob;
struct PendingJob {
        Systemd *systemd;
        char *job_path; /* NULL until the method reply arrived */
        sd_bus_slot *call_slot;
        JobCallback cb;
        void *userdata;
        PendingJob *next;
};

struct Systemd {
        sd_bus *bus;
        sd_bus_slot *job_removed_slot;
        sd_bus_slot *job_new_slot;
        sd_bus_slot *job_type_slot; /* asking for the type of a foreign job */
        uint32_t job_type_id;
        char *foreign_unit;
        ForeignJobCallback foreign_cb;
        void *foreign_userdata;
        sd_bus_slot *unit_changed_slot;
        UnitChangedCallback unit_changed_cb;
        void *unit_changed_userdata;
        PendingJob *jobs;
        InfoLoad *loads; /* unit_info_load() calls waiting for systemd */
};

UnitInfo *unit_info_free(UnitInfo *i) {
        if (!i)
                return NULL;
        free(i->name);
        free(i->object_path);
        free(i->load_state);
        free(i->active_state);
        free(i->sub_state);
        strv_free(i->exec_argv);
        free(i->exec_path);
        free(i->working_directory);
        strv_free(i->environment);
        free(i->user);
        free(i->group);
        free(i->result);
        free(i->control_group);
        free(i->std_output);
        free(i->std_output_file);
        free(i);
        return NULL;
}

const char *unit_info_getenv(const UnitInfo *i, const char *key) {
        size_t n = strlen(key);
        const char *v = NULL;

        /* Later assignments win, as in systemd. */
        if (i->environment)
                for (char **e = i->environment; *e; e++)
                        if (strncmp(*e, key, n) == 0 && (*e)[n] == '=')
                                v = *e + n + 1;
        return v;
}

const char *unit_info_jar(const UnitInfo *i) {
        if (!i->exec_argv)
                return NULL;
        for (char **a = i->exec_argv; *a; a++)
                if (streq(*a, "-jar"))
                        return a[1];
        return NULL;
}

char **unit_info_argv_with_jar(const UnitInfo *i, const char *jar, const char *with, char *const *command) {
        _cleanup_strv_free_ char **argv = NULL;
        bool found = false;

        if (!i->exec_argv || !i->exec_argv[0] || isempty(i->exec_path) || !jar || !with)
                return NULL;
        for (char **a = i->exec_argv; *a; a++) {
                bool is_jar = a > i->exec_argv && streq(a[-1], "-jar") && streq(*a, jar);
                if (strv_extend(&argv, is_jar ? with : *a) < 0)
                        return NULL;
                found = found || is_jar;
                if (is_jar && command)
                        break;
        }
        if (!found)
                return NULL;
        for (char *const *c = command; c && *c; c++)
                if (strv_extend(&argv, *c) < 0)
                        return NULL;
        if (argv[0][0] != '/' && free_and_strdup(&argv[0], i->exec_path) < 0)
                return NULL;
        return TAKE_PTR(argv);
}

char *unit_info_output_file(const UnitInfo *i) {
        char path[64], target[PATH_MAX];
        ssize_t n;

        if (!i->std_output ||
            !(streq(i->std_output, "file") || streq(i->std_output, "append") ||
              streq(i->std_output, "truncate")))
                return NULL;
        if (i->std_output_file && i->std_output_file[0] == '/')
                return strdup(i->std_output_file);
        if (i->main_pid == 0)
                return NULL;
        (void) snprintf(path, sizeof(path), "/proc/%" PRIu32 "/fd/1", i->main_pid);
        n = readlink(path, target, sizeof(target) - 1);
        if (n <= 0 || target[0] != '/')
                return NULL;
        target[n] = 0;
        if (endswith(target, " (deleted)"))
                return NULL;
        return strdup(target);
}

/* utime + stime of one process, in clock ticks, from /proc/PID/stat. */
static int proc_cpu_ticks(uint32_t pid, uint64_t *ret) {
        char path[64], buf[1024];
        _cleanup_fclose_ FILE *f = NULL;
        unsigned long long utime, stime;
        const char *p;
        size_t n;

        (void) snprintf(path, sizeof(path), "/proc/%" PRIu32 "/stat", pid);
        f = fopen(path, "re");
        if (!f)
                return -errno;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = 0;
        /* "PID (COMM) S PPID ...": COMM may hold anything, even ") ": the last ')' ends it. */
        p = strrchr(buf, ')');
        if (!p)
                return -EBADMSG;
        /* after ")": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime */
        if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
                return -EBADMSG;
        *ret = utime + stime;
        return 0;
}

int unit_cpu_nsec_from_proc(const char *control_group, uint32_t main_pid, uint64_t *ret) {
        static const char *const roots[] = {
                "/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"};
        long hz = sysconf(_SC_CLK_TCK);
        uint64_t ticks = 0, t;
        unsigned n = 0;

        if (hz <= 0)
                hz = 100;
        if (!isempty(control_group) && control_group[0] == '/' && !strstr(control_group, "/../"))
                for (size_t k = 0; k < ELEMENTSOF(roots) && n == 0; k++) {
                        _cleanup_free_ char *path = strdup_printf("%s%s/cgroup.procs", roots[k], control_group);
                        _cleanup_fclose_ FILE *f = NULL;
                        unsigned long pid;
                        unsigned seen = 0;

                        if (!path)
                                return -ENOMEM;
                        f = fopen(path, "re");
                        if (!f)
                                continue;
                        while (seen++ < 4096 && fscanf(f, "%lu", &pid) == 1)
                                if (pid > 0 && pid <= UINT32_MAX && proc_cpu_ticks((uint32_t) pid, &t) >= 0) {
                                        ticks += t;
                                        n++;
                                }
                }
        if (n == 0 && main_pid > 0 && proc_cpu_ticks(main_pid, &t) >= 0) {
                ticks = t;
                n = 1;
        }
        if (n == 0)
                return -ESRCH;
        *ret = ticks * (UINT64_C(1000000000) / (uint64_t) hz);
        return 0;
}

/* EnvironmentFile= lines: KEY=VALUE, comments, optional quotes. Good enough for Metabase's
 * MB_* variables; systemd's own parser handles more escapes, which we don't need here. */
static int parse_environment_file(const char *path, char ***env) {
        _cleanup_free_ char *text = NULL;
        char *line, *save = NULL;
        int r;

        r = read_full_file(path, 1024 * 1024, &text, NULL);
        if (r < 0)
                return r;
        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *eq, *v;
                size_t n;

                line += strspn(line, " \t");
                if (line[0] == '#' || line[0] == ';' || line[0] == '\0')
                        continue;
                if (startswith(line, "export "))
                        line += strlen("export ");
                eq = strchr(line, '=');
                if (!eq)
                        continue;
                v = eq + 1;
                n = strlen(v);
                while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == ' ' || v[n - 1] == '\t'))
                        v[--n] = '\0';
                if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
                        v[n - 1] = '\0';
                        memmove(v, v + 1, n - 1);
                }
                r = strv_extend(env, line);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int read_exec_start(sd_bus_message *m, UnitInfo *i) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "(sasbttttuii)");
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(m, 'r', "sasbttttuii");
        if (r < 0)
                return r;
        if (r > 0) {
                const char *path;
                char **argv = NULL;

                r = sd_bus_message_read(m, "s", &path);
                if (r < 0)
                        return r;
                r = sd_bus_message_read_strv(m, &argv);
                if (r < 0)
                        return r;
                strv_free(i->exec_argv);
                i->exec_argv = argv;
                if (free_and_strdup(&i->exec_path, path) < 0)
                        return -ENOMEM;
                r = sd_bus_message_skip(m, "bttttuii");
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        /* Only the first command line matters; skip the rest. */
        while ((r = sd_bus_message_skip(m, "(sasbttttuii)")) > 0)
                ;
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static int read_environment_files(sd_bus_message *m, char ***files) {
        const char *path;
        int ignore, r;

        r = sd_bus_message_enter_container(m, 'a', "(sb)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(m, "(sb)", &path, &ignore)) > 0) {
                /* ignore == true means "-path": a missing file is fine */
                r = strv_extend(files, ignore ? path : path);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

/* Reads an a{sv} of GetAll into i, picking the properties we know. */
static int unit_info_read_properties(sd_bus_message *m, UnitInfo *i, char ***env_files) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *name, *contents, *s;
                char type;

                r = sd_bus_message_read(m, "s", &name);
                if (r < 0)
                        return r;
                r = sd_bus_message_peek_type(m, &type, &contents);
                if (r < 0)
                        return r;
                r = sd_bus_message_enter_container(m, 'v', contents);
                if (r < 0)
                        return r;

                if (streq(contents, "s") &&
                    (streq(name, "LoadState") || streq(name, "ActiveState") || streq(name, "SubState") ||
                     streq(name, "WorkingDirectory") || streq(name, "User") || streq(name, "Group") ||
                     streq(name, "Result") || streq(name, "ControlGroup") || streq(name, "StandardOutput") ||
                     streq(name, "StandardOutputFileDescriptorName"))) {
                        char **field = streq(name, "LoadState")                   ? &i->load_state
                                : streq(name, "ActiveState")                      ? &i->active_state
                                : streq(name, "SubState")                         ? &i->sub_state
                                : streq(name, "WorkingDirectory")                 ? &i->working_directory
                                : streq(name, "User")                             ? &i->user
                                : streq(name, "Result")                           ? &i->result
                                : streq(name, "ControlGroup")                     ? &i->control_group
                                : streq(name, "StandardOutput")                   ? &i->std_output
                                : streq(name, "StandardOutputFileDescriptorName") ? &i->std_output_file
                                                                                  : &i->group;
                        r = sd_bus_message_read(m, "s", &s);
                        if (r < 0)
                                return r;
                        if (free_and_strdup(field, s) < 0)
                                return -ENOMEM;
                } else if (streq(contents, "u") && streq(name, "MainPID"))
                        r = sd_bus_message_read(m, "u", &i->main_pid);
                else if (streq(contents, "t") && streq(name, "CPUUsageNSec"))
                        r = sd_bus_message_read(m, "t", &i->cpu_usage_nsec);
                else if (streq(contents, "t") && streq(name, "MemoryCurrent"))
                        r = sd_bus_message_read(m, "t", &i->memory_current);
                else if (streq(contents, "u") && streq(name, "NRestarts"))
                        r = sd_bus_message_read(m, "u", &i->n_restarts);
                else if (streq(contents, "a(sasbttttuii)") && streq(name, "ExecStart"))
                        r = read_exec_start(m, i);
                else if (streq(contents, "as") && streq(name, "Environment")) {
                        char **l = NULL;
                        r = sd_bus_message_read_strv(m, &l);
                        if (r >= 0) {
                                strv_free(i->environment);
                                i->environment = l;
                        }
                } else if (streq(contents, "a(sb)") && streq(name, "EnvironmentFiles"))
                        r = read_environment_files(m, env_files);
                else
                        r = sd_bus_message_skip(m, contents);
                if (r < 0)
                        return r;

                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static int unit_info_finish(UnitInfo *i, char **env_files, char **ret_error) {
        int r;

        /* WorkingDirectory "!" and "-" prefixes and "~" are systemd syntax, not paths. */
        if (i->working_directory) {
                const char *w = i->working_directory;
                while (*w == '!' || *w == '-')
                        w++;
                if (w != i->working_directory) {
                        char *c = strdup(w);
                        if (!c)
                                return -ENOMEM;
                        free(i->working_directory);
                        i->working_directory = c;
                }
        }
        if (env_files)
                for (char **f = env_files; *f; f++) {
                        /* read as open_regular() opens: never blocking on a FIFO put there, never
                         * following a link in a directory someone other than root can write */
                        r = parse_environment_file(*f, &i->environment);
                        if (r < 0 && r != -ENOENT) {
                                if (ret_error)
                                        *ret_error = strdup_printf(
                                                "cannot read the EnvironmentFile %s of %s: %s",
                                                *f,
                                                i->name,
                                                r == -EBADFD
                                                        ? "not a regular file (a FIFO or a device in its place)"
                                                        : r == -ELOOP
                                                        ? "a symbolic link in a directory others can write"
                                                        : strerror(-r));
                                return r;
                        }
                }
        return 0;
}

/* Asynchronous loading: GetAll(Unit) then GetAll(Service). */
struct InfoLoad {
        Systemd *systemd;
        sd_bus_slot *slot; /* the GetAll call in flight */
        UnitInfo *info;
        char **env_files;
        UnitInfoCallback cb;
        void *userdata;
        int stage;
        InfoLoad *next;
};

/* Also for the loads still waiting when the daemon exits: their calls go with the bus, and
 * without a slot of their own nothing would free them. */
static void info_load_free(InfoLoad *l) {
        for (InfoLoad **p = &l->systemd->loads; *p; p = &(*p)->next)
                if (*p == l) {
                        *p = l->next;
                        break;
                }
        sd_bus_slot_unref(l->slot);
        unit_info_free(l->info);
        strv_free(l->env_files);
        free(l);
}

static void info_load_done(InfoLoad *l, int r, const char *msg) {
        UnitInfoCallback cb = l->cb;
        void *userdata = l->userdata;
        UnitInfo *info = TAKE_PTR(l->info);

        _cleanup_free_ char *finish_error = NULL;

        if (r >= 0)
                r = unit_info_finish(info, l->env_files, &finish_error);
        info_load_free(l);
        if (r < 0) {
                cb(r, NULL, finish_error ?: msg, userdata);
                unit_info_free(info);
        } else
                cb(0, info, NULL, userdata);
}

static int on_get_all(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        InfoLoad *l = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        int r;

        if (e) {
                info_load_done(l, -sd_bus_error_get_errno(e) ?: -EIO, e->message);
                return 0;
        }
        r = unit_info_read_properties(reply, l->info, &l->env_files);
        if (r < 0) {
                info_load_done(l, r, "Failed to parse the unit's properties");
                return 0;
        }
        if (l->stage++ == 0) {
                l->slot = sd_bus_slot_unref(l->slot);
                r = sd_bus_call_method_async(
                        l->systemd->bus,
                        &l->slot,
                        SYSTEMD_DEST,
                        l->info->object_path,
                        "org.freedesktop.DBus.Properties",
                        "GetAll",
                        on_get_all,
                        l,
                        "s",
                        "org.freedesktop.systemd1.Service");
                if (r < 0)
                        info_load_done(l, r, "Failed to ask systemd for the service's properties");
                return 0;
        }
        info_load_done(l, 0, NULL);
        return 0;
}

static int unit_info_new(const char *unit, UnitInfo **ret) {
        _cleanup_(unit_info_freep) UnitInfo *i = NULL;
        int r;

        i = calloc(1, sizeof(UnitInfo));
        if (!i)
                return -ENOMEM;
        i->cpu_usage_nsec = UINT64_MAX;
        i->memory_current = UINT64_MAX;
        i->name = strdup(unit);
        if (!i->name)
                return -ENOMEM;
        r = sd_bus_path_encode(SYSTEMD_PATH "/unit", unit, &i->object_path);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(i);
        return 0;
}

int unit_info_load(Systemd *s, const char *unit, UnitInfoCallback cb, void *userdata) {
        InfoLoad *l;
        int r;

        l = calloc(1, sizeof(InfoLoad));
        if (!l)
                return -ENOMEM;
        *l = (InfoLoad){.systemd = s, .cb = cb, .userdata = userdata, .next = s->loads};
        s->loads = l;
        r = unit_info_new(unit, &l->info);
        if (r >= 0)
                r = sd_bus_call_method_async(
                        s->bus,
                        &l->slot,
                        SYSTEMD_DEST,
                        l->info->object_path,
                        "org.freedesktop.DBus.Properties",
                        "GetAll",
                        on_get_all,
                        l,
                        "s",
                        "org.freedesktop.systemd1.Unit");
        if (r < 0)
                info_load_free(l);
        return r;
}

int unit_info_load_sync(Systemd *s, const char *unit, UnitInfo **ret, char **ret_error) {
        return unit_info_load_bus(s->bus, unit, ret, ret_error);
}

int unit_info_load_bus(sd_bus *bus, const char *unit, UnitInfo **ret, char **ret_error) {
        _cleanup_(unit_info_freep) UnitInfo *i = NULL;
        _cleanup_strv_free_ char **env_files = NULL;
        static const char *const interfaces[] = {
                "org.freedesktop.systemd1.Unit", "org.freedesktop.systemd1.Service"};
        int r;

        r = unit_info_new(unit, &i);
        if (r < 0)
                return r;
        for (size_t k = 0; k < ELEMENTSOF(interfaces); k++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

                r = sd_bus_call_method(
                        bus,
                        SYSTEMD_DEST,
                        i->object_path,
                        "org.freedesktop.DBus.Properties",
                        "GetAll",
                        &error,
                        &reply,
                        "s",
                        interfaces[k]);
                if (r < 0) {
                        if (ret_error)
                                *ret_error = strdup_printf(
                                        "Failed to read the properties of %s from systemd: %s",
                                        unit,
                                        error.message ?: strerror(-r));
                        return r;
                }
                r = unit_info_read_properties(reply, i, &env_files);
                if (r < 0)
                        return r;
        }
        r = unit_info_finish(i, env_files, ret_error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(i);
        return 0;
}

/* Jobs */

/* No such unit, or not a timer: -ENOENT; else r. */
static int timer_bus_error(const sd_bus_error *e, int r) {
        return sd_bus_error_has_name(e, SD_BUS_ERROR_UNKNOWN_INTERFACE) ||
                        sd_bus_error_has_name(e, SD_BUS_ERROR_UNKNOWN_PROPERTY) ||
                        sd_bus_error_has_name(e, SD_BUS_ERROR_UNKNOWN_OBJECT)
                ? -ENOENT
                : r;
}

/* NextElapseUSecRealtime from a Get reply; systemd's "never" (UINT64_MAX) as 0. */
static int timer_reply_read(sd_bus_message *reply, uint64_t *ret) {
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        uint64_t usec;
        int r;

        if (e)
                return timer_bus_error(e, -sd_bus_error_get_errno(e) ?: -EIO);
        r = sd_bus_message_read(reply, "v", "t", &usec);
        if (r < 0)
                return r;
        *ret = usec == UINT64_MAX ? 0 : usec;
        return 0;
}

int unit_timer_next_elapse(sd_bus *bus, const char *unit, uint64_t *ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        r = sd_bus_path_encode(SYSTEMD_PATH "/unit", unit, &path);
        if (r < 0)
                return r;
        r = sd_bus_call_method(
                bus,
                SYSTEMD_DEST,
                path,
                "org.freedesktop.DBus.Properties",
                "Get",
                &error,
                &reply,
                "ss",
                "org.freedesktop.systemd1.Timer",
                "NextElapseUSecRealtime");
        if (r < 0)
                return timer_bus_error(&error, r);
        return timer_reply_read(reply, ret);
}

typedef struct TimerRead {
        TimerElapseCallback cb;
        void *userdata;
} TimerRead;

static int on_timer_get(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        TimerRead *t = userdata;
        uint64_t usec = 0;
        int r = timer_reply_read(reply, &usec);

        t->cb(r, r < 0 ? 0 : usec, t->userdata);
        return 0;
}

int unit_timer_next_elapse_async(
        sd_bus *bus, const char *unit, sd_bus_slot **ret_slot, TimerElapseCallback cb, void *userdata) {
        _cleanup_free_ char *path = NULL;
        _cleanup_free_ TimerRead *t = NULL;
        int r;

        r = sd_bus_path_encode(SYSTEMD_PATH "/unit", unit, &path);
        if (r < 0)
                return r;
        t = calloc(1, sizeof(TimerRead));
        if (!t)
                return -ENOMEM;
        *t = (TimerRead){.cb = cb, .userdata = userdata};
        r = sd_bus_call_method_async(
                bus,
                ret_slot,
                SYSTEMD_DEST,
                path,
                "org.freedesktop.DBus.Properties",
                "Get",
                on_timer_get,
                t,
                "ss",
                "org.freedesktop.systemd1.Timer",
                "NextElapseUSecRealtime");
        if (r < 0)
                return r;
        /* freed with the slot */
        (void) sd_bus_slot_set_destroy_callback(*ret_slot, free);
        TAKE_PTR(t);
        return 0;
}

static void pending_job_unlink(Systemd *s, PendingJob *j) {
        for (PendingJob **p = &s->jobs; *p; p = &(*p)->next)
                if (*p == j) {
                        *p = j->next;
                        break;
                }
        sd_bus_slot_unref(j->call_slot);
        free(j->job_path);
        free(j);
}

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Systemd *s = userdata;
        const char *path, *unit, *result;
        uint32_t id;
        int r;

        r = sd_bus_message_read(m, "uoss", &id, &path, &unit, &result);
        if (r < 0)
                return 0;
        for (PendingJob *j = s->jobs; j; j = j->next) {
                if (!j->job_path || !streq(j->job_path, path))
                        continue;
                JobCallback cb = j->cb;
                void *ud = j->userdata;
                pending_job_unlink(s, j);
                if (streq(result, "done"))
                        cb(0, result, NULL, ud);
                else {
                        _cleanup_free_ char *msg = strdup_printf(
                                "systemd's job for %s ended with result '%s'", unit, result);
                        cb(-EIO, result, msg, ud);
                }
                break;
        }
        return 0;
}

static int on_job_queued(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        PendingJob *j = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        const char *path;
        int r;

        j->call_slot = sd_bus_slot_unref(j->call_slot);
        if (e) {
                JobCallback cb = j->cb;
                void *ud = j->userdata;
                _cleanup_free_ char *msg = strdup(e->message ?: e->name);
                r = -sd_bus_error_get_errno(e) ?: -EIO;
                pending_job_unlink(j->systemd, j);
                cb(r, "failed", msg, ud);
                return 0;
        }
        r = sd_bus_message_read(reply, "o", &path);
        if (r >= 0)
                j->job_path = strdup(path);
        if (r < 0 || !j->job_path) {
                JobCallback cb = j->cb;
                void *ud = j->userdata;
                pending_job_unlink(j->systemd, j);
                cb(r < 0 ? r : -ENOMEM, "failed", "Failed to read the job path from systemd's reply", ud);
        }
        return 0;
}

int unit_job(Systemd *s, const char *method, const char *unit, JobCallback cb, void *userdata) {
        PendingJob *j;
        int r;

        j = calloc(1, sizeof(PendingJob));
        if (!j)
                return -ENOMEM;
        *j = (PendingJob){.systemd = s, .cb = cb, .userdata = userdata, .next = s->jobs};
        /* The JobRemoved match is installed in systemd_new(), before any job can be queued. */
        r = sd_bus_call_method_async(
                s->bus,
                &j->call_slot,
                SYSTEMD_DEST,
                SYSTEMD_PATH,
                SYSTEMD_MANAGER,
                method,
                on_job_queued,
                j,
                "ss",
                unit,
                "replace");
        if (r < 0) {
                free(j);
                return r;
        }
        s->jobs = j;
        return 0;
}

static int append_property_s(sd_bus_message *m, const char *name, const char *value) {
        return sd_bus_message_append(m, "(sv)", name, "s", value);
}

static int append_property_b(sd_bus_message *m, const char *name, bool value) {
        return sd_bus_message_append(m, "(sv)", name, "b", (int) value);
}

/* Whether any of paths lies under /tmp or /var/tmp, which PrivateTmp=yes would hide. */
static bool paths_under_tmp(char *const *paths) {
        for (char *const *p = paths; p && *p; p++) {
                const char *s = **p == '-' ? *p + 1 : *p;
                if (streq(s, "/tmp") || startswith(s, "/tmp/") || streq(s, "/var/tmp") ||
                    startswith(s, "/var/tmp/"))
                        return true;
        }
        return false;
}

/* The rehearsal's sandbox: what mbupgraded.service.in has that a JVM allows (no
 * MemoryDenyWriteExecute=: its JIT writes code), as systemd 252 takes it for a transient unit. */
static int transient_hardening(sd_bus_message *m, const TransientService *t) {
        static const char *const bools[] = {
                "NoNewPrivileges",
                "PrivateDevices",
                "ProtectKernelTunables",
                "ProtectKernelModules",
                "ProtectKernelLogs",
                "ProtectControlGroups",
                "ProtectClock",
                "ProtectHostname",
                "RestrictSUIDSGID",
                "RestrictRealtime",
                "LockPersonality",
        };
        int r = 0;

        for (size_t i = 0; i < ELEMENTSOF(bools) && r >= 0; i++)
                r = append_property_b(m, bools[i], true);
        if (r >= 0)
                r = append_property_s(m, "ProtectSystem", "strict");
        /* Read-only rather than hidden: a JAR may have been given from a home. */
        if (r >= 0)
                r = append_property_s(m, "ProtectHome", "read-only");
        if (r >= 0)
                r = append_property_s(m, "ProtectProc", "invisible");
        /* Its own /tmp, unless its files are there (then it would not see them). */
        if (r >= 0 && !paths_under_tmp(t->read_write_paths) && !paths_under_tmp(t->argv) &&
            !(t->working_directory && paths_under_tmp(STRV_MAKE((char *) t->working_directory))) &&
            !(t->environment_file && paths_under_tmp(STRV_MAKE((char *) t->environment_file))))
                r = append_property_b(m, "PrivateTmp", true);
        if (r >= 0)
                r = sd_bus_message_append(m, "(sv)", "CapabilityBoundingSet", "t", (uint64_t) 0);
        if (r >= 0)
                r = sd_bus_message_append(m, "(sv)", "AmbientCapabilities", "t", (uint64_t) 0);
        if (r >= 0)
                r = sd_bus_message_append(m, "(sv)", "RestrictNamespaces", "t", (uint64_t) 0);
        if (r >= 0)
                r = sd_bus_message_append(
                        m, "(sv)", "RestrictAddressFamilies", "(bas)", 1, 3, "AF_UNIX", "AF_INET", "AF_INET6");
        if (r >= 0)
                r = sd_bus_message_append(m, "(sv)", "SystemCallArchitectures", "as", 1, "native");
        if (r >= 0)
                r = sd_bus_message_append(m, "(sv)", "SystemCallFilter", "(bas)", 1, 1, "@system-service");
        if (r >= 0)
                r = sd_bus_message_append(m, "(sv)", "SystemCallErrorNumber", "i", (int32_t) EPERM);
        if (r >= 0)
                r = sd_bus_message_append(m, "(sv)", "UMask", "u", (uint32_t) 0077);
        if (r >= 0)
                r = sd_bus_message_append(m, "(sv)", "KeyringMode", "s", "private");
        if (r >= 0) {
                r = sd_bus_message_open_container(m, 'r', "sv");
                if (r >= 0)
                        r = sd_bus_message_append(m, "s", "ReadWritePaths");
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'v', "as");
                if (r >= 0)
                        r = sd_bus_message_append_strv(m, (char **) t->read_write_paths);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
        }
        return r;
}

static int transient_properties(sd_bus_message *m, const TransientService *t) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "(sv)");
        if (r >= 0)
                r = append_property_s(m, "Description", t->description);
        if (r >= 0)
                r = append_property_s(m, "Type", "exec");
        /* ExecStart: a(sasb), the path, the whole argv, and whether a failure is ignored */
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'r', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", "ExecStart");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', "a(sasb)");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(sasb)");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'r', "sasb");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", t->argv[0]);
        if (r >= 0)
                r = sd_bus_message_append_strv(m, (char **) t->argv);
        if (r >= 0)
                r = sd_bus_message_append(m, "b", 0);
        for (int i = 0; i < 4 && r >= 0; i++)
                r = sd_bus_message_close_container(m);
        if (r >= 0 && t->read_write_paths)
                r = transient_hardening(m, t);
        if (r >= 0 && t->environment_file)
                r = sd_bus_message_append(m, "(sv)", "EnvironmentFiles", "a(sb)", 1, t->environment_file, 0);
        if (r >= 0 && !isempty(t->working_directory))
                r = append_property_s(m, "WorkingDirectory", t->working_directory);
        if (r >= 0 && !isempty(t->user))
                r = append_property_s(m, "User", t->user);
        if (r >= 0 && !isempty(t->group))
                r = append_property_s(m, "Group", t->group);
        if (r >= 0 && t->memory_max > 0)
                r = sd_bus_message_append(m, "(sv)", "MemoryMax", "t", t->memory_max);
        if (r >= 0 && t->runtime_max_usec > 0)
                r = sd_bus_message_append(m, "(sv)", "RuntimeMaxUSec", "t", t->runtime_max_usec);
        if (r >= 0)
                r = sd_bus_message_append(m, "(sv)", "TimeoutStopUSec", "t", (uint64_t) 30 * USEC_PER_SEC);
        if (r >= 0 && t->output_file) {
                r = append_property_s(m, "StandardOutputFileToTruncate", t->output_file);
                if (r >= 0)
                        r = append_property_s(m, "StandardError", "inherit");
        }
        /* a descriptor of the caller's (sd-bus passes a copy), as systemd-run --pipe does */
        if (r >= 0 && t->output_fd > 0) {
                r = sd_bus_message_append(m, "(sv)", "StandardOutputFileDescriptor", "h", t->output_fd);
                if (r >= 0)
                        r = append_property_s(m, "StandardError", "inherit");
        }
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

int unit_start_transient(Systemd *s, const TransientService *t, JobCallback cb, void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        PendingJob *j;
        int r;

        if (!t->argv || !t->argv[0] || t->argv[0][0] != '/')
                return -EINVAL;
        r = sd_bus_message_new_method_call(
                s->bus, &call, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER, "StartTransientUnit");
        if (r >= 0)
                r = sd_bus_message_append(call, "ss", t->name, "fail");
        if (r >= 0)
                r = transient_properties(call, t);
        if (r >= 0) /* no auxiliary units */
                r = sd_bus_message_append(call, "a(sa(sv))", 0);
        if (r < 0)
                return r;
        j = calloc(1, sizeof(PendingJob));
        if (!j)
                return -ENOMEM;
        *j = (PendingJob){.systemd = s, .cb = cb, .userdata = userdata, .next = s->jobs};
        r = sd_bus_call_async(s->bus, &j->call_slot, call, on_job_queued, j, SYSTEMD_TIMEOUT_USEC);
        if (r < 0) {
                free(j);
                return r;
        }
        s->jobs = j;
        return 0;
}

typedef struct Forget {
        Systemd *systemd;
        char *unit;
        JobCallback cb;
        void *userdata;
        sd_bus_slot *slot;
} Forget;

static void forget_free(Forget *f) {
        sd_bus_slot_unref(f->slot);
        free(f->unit);
        free(f);
}

static int on_reset_failed(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Forget *f = userdata;
        JobCallback cb = f->cb;
        void *ud = f->userdata;

        /* Not failed, or already gone: either way nothing lingers. */
        forget_free(f);
        cb(0, "done", NULL, ud);
        return 0;
}

static void on_forget_stopped(int r, const char *result, const char *error, void *userdata) {
        Forget *f = userdata;

        /* A unit systemd does not know (NoSuchUnit) was never started or is gone already. */
        if (r < 0 && error && !strstr(error, "not loaded") && !strstr(error, "not found")) {
                JobCallback cb = f->cb;
                void *ud = f->userdata;
                _cleanup_free_ char *msg = strdup(error);
                forget_free(f);
                cb(r, result, msg, ud);
                return;
        }
        r = sd_bus_call_method_async(
                f->systemd->bus,
                &f->slot,
                SYSTEMD_DEST,
                SYSTEMD_PATH,
                SYSTEMD_MANAGER,
                "ResetFailedUnit",
                on_reset_failed,
                f,
                "s",
                f->unit);
        if (r < 0) {
                JobCallback cb = f->cb;
                void *ud = f->userdata;
                forget_free(f);
                cb(0, "done", NULL, ud);
        }
}

int unit_stop_and_forget(Systemd *s, const char *unit, JobCallback cb, void *userdata) {
        Forget *f;
        int r;

        f = calloc(1, sizeof(Forget));
        if (!f)
                return -ENOMEM;
        *f = (Forget){.systemd = s, .unit = strdup(unit), .cb = cb, .userdata = userdata};
        if (!f->unit) {
                free(f);
                return -ENOMEM;
        }
        r = unit_job(s, "StopUnit", unit, on_forget_stopped, f);
        if (r < 0)
                forget_free(f);
        return r;
}

static int on_job_type(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Systemd *s = userdata;
        const char *type = NULL;

        s->job_type_slot = sd_bus_slot_unref(s->job_type_slot);
        if (!sd_bus_message_is_method_error(reply, NULL) && sd_bus_message_read(reply, "v", "s", &type) < 0)
                type = NULL;
        if (s->foreign_cb)
                s->foreign_cb(s->job_type_id, type, s->foreign_userdata);
        return 0;
}

static int on_job_new(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Systemd *s = userdata;
        const char *path, *unit;
        uint32_t id;
        int r;

        if (sd_bus_message_read(m, "uos", &id, &path, &unit) < 0)
                return 0;
        /* A job of ours may be announced before its StartUnit/StopUnit reply names it: with one
         * pending, a new job for the unit is not called foreign. */
        if (!s->foreign_cb || s->jobs || !streq_ptr(unit, s->foreign_unit))
                return 0;
        /* Its type, while it exists: a stop is not a start at boot. One question at a time, the
         * newest job's. */
        s->job_type_slot = sd_bus_slot_unref(s->job_type_slot);
        s->job_type_id = id;
        r = sd_bus_call_method_async(
                s->bus,
                &s->job_type_slot,
                SYSTEMD_DEST,
                path,
                "org.freedesktop.DBus.Properties",
                "Get",
                on_job_type,
                s,
                "ss",
                "org.freedesktop.systemd1.Job",
                "JobType");
        if (r < 0)
                s->foreign_cb(id, NULL, s->foreign_userdata);
        return 0;
}

int systemd_watch_foreign_jobs(Systemd *s, const char *unit, ForeignJobCallback cb, void *userdata) {
        int r;

        r = free_and_strdup(&s->foreign_unit, unit);
        if (r < 0)
                return r;
        s->foreign_cb = cb;
        s->foreign_userdata = userdata;
        return 0;
}

void systemd_unwatch_foreign_jobs(Systemd *s, void *userdata) {
        if (s->foreign_userdata != userdata)
                return;
        s->foreign_cb = NULL;
        s->foreign_userdata = NULL;
        s->foreign_unit = mfree_str(s->foreign_unit);
        s->job_type_slot = sd_bus_slot_unref(s->job_type_slot);
}

static int on_unit_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Systemd *s = userdata;

        if (s->unit_changed_cb)
                s->unit_changed_cb(s->unit_changed_userdata);
        return 0;
}

int systemd_watch_unit(Systemd *s, const char *unit, UnitChangedCallback cb, void *userdata) {
        _cleanup_free_ char *path = NULL, *match = NULL;
        int r;

        r = sd_bus_path_encode(SYSTEMD_PATH "/unit", unit, &path);
        if (r < 0)
                return r;
        match = strdup_printf(
                "type='signal',sender='" SYSTEMD_DEST "',path='%s',"
                "interface='org.freedesktop.DBus.Properties',member='PropertiesChanged'",
                path);
        if (!match)
                return -ENOMEM;
        s->unit_changed_slot = sd_bus_slot_unref(s->unit_changed_slot);
        s->unit_changed_cb = cb;
        s->unit_changed_userdata = userdata;
        return sd_bus_add_match_async(
                s->bus, &s->unit_changed_slot, match, on_unit_properties_changed, NULL, s);
}

int systemd_new(sd_bus *bus, Systemd **ret) {
        Systemd *s;
        int r;

        s = calloc(1, sizeof(Systemd));
        if (!s)
                return -ENOMEM;
        s->bus = sd_bus_ref(bus);
        r = sd_bus_match_signal(
                bus,
                &s->job_removed_slot,
                SYSTEMD_DEST,
                SYSTEMD_PATH,
                SYSTEMD_MANAGER,
                "JobRemoved",
                on_job_removed,
                s);
        if (r < 0)
                goto fail;
        r = sd_bus_match_signal(
                bus, &s->job_new_slot, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER, "JobNew", on_job_new, s);
        if (r < 0)
                goto fail;
        /* Without Subscribe() systemd need not send us JobNew, JobRemoved and PropertiesChanged. */
        r = sd_bus_call_method(bus, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER, "Subscribe", NULL, NULL, "");
        if (r < 0)
                goto fail;
        *ret = s;
        return 0;
fail:
        systemd_free(s);
        return r;
}

Systemd *systemd_free(Systemd *s) {
        if (!s)
                return NULL;
        while (s->jobs)
                pending_job_unlink(s, s->jobs);
        /* Their callers are being freed too: no callbacks. */
        while (s->loads)
                info_load_free(s->loads);
        sd_bus_slot_unref(s->job_removed_slot);
        sd_bus_slot_unref(s->job_new_slot);
        sd_bus_slot_unref(s->job_type_slot);
        free(s->foreign_unit);
        sd_bus_slot_unref(s->unit_changed_slot);
        sd_bus_unref(s->bus);
        free(s);
        return NULL;
}
