/* SPDX-License-Identifier: MIT */
/* The fleet agent's lines (common/fleet-protocol.c): every kind written and read back, and values
 * as a hostile writer of the coordination database puts them in its rows. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fleet-protocol.h"
#include "lineproto.h"
#include "macro.h"
#include "strv.h"

/* l written: one line (no byte below 0x20, none above 0x7e), read back as l (reason: shown). */
static FleetLine roundtrip(const FleetLine *l, const char *want_line) {
        _cleanup_free_ char *line = fleet_line_format(l);
        FleetLine back = {};

        assert_non_null(line);
        assert_true(strlen(line) < FLEET_LINE_MAX);
        for (const char *c = line; *c; c++)
                assert_true(*c >= ' ' && *c < 0x7f);
        if (want_line)
                assert_string_equal(line, want_line);
        assert_int_equal(fleet_line_parse(line, &back), 0);
        assert_int_equal(back.kind, l->kind);
        assert_true(back.id == l->id);
        assert_true(back.age_ms == l->age_ms);
        return back;
}

#define assert_field(back, l, f)                              \
        do {                                                  \
                if ((l).f)                                    \
                        assert_string_equal((back).f, (l).f); \
        } while (0)

static void check_tokens(const FleetLine *back, const FleetLine *l) {
        assert_field(*back, *l, name);
        assert_field(*back, *l, from);
        assert_field(*back, *l, to);
        assert_field(*back, *l, sha256);
        assert_field(*back, *l, state);
        assert_field(*back, *l, leader);
        assert_field(*back, *l, backup);
        assert_field(*back, *l, version);
        assert_field(*back, *l, staged);
        assert_field(*back, *l, step);
        assert_field(*back, *l, mode);
}

static void test_every_kind(void **state) {
        static const struct {
                FleetLine l;
                const char *line;
        } t[] = {
                {{.kind = FLEET_LINE_READY}, "ready"},
                {{.kind = FLEET_LINE_CREATED, .name = (char *) "metabase_mbupgraded"},
                 "created metabase_mbupgraded"},
                {{.kind = FLEET_LINE_NOTIFY}, "notify"},
                {{.kind = FLEET_LINE_ROLLOUT,
                  .id = 7,
                  .from = (char *) "v0.56.1",
                  .to = (char *) "v0.56.2",
                  .sha256 = (char *) "ab01",
                  .state = (char *) "stopping",
                  .leader = (char *) "n1",
                  .backup = (char *) "clone:metabase_mbup_7",
                  .mode = (char *) "all-stop",
                  .mode_reason = (char *) "v0.56.2 adds 1 change set",
                  .reason = (char *) "every node stops"},
                 "rollout 7 v0.56.1 v0.56.2 ab01 stopping n1 clone:metabase_mbup_7 all-stop "
                 "v0.56.2\\x20adds\\x201\\x20change\\x20set every\\x20node\\x20stops"},
                {{.kind = FLEET_LINE_ROLLOUT,
                  .id = 8,
                  .from = (char *) "v0.56.1",
                  .to = (char *) "v0.56.2",
                  .sha256 = (char *) "ab01",
                  .state = (char *) "staging"},
                 "rollout 8 v0.56.1 v0.56.2 ab01 staging - - - - -"},
                {{.kind = FLEET_LINE_COMMITTED, .id = 3, .to = (char *) "v0.56.2", .sha256 = (char *) "ab01"},
                 "committed 3 v0.56.2 ab01"},
                {{.kind = FLEET_LINE_ENDED, .id = 3, .state = (char *) "rolled-back", .reason = (char *) "n2 failed"},
                 "ended 3 rolled-back n2\\x20failed"},
                {{.kind = FLEET_LINE_NODE,
                  .id = 3,
                  .age_ms = 1500,
                  .name = (char *) "n2",
                  .version = (char *) "v0.56.1",
                  .state = (char *) "busy",
                  .staged = (char *) "",
                  .step = (char *) "staged",
                  .reason = (char *) ""},
                 "node n2 v0.56.1 busy - 1500 3 staged -"},
                {{.kind = FLEET_LINE_FLEET, .id = 2}, "fleet 2"},
                {{.kind = FLEET_LINE_FORGED, .id = 900}, "forged 900"},
                {{.kind = FLEET_LINE_RESTORED, .id = 9}, "restored 9"},
                {{.kind = FLEET_LINE_PROPOSED, .id = 1}, "proposed 1"},
                {{.kind = FLEET_LINE_LEADER, .id = 1}, "leader 1"},
                {{.kind = FLEET_LINE_FOLLOWER, .id = 1, .leader = (char *) "b"}, "follower 1 b"},
                {{.kind = FLEET_LINE_FOLLOWER, .id = 1}, "follower 1 -"},
                {{.kind = FLEET_LINE_SET, .id = 1, .state = (char *) "leading"}, "set 1 leading"},
                {{.kind = FLEET_LINE_BACKUP, .id = 4}, "backup 4"},
                {{.kind = FLEET_LINE_BACKUP_OK, .id = 4}, "backup-ok 4"},
        };
        bool seen[_FLEET_LINE_MAX] = {};

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                FleetLine back = roundtrip(&t[i].l, t[i].line);
                check_tokens(&back, &t[i].l);
                if (t[i].l.reason)
                        assert_string_equal(back.reason, t[i].l.reason);
                if (t[i].l.mode_reason)
                        assert_string_equal(back.mode_reason, t[i].l.mode_reason);
                seen[t[i].l.kind] = true;
                fleet_line_done(&back);
        }
        /* error KIND MESSAGE: the helpers' free text, read by the same parser */
        {
                _cleanup_(fleet_line_done) FleetLine e = {};
                assert_int_equal(
                        fleet_line_parse("error busy rollout 1 (staging, proposed by a) is open", &e), 0);
                assert_int_equal(e.kind, FLEET_LINE_ERROR);
                assert_string_equal(e.name, "busy");
                assert_string_equal(e.reason, "rollout 1 (staging, proposed by a) is open");
                assert_null(fleet_line_format(&e));
                seen[FLEET_LINE_ERROR] = true;
        }
        for (int k = 0; k < _FLEET_LINE_MAX; k++)
                assert_true(seen[k]);
}

/* What a writer of the coordination database can put in a row's text. */
static const char *const hostile[] = {
        "x\nfleet 0",
        "waiting\ncommitted 903 v0.56.4 ab01\nfleet 1\n",
        "a b c d e f g h i j",
        "\\x0afleet\\x200",
        "-",
        "\r\x1b[31mred\x7f\xff",
        "naïve 日本",
};

static void test_hostile_reason(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(hostile); i++) {
                FleetLine n = {
                        .kind = FLEET_LINE_NODE,
                        .id = 3,
                        .name = (char *) "n3",
                        .version = (char *) "v0.56.1",
                        .state = (char *) "idle",
                        .staged = (char *) "",
                        .step = (char *) "failed",
                        .reason = (char *) hostile[i],
                };
                FleetLine e = {
                        .kind = FLEET_LINE_ENDED,
                        .id = 3,
                        .state = (char *) "aborted",
                        .reason = (char *) hostile[i]};
                _cleanup_free_ char *shown = lineproto_display(hostile[i]);
                FleetLine back = roundtrip(&n, NULL);

                /* still n3's node line, the reason whole, as people see it: no line of its own */
                check_tokens(&back, &n);
                assert_string_equal(back.reason, shown);
                fleet_line_done(&back);
                back = roundtrip(&e, NULL);
                assert_string_equal(back.reason, shown);
                assert_string_equal(back.state, "aborted");
                fleet_line_done(&back);
                /* a rollout's mode and its why, both from a row: the why whole, the mode a token */
                FleetLine ro = {
                        .kind = FLEET_LINE_ROLLOUT,
                        .id = 4,
                        .from = (char *) "v0.56.1",
                        .to = (char *) "v0.56.2",
                        .sha256 = (char *) "ab01",
                        .state = (char *) "rolling",
                        .mode = (char *) "rolling",
                        .mode_reason = (char *) hostile[i],
                        .reason = (char *) hostile[i]};
                back = roundtrip(&ro, NULL);
                check_tokens(&back, &ro);
                assert_string_equal(back.mode_reason, shown);
                assert_string_equal(back.reason, shown);
                fleet_line_done(&back);
        }
}

/* A token (a name, a version...) that is none: the line is written as one, read as none. */
static void test_hostile_token(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(hostile); i++) {
                FleetLine n = {
                        .kind = FLEET_LINE_NODE, .name = (char *) hostile[i], .version = (char *) "v0.56.1"};
                FleetLine c = {
                        .kind = FLEET_LINE_COMMITTED,
                        .id = 5,
                        .to = (char *) hostile[i],
                        .sha256 = (char *) "ab"};
                FleetLine f = {.kind = FLEET_LINE_FOLLOWER, .id = 5, .leader = (char *) hostile[i]};
                const FleetLine *all[] = {&n, &c, &f};

                for (size_t k = 0; k < ELEMENTSOF(all); k++) {
                        _cleanup_free_ char *line = fleet_line_format(all[k]);
                        FleetLine back = {};
                        int r;

                        assert_non_null(line);
                        assert_null(strchr(line, '\n'));
                        r = fleet_line_parse(line, &back);
                        if (!hostile[i][strcspn(hostile[i], " \t\n\r\x1b\x7f\xff\xc3")]) {
                                /* a plain token after all ("-", backslashes as they are) */
                                assert_int_equal(r, 0);
                                fleet_line_done(&back);
                        } else
                                assert_int_equal(r, -EBADMSG);
                }
        }
}

static void test_bad_lines(void **state) {
        static const char *const bad[] = {
                "",
                "hello",
                "fleet",
                "fleet 2 3",
                "fleet -1",
                "fleet two",
                "fleet 99999999999999999999999",
                "proposed 1 x",
                "node n1 v0.56.1 idle - 10 0 -",         /* no reason: a value too few */
                "node n1 v0.56.1 idle - 10 0 - - extra", /* a value too many */
                "node n1  v0.56.1 idle - 10 0 - -",
                "node n\\x20b v0.56.1 idle - 10 0 - -", /* a name with a space */
                "node n1 v0.56.1 idle - 10 0 - bad\\x",
                "rollout 1 a b c d e f",
                "rollout 1 a b c d e f g -", /* a rollout line from before modes */
                "committed 1 v\\x0a2 ab",
                "ready now",
                "set 1",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                FleetLine l = {};
                int r = fleet_line_parse(bad[i], &l);
                if (r != -EBADMSG)
                        fail_msg("\"%s\": %d", bad[i], r);
        }
}

/* The longest values still make a line the daemon reads (child.c: 4096 bytes): tokens cut, the
 * reason cut to what is left. */
static void test_long_values(void **state) {
        _cleanup_free_ char *big = malloc(5000);
        FleetLine l = {.kind = FLEET_LINE_NODE, .name = (char *) "n1", .reason = big}, back;

        memset(big, '\n', 4999);
        big[4999] = '\0';
        back = roundtrip(&l, NULL);
        assert_true(strlen(back.reason) > 100);
        assert_true(startswith(back.reason, "\\n\\n"));
        fleet_line_done(&back);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_every_kind),
                cmocka_unit_test(test_hostile_reason),
                cmocka_unit_test(test_hostile_token),
                cmocka_unit_test(test_bad_lines),
                cmocka_unit_test(test_long_values),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
