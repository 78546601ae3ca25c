/* SPDX-License-Identifier: MIT */
/* mbctl: the admin's client for mbupgraded, over D-Bus. Offline verbs (inspect, config check)
 * work without the daemon. Exit codes: 0 done, 1 failed (service unchanged), 2 usage or
 * configuration, 3 rolled back, 4 rollback failed, 5 refused. */

#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "jar.h"
#include "macro.h"
#include "strv.h"

#define BUS_NAME "org.mbupgraded.Manager1"
#define BUS_PATH "/org/mbupgraded/Manager1"
#define BUS_INTERFACE "org.mbupgraded.Manager1"
#define CALL_TIMEOUT_USEC (10 * 60 * USEC_PER_SEC) /* pre-flight hashes and stages big JARs */

enum {
        EXIT_DONE = 0,
        EXIT_FAILED = 1,
        EXIT_USAGE = 2,
        EXIT_ROLLED_BACK = 3,
        EXIT_ROLLBACK_FAILED = 4,
        EXIT_REFUSED = 5,
};

#define FLAG_FORCE 1
#define FLAG_DRY_RUN 2

static bool arg_json = false;
static bool arg_no_wait = false;
static bool arg_dry_run = false;
static bool arg_force = false;
static bool arg_no_hash = false;
static bool arg_yes = false;
static const char *arg_jar = NULL;
static const char *arg_to = NULL;
static const char *arg_reason = NULL;

static void help(void) {
        printf("mbctl [OPTIONS...] VERB [ARGS...]\n\n"
               "Controls mbupgraded, which keeps Metabase upgraded and rolls back failed upgrades.\n\n"
               "Verbs:\n"
               "  status                        State of the daemon, the unit and the versions\n"
               "  upgrade now --jar FILE        Upgrade to a local JAR now\n"
               "  upgrade now [--to VERSION]    Upgrade to the newest release of the channel, or VERSION\n"
               "  upgrade window                What the maintenance timer runs\n"
               "  rollback                      Back to the version before the last upgrade, with its database\n"
               "  cancel                        Stop an upgrade that has not yet stopped the service\n"
               "  hold [--reason TEXT]          Refuse upgrades until unhold\n"
               "  unhold                        Allow upgrades again\n"
               "  history                       Past operations\n"
               "  backup                        Back up the application database now (H2: stops the service)\n"
               "  backups                       The backups, with version, kind, size and checksum\n"
               "  restore BACKUP [--yes]        Put a backup back (the database as it is now is kept first)\n"
               "  check                         Poll the release feed now\n"
               "  list                          Releases in the feed, and whether the policy takes them\n"
               "  inspect JAR [--no-hash]       Offline: version, main class, Java needed, SHA-256\n"
               "  config check [FILE]           Offline: validate a configuration file\n\n"
               "Options:\n"
               "  -h --help         Show this help\n"
               "     --version      Show the version\n"
               "     --json         JSON output (status, history, backups, inspect)\n"
               "     --jar FILE     The JAR to upgrade to\n"
               "     --to VERSION   The release to upgrade to\n"
               "     --dry-run      Run the pre-flight checks only\n"
               "     --no-wait      Start the operation and return\n"
               "     --force        Override a hold; allow reinstalling or downgrading\n"
               "     --reason TEXT  Why upgrades are held\n"
               "     --yes          Restore without asking\n\n"
               "Exit status: 0 done or nothing to do, 1 failed (service unchanged), 2 usage or configuration\n"
               "error, 3 upgrade failed and rolled back, 4 rollback failed too, 5 refused.\n");
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
                ARG_JSON,
                ARG_NO_WAIT,
                ARG_DRY_RUN,
                ARG_FORCE,
                ARG_JAR,
                ARG_TO,
                ARG_REASON,
                ARG_NO_HASH,
                ARG_YES
        };
        static const struct option options[] = {
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, ARG_VERSION},
                {"json", no_argument, NULL, ARG_JSON},
                {"no-wait", no_argument, NULL, ARG_NO_WAIT},
                {"dry-run", no_argument, NULL, ARG_DRY_RUN},
                {"force", no_argument, NULL, ARG_FORCE},
                {"jar", required_argument, NULL, ARG_JAR},
                {"to", required_argument, NULL, ARG_TO},
                {"reason", required_argument, NULL, ARG_REASON},
                {"no-hash", no_argument, NULL, ARG_NO_HASH},
                {"yes", no_argument, NULL, ARG_YES},
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        puts("mbctl " PACKAGE_VERSION);
                        return 0;
                case ARG_JSON:
                        arg_json = true;
                        break;
                case ARG_NO_WAIT:
                        arg_no_wait = true;
                        break;
                case ARG_DRY_RUN:
                        arg_dry_run = true;
                        break;
                case ARG_FORCE:
                        arg_force = true;
                        break;
                case ARG_JAR:
                        arg_jar = optarg;
                        break;
                case ARG_TO:
                        arg_to = optarg;
                        break;
                case ARG_NO_HASH:
                        arg_no_hash = true;
                        break;
                case ARG_YES:
                        arg_yes = true;
                        break;
                case ARG_REASON:
                        arg_reason = optarg;
                        break;
                default:
                        return -EINVAL;
                }
        return 1;
}

/* Bus helpers */

static int exit_status_for_error(const sd_bus_error *e) {
        if (sd_bus_error_has_names(e, "org.mbupgraded.Error.Refused", "org.mbupgraded.Error.Busy"))
                return EXIT_REFUSED;
        if (sd_bus_error_has_names(e, SD_BUS_ERROR_INVALID_ARGS, "org.mbupgraded.Error.NoReleaseSource"))
                return EXIT_USAGE;
        return EXIT_FAILED;
}

static int report_bus_error(const char *what, int r, const sd_bus_error *e) {
        if (sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER)) {
                fprintf(stderr, "mbupgraded is not running (start it with: systemctl start mbupgraded)\n");
                return EXIT_FAILED;
        }
        if (sd_bus_error_has_name(e, SD_BUS_ERROR_ACCESS_DENIED)) {
                /* The bus policy's refusal is dbus-daemon's rule dump; the daemon's own says who may. */
                if (isempty(e->message) || startswith(e->message, "Rejected send message"))
                        fprintf(stderr,
                                "%s: permission denied: only root and members of the admin group (admin_group in "
                                "mbupgraded.yaml, mbupgrade by default) may do this; use sudo\n",
                                what);
                else
                        fprintf(stderr, "%s: permission denied: %s\n", what, e->message);
                return EXIT_FAILED;
        }
        if (sd_bus_error_is_set(e)) {
                fprintf(stderr, "%s: %s\n", what, e->message ?: e->name);
                return exit_status_for_error(e);
        }
        fprintf(stderr, "%s: %s\n", what, strerror(-r));
        return EXIT_FAILED;
}

static int connect_bus(sd_bus **ret) {
        int r = sd_bus_open_system(ret);
        if (r < 0) {
                fprintf(stderr, "Cannot connect to the system bus: %s\n", strerror(-r));
                return EXIT_FAILED;
        }
        return 0;
}

typedef struct Props {
        char *values[32];
        const char *names[32];
        size_t n;
        bool hold;
        uint64_t op_id;
} Props;

static void props_clear(Props *p) {
        for (size_t i = 0; i < p->n; i++)
                free(p->values[i]);
        p->n = 0;
}

static const char *props_get(const Props *p, const char *name) {
        for (size_t i = 0; i < p->n; i++)
                if (streq(p->names[i], name))
                        return p->values[i];
        return "";
}

/* Reads an a{sv} of properties (GetAll or PropertiesChanged) into p; strings, Hold and OperationId. */
static int props_read(sd_bus_message *m, Props *p) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *name, *contents;
                char type;

                r = sd_bus_message_read(m, "s", &name);
                if (r < 0)
                        return r;
                r = sd_bus_message_peek_type(m, &type, &contents);
                if (r < 0)
                        return r;
                if (streq(contents, "s") && p->n < ELEMENTSOF(p->values)) {
                        const char *s;
                        static char *interned[64];
                        static size_t n_interned;
                        const char *iname = NULL;

                        r = sd_bus_message_read(m, "v", "s", &s);
                        if (r < 0)
                                return r;
                        for (size_t i = 0; i < n_interned; i++)
                                if (streq(interned[i], name))
                                        iname = interned[i];
                        if (!iname && n_interned < ELEMENTSOF(interned))
                                iname = interned[n_interned++] = strdup(name);
                        if (!iname)
                                return -ENOMEM;
                        for (size_t i = 0; i < p->n; i++)
                                if (streq(p->names[i], iname)) {
                                        free(p->values[i]);
                                        p->values[i] = p->values[--p->n];
                                        p->names[i] = p->names[p->n];
                                        break;
                                }
                        p->names[p->n] = iname;
                        p->values[p->n++] = strdup(s);
                } else if (streq(name, "Hold") && streq(contents, "b")) {
                        int b;
                        r = sd_bus_message_read(m, "v", "b", &b);
                        p->hold = b;
                } else if (streq(name, "OperationId") && streq(contents, "t"))
                        r = sd_bus_message_read(m, "v", "t", &p->op_id);
                else
                        r = sd_bus_message_skip(m, "v");
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

static int get_all(sd_bus *bus, Props *p) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_call_method(
                bus,
                BUS_NAME,
                BUS_PATH,
                "org.freedesktop.DBus.Properties",
                "GetAll",
                &error,
                &reply,
                "s",
                BUS_INTERFACE);
        if (r < 0)
                return report_bus_error("Cannot read the daemon's state", r, &error);
        r = props_read(reply, p);
        if (r < 0) {
                fprintf(stderr, "Cannot parse the daemon's state: %s\n", strerror(-r));
                return EXIT_FAILED;
        }
        return 0;
}

/* Verbs */

static const char *const status_fields[][2] = {
        {"State", "Daemon"},
        {"Step", "Step"},
        {"Unit", "Unit"},
        {"UnitActiveState", "Unit state"},
        {"JarPath", "JAR"},
        {"InstalledVersion", "Installed"},
        {"RunningVersion", "Running"},
        {"PreviousVersion", "Previous"},
        {"AppDatabase", "Database"},
        {"AppDatabaseSchema", "Schema"},
        {"NewestAvailable", "Available"},
        {"NewestAllowed", "Allowed"},
        {"Staged", "Staged"},
        {"LastCheck", "Last check"},
        {"HoldReason", "Hold"},
        {"LastResult", "Last result"},
        {"StatusText", "Status"},
};

static int verb_status(sd_bus *bus) {
        Props p = {};
        int r;

        r = get_all(bus, &p);
        if (r != 0)
                return r;
        if (arg_json) {
                json_object *o = json_object_new_object();
                for (size_t i = 0; i < p.n; i++)
                        json_object_object_add(o, p.names[i], json_object_new_string(p.values[i]));
                json_object_object_add(o, "Hold", json_object_new_boolean(p.hold));
                json_object_object_add(o, "OperationId", json_object_new_uint64(p.op_id));
                puts(json_object_to_json_string_ext(
                        o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(o);
        } else
                for (size_t i = 0; i < ELEMENTSOF(status_fields); i++) {
                        const char *v = props_get(&p, status_fields[i][0]);
                        if (streq(status_fields[i][0], "HoldReason"))
                                v = p.hold ? (isempty(v) ? "yes" : v) : "no";
                        else if (streq(status_fields[i][0], "Step") && isempty(v))
                                continue;
                        else if (streq(status_fields[i][0], "NewestAvailable") && isempty(v))
                                v = "(unknown: the release feed has not been read; mbctl check)";
                        else if (
                                (streq(status_fields[i][0], "NewestAllowed") ||
                                 streq(status_fields[i][0], "Staged")) &&
                                isempty(v))
                                continue;
                        else if (streq(status_fields[i][0], "AppDatabaseSchema")) {
                                if (!isempty(v))
                                        printf("%12s: %s (newest DATABASECHANGELOG entry)\n",
                                               status_fields[i][1],
                                               v);
                                continue;
                        } else if (streq(status_fields[i][0], "PreviousVersion") && !isempty(v)) {
                                printf("%12s: %s (mbctl rollback returns to it)\n", status_fields[i][1], v);
                                continue;
                        }
                        printf("%12s: %s\n", status_fields[i][1], isempty(v) ? "-" : v);
                }
        props_clear(&p);
        return 0;
}

/* Following an operation until OperationFinished arrives. */
typedef struct Follow {
        uint64_t id;
        bool done;
        bool gone;
        int exit_status;
        bool tty;
        char *last_line;
        char *last_status;
        Props props;
} Follow;

static int exit_status_for_result(const char *result) {
        if (streq(result, "committed"))
                return EXIT_DONE;
        if (streq(result, "rolled-back"))
                return EXIT_ROLLED_BACK;
        if (streq(result, "rollback-failed"))
                return EXIT_ROLLBACK_FAILED;
        if (streq(result, "refused"))
                return EXIT_REFUSED;
        return EXIT_FAILED;
}

static void follow_print(Follow *f) {
        const char *step = props_get(&f->props, "Step"), *text = props_get(&f->props, "StatusText");
        _cleanup_free_ char *line = NULL;

        if (isempty(step))
                return;
        line = strdup_printf("[%s] %s", step, text);
        if (!line || (f->last_line && streq(line, f->last_line)))
                return;
        if (f->tty) {
                /* One line that follows the operation, cut to the terminal's width. */
                printf("\r\033[K%.*s", 100, line);
                fflush(stdout);
        } else
                printf("%s\n", line);
        free(f->last_line);
        f->last_line = TAKE_PTR(line);
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Follow *f = userdata;
        const char *iface;

        if (sd_bus_message_read(m, "s", &iface) < 0 || !streq(iface, BUS_INTERFACE))
                return 0;
        /* Print when the status line changes; it says what the step does. */
        if (props_read(m, &f->props) >= 0 &&
            !streq(props_get(&f->props, "StatusText"), strempty(f->last_status))) {
                free(f->last_status);
                f->last_status = strdup(props_get(&f->props, "StatusText"));
                follow_print(f);
        }
        return 0;
}

static int on_finished(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Follow *f = userdata;
        const char *kind, *result, *from, *to, *reason;
        uint64_t id;

        if (sd_bus_message_read(m, "tsssss", &id, &kind, &result, &from, &to, &reason) < 0)
                return 0;
        if (id != f->id) {
                /* One hop of a plan; one refused before it knew its versions is told by the plan's end. */
                if (isempty(from))
                        return 0;
                if (f->tty)
                        printf("\r\033[K");
                printf("  %s %s -> %s: %s%s%s\n", kind, from, to, result, isempty(reason) ? "" : ": ", reason);
                return 0;
        }
        if (f->tty)
                printf("\r\033[K");
        f->done = true;
        f->exit_status = exit_status_for_result(result);
        if (streq(kind, "backup") || streq(kind, "restore")) {
                /* The version stays: name it once. */
                if (streq(result, "committed"))
                        printf("%s of the %s database: done\n", kind, from);
                else
                        fprintf(f->exit_status == EXIT_ROLLBACK_FAILED ? stderr : stdout,
                                "%s of the %s database: %s: %s\n",
                                kind,
                                from,
                                result,
                                reason);
        } else if (streq(result, "committed"))
                printf("%s %s -> %s: committed\n", kind, from, to);
        else
                fprintf(f->exit_status == EXIT_ROLLBACK_FAILED ? stderr : stdout,
                        "%s %s -> %s: %s: %s\n",
                        kind,
                        from,
                        to,
                        result,
                        reason);
        return 0;
}

static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Follow *f = userdata;
        const char *name, *old, *new;

        if (sd_bus_message_read(m, "sss", &name, &old, &new) >= 0 && streq(name, BUS_NAME) && isempty(new))
                f->gone = true;
        return 0;
}

static int run_operation(sd_bus *bus, const char *method, const char *what, const char *signature, ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *s1 = NULL, *s2 = NULL, *s3 = NULL;
        Follow f = {.tty = isatty(STDOUT_FILENO) > 0};
        const char *summary;
        va_list ap;
        int r;

        /* Matches first, so that nothing between the reply and the end is missed. */
        if (!arg_no_wait && !arg_dry_run) {
                r = sd_bus_match_signal(
                        bus, &s1, BUS_NAME, BUS_PATH, BUS_INTERFACE, "OperationFinished", on_finished, &f);
                if (r >= 0)
                        r = sd_bus_match_signal(
                                bus,
                                &s2,
                                BUS_NAME,
                                BUS_PATH,
                                "org.freedesktop.DBus.Properties",
                                "PropertiesChanged",
                                on_properties_changed,
                                &f);
                if (r >= 0)
                        r = sd_bus_match_signal(
                                bus,
                                &s3,
                                "org.freedesktop.DBus",
                                "/org/freedesktop/DBus",
                                "org.freedesktop.DBus",
                                "NameOwnerChanged",
                                on_name_owner_changed,
                                &f);
                if (r < 0) {
                        fprintf(stderr, "Cannot subscribe to the daemon's signals: %s\n", strerror(-r));
                        return EXIT_FAILED;
                }
        }

        r = sd_bus_message_new_method_call(bus, &call, BUS_NAME, BUS_PATH, BUS_INTERFACE, method);
        if (r >= 0) {
                va_start(ap, signature);
                r = sd_bus_message_appendv(call, signature, ap);
                va_end(ap);
        }
        if (r < 0) {
                fprintf(stderr, "Cannot build the call: %s\n", strerror(-r));
                return EXIT_FAILED;
        }
        r = sd_bus_call(bus, call, CALL_TIMEOUT_USEC, &error, &reply);
        if (r < 0)
                return report_bus_error(what, r, &error);
        r = sd_bus_message_read(reply, "ts", &f.id, &summary);
        if (r < 0) {
                fprintf(stderr, "Cannot parse the daemon's reply: %s\n", strerror(-r));
                return EXIT_FAILED;
        }
        if (arg_dry_run) {
                printf("%s%s\nNothing was changed (--dry-run).\n",
                       streq(method, "Upgrade") && arg_jar ? "Pre-flight passed: " : "",
                       summary);
                return EXIT_DONE;
        }
        if (f.id == 0) {
                /* Nothing was started: nothing to do. */
                printf("%s\n", summary);
                return EXIT_DONE;
        }
        printf("%s\n", summary);
        if (arg_no_wait) {
                printf("Operation %" PRIu64 " started; follow it with: mbctl status\n", f.id);
                return EXIT_DONE;
        }
        while (!f.done && !f.gone) {
                r = sd_bus_process(bus, NULL);
                if (r < 0) {
                        fprintf(stderr, "Lost the connection to the bus: %s\n", strerror(-r));
                        return EXIT_FAILED;
                }
                if (r > 0)
                        continue;
                r = sd_bus_wait(bus, UINT64_MAX);
                if (r < 0 && r != -EINTR) {
                        fprintf(stderr, "Lost the connection to the bus: %s\n", strerror(-r));
                        return EXIT_FAILED;
                }
        }
        free(f.last_line);
        free(f.last_status);
        props_clear(&f.props);
        if (f.gone) {
                if (f.tty)
                        printf("\n");
                fprintf(stderr,
                        "mbupgraded exited during the operation; it resumes or rolls back when it starts "
                        "again. Check with: mbctl status; mbctl history\n");
                return EXIT_FAILED;
        }
        return f.exit_status;
}

static int verb_upgrade(sd_bus *bus, char **args) {
        char path[PATH_MAX];
        uint64_t flags = (arg_force ? FLAG_FORCE : 0) | (arg_dry_run ? FLAG_DRY_RUN : 0);

        if (!args[0] || (!streq(args[0], "now") && !streq(args[0], "window")) || args[1]) {
                fprintf(stderr,
                        "Usage: mbctl upgrade now [--jar FILE | --to VERSION] | mbctl upgrade window\n");
                return EXIT_USAGE;
        }
        if (streq(args[0], "window")) {
                if (arg_jar || arg_to) {
                        fprintf(stderr,
                                "mbctl upgrade window takes neither --jar nor --to: it applies what the policy allows\n");
                        return EXIT_USAGE;
                }
                return run_operation(
                        bus, "Window", "Upgrade window", "t", (uint64_t) (arg_dry_run ? FLAG_DRY_RUN : 0));
        }
        if (!arg_jar)
                return run_operation(bus, "Upgrade", "Upgrade", "sst", "", arg_to ?: "", flags);
        if (arg_to) {
                fprintf(stderr, "--to and --jar exclude each other\n");
                return EXIT_USAGE;
        }
        /* The daemon has another working directory: hand it an absolute path. Not resolved
         * through symlinks, so the daemon can refuse a link. */
        if (arg_jar[0] == '/')
                snprintf(path, sizeof(path), "%s", arg_jar);
        else {
                char cwd[PATH_MAX];
                if (!getcwd(cwd, sizeof(cwd)) ||
                    (size_t) snprintf(path, sizeof(path), "%s/%s", cwd, arg_jar) >= sizeof(path)) {
                        fprintf(stderr, "Cannot make %s an absolute path\n", arg_jar);
                        return EXIT_USAGE;
                }
        }
        if (access(path, R_OK) < 0) {
                fprintf(stderr, "Cannot read %s: %s\n", path, strerror(errno));
                return EXIT_USAGE;
        }
        return run_operation(bus, "Upgrade", "Upgrade", "sst", path, "", flags);
}

static int verb_rollback(sd_bus *bus, char **args) {
        uint64_t flags = (arg_force ? FLAG_FORCE : 0) | (arg_dry_run ? FLAG_DRY_RUN : 0);

        if (args[0]) {
                fprintf(stderr, "Usage: mbctl rollback [--no-wait] [--dry-run] [--force]\n");
                return EXIT_USAGE;
        }
        return run_operation(bus, "Rollback", "Rollback", "t", flags);
}

static int verb_backup(sd_bus *bus, char **args) {
        if (args[0]) {
                fprintf(stderr, "Usage: mbctl backup [--no-wait] [--dry-run]\n");
                return EXIT_USAGE;
        }
        return run_operation(bus, "Backup", "Backup", "t", (uint64_t) (arg_dry_run ? FLAG_DRY_RUN : 0));
}

static int verb_restore(sd_bus *bus, char **args) {
        uint64_t flags = (arg_force ? FLAG_FORCE : 0) | (arg_dry_run ? FLAG_DRY_RUN : 0);
        char path[PATH_MAX];
        const char *backup;

        if (!args[0] || args[1]) {
                fprintf(stderr,
                        "Usage: mbctl restore BACKUP [--yes] [--force] [--no-wait] [--dry-run]\n"
                        "BACKUP: an ID from 'mbctl backups', or the path of a backup under backup.dir\n");
                return EXIT_USAGE;
        }
        backup = args[0];
        if (strchr(backup, '/') && backup[0] != '/') {
                char cwd[PATH_MAX];
                if (!getcwd(cwd, sizeof(cwd)) ||
                    (size_t) snprintf(path, sizeof(path), "%s/%s", cwd, backup) >= sizeof(path)) {
                        fprintf(stderr, "Cannot make %s an absolute path\n", backup);
                        return EXIT_USAGE;
                }
                backup = path;
        }
        if (!arg_yes && !arg_dry_run) {
                char answer[16] = "";
                if (!isatty(STDIN_FILENO)) {
                        fprintf(stderr,
                                "mbctl restore stops Metabase and replaces its application database with %s "
                                "(the database as it is now is backed up first). Confirm with --yes.\n",
                                backup);
                        return EXIT_USAGE;
                }
                printf("This stops Metabase, backs up its application database as it is now, and replaces it "
                       "with %s.\nRestore? [y/N] ",
                       backup);
                fflush(stdout);
                if (!fgets(answer, sizeof(answer), stdin) || (answer[0] != 'y' && answer[0] != 'Y')) {
                        printf("Nothing was changed.\n");
                        return EXIT_DONE;
                }
        }
        return run_operation(bus, "Restore", "Restore", "st", backup, flags);
}

/* A method that answers a JSON array as a string; mbctl's exit status on failure. */
static int call_json_array(sd_bus *bus, const char *method, const char *what, json_object **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        json_object *array;
        const char *text;
        int r;

        r = sd_bus_call_method(bus, BUS_NAME, BUS_PATH, BUS_INTERFACE, method, &error, &reply, "");
        if (r < 0)
                return report_bus_error(what, r, &error);
        if (sd_bus_message_read(reply, "s", &text) < 0)
                return EXIT_FAILED;
        array = json_tokener_parse(text);
        if (!array || !json_object_is_type(array, json_type_array)) {
                json_object_put(array);
                fprintf(stderr, "The daemon's answer is not a JSON array\n");
                return EXIT_FAILED;
        }
        *ret = array;
        return 0;
}

static int verb_backups(sd_bus *bus, char **args) {
        json_object *array;
        int r;

        r = call_json_array(bus, "ListBackups", "Backups", &array);
        if (r != 0)
                return r;
        if (arg_json)
                puts(json_object_to_json_string_ext(
                        array, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        else if (json_object_array_length(array) == 0)
                printf("No backups yet: mbctl backup takes one; every upgrade takes one.\n");
        else {
                printf("%-44s  %-10s  %-8s  %10s  %-12s  %s\n", "ID", "VERSION", "KIND", "SIZE", "SHA256", "");
                for (size_t i = 0; i < json_object_array_length(array); i++) {
                        json_object *o = json_object_array_get_idx(array, i), *v;
                        char size[32];
#define S(k) (json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "")
#define B(k) (json_object_object_get_ex(o, k, &v) && json_object_get_boolean(v))
                        uint64_t bytes = json_object_object_get_ex(o, "size", &v) ? json_object_get_uint64(v)
                                                                                  : 0;
                        if (bytes >= 10u << 20)
                                snprintf(size, sizeof(size), "%" PRIu64 " MiB", bytes >> 20);
                        else
                                snprintf(size, sizeof(size), "%" PRIu64 " KiB", (bytes + 1023) >> 10);
                        printf("%-44s  %-10s  %-8s  %10s  %-12.12s  %s%s\n",
                               S("id"),
                               S("version"),
                               S("kind"),
                               size,
                               S("sha256"),
                               B("needed") ? "(mbctl rollback needs it)" : "",
                               B("present") ? "" : "(its file is missing)");
#undef S
#undef B
                }
        }
        json_object_put(array);
        return EXIT_DONE;
}

static int simple_call(sd_bus *bus, const char *method, const char *what, const char *signature, const char *arg) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call_method(bus, BUS_NAME, BUS_PATH, BUS_INTERFACE, method, &error, NULL, signature, arg);
        if (r < 0)
                return report_bus_error(what, r, &error);
        return 0;
}

static int verb_cancel(sd_bus *bus, char **args) {
        int r = simple_call(bus, "Cancel", "Cancel", "", NULL);
        if (r == 0)
                printf("Canceled: the service was not touched.\n");
        return r;
}

static int verb_hold(sd_bus *bus, char **args) {
        int r = simple_call(bus, "Hold", "Hold", "s", arg_reason ?: (args[0] ?: ""));
        if (r == 0)
                printf("Upgrades are held until 'mbctl unhold'.\n");
        return r;
}

static int verb_unhold(sd_bus *bus, char **args) {
        int r = simple_call(bus, "Unhold", "Unhold", "", NULL);
        if (r == 0)
                printf("Upgrades are no longer held by an administrator.\n");
        return r;
}

static int verb_check(sd_bus *bus, char **args) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *text;
        int r;

        r = sd_bus_call_method(bus, BUS_NAME, BUS_PATH, BUS_INTERFACE, "Check", &error, &reply, "");
        if (r < 0)
                return report_bus_error("Check", r, &error);
        if (sd_bus_message_read(reply, "s", &text) < 0)
                return EXIT_FAILED;
        printf("Release feed checked: %s\n", text);
        return verb_status(bus);
}

static int verb_list(sd_bus *bus, char **args) {
        json_object *array;
        int r;

        r = call_json_array(bus, "List", "List", &array);
        if (r != 0)
                return r;
        if (arg_json)
                puts(json_object_to_json_string_ext(
                        array, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        else if (json_object_array_length(array) == 0)
                printf("No releases known yet: run mbctl check (see mbctl status for the last check).\n");
        else {
                printf("%-12s  %-10s  %-8s  %s\n", "VERSION", "RELEASED", "", "POLICY (unattended)");
                for (size_t i = 0; i < json_object_array_length(array); i++) {
                        json_object *o = json_object_array_get_idx(array, i), *v;
#define S(k) (json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "")
#define B(k) (json_object_object_get_ex(o, k, &v) && json_object_get_boolean(v))
                        printf("%-12s  %-10s  %-8s  %s\n",
                               S("version"),
                               isempty(S("released")) ? "-" : S("released"),
                               B("staged") ? "staged" : "",
                               B("eligible") ? "allowed" : S("reason"));
#undef S
#undef B
                }
        }
        json_object_put(array);
        return EXIT_DONE;
}

static void format_time(uint64_t usec, char *buf, size_t n) {
        time_t t = (time_t) (usec / USEC_PER_SEC);
        struct tm tm;

        if (usec == 0 || !localtime_r(&t, &tm) || strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm) == 0)
                snprintf(buf, n, "-");
}

static int verb_history(sd_bus *bus, char **args) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        json_object *array;
        const char *text;
        char *save = NULL;
        _cleanup_free_ char *copy = NULL;
        int r;

        r = sd_bus_call_method(bus, BUS_NAME, BUS_PATH, BUS_INTERFACE, "GetHistory", &error, &reply, "");
        if (r < 0)
                return report_bus_error("History", r, &error);
        r = sd_bus_message_read(reply, "s", &text);
        if (r < 0)
                return EXIT_FAILED;
        copy = strdup(text);
        array = json_object_new_array();
        if (!copy || !array)
                return EXIT_FAILED;
        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                json_object *o = json_tokener_parse(line);
                if (o && json_object_is_type(o, json_type_object))
                        json_object_array_add(array, o);
                else
                        json_object_put(o);
        }
        if (arg_json)
                puts(json_object_to_json_string_ext(
                        array, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        else if (json_object_array_length(array) == 0)
                printf("No operations yet.\n");
        else {
                printf("%-19s  %-8s  %-10s  %-10s  %-15s  %9s  %s\n",
                       "STARTED",
                       "KIND",
                       "FROM",
                       "TO",
                       "RESULT",
                       "DOWNTIME",
                       "REASON");
                for (size_t i = 0; i < json_object_array_length(array); i++) {
                        json_object *o = json_object_array_get_idx(array, i), *v;
                        char when[32], down[32] = "-";
#define S(k) (json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "")
                        format_time(
                                json_object_object_get_ex(o, "started_usec", &v) ? json_object_get_uint64(v)
                                                                                 : 0,
                                when,
                                sizeof(when));
                        if (json_object_object_get_ex(o, "downtime_ms", &v))
                                snprintf(down, sizeof(down), "%.1fs", json_object_get_uint64(v) / 1000.0);
                        printf("%-19s  %-8s  %-10s  %-10s  %-15s  %9s  %s\n",
                               when,
                               S("kind"),
                               S("from"),
                               S("to"),
                               S("result"),
                               down,
                               S("reason"));
#undef S
                }
        }
        json_object_put(array);
        return 0;
}

static int verb_inspect(char **args) {
        _cleanup_free_ char *error = NULL;
        JarInfo *info = NULL;
        int r;

        if (!args[0] || args[1]) {
                fprintf(stderr, "Usage: mbctl inspect JAR [--json] [--no-hash]\n");
                return EXIT_USAGE;
        }
        r = jar_inspect(args[0], arg_no_hash ? 0 : JAR_INSPECT_HASH, &info, &error);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", args[0], error ?: strerror(-r));
                return EXIT_FAILED;
        }
        if (arg_json) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "path", json_object_new_string(args[0]));
                json_object_object_add(o, "version", json_object_new_string(info->tag));
                json_object_object_add(
                        o, "edition", json_object_new_string(info->version.edition ? "enterprise" : "oss"));
                json_object_object_add(o, "hash", json_object_new_string(strempty(info->hash)));
                json_object_object_add(o, "date", json_object_new_string(strempty(info->date)));
                json_object_object_add(o, "main_class", json_object_new_string(info->main_class));
                json_object_object_add(o, "class_file_major", json_object_new_int((int) info->class_major));
                json_object_object_add(o, "java_needed", json_object_new_int((int) info->java_needed));
                json_object_object_add(o, "size", json_object_new_uint64(info->size));
                if (info->has_sha256)
                        json_object_object_add(o, "sha256", json_object_new_string(info->sha256));
                puts(json_object_to_json_string_ext(
                        o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(o);
        } else {
                printf("    Version: %s (%s)\n", info->tag, info->version.edition ? "enterprise" : "oss");
                printf("      Build: %s %s\n", strempty(info->hash), strempty(info->date));
                printf(" Main class: %s\n", info->main_class);
                printf("Java needed: %u (class file %u)\n", info->java_needed, info->class_major);
                printf("       Size: %" PRIu64 " bytes\n", info->size);
                if (info->has_sha256)
                        printf("    SHA-256: %s\n", info->sha256);
        }
        jar_info_free(info);
        return 0;
}

static int verb_config(char **args) {
        _cleanup_free_ char *error = NULL;
        const char *path;
        Config *c = NULL;
        int r;

        if (!args[0] || !streq(args[0], "check") || (args[1] && args[2])) {
                fprintf(stderr, "Usage: mbctl config check [FILE]\n");
                return EXIT_USAGE;
        }
        path = args[1] ?: CONFIG_DEFAULT_PATH;
        r = config_load(path, &c, &error);
        if (r < 0) {
                fprintf(stderr, "%s\n", error ?: strerror(-r));
                return EXIT_USAGE;
        }
        printf("%s: OK (unit %s, state_dir %s, backups in %s, keep %u)\n",
               path,
               c->service.unit,
               c->state_dir,
               c->backup.dir,
               c->backup.keep);
        config_free(c);
        return 0;
}

static int run(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        static const struct {
                const char *name;
                int (*func)(sd_bus *bus, char **args);
        } verbs[] = {
                {"status", NULL},
                {"upgrade", verb_upgrade},
                {"rollback", verb_rollback},
                {"cancel", verb_cancel},
                {"hold", verb_hold},
                {"unhold", verb_unhold},
                {"history", verb_history},
                {"check", verb_check},
                {"list", verb_list},
                {"backup", verb_backup},
                {"backups", verb_backups},
                {"restore", verb_restore},
        };
        char **args;
        const char *verb;
        int r;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_USAGE : EXIT_DONE;
        verb = optind < argc ? argv[optind] : "status";
        args = argv + (optind < argc ? optind + 1 : argc);

        if (streq(verb, "inspect"))
                return verb_inspect(args);
        if (streq(verb, "config"))
                return verb_config(args);
        if (streq(verb, "help")) {
                help();
                return EXIT_DONE;
        }
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
                if (!streq(verbs[i].name, verb))
                        continue;
                r = connect_bus(&bus);
                if (r != 0)
                        return r;
                return verbs[i].func ? verbs[i].func(bus, args) : verb_status(bus);
        }
        fprintf(stderr, "Unknown verb '%s'; see mbctl --help\n", verb);
        return EXIT_USAGE;
}

int main(int argc, char *argv[]) {
        return run(argc, argv);
}
