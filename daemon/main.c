/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "log.h"
#include "test-hook.h"
#include "macro.h"
#include "daemon.h"

static const char *arg_config = NULL;

static void help(void) {
        printf("mbupgraded [OPTIONS...]\n\n"
               "Keeps Metabase upgraded: stages, swaps, verifies and rolls back metabase.jar.\n\n"
               "  -h --help           Show this help\n"
               "     --version        Show the version\n"
               "  -c --config FILE    Configuration file (default " CONFIG_DEFAULT_PATH ")\n");
}

static int parse_argv(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100 };
        static const struct option options[] = {
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, ARG_VERSION},
                {"config", required_argument, NULL, 'c'},
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "hc:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        puts("mbupgraded " PACKAGE_VERSION TEST_HOOKS_DESCRIPTION);
                        return 0;
                case 'c':
                        arg_config = optarg;
                        break;
                case '?':
                        return -EINVAL;
                default:
                        return -EINVAL;
                }
        if (optind < argc) {
                log_error("%s takes no positional arguments.", program_invocation_short_name);
                return -EINVAL;
        }
        return 1;
}

static int load_config(Config **ret) {
        _cleanup_free_ char *error = NULL;
        const char *path = arg_config ?: CONFIG_DEFAULT_PATH;
        int r;

        r = config_load(path, ret, &error);
        if (r == -ENOENT && !arg_config) {
                /* Every key has a default: no file is the stock setup. */
                *ret = config_new();
                return *ret ? 0 : log_error_errno(-ENOMEM, "Out of memory");
        }
        if (r < 0) {
                log_error("%s", error ?: strerror(-r));
                return r;
        }
        return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;

        /* An operation in flight is in the journal; the next start resumes or rolls it back. */
        if (m->op)
                log_notice(
                        "Exiting during %s (step %s); it resumes when mbupgraded starts again",
                        operation_kind_to_string(m->op->kind),
                        step_to_string(m->op->step));
        (void) sd_notify(false, "STOPPING=1");
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

static int run(int argc, char *argv[]) {
        Manager *m = NULL;
        Config *config = NULL;
        sigset_t mask;
        int r;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r;

        /* Idle between upgrades: the megabyte buffers of copies and hashes are mapped and given
         * back when freed, rather than kept by the allocator (and by a worker thread's arena). */
        (void) mallopt(M_MMAP_THRESHOLD, 128 * 1024);
        (void) mallopt(M_ARENA_MAX, 2);
        r = load_config(&config);
        if (r < 0)
                return r;

        /* Blocked before any worker thread exists, so only sd-event's signalfd sees them. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGPIPE);
        sigaddset(&mask, SIGCHLD); /* sd_event_add_child() needs it blocked in every thread */
        (void) sigprocmask(SIG_BLOCK, &mask, NULL);

        r = daemon_new(config, &m);
        if (r < 0) {
                config_free(config);
                return log_error_errno(r, "Out of memory");
        }
        r = daemon_startup(m);
        if (r < 0)
                goto finish;
        (void) sd_event_add_signal(m->event, NULL, SIGTERM, on_signal, m);
        (void) sd_event_add_signal(m->event, NULL, SIGINT, on_signal, m);

        (void) sd_notify(false, "READY=1");
        r = sd_event_loop(m->event);
        if (r < 0)
                log_error_errno(r, "Event loop failed: %m");
finish:
        daemon_free(m);
        return r;
}

int main(int argc, char *argv[]) {
        int r = run(argc, argv);
        return r < 0 ? (r == -EINVAL ? 2 : 1) : 0;
}
