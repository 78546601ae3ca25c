# A long migration on MariaDB: Metabase's progress stays at 30% for all of its migrations,
# here four of 5 s each, five times stall_timeout (4s). Each is one statement the server runs
# (SELECT SLEEP) while the JVM idles: what moves is the server's active statement, then each change
# set's DATABASECHANGELOG row, which the verifier reads through mbupgraded-db activity. Commits.
scenario() {
        local old new t0 took
        MBUP_STALL_TIMEOUT=4s MBUP_START_TIMEOUT=10m write_config
        mariadb_start
        old=$(make_release v0.56.1)
        new=$(make_release v0.56.5 long --migration-ms 5000 --migration-work server)
        install_metabase_my "$old" vars
        start_daemon
        t0=$SECONDS
        run_mbctl 0 upgrade now --jar "$new"
        took=$((SECONDS - t0))
        assert_contains "$OUT" "committed"
        assert_eq "$(running_version)" "v0.56.5" "the running version"
        assert_contains "$OUT" "v0.56.5 is starting (30%): "
        (( took >= 20 )) || die "took ${took}s: the four migrations of 5 s each did not run"
        # (alone before the first change set is recorded, or after "N change sets applied; " once one is:
        # under load the first report can come after the first row)
        assert_contains "$OUT" "the database server is working (one statement for"
        grep -qE "migrating: [0-9]+ change sets? applied, [0-9]+ in the last minute" <<<"$OUT" ||
                die "the status never said change sets were applied"
        # the JVM idles while the server migrates
        ! grep -E "change sets? applied.*CPU moving" <<<"$OUT" || die "the CPU was said to move during the migrations"
}
