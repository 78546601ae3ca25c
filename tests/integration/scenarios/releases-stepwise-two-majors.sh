# Crossing two majors stepwise: through the newest release of the intermediate major, each hop a
# full upgrade (backup, swap, verify) that commits before the next.
scenario() {
        install_metabase "$(make_release v0.56.1)"
        local v
        for v in v0.57.1 v0.57.3 v0.58.2; do
                mirror_release $v "$(make_release $v)"
        done
        mirror_feed v0.58.2:2025-05-01 v0.57.3:2025-04-01 v0.57.1:2025-03-01 v0.56.1:2025-01-01
        MBUP_ALLOW=major write_config
        start_daemon
        run_mbctl 0 check
        run_mbctl 0 upgrade now --dry-run
        assert_contains "$OUT" "v0.56.1 -> v0.57.3 -> v0.58.2"
        # the second hop is never staged in the background (only the first is, after a check, and
        # that may already be done: a file:// mirror is quick)
        assert_contains "$OUT" "v0.58.2: download file://$SB/mirror/v0.58.2/metabase.jar, check metabase.sha256 (required)"
        [[ $OUT == *"v0.57.3: staged and verified"* ||
                $OUT == *"v0.57.3: download file://$SB/mirror/v0.57.3/metabase.jar, check metabase.sha256 (required)"* ]] ||
                die "the first hop's line: $OUT"
        [[ ! -d "$SB/state/staging/v0.58.2" ]] || die "a dry run downloaded something"
        run_mbctl 0 upgrade now
        assert_contains "$OUT" "upgrade v0.56.1 -> v0.57.3: committed"
        assert_contains "$OUT" "upgrade v0.57.3 -> v0.58.2: committed"
        assert_eq "$(running_version)" "v0.58.2"
        assert_contains "$(changelog)" '"v57.003"'
        assert_contains "$(changelog)" '"v58.002"'
        run_mbctl 0 history --json
        [[ $(grep -c '"result":"committed"' <<<"$OUT") -eq 2 ]] || die "expected two committed hops"
        [[ $(ls -d "$SB"/backups/*/ | wc -l) -eq 2 ]] || die "expected a backup per hop"
        [[ $(ls "$SB/state/staging" | grep -c '^v') -le 2 ]] || die "more than two staged releases kept"
}
