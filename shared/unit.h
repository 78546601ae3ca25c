/* SPDX-License-Identifier: MIT */
#pragma once

/* Talks to systemd's manager over D-Bus: reads a service unit's properties and runs start/stop
 * jobs, waiting for their JobRemoved signal. Everything here is asynchronous. */

#include <stdint.h>
#include <systemd/sd-bus.h>

#include "macro.h"

typedef struct UnitInfo {
        char *name;
        char *object_path;
        char *load_state;
        char *active_state;
        char *sub_state;
        uint32_t main_pid;
        uint32_t n_restarts;
        char **exec_argv; /* the first ExecStart= command line */
        char *exec_path;
        char *working_directory;
        char **environment; /* Environment= followed by the contents of EnvironmentFile= */
        char *user;
        char *group;
        char *result;            /* a service's Result: "success", "exit-code", "oom-kill", ... */
        uint64_t cpu_usage_nsec; /* CPUUsageNSec; UINT64_MAX when systemd does not account it */
        uint64_t memory_current; /* MemoryCurrent, bytes; UINT64_MAX when systemd does not account it */
        char *control_group;     /* ControlGroup, "/system.slice/metabase.service"; NULL or "" when none */
        char *std_output;      /* StandardOutput: "journal", "append", "file", "truncate", "inherit", ... */
        char *std_output_file; /* for file/append/truncate: its path (StandardOutputFileDescriptorName) */
} UnitInfo;

UnitInfo *unit_info_free(UnitInfo *i);
DEFINE_POINTER_CLEANUP(UnitInfo, unit_info_free, unit_info_freep);
/* Value of KEY in the unit's environment, or NULL. */
const char *unit_info_getenv(const UnitInfo *i, const char *key);
/* The argument after "-jar" in ExecStart, or NULL. */
const char *unit_info_jar(const UnitInfo *i);
/* The unit's ExecStart command line with the argument after "-jar" that is jar replaced by with,
 * argv[0] the absolute exec_path: with command NULL, the unit's arguments after the JAR follow;
 * else command's instead ("migrate", "down"). NULL when there is no "-jar jar", or on OOM. */
char **unit_info_argv_with_jar(const UnitInfo *i, const char *jar, const char *with, char *const *command);
/* The unit's output file when StandardOutput= is file:, append: or truncate:, NULL otherwise (or
 * when it can't be told): systemd's StandardOutputFileDescriptorName when it says (systemd 252 says
 * nothing for a file), else where the main process's stdout points (/proc/PID/fd/1). */
char *unit_info_output_file(const UnitInfo *i);

/* CPU time (user + system, nanoseconds) of the unit's processes read from /proc: the PIDs in
 * cgroup.procs of control_group (cgroup v2, or the v1 name=systemd hierarchy), else main_pid alone.
 * For when systemd does not account CPU (CPUUsageNSec is UINT64_MAX: cgroup v1 without
 * CPUAccounting=). Reads at most 4096 processes. -ESRCH when none could be read. */
int unit_cpu_nsec_from_proc(const char *control_group, uint32_t main_pid, uint64_t *ret);

typedef struct Systemd Systemd;

/* callback for unit_info_load(): on success info is handed over (free it). */
typedef void (*UnitInfoCallback)(int r, UnitInfo *info, const char *error_message, void *userdata);
/* callback for jobs: r < 0 on failure to queue or a job result other than "done"; result is
 * systemd's job result string ("done", "failed", "canceled", "timeout", "dependency", ...). */
typedef void (*JobCallback)(int r, const char *result, const char *error_message, void *userdata);

int systemd_new(sd_bus *bus, Systemd **ret);
Systemd *systemd_free(Systemd *s);

int unit_info_load(Systemd *s, const char *unit, UnitInfoCallback cb, void *userdata);
/* Synchronous variant, for start-up before the event loop runs. */
int unit_info_load_sync(Systemd *s, const char *unit, UnitInfo **ret, char **ret_error);
/* The same on any bus connection, without subscribing to systemd's signals: only property reads
 * (for mbctl doctor). */
int unit_info_load_bus(sd_bus *bus, const char *unit, UnitInfo **ret, char **ret_error);

/* A timer unit's next elapse on the realtime clock (NextElapseUSecRealtime, µs since the epoch): 0
 * when systemd says none (the timer is not active, or it has no calendar trigger). -ENOENT when the
 * unit is not loaded or not a timer. The callback variant reads it asynchronously; cancel it by
 * unreffing *ret_slot. */
typedef void (*TimerElapseCallback)(int r, uint64_t next_usec, void *userdata);
int unit_timer_next_elapse(sd_bus *bus, const char *unit, uint64_t *ret);
int unit_timer_next_elapse_async(
        sd_bus *bus, const char *unit, sd_bus_slot **ret_slot, TimerElapseCallback cb, void *userdata);

/* method: "StartUnit", "StopUnit" or "ReloadUnit" (mode "replace"). A reload job's "done" says
 * only that the unit's ExecReload= ran (daemon/proxy.h for nginx's). */
int unit_job(Systemd *s, const char *method, const char *unit, JobCallback cb, void *userdata);

/* A transient service (StartTransientUnit, mode "fail"): systemd tracks it, limits it and cleans up
 * after it; cb when its start job ends (Type=exec: the command was executed). */
typedef struct TransientService {
        const char *name; /* "mbupgraded-rehearsal.service" */
        const char *description;
        char *const *argv;            /* argv[0] is an absolute path */
        const char *environment_file; /* read by systemd before it drops privileges */
        const char *working_directory;
        const char *user, *group; /* NULL or "": as the manager runs */
        uint64_t memory_max;      /* MemoryMax=, 0: none */
        uint64_t runtime_max_usec;
        const char *output_file; /* stdout and stderr, truncated first */
        int output_fd;           /* > 0: stdout and stderr go to this descriptor (a pipe's write end) */
        /* Hardened like a service (ProtectSystem=strict, NoNewPrivileges=, no capabilities, ...):
         * it may write only these (a leading "-": if it exists). NULL: not hardened. */
        char *const *read_write_paths;
} TransientService;
int unit_start_transient(Systemd *s, const TransientService *t, JobCallback cb, void *userdata);

/* StopUnit, then ResetFailedUnit: afterwards the unit is gone (a transient one) or inactive, and
 * nothing of it lingers as "failed". A unit that was not loaded is fine: cb(0). */
int unit_stop_and_forget(Systemd *s, const char *unit, JobCallback cb, void *userdata);

/* Jobs for 'unit' that mbupgraded did not queue (systemctl stop, restart, ...): cb runs when systemd
 * queues one while no job of ours is pending, with the job's type ("stop", "restart", "start", ...;
 * NULL when the job was gone before systemd could say). One watcher at a time;
 * systemd_unwatch_foreign_jobs() with the same userdata ends it (a later watcher's stays). */
typedef void (*ForeignJobCallback)(uint32_t job_id, const char *job_type, void *userdata);
int systemd_watch_foreign_jobs(Systemd *s, const char *unit, ForeignJobCallback cb, void *userdata);
void systemd_unwatch_foreign_jobs(Systemd *s, void *userdata);

/* Called whenever the unit's ActiveState may have changed (PropertiesChanged). */
typedef void (*UnitChangedCallback)(void *userdata);
int systemd_watch_unit(Systemd *s, const char *unit, UnitChangedCallback cb, void *userdata);
