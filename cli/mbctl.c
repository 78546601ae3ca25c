/* SPDX-License-Identifier: MIT */
/* mbctl: the admin's client for mbupgraded, over D-Bus. Offline verbs (inspect, config check)
 * work without the daemon. Exit codes: 0 done, 1 failed (service unchanged), 2 usage or
 * configuration, 3 rolled back, 4 rollback failed, 5 refused. */

#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>

#include "bus-names.h"
#include "config.h"
#include "doctor.h"
#include "fileio.h"
#include "jar.h"
#include "macro.h"
#include "strv.h"
#include "ui.h"

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
#define FLAG_CONFIRMED 8  /* Rollback: losing what was written since the backup is accepted */
#define FLAG_KEEP_DATA 16 /* Rollback: Metabase's migrate down keeps the data */
/* run_operation(): the daemon asked for a confirmation, and the person on the terminal gave it */
#define RUN_CONFIRMED (-1)

#define STR_IN_SET(x, ...) strv_contains(STRV_MAKE(__VA_ARGS__), (x))

static inline void json_object_putp(json_object **o) {
        if (*o)
                json_object_put(*o);
}

static bool use_colors(void) {
        return ui_use_colors(isatty(STDOUT_FILENO) > 0, getenv("NO_COLOR"), getenv("TERM"));
}

static bool is_utf8_locale(void) {
        return streq_ptr(nl_langinfo(CODESET), "UTF-8");
}

static unsigned terminal_columns(void) {
        struct winsize ws = {};

        if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 || ws.ws_col < 20)
                return 80;
        return ws.ws_col;
}

static bool arg_json = false;
static bool arg_no_wait = false;
static bool arg_dry_run = false;
static bool arg_force = false;
static bool arg_no_hash = false;
static bool arg_yes = false;
static bool arg_keep_data = false;
static const char *arg_jar = NULL;
static const char *arg_to = NULL;
static const char *arg_reason = NULL;
static const char *arg_config = NULL;
static bool arg_help = false;

static void help(void) {
        printf("mbctl [OPTIONS...] VERB [ARGS...]\n\n"
               "Controls mbupgraded, which keeps Metabase upgraded and rolls back failed upgrades.\n\n"
               "Verbs:\n"
               "  status                      The daemon, the unit, the versions, the releases\n"
               "  upgrade now [--jar FILE | --to VERSION]\n"
               "                              Upgrade now, to a local JAR or a release of the feed\n"
               "  upgrade window              Apply what the policy allows (the maintenance timer)\n"
               "  rollback                    Back to the version before the last upgrade, with its database\n"
               "  cancel                      Stop an upgrade that has not yet stopped the service\n"
               "  hold [--reason TEXT]        Refuse upgrades until unhold\n"
               "  unhold                      Allow upgrades again\n"
               "  history                     Past operations, and who or what started each\n"
               "  approve VERSION             Let the window apply VERSION (policy.approve)\n"
               "  backup                      Back up the application database now\n"
               "  backups                     The backups\n"
               "  restore BACKUP              Put a backup back\n"
               "  rehearse [VERSION]          Rehearse an upgrade on a copy of the application database\n"
               "  check                       Read the release feed now\n"
               "  list                        The releases of the feed, and whether the policy takes them\n"
               "  inspect JAR                 Offline: version, main class, Java needed, SHA-256\n"
               "  config check [FILE]         Offline: validate a configuration file\n"
               "  doctor                      Check the whole setup, change nothing\n"
               "  fleet status                The nodes of the fleet (fleet.enabled), their versions and health\n\n"
               "Options:\n"
               "  -h --help         This help; 'mbctl VERB --help' for a verb's\n"
               "     --version      The version\n"
               "     --json         JSON output (status, check, list, history, backups, inspect, doctor,\n"
               "                    fleet status)\n\n"
               "Exit status: 0 done or nothing to do, 1 failed (service unchanged), 2 usage or configuration\n"
               "error, 3 upgrade failed and rolled back, 4 rollback failed too, 5 refused.\n");
}

/* 'mbctl VERB --help': the verb's usage, what it does, its options. */
static const struct {
        const char *verb;
        const char *text;
} verb_help[] = {
        {"status",
         "mbctl status [--json]\n\n"
         "The daemon's state and current operation, the unit, the installed and running versions,\n"
         "the newest release available and allowed, what is staged, whether upgrades are held.\n"},
        {"upgrade",
         "mbctl upgrade now [--jar FILE | --to VERSION] [--dry-run] [--force] [--no-wait]\n"
         "mbctl upgrade window [--dry-run] [--no-wait]\n\n"
         "now: the newest release of the channel (min_age and allow do not apply), the release\n"
         "VERSION, or the local JAR FILE. window: what the policy allows unattended.\n\n"
         "  --jar FILE     Upgrade to this JAR\n"
         "  --to VERSION   Upgrade to this release of the feed\n"
         "  --dry-run      Pre-flight checks only; nothing changes\n"
         "  --force        Override a hold; allow reinstalling or downgrading\n"
         "  --no-wait      Start the upgrade and return\n"},
        {"rollback",
         "mbctl rollback [--keep-data] [--yes] [--dry-run] [--force] [--no-wait]\n\n"
         "Back to the version before the last committed upgrade, with the database backup taken then.\n"
         "Everything written to the application database since that backup is lost: once the\n"
         "upgrade committed more than service.settle ago, mbctl says when the backup was taken and\n"
         "asks (without a terminal, it is refused unless --yes).\n\n"
         "--keep-data keeps it instead: within the same major only the JAR goes back; one major back,\n"
         "the newer JAR's own 'migrate down' takes the schema back (PostgreSQL, MySQL/MariaDB):\n"
         "rehearsed on a scratch copy, then after a fresh backup; if anything fails the fresh backup\n"
         "and the newer version come back.\n\n"
         "  --keep-data  Keep what was written since the upgrade (no restore)\n"
         "  --yes        Roll back without asking, losing what was written since the backup\n"},
        {"cancel", "mbctl cancel\n\nStops an upgrade that has not yet stopped the service.\n"},
        {"hold",
         "mbctl hold [--reason TEXT]\n\n"
         "Refuses upgrades (not rollbacks, backups or restores) until 'mbctl unhold'.\n"},
        {"unhold", "mbctl unhold\n\nAllows upgrades again after 'mbctl hold'.\n"},
        {"history",
         "mbctl history [--json]\n\nPast operations, oldest first, each with who or what started it (an\n"
         "admin by user name and uid, the window timer, policy.apply: immediately, a fleet rollout), and\n"
         "the approvals of mbctl approve.\n"},
        {"approve",
         "mbctl approve VERSION\n\n"
         "With policy.approve: true a release waits for this before the window (or apply: immediately)\n"
         "applies it; mbctl list and status say which one waits. An upgrade by hand (mbctl upgrade now\n"
         "--to VERSION) is an approval in itself. Recorded in the history with who approved.\n"},
        {"backup",
         "mbctl backup [--dry-run] [--no-wait]\n\n"
         "Backs up the application database now: a server database while Metabase runs; H2 with\n"
         "the service stopped for the copy.\n"},
        {"backups",
         "mbctl backups [--json]\n\n"
         "The backups under backup.dir: version, kind, size, SHA-256, which one a rollback needs.\n"},
        {"restore",
         "mbctl restore BACKUP [--yes] [--force] [--dry-run] [--no-wait]\n\n"
         "Puts a backup back (an ID from 'mbctl backups', or a path under backup.dir); the database\n"
         "as it is now is backed up first.\n\n"
         "  --yes     Do not ask\n"
         "  --force   Allow a backup of a newer version than the installed JAR\n"},
        {"rehearse",
         "mbctl rehearse [VERSION] [--no-wait]\n\n"
         "Rehearses the upgrade to VERSION (default: the newest the policy allows, else the newest\n"
         "release): the release is staged, then its JAR migrates a scratch copy of the application\n"
         "database as a transient unit while Metabase keeps serving; the copy is dropped afterwards.\n"
         "A failed rehearsal keeps the window from applying that version (mbctl upgrade now --to\n"
         "VERSION --force overrides it); a passed one's duration is the expected downtime.\n"
         "Exit 0 passed (or a warning: a best-effort H2 copy failed), 1 failed, 5 refused.\n\n"
         "  --no-wait   Start the rehearsal and return\n"},
        {"check", "mbctl check [--json]\n\nReads the release feed now, then shows the status.\n"},
        {"list",
         "mbctl list [--json]\n\nThe releases of the feed, and whether the policy takes them unattended.\n"},
        {"inspect",
         "mbctl inspect JAR [--no-hash] [--json]\n\n"
         "Offline: a JAR's version, edition, main class, the Java it needs, its size and SHA-256.\n\n"
         "  --no-hash   Skip the SHA-256\n"},
        {"config",
         "mbctl config check [FILE]\n\nOffline: validates a configuration file (default " CONFIG_DEFAULT_PATH
         ").\n"},
        {"doctor",
         "mbctl doctor [--config FILE] [--json]\n\n"
         "Checks the setup end to end and changes nothing: the config, the daemon, the unit, the JAR,\n"
         "Java, the application database, the backup directory, the release feed, nginx. Each check\n"
         "says ok, warn or fail, and for warn and fail what to do. Exit 0 when none failed, 1 otherwise.\n"
         "Run it as root to connect to the database.\n\n"
         "  --config FILE   The daemon's configuration (default " CONFIG_DEFAULT_PATH ")\n"},
        {"fleet",
         "mbctl fleet status [--json]\n\n"
         "With fleet.enabled: every node of the fleet as the coordination database knows it, its\n"
         "version, state, staged release and last heartbeat; lost nodes (silent for fleet.lost_after)\n"
         "and expected nodes never seen. Exit 0 when every expected node is healthy, 1 otherwise.\n"},
};

static int help_verb(const char *verb) {
        for (size_t i = 0; i < ELEMENTSOF(verb_help); i++)
                if (streq(verb_help[i].verb, verb)) {
                        fputs(verb_help[i].text, stdout);
                        return EXIT_DONE;
                }
        fprintf(stderr, "Unknown verb '%s'; see mbctl --help\n", verb);
        return EXIT_USAGE;
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
                ARG_YES,
                ARG_KEEP_DATA,
                ARG_CONFIG,
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
                {"keep-data", no_argument, NULL, ARG_KEEP_DATA},
                {"config", required_argument, NULL, ARG_CONFIG},
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        arg_help = true;
                        break;
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
                case ARG_KEEP_DATA:
                        arg_keep_data = true;
                        break;
                case ARG_CONFIG:
                        arg_config = optarg;
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
        if (sd_bus_error_has_names(e, MB_ERROR_REFUSED, MB_ERROR_BUSY, MB_ERROR_UNCONFIRMED))
                return EXIT_REFUSED;
        if (sd_bus_error_has_name(e, SD_BUS_ERROR_INVALID_ARGS))
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
        uint64_t next_window; /* NextWindow: µs since the epoch, 0: none */
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
                else if (streq(name, "NextWindow") && streq(contents, "t"))
                        r = sd_bus_message_read(m, "v", "t", &p->next_window);
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
                MB_BUS_NAME,
                MB_BUS_PATH,
                "org.freedesktop.DBus.Properties",
                "GetAll",
                &error,
                &reply,
                "s",
                MB_BUS_INTERFACE);
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

/* Status, in groups: the state first (what it does, whether it is held), then the service, the
 * versions, the releases. Keys right-aligned, so the values line up. */
typedef struct StatusField {
        const char *property;
        const char *label;
        bool group_start; /* a blank line before it */
} StatusField;

static const StatusField status_fields[] = {
        {"State", "Daemon", false},
        {"Step", "Step", false},
        {"StatusText", "Status", false},
        {"LastResult", "Last result", false},
        {"HoldReason", "Hold", false},
        {"Unit", "Unit", true},
        {"UnitActiveState", "Unit state", false},
        {"JarPath", "JAR", false},
        {"AppDatabase", "Database", false},
        {"AppDatabaseSchema", "Schema", false},
        {"InstalledVersion", "Installed", true},
        {"RunningVersion", "Running", false},
        {"PreviousVersion", "Previous", false},
        {"NewestAvailable", "Available", true},
        {"NewestAllowed", "Allowed", false},
        {"Staged", "Staged", false},
        {"Rehearsal", "Rehearsal", false},
        {"WaitingApproval", "Approval", false},
        {"LastCheck", "Last check", false},
};

static void status_line(bool colors, const char *label, UiColor c, const char *value, const char *note) {
        printf("%12s: %s%s%s%s\n", label, ui_color_on(c, colors), value, ui_color_off(c, colors), strempty(note));
}

/* Every property, by its D-Bus name. NULL on OOM. */
static json_object *status_to_json(const Props *p) {
        json_object *o = json_object_new_object();

        if (!o)
                return NULL;
        for (size_t i = 0; i < p->n; i++)
                json_object_object_add(o, p->names[i], json_object_new_string(p->values[i]));
        json_object_object_add(o, "Hold", json_object_new_boolean(p->hold));
        json_object_object_add(o, "OperationId", json_object_new_uint64(p->op_id));
        json_object_object_add(o, "NextWindow", json_object_new_uint64(p->next_window));
        return o;
}

/* When the maintenance window's timer elapses next, as systemctl says it, and in how long. */
static void status_next_window(const Props *p, bool colors) {
        time_t t = (time_t) (p->next_window / USEC_PER_SEC);
        uint64_t now = (uint64_t) time(NULL) * USEC_PER_SEC;
        char when[64] = "", left[32] = "", note[64] = "";
        struct tm tm;

        if (p->next_window == 0) {
                status_line(colors, "Next window", UI_PLAIN, "-", " (mbupgraded-window.timer is not active)");
                return;
        }
        (void) strftime(when, sizeof(when), "%a %Y-%m-%d %H:%M:%S %Z", localtime_r(&t, &tm));
        if (p->next_window > now) {
                uint64_t min = (p->next_window - now) / (60 * USEC_PER_SEC);
                if (min >= 24 * 60)
                        snprintf(left, sizeof(left), "%" PRIu64 "d %" PRIu64 "h", min / (24 * 60), min / 60 % 24);
                else if (min >= 60)
                        snprintf(left, sizeof(left), "%" PRIu64 "h %" PRIu64 "min", min / 60, min % 60);
                else
                        snprintf(left, sizeof(left), "%" PRIu64 "min", min);
                snprintf(note, sizeof(note), " (in %s)", left);
        }
        status_line(colors, "Next window", UI_PLAIN, when, note);
}

static void status_print(const Props *p, bool colors) {
        const char *installed = props_get(p, "InstalledVersion");
        char waiting[128];

        for (size_t i = 0; i < ELEMENTSOF(status_fields); i++) {
                const StatusField *f = &status_fields[i];
                const char *v = props_get(p, f->property), *note = NULL;
                UiColor c = ui_status_color(f->property, v);

                if (streq(f->property, "HoldReason")) {
                        v = p->hold ? (isempty(v) ? "yes" : v) : "no";
                        c = p->hold ? UI_NOTICE : UI_PLAIN;
                } else if (
                        isempty(v) &&
                        STR_IN_SET(
                                f->property,
                                "Step",
                                "NewestAllowed",
                                "Staged",
                                "Rehearsal",
                                "WaitingApproval",
                                "AppDatabaseSchema",
                                "LastResult"))
                        continue;
                else if (streq(f->property, "NewestAvailable") && isempty(v))
                        v = "(unknown: the release feed has not been read; mbctl check)";
                else if (streq(f->property, "AppDatabaseSchema"))
                        note = " (newest DATABASECHANGELOG entry)";
                else if (streq(f->property, "WaitingApproval")) {
                        snprintf(waiting, sizeof(waiting), "waiting for approval (mbctl approve %s)", v);
                        v = waiting;
                        c = UI_NOTICE;
                } else if (streq(f->property, "PreviousVersion") && !isempty(v))
                        note = " (mbctl rollback returns to it)";
                else if (streq(f->property, "RunningVersion") && !isempty(v) && !isempty(installed))
                        /* Another version running than the one on disk: an upgrade is not done. */
                        c = streq(v, installed) ? UI_GOOD : UI_NOTICE;
                else if (streq(f->property, "NewestAvailable") && streq(v, installed))
                        note = " (installed)";
                else if (streq(f->property, "NewestAllowed") && streq(v, installed))
                        c = UI_PLAIN;
                if (f->group_start)
                        putchar('\n');
                status_line(colors, f->label, c, isempty(v) ? "-" : v, note);
        }
        status_next_window(p, colors);
}

static int verb_status(sd_bus *bus, char **args) {
        _cleanup_(props_clear) Props p = {};
        int r;

        if (args && args[0]) {
                fprintf(stderr, "Usage: mbctl status [--json]\n");
                return EXIT_USAGE;
        }
        r = get_all(bus, &p);
        if (r != 0)
                return r;
        if (arg_json) {
                _cleanup_(json_object_putp) json_object *o = status_to_json(&p);
                if (!o)
                        return EXIT_FAILED;
                puts(json_object_to_json_string_ext(
                        o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
                return EXIT_DONE;
        }
        status_print(&p, use_colors());
        return EXIT_DONE;
}

/* Following an operation until OperationFinished arrives. On a terminal: a live area at the
 * bottom, redrawn in place, with the download's progress bar and the operation's step list; it is
 * left in the scrollback when an operation (a hop of a plan) ends. Otherwise: a plain line for
 * each new status line. */
typedef struct Follow {
        uint64_t id;
        bool done;
        bool gone;
        int exit_status;
        bool live;   /* a terminal that can move the cursor */
        bool colors; /* and may be coloured */
        bool utf8;
        unsigned columns;
        unsigned drawn; /* lines of the live area on the screen */
        char *last_line;
        char *last_status;
        Props props;
        StepList steps;
        uint64_t steps_op;    /* the operation the step list is for, 0: none */
        uint64_t finished_op; /* the last one that ended: its Step may linger */
        StagedInfo download;  /* its detail is download_detail */
        char download_detail[256];
        bool download_seen;
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

static void follow_symbol(const Follow *f, StepState s, UiColor *ret_color, const char **ret_symbol) {
        static const char *const utf8[] = {"\u00b7", "\u25b8", "\u2713", "\u2717"},
                                 *const ascii[] = {".", ">", "+", "x"};
        static const UiColor colors[] = {UI_FAINT, UI_NOTICE, UI_GOOD, UI_BAD};

        *ret_symbol = (f->utf8 ? utf8 : ascii)[s];
        *ret_color = colors[s];
}

/* One line of the live area, cut to the terminal's width (the escapes take no room). */
static void follow_line(const Follow *f, StepState s, const char *name, const char *detail) {
        const char *symbol;
        UiColor c;
        int room;

        follow_symbol(f, s, &c, &symbol);
        room = (int) f->columns - 4 - (int) strlen(name) - 2;
        printf("\r\033[K  %s%s%s %s%s%s%s%.*s\n",
               ui_color_on(c, f->colors),
               symbol,
               ui_color_off(c, f->colors),
               s == UI_STEP_CURRENT && f->colors ? ANSI_BOLD : "",
               name,
               s == UI_STEP_CURRENT && f->colors ? ANSI_NORMAL : "",
               room > 0 && !isempty(detail) ? "  " : "",
               room > 0 ? room : 0,
               strempty(detail));
}

static void follow_redraw(Follow *f) {
        unsigned n = 0;

        if (f->drawn > 0)
                printf("\033[%uA", f->drawn);
        if (f->download_seen) {
                char bar[64], detail[320], name[48];
                /* Downloading, then verifying: under way until verified or refused. */
                StepState s = f->download.state == STAGED_VERIFIED ? UI_STEP_DONE
                        : f->download.state == STAGED_REFUSED      ? UI_STEP_FAILED
                                                                   : UI_STEP_CURRENT;

                snprintf(name, sizeof(name), "download %s", f->download.version);
                if (s == UI_STEP_CURRENT && f->download.percent >= 0)
                        snprintf(
                                detail,
                                sizeof(detail),
                                "%s %3d%%  %" PRIu64 " MB",
                                ui_progress_bar(f->download.percent, 30, bar, sizeof(bar)),
                                f->download.percent,
                                f->download.megabytes);
                else
                        snprintf(detail, sizeof(detail), "(%s", f->download_detail);
                follow_line(f, s, name, detail);
                n++;
        }
        for (size_t i = 0; i < f->steps.n; i++) {
                const char *detail = NULL;

                if (f->steps.steps[i].state == UI_STEP_CURRENT)
                        detail = props_get(&f->props, "StatusText");
                follow_line(f, f->steps.steps[i].state, f->steps.steps[i].name, detail);
                n++;
        }
        /* Fewer lines than before (planned steps dropped): clear what is left below. */
        if (n < f->drawn)
                printf("\033[J");
        f->drawn = n;
        fflush(stdout);
}

/* The live area stays as it is, above what comes next. */
static void follow_keep(Follow *f) {
        f->drawn = 0;
        f->steps = (StepList){};
        f->steps_op = 0;
        f->download_seen = false;
}

static void follow_plain(Follow *f) {
        const char *step = props_get(&f->props, "Step"), *text = props_get(&f->props, "StatusText");
        _cleanup_free_ char *line = NULL;

        if (isempty(step) || streq(text, strempty(f->last_status)))
                return;
        (void) free_and_strdup(&f->last_status, text);
        line = strdup_printf("[%s] %s", step, text);
        if (!line || (f->last_line && streq(line, f->last_line)))
                return;
        printf("%s\n", line);
        free_and_replace(f->last_line, line);
}

static void follow_update(Follow *f) {
        const char *step = props_get(&f->props, "Step");
        StagedInfo staged;

        if (!f->live) {
                follow_plain(f);
                return;
        }
        /* A download shows from when it is seen under way until it is verified or refused. */
        if (ui_parse_staged(props_get(&f->props, "Staged"), &staged) >= 0 &&
            (staged.state == STAGED_DOWNLOADING ||
             (f->download_seen && streq(staged.version, f->download.version)))) {
                snprintf(f->download_detail, sizeof(f->download_detail), "%s", staged.detail);
                f->download = staged;
                f->download.detail = f->download_detail;
                f->download_seen = true;
        }
        if (!isempty(step) && f->props.op_id != 0 && f->props.op_id != f->finished_op) {
                if (f->steps_op != f->props.op_id) {
                        step_list_init(&f->steps, props_get(&f->props, "OperationKind"));
                        f->steps_op = f->props.op_id;
                }
                step_list_set(&f->steps, step);
        }
        follow_redraw(f);
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Follow *f = userdata;
        const char *iface;

        if (sd_bus_message_read(m, "s", &iface) < 0 || !streq(iface, MB_BUS_INTERFACE))
                return 0;
        if (props_read(m, &f->props) >= 0)
                follow_update(f);
        return 0;
}

/* The end of the operation whose steps are shown: mark it and leave the list on the screen. */
static void follow_end(Follow *f, uint64_t id, const char *result) {
        if (!f->live)
                return;
        if (f->steps_op == id) {
                step_list_finish(&f->steps, result);
                if (f->download_seen && f->download.state == STAGED_DOWNLOADING)
                        f->download_seen = false;
        }
        follow_redraw(f);
        follow_keep(f);
        f->finished_op = id;
}

static int on_finished(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Follow *f = userdata;
        const char *kind, *result, *from, *to, *reason;
        UiColor c;
        uint64_t id;

        if (sd_bus_message_read(m, "tsssss", &id, &kind, &result, &from, &to, &reason) < 0)
                return 0;
        c = streq(result, "committed") ? UI_GOOD : streq(result, "refused") ? UI_NOTICE : UI_BAD;
        if (id != f->id) {
                /* One hop of a plan; one refused before it knew its versions is told by the plan's end. */
                if (isempty(from))
                        return 0;
                follow_end(f, id, result);
                printf("  %s %s -> %s: %s%s%s%s%s\n",
                       kind,
                       from,
                       to,
                       ui_color_on(c, f->colors),
                       result,
                       ui_color_off(c, f->colors),
                       isempty(reason) ? "" : ": ",
                       reason);
                return 0;
        }
        follow_end(f, id, result);
        f->done = true;
        f->exit_status = exit_status_for_result(result);
        if (streq(kind, "backup") || streq(kind, "restore")) {
                /* The version stays: name it once. */
                if (streq(result, "committed"))
                        printf("%s of the %s database: %sdone%s\n",
                               kind,
                               from,
                               ui_color_on(c, f->colors),
                               ui_color_off(c, f->colors));
                else
                        fprintf(f->exit_status == EXIT_ROLLBACK_FAILED ? stderr : stdout,
                                "%s of the %s database: %s: %s\n",
                                kind,
                                from,
                                result,
                                reason);
        } else if (streq(result, "committed"))
                printf("%s %s -> %s: %scommitted%s\n",
                       kind,
                       from,
                       to,
                       ui_color_on(c, f->colors),
                       ui_color_off(c, f->colors));
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

        if (sd_bus_message_read(m, "sss", &name, &old, &new) >= 0 && streq(name, MB_BUS_NAME) && isempty(new))
                f->gone = true;
        return 0;
}

/* What an mbctl waiting for the daemon follows: its end signal, its PropertiesChanged and the
 * bus's NameOwnerChanged (the daemon gone), each to its handler; says why when it can't. */
static int subscribe(
        sd_bus *bus,
        sd_bus_slot **slots[3],
        const char *end_signal,
        sd_bus_message_handler_t on_end,
        sd_bus_message_handler_t on_properties,
        sd_bus_message_handler_t on_owner,
        void *userdata) {
        int r;

        r = sd_bus_match_signal(
                bus, slots[0], MB_BUS_NAME, MB_BUS_PATH, MB_BUS_INTERFACE, end_signal, on_end, userdata);
        if (r >= 0)
                r = sd_bus_match_signal(
                        bus,
                        slots[1],
                        MB_BUS_NAME,
                        MB_BUS_PATH,
                        "org.freedesktop.DBus.Properties",
                        "PropertiesChanged",
                        on_properties,
                        userdata);
        if (r >= 0)
                r = sd_bus_match_signal(
                        bus,
                        slots[2],
                        "org.freedesktop.DBus",
                        "/org/freedesktop/DBus",
                        "org.freedesktop.DBus",
                        "NameOwnerChanged",
                        on_owner,
                        userdata);
        if (r < 0)
                fprintf(stderr, "Cannot subscribe to the daemon's signals: %s\n", strerror(-r));
        return r;
}

static int run_operation(sd_bus *bus, const char *method, const char *what, const char *signature, ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *s1 = NULL, *s2 = NULL, *s3 = NULL;
        bool tty = isatty(STDOUT_FILENO) > 0;
        Follow f = {
                .live = tty && !streq_ptr(getenv("TERM"), "dumb"),
                .colors = use_colors(),
                .utf8 = is_utf8_locale(),
                .columns = terminal_columns(),
        };
        const char *summary;
        va_list ap;
        int r;

        /* Matches first, so that nothing between the reply and the end is missed. */
        if (!arg_no_wait && !arg_dry_run) {
                r = subscribe(
                        bus,
                        (sd_bus_slot * *[]){&s1, &s2, &s3},
                        "OperationFinished",
                        on_finished,
                        on_properties_changed,
                        on_name_owner_changed,
                        &f);
                if (r < 0)
                        return EXIT_FAILED;
        }

        r = sd_bus_message_new_method_call(bus, &call, MB_BUS_NAME, MB_BUS_PATH, MB_BUS_INTERFACE, method);
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
        if (r < 0 && sd_bus_error_has_name(&error, MB_ERROR_UNCONFIRMED) && isatty(STDIN_FILENO) > 0) {
                char answer[16] = "";

                printf("%s: %s.\nGo on? [y/N] ", what, error.message);
                fflush(stdout);
                if (fgets(answer, sizeof(answer), stdin) && (answer[0] == 'y' || answer[0] == 'Y'))
                        return RUN_CONFIRMED;
                printf("Nothing was changed.\n");
                return EXIT_DONE;
        }
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
        /* Canonical ("..", "." and "//" resolved in the directory part): the daemon takes no
         * other path, so that what its journal records reads back after a crash. */
        {
                _cleanup_free_ char *canon = NULL;
                int k = path_make_canonical(path, &canon);
                if (k < 0) {
                        fprintf(stderr,
                                "Cannot make %s a canonical path: %s\n",
                                path,
                                k == -ELOOP ? "a symbolic link comes before a '..'; give the path without '..'"
                                            : strerror(-k));
                        return EXIT_USAGE;
                }
                snprintf(path, sizeof(path), "%s", canon);
        }
        if (access(path, R_OK) < 0) {
                fprintf(stderr, "Cannot read %s: %s\n", path, strerror(errno));
                return EXIT_USAGE;
        }
        return run_operation(bus, "Upgrade", "Upgrade", "sst", path, "", flags);
}

/* Following a rehearsal until RehearsalFinished: a plain line for each new Rehearsal status. */
typedef struct RehearseFollow {
        uint64_t id;
        bool done, gone;
        int exit_status;
        char *last;
        Props props;
} RehearseFollow;

static int on_rehearse_properties(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        RehearseFollow *f = userdata;
        const char *iface, *v;

        if (sd_bus_message_read(m, "s", &iface) < 0 || !streq(iface, MB_BUS_INTERFACE))
                return 0;
        if (props_read(m, &f->props) < 0)
                return 0;
        v = props_get(&f->props, "Rehearsal");
        if (!f->done && !isempty(v) && !streq_ptr(v, f->last)) {
                printf("  %s\n", v);
                fflush(stdout);
                free(f->last);
                f->last = strdup(v);
        }
        return 0;
}

static int on_rehearsal_finished(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        RehearseFollow *f = userdata;
        const char *version, *result, *reason;
        uint64_t id, usec;
        bool colors = use_colors();

        if (sd_bus_message_read(m, "tssts", &id, &version, &result, &usec, &reason) < 0 || id != f->id)
                return 0;
        f->done = true;
        if (streq(result, "passed")) {
                printf("rehearsal of %s: %spassed%s: from start to healthy on the copy in %.1fs (the expected "
                       "downtime of the upgrade)\n",
                       version,
                       ui_color_on(UI_GOOD, colors),
                       ui_color_off(UI_GOOD, colors),
                       (double) usec / 1e6);
                f->exit_status = EXIT_DONE;
        } else if (streq(result, "warning")) {
                printf("rehearsal of %s: %swarning%s: %s\n",
                       version,
                       ui_color_on(UI_NOTICE, colors),
                       ui_color_off(UI_NOTICE, colors),
                       reason);
                f->exit_status = EXIT_DONE;
        } else {
                printf("rehearsal of %s: %s%s%s: %s\n",
                       version,
                       ui_color_on(UI_BAD, colors),
                       result,
                       ui_color_off(UI_BAD, colors),
                       reason);
                f->exit_status = EXIT_FAILED;
        }
        return 0;
}

static int on_rehearse_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        RehearseFollow *f = userdata;
        const char *name, *old, *new;

        if (sd_bus_message_read(m, "sss", &name, &old, &new) >= 0 && streq(name, MB_BUS_NAME) && isempty(new))
                f->gone = true;
        return 0;
}

static int verb_rehearse(sd_bus *bus, char **args) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *s1 = NULL, *s2 = NULL, *s3 = NULL;
        RehearseFollow f = {};
        const char *summary;
        int r;

        if ((args[0] && args[1]) || arg_jar || arg_to || arg_dry_run || arg_force) {
                fprintf(stderr, "Usage: mbctl rehearse [VERSION] [--no-wait]\n");
                return EXIT_USAGE;
        }
        if (!arg_no_wait) {
                r = subscribe(
                        bus,
                        (sd_bus_slot * *[]){&s1, &s2, &s3},
                        "RehearsalFinished",
                        on_rehearsal_finished,
                        on_rehearse_properties,
                        on_rehearse_owner_changed,
                        &f);
                if (r < 0)
                        return EXIT_FAILED;
        }
        r = sd_bus_call_method(
                bus,
                MB_BUS_NAME,
                MB_BUS_PATH,
                MB_BUS_INTERFACE,
                "Rehearse",
                &error,
                &reply,
                "st",
                args[0] ?: "",
                (uint64_t) 0);
        if (r < 0)
                return report_bus_error("Rehearse", r, &error);
        r = sd_bus_message_read(reply, "ts", &f.id, &summary);
        if (r < 0) {
                fprintf(stderr, "Cannot parse the daemon's reply: %s\n", strerror(-r));
                return EXIT_FAILED;
        }
        printf("%s\n", summary);
        if (arg_no_wait) {
                printf("Rehearsal %" PRIu64 " started; follow it with: mbctl status\n", f.id);
                return EXIT_DONE;
        }
        fflush(stdout);
        while (!f.done && !f.gone) {
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        break;
                if (r > 0)
                        continue;
                r = sd_bus_wait(bus, UINT64_MAX);
                if (r < 0 && r != -EINTR)
                        break;
        }
        free(f.last);
        props_clear(&f.props);
        if (!f.done) {
                fprintf(stderr,
                        "Lost mbupgraded during the rehearsal; it removes the rehearsal's unit and copy when it "
                        "starts again. Check with: mbctl status; mbctl history\n");
                return EXIT_FAILED;
        }
        return f.exit_status;
}

static int verb_rollback(sd_bus *bus, char **args) {
        uint64_t flags = (arg_force ? FLAG_FORCE : 0) | (arg_dry_run ? FLAG_DRY_RUN : 0) |
                (arg_yes ? FLAG_CONFIRMED : 0) | (arg_keep_data ? FLAG_KEEP_DATA : 0);
        int r;

        if (args[0]) {
                fprintf(stderr,
                        "Usage: mbctl rollback [--keep-data] [--yes] [--no-wait] [--dry-run] [--force]\n");
                return EXIT_USAGE;
        }
        /* Past settle the daemon asks first: what was written since the backup is lost. */
        r = run_operation(bus, "Rollback", "Rollback", "t", flags);
        if (r == RUN_CONFIRMED)
                r = run_operation(bus, "Rollback", "Rollback", "t", flags | FLAG_CONFIRMED);
        return r;
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
        if (backup[0] == '/') {
                _cleanup_free_ char *canon = NULL;
                int k = path_make_canonical(backup, &canon);
                if (k < 0) {
                        fprintf(stderr, "Cannot make %s a canonical path: %s\n", backup, strerror(-k));
                        return EXIT_USAGE;
                }
                snprintf(path, sizeof(path), "%s", canon);
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

        r = sd_bus_call_method(bus, MB_BUS_NAME, MB_BUS_PATH, MB_BUS_INTERFACE, method, &error, &reply, "");
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

/* "1.2 s", "3 min", "2 h": how long ago. */
static void format_age(uint64_t ms, char *buf, size_t n) {
        if (ms < 60 * 1000)
                snprintf(buf, n, "%.1f s ago", (double) ms / 1000);
        else if (ms < 3600 * 1000)
                snprintf(buf, n, "%" PRIu64 " min ago", ms / 60000);
        else
                snprintf(buf, n, "%" PRIu64 " h ago", ms / 3600000);
}

static int verb_fleet(sd_bus *bus, char **args) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *text = NULL;
        _cleanup_(json_object_putp) json_object *o = NULL;
        json_object *nodes, *missing, *v;
        uint64_t expected, healthy;
        int r;

        if (!args[0] || !streq(args[0], "status") || args[1]) {
                fprintf(stderr, "Usage: mbctl fleet status [--json]\n");
                return EXIT_USAGE;
        }
        r = sd_bus_get_property_string(bus, MB_BUS_NAME, MB_BUS_PATH, MB_BUS_INTERFACE, "Fleet", &error, &text);
        if (r < 0)
                return report_bus_error("Fleet", r, &error);
        if (isempty(text)) {
                if (arg_json)
                        puts("null");
                else
                        printf("This node is not in a fleet (fleet.enabled is false in the configuration).\n");
                return EXIT_DONE;
        }
        o = json_tokener_parse(text);
        if (!o || !json_object_object_get_ex(o, "nodes", &nodes) ||
            !json_object_object_get_ex(o, "missing", &missing)) {
                fprintf(stderr, "The daemon's Fleet property is not what this mbctl understands\n");
                return EXIT_FAILED;
        }
        expected = json_object_object_get_ex(o, "expected", &v) ? json_object_get_uint64(v) : 0;
        healthy = json_object_object_get_ex(o, "healthy", &v) ? json_object_get_uint64(v) : 0;
        if (arg_json)
                puts(json_object_to_json_string_ext(
                        o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        else {
#define S(obj, k) (json_object_object_get_ex(obj, k, &v) ? json_object_get_string(v) : "")
#define B(obj, k) (json_object_object_get_ex(obj, k, &v) && json_object_get_boolean(v))
                printf("Fleet: %" PRIu64 " of %" PRIu64 " nodes healthy; this node is %s\n",
                       healthy,
                       expected,
                       S(o, "node"));
                if (!isempty(S(o, "error")))
                        printf("Error: %s\n", S(o, "error"));
                else if (!B(o, "answered"))
                        printf("Waiting for the coordination database's first answer\n");
                json_object *ro = json_object_object_get_ex(o, "rollout", &v) ? v : NULL, *co;
                uint64_t rid = 0;
                if (ro && json_object_is_type(ro, json_type_object)) {
                        rid = json_object_object_get_ex(ro, "id", &v) ? json_object_get_uint64(v) : 0;
                        printf("Rollout %" PRIu64 ": %s -> %s, %s; leader %s%s%s%s\n",
                               rid,
                               S(ro, "from"),
                               S(ro, "to"),
                               S(ro, "state"),
                               isempty(S(ro, "leader")) ? "none yet" : S(ro, "leader"),
                               B(ro, "leading") ? " (this node)" : "",
                               isempty(S(ro, "reason")) ? "" : "\n  ",
                               S(ro, "reason"));
                        if (!isempty(S(ro, "mode")))
                                printf("  %s%s%s\n",
                                       streq(S(ro, "mode"), "rolling") ? "rolled node by node"
                                                                       : "every node stops at once",
                                       isempty(S(ro, "mode_reason")) ? "" : ": ",
                                       S(ro, "mode_reason"));
                } else
                        printf("No rollout in progress\n");
                if (json_object_object_get_ex(o, "committed", &co) && co &&
                    json_object_is_type(co, json_type_object))
                        printf("Last committed rollout: %" PRIu64 ", to %s\n",
                               json_object_object_get_ex(co, "id", &v) ? json_object_get_uint64(v) : 0,
                               S(co, "version"));
                if (json_object_array_length(nodes) > 0)
                        printf("%-20s  %-10s  %-8s  %-10s  %-14s  %s\n",
                               "NODE",
                               "VERSION",
                               "STATE",
                               "STAGED",
                               "LAST HEARTBEAT",
                               "ROLLOUT STEP");
                for (size_t i = 0; i < json_object_array_length(nodes); i++) {
                        json_object *n = json_object_array_get_idx(nodes, i);
                        char age[32], name[64];
                        format_age(
                                json_object_object_get_ex(n, "age_ms", &v) ? json_object_get_uint64(v) : 0,
                                age,
                                sizeof(age));
                        snprintf(name, sizeof(name), "%s%s", S(n, "name"), B(n, "self") ? " (this)" : "");
                        uint64_t nr = json_object_object_get_ex(n, "rollout", &v) ? json_object_get_uint64(v)
                                                                                  : 0;
                        char step[160] = "-";
                        if (nr != 0 && (nr == rid || rid == 0))
                                snprintf(
                                        step,
                                        sizeof(step),
                                        "%s%s%.120s",
                                        S(n, "step"),
                                        isempty(S(n, "reason")) ? "" : ": ",
                                        S(n, "reason"));
                        printf("%-20s  %-10s  %-8s  %-10s  %-14s  %s%s\n",
                               name,
                               isempty(S(n, "version")) ? "-" : S(n, "version"),
                               isempty(S(n, "state")) ? "-" : S(n, "state"),
                               isempty(S(n, "staged")) ? "-" : S(n, "staged"),
                               age,
                               step,
                               B(n, "lost") ? "  LOST" : "");
                }
                for (size_t i = 0; i < json_object_array_length(missing); i++)
                        printf("%-20s  never seen\n",
                               json_object_get_string(json_object_array_get_idx(missing, i)));
#undef S
#undef B
        }
        return healthy >= expected && expected > 0 ? EXIT_DONE : EXIT_FAILED;
}

static int simple_call(sd_bus *bus, const char *method, const char *what, const char *signature, const char *arg) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call_method(
                bus, MB_BUS_NAME, MB_BUS_PATH, MB_BUS_INTERFACE, method, &error, NULL, signature, arg);
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

static int verb_approve(sd_bus *bus, char **args) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *text;
        int r;

        if (!args[0] || args[1]) {
                fprintf(stderr, "Usage: mbctl approve VERSION\n");
                return EXIT_USAGE;
        }
        r = sd_bus_call_method(
                bus, MB_BUS_NAME, MB_BUS_PATH, MB_BUS_INTERFACE, "Approve", &error, &reply, "s", args[0]);
        if (r < 0)
                return report_bus_error("Approve", r, &error);
        if (sd_bus_message_read(reply, "s", &text) < 0)
                return EXIT_FAILED;
        printf("%s.\n", text);
        return EXIT_DONE;
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

        r = sd_bus_call_method(bus, MB_BUS_NAME, MB_BUS_PATH, MB_BUS_INTERFACE, "Check", &error, &reply, "");
        if (r < 0)
                return report_bus_error("Check", r, &error);
        if (sd_bus_message_read(reply, "s", &text) < 0)
                return EXIT_FAILED;
        if (arg_json) {
                _cleanup_(props_clear) Props p = {};
                _cleanup_(json_object_putp) json_object *o = json_object_new_object(), *st = NULL;

                r = get_all(bus, &p);
                if (r != 0)
                        return r;
                st = status_to_json(&p);
                if (!o || !st)
                        return EXIT_FAILED;
                json_object_object_add(o, "check", json_object_new_string(text));
                json_object_object_add(o, "status", TAKE_PTR(st));
                puts(json_object_to_json_string_ext(
                        o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
                return EXIT_DONE;
        }
        printf("Release feed checked: %s\n", text);
        return verb_status(bus, NULL);
}

/* The feed's "latest" (Metabase's recommendation) and whether its staged rollout admits this
 * installation, from the entry that carries "latest": true. */
static void print_latest(json_object *array) {
        json_object *o = NULL, *v, *target = NULL;

        for (size_t i = 0; i < json_object_array_length(array); i++) {
                json_object *e = json_object_array_get_idx(array, i);

                if (json_object_object_get_ex(e, "latest", &v) && json_object_get_boolean(v))
                        o = e;
                if (json_object_object_get_ex(e, "target", &v) && json_object_get_boolean(v))
                        target = e;
        }
        if (!o)
                return; /* a daemon from before "latest" was published */
#define S(x, k) (json_object_object_get_ex(x, k, &v) ? json_object_get_string(v) : "")
#define B(x, k) (json_object_object_get_ex(x, k, &v) && json_object_get_boolean(v))
#define I(x, k) (json_object_object_get_ex(x, k, &v) ? json_object_get_int(v) : -1)
        printf("Latest (Metabase's recommendation): %s", S(o, "version"));
        if (I(o, "rollout") < 0 || I(o, "rollout") >= 100)
                printf(", for every installation\n");
        else if (!B(o, "rollout_applies"))
                printf(", staged rollout at %d%%, which Metabase applies to major upgrades only: for every "
                       "installation of this major\n",
                       I(o, "rollout"));
        else if (B(o, "in_rollout"))
                printf(", staged rollout at %d%%: this installation is in it (bucket %d)\n",
                       I(o, "rollout"),
                       I(o, "bucket"));
        else if (I(o, "bucket") >= 0)
                printf(", staged rollout at %d%%: this installation is not in it yet (bucket %d: from a rollout "
                       "of %d%%)\n",
                       I(o, "rollout"),
                       I(o, "bucket"),
                       I(o, "bucket") + 1);
        else
                printf(", staged rollout at %d%%: this installation has no site id\n", I(o, "rollout"));
        printf("Unattended upgrades follow: %s (releases.follow); target: %s\n",
               S(o, "follow"),
               target ? S(target, "version") : "none");
#undef S
#undef B
#undef I
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
                print_latest(array);
                printf("%-12s  %-10s  %-6s  %-6s  %s\n", "VERSION", "RELEASED", "FEED", "", "POLICY (unattended)");
                for (size_t i = 0; i < json_object_array_length(array); i++) {
                        json_object *o = json_object_array_get_idx(array, i), *v;
#define S(k) (json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "")
#define B(k) (json_object_object_get_ex(o, k, &v) && json_object_get_boolean(v))
                        printf("%-12s  %-10s  %-6s  %-6s  %s%s%s%s\n",
                               S("version"),
                               isempty(S("released")) ? "-" : S("released"),
                               B("latest")         ? "latest"
                                       : B("beta") ? "beta"
                                                   : "older",
                               B("staged") ? "staged" : "",
                               B("target")             ? "allowed: the target"
                                       : B("step")     ? "allowed: a step on the way to the target"
                                       : B("eligible") ? "allowed"
                                                       : S("reason"),
                               B("waiting_approval") ? "; waiting for approval (mbctl approve " : "",
                               B("waiting_approval") ? S("version") : "",
                               B("waiting_approval") ? ")" : "");
                        if (!isempty(S("zero_downtime")))
                                printf("%-12s  zero downtime: %s\n", "", S("zero_downtime"));
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

        r = sd_bus_call_method(
                bus, MB_BUS_NAME, MB_BUS_PATH, MB_BUS_INTERFACE, "GetHistory", &error, &reply, "");
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
                        else if (json_object_object_get_ex(
                                         o, "rehearsal_ms", &v)) /* expected, measured on a copy */
                                snprintf(down, sizeof(down), "~%.1fs", json_object_get_uint64(v) / 1000.0);
                        printf("%-19s  %-8s  %-10s  %-10s  %-15s  %9s  %s\n",
                               when,
                               S("kind"),
                               S("from"),
                               S("to"),
                               S("result"),
                               down,
                               S("reason"));
                        /* Who or what started it, on a line of its own: "by alice (uid 1001), --force". */
                        json_object *who = json_object_object_get_ex(o, "initiator", &v) ? v : NULL;
                        if (who && json_object_object_get_ex(who, "text", &v) &&
                            !isempty(json_object_get_string(v)))
                                printf("%-19s  %s\n", "", json_object_get_string(v));
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
        /* The classes' highest version (the main class is a gen-class stub at 49), or Metabase's
         * table when they cannot tell; the warning says where the two disagree. */
        _cleanup_free_ char *warning = NULL;
        unsigned need = jar_java_needed(info, &warning);
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
                json_object_object_add(o, "java_needed", json_object_new_int((int) need));
                json_object_object_add(
                        o, "main_class_major", json_object_new_int((int) info->main_class_major));
                json_object_object_add(o, "classes", json_object_new_int64(info->classes));
                if (info->newest_class)
                        json_object_object_add(o, "newest_class", json_object_new_string(info->newest_class));
                json_object_object_add(
                        o,
                        "java_metabase_says",
                        json_object_new_int((int) jar_java_for_version(&info->version)));
                if (warning)
                        json_object_object_add(o, "warning", json_object_new_string(warning));
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
                printf("Java needed: %u (class file %u%s%s; main class at %u; %u classes)\n",
                       need,
                       info->class_major,
                       info->newest_class ? ", e.g. " : "",
                       strempty(info->newest_class),
                       info->main_class_major,
                       info->classes);
                if (warning)
                        printf("    Warning: %s\n", warning);
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

static int verb_doctor(char **args) {
        if (args[0]) {
                fprintf(stderr, "Usage: mbctl doctor [--config FILE] [--json]\n");
                return EXIT_USAGE;
        }
        return doctor_run(arg_config ?: CONFIG_DEFAULT_PATH, arg_json);
}

static int run(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        static const struct {
                const char *name;
                int (*func)(sd_bus *bus, char **args);
        } verbs[] = {
                {"status", verb_status},
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
                {"rehearse", verb_rehearse},
                {"fleet", verb_fleet},
                {"approve", verb_approve},
        };
        char **args;
        const char *verb;
        int r;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_USAGE : EXIT_DONE;
        verb = optind < argc ? argv[optind] : NULL;
        args = argv + (optind < argc ? optind + 1 : argc);

        if (arg_help || streq_ptr(verb, "help")) {
                const char *about = streq_ptr(verb, "help") ? args[0] : verb;
                if (!about) {
                        help();
                        return EXIT_DONE;
                }
                return help_verb(about);
        }
        if (!verb)
                verb = "status";
        if (arg_config && !streq(verb, "doctor")) {
                fprintf(stderr,
                        "--config is for mbctl doctor; mbctl config check takes the file as its argument\n");
                return EXIT_USAGE;
        }
        if (streq(verb, "inspect"))
                return verb_inspect(args);
        if (streq(verb, "config"))
                return verb_config(args);
        if (streq(verb, "doctor"))
                return verb_doctor(args);
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
                if (!streq(verbs[i].name, verb))
                        continue;
                r = connect_bus(&bus);
                if (r != 0)
                        return r;
                return verbs[i].func(bus, args);
        }
        fprintf(stderr, "Unknown verb '%s'; see mbctl --help\n", verb);
        return EXIT_USAGE;
}

int main(int argc, char *argv[]) {
        /* For the step list's symbols: UTF-8 ones only where the terminal takes them. */
        (void) setlocale(LC_CTYPE, "");
        return run(argc, argv);
}
