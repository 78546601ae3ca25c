# Rehearsals on H2 (issue 8): the file is copied while Metabase holds it open, so a rehearsal is
# best effort. mbctl rehearse of a release whose migration fails half-way ends in a warning that
# says why, not a block: the window still applies the release (and rolls it back as usual), and
# production's database is untouched by the rehearsal (its schema and rows as production's own
# Metabase reads them: the file's bytes are H2's to rewrite while it has it open). A good
# release's rehearsal passes.
scenario() {
        local pid sum
        install_metabase "$(make_release v0.56.1)"
        mirror_release v0.56.2 "$(make_release v0.56.2)"
        mirror_release v0.56.3 "$(make_release v0.56.3 v0.56.3 --fail half-migration)"
        mirror_feed v0.56.3:2025-02-01 v0.56.2:2025-01-20 v0.56.1:2025-01-01
        start_daemon
        pid=$(main_pid)
        run_mbctl 0 check

        # nothing to rehearse, bad input: clear errors
        run_mbctl 5 rehearse v0.56.1
        assert_contains "$OUT" "not newer than the installed v0.56.1"
        run_mbctl 5 rehearse v0.99.1
        assert_contains "$OUT" "not in the release feed"
        run_mbctl 2 rehearse nonsense
        assert_contains "$OUT" "Not a Metabase version"

        sum=$(changelog)$(http /api/standin/cards)
        run_mbctl 0 rehearse v0.56.3
        assert_contains "$OUT" "rehearsal of v0.56.3: warning"
        assert_contains "$OUT" "H2 file"
        assert_contains "$OUT" "not a block"
        assert_contains "$OUT" "MigrationFailedException"
        assert_eq "$(main_pid)" "$pid" "a rehearsal does not touch production"
        assert_eq "$(changelog)$(http /api/standin/cards)" "$sum" "production's database after the rehearsal"
        [[ ! -e $SB/state/rehearsal ]] || die "the H2 copy outlived the rehearsal: $(ls -la "$SB/state/rehearsal")"
        [[ $(systemctl --user show -p LoadState --value mbupgraded-rehearsal.service) == not-found ]] ||
                die "the rehearsal's unit is still there"
        run_mbctl 0 status
        assert_contains "$OUT" "Rehearsal: v0.56.3 warning"

        # a warning does not block: the window plans it
        run_mbctl 0 upgrade window --dry-run
        assert_contains "$OUT" "v0.56.1 -> v0.56.3"
        assert_contains "$OUT" "v0.56.3: expected downtime unknown"

        run_mbctl 0 rehearse v0.56.2
        assert_contains "$OUT" "rehearsal of v0.56.2: passed"
        run_mbctl 0 upgrade now --to v0.56.2 --dry-run
        assert_contains "$OUT" "v0.56.2: expected downtime"
        run_mbctl 0 history --json
        assert_contains "$OUT" '"kind":"rehearsal"'
        assert_eq "$(main_pid)" "$pid"
}
