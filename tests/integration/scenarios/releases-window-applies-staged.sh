# The daemon reads the feed (a mirror laid out like downloads.metabase.com), decides with the
# policy, stages and verifies the allowed release ahead of time, and `mbctl upgrade window`
# applies it. A release held back by the policy (allow, a staged rollout at 0%) is listed with
# the reason and not taken.
wait_staged() {
        local i
        for i in $(seq 1 150); do
                [[ "$(mbctl status)" == *"Staged: $1 (verified)"* ]] && return 0
                sleep 0.2
        done
        mbctl status >&2
        die "$1 was not staged"
}

scenario() {
        install_metabase "$(make_release v0.56.1)"
        mirror_release v0.56.2 "$(make_release v0.56.2)"
        mirror_release v0.56.1.1 "$(make_release v0.56.1.1)"
        mirror_release v0.57.1 "$(make_release v0.57.1)"
        mirror_feed v0.57.1:2025-03-01:0 v0.56.2:2025-02-01 v0.56.1.1:2025-01-20 v0.56.1:2025-01-01
        MBUP_ALLOW=major write_config
        start_daemon
        local pid=$(main_pid)

        run_mbctl 0 check
        assert_contains "$OUT" "ok: 4 releases, newest v0.57.1"
        run_mbctl 0 list
        assert_contains "$OUT" "staged rollout at 0%"
        assert_contains "$OUT" "v0.56.2"
        wait_staged v0.56.2
        run_mbctl 0 status
        assert_contains "$OUT" "Available: v0.57.1"
        assert_contains "$OUT" "Allowed: v0.56.2"
        assert_eq "$(main_pid)" "$pid" "staging does not touch the service"
        cmp -s "$SB/mirror/v0.56.2/metabase.jar" "$SB/state/staging/v0.56.2/metabase.jar" || die "staged JAR differs"

        # a staged JAR changed after its verification (same size) is never installed: pre-flight
        # hashes it again, refuses, and it is staged anew
        printf 'X' | dd of="$SB/state/staging/v0.56.2/metabase.jar" bs=1 seek=1000 conv=notrunc status=none
        run_mbctl 5 upgrade window
        assert_contains "$OUT" "changed since it was verified"
        assert_eq "$(main_pid)" "$pid" "a tampered staged JAR does not touch the service"

        # pre-flight of a staged release takes what staging found in its classes (verified.json,
        # of the same SHA-256) instead of scanning the JAR again: a record saying 65 is believed
        local rec=$SB/state/staging/v0.56.2/verified.json
        # downloaded again at the next check (the daemon's own comes check_every after this one's)
        run_mbctl 0 check
        wait_for 30 test -s "$rec" || die "v0.56.2 was not staged again"
        wait_staged v0.56.2
        grep -q '"class_major":55' "$rec" || die "staging did not record the classes' version: $(cat "$rec")"
        cp "$rec" "$SB/verified.json.orig"
        sed -i 's/"class_major":55/"class_major":65/; s|"newest_class":"[^"]*"|"newest_class":"metabase/recorded.class"|' "$rec"
        run_mbctl 5 upgrade window
        assert_contains "$OUT" "its class metabase/recorded.class is at class-file version 65"
        assert_eq "$(main_pid)" "$pid" "a release needing a newer Java does not touch the service"
        cp "$SB/verified.json.orig" "$rec"

        run_mbctl 0 upgrade window --dry-run
        assert_contains "$OUT" "v0.56.1 -> v0.56.2"
        run_mbctl 0 upgrade window
        assert_contains "$OUT" "committed"
        assert_eq "$(running_version)" "v0.56.2"
        run_mbctl 0 upgrade window
        assert_contains "$OUT" "nothing to do"

        # policy.allow: patch takes the hotfix of v0.56.2's line only; here none: nothing to do
        # (v0.57.1 is both a major step and at 0% rollout)
        systemctl --user stop mbupgraded.service
        MBUP_ALLOW=patch write_config
        start_daemon
        run_mbctl 0 check
        run_mbctl 0 list --json
        assert_contains "$OUT" '"verdict":"step"'
        run_mbctl 0 upgrade window
        assert_contains "$OUT" "nothing to do"
        # an admin may take the major now (min_age, allow and rollout are for unattended upgrades)
        run_mbctl 0 upgrade now --to v0.57.1
        assert_contains "$OUT" "committed"
        assert_eq "$(running_version)" "v0.57.1"
}
