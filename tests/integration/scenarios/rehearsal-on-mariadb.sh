# A rehearsal on MariaDB (issue 8): the staged release migrates metabase_mbup_rehearsal, filled by
# mariadb-dump --single-transaction while production keeps serving; it passes, its time is
# recorded, production's MainPID and tables are unchanged, and the unit and the copy are gone.
# A release whose migration fails half-way fails its rehearsal (a block, with the log's lines).
my_root() { mariadb --no-defaults -S "$MY_SOCKET" -u root -N -B -e "$1"; }
scratch_gone() {
        [[ $(my_root "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'metabase_mbup_rehearsal'") == 0 ]]
}
rehearsal_unit_gone() {
        [[ $(systemctl --user show -p LoadState --value mbupgraded-rehearsal.service) == not-found ]]
}
rehearsals() { grep '"kind":"rehearsal"' "$SB/state/history.jsonl" 2>/dev/null | grep "\"to\":\"$1\"" || true; }
rehearsed() { [[ -n $(rehearsals "$1") ]]; }
tables() { mysql_mb "SELECT GROUP_CONCAT(TABLE_NAME ORDER BY TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'metabase'"; }

scenario() {
        local pid before
        mariadb_start
        # the copy is a database of its own: the user needs the right to it (the helper says so)
        my_root "GRANT ALL PRIVILEGES ON \`metabase_mbup_rehearsal\`.* TO 'metabase'@'127.0.0.1'; GRANT ALL PRIVILEGES ON \`metabase_mbup_rehearsal\`.* TO 'metabase'@'%'"
        install_metabase_my "$(make_release v0.56.1)"
        mirror_release v0.56.3 "$(make_release v0.56.3 v0.56.3 --migration-ms 300)"
        mirror_feed v0.56.3:2025-02-01 v0.56.1:2025-01-01
        MBUP_REHEARSE=always write_config
        start_daemon
        pid=$(main_pid)
        before=$(tables)

        run_mbctl 0 check
        wait_for 60 rehearsed v0.56.3 || die "v0.56.3 was not rehearsed: $(mbctl status)"
        assert_contains "$(rehearsals v0.56.3)" '"result":"passed"'
        assert_contains "$(rehearsals v0.56.3)" '"database":"MySQL'
        wait_for 20 rehearsal_unit_gone || die "the rehearsal's unit is still there"
        wait_for 20 scratch_gone || die "the scratch database is still there"
        assert_eq "$(main_pid)" "$pid" "production's MainPID"
        assert_eq "$(tables)" "$before" "production's tables"
        assert_eq "$(running_version)" v0.56.1

        mirror_release v0.56.4 "$(make_release v0.56.4 v0.56.4 --fail half-migration)"
        mirror_feed v0.56.4:2025-03-01 v0.56.3:2025-02-01 v0.56.1:2025-01-01
        run_mbctl 0 check
        wait_for 60 rehearsed v0.56.4 || die "v0.56.4 was not rehearsed: $(mbctl status)"
        assert_contains "$(rehearsals v0.56.4)" '"result":"failed"'
        assert_contains "$(rehearsals v0.56.4)" "Unknown column"
        wait_for 20 scratch_gone || die "the scratch database outlived the failed rehearsal"
        assert_eq "$(main_pid)" "$pid" "production's MainPID"
        assert_eq "$(tables)" "$before" "production's tables"
        run_mbctl 5 upgrade now --to v0.56.4
        assert_contains "$OUT" "Unknown column"
}
