# MB_DB_AUTOMIGRATE=false in the unit's environment: Metabase would not migrate but print the SQL
# and stop ("Database requires manual upgrade.", src/metabase/app_db/setup.clj), so pre-flight
# refuses an upgrade to another version before the stop, with what to do; Metabase keeps running,
# same process, and no backup is taken. Metabase reads the setting with Boolean/parseBoolean:
# "TRUE" is true, and then the upgrade goes through; -Dmb.db.automigrate in the JVM's options wins.
scenario() {
        local pid new
        new=$(make_release v0.56.2)
        install_metabase "$(make_release v0.56.1)"
        write_metabase_unit "Environment=MB_DB_FILE=$SB/var/lib/metabase/metabase.db" Environment=MB_DB_AUTOMIGRATE=false
        systemctl --user daemon-reload
        systemctl --user restart metabase.service
        wait_healthy 60 || die "Metabase did not come back with MB_DB_AUTOMIGRATE=false"
        start_daemon
        pid=$(main_pid)

        run_mbctl 5 upgrade now --jar "$new"
        assert_contains "$OUT" "the unit sets MB_DB_AUTOMIGRATE=false"
        assert_contains "$OUT" "Database requires manual upgrade."
        assert_contains "$OUT" "Set MB_DB_AUTOMIGRATE=true"
        assert_contains "$OUT" "migrate print"
        assert_eq "$(main_pid)" "$pid" "MainPID after the refusal"
        assert_eq "$(running_version)" "v0.56.1"
        assert_eq "$(installed_version)" "v0.56.1"
        [[ -z "$(ls -A "$SB/backups")" ]] || die "a backup was taken for a refused upgrade"
        run_mbctl 0 history --json
        assert_contains "$OUT" '"result":"refused"'

        # a JVM system property wins over the environment (environ merges them, properties last)
        write_metabase_unit "Environment=MB_DB_FILE=$SB/var/lib/metabase/metabase.db" Environment=MB_DB_AUTOMIGRATE=true \
                "Environment=\"JAVA_TOOL_OPTIONS=-Xss1m -Dmb.db.automigrate=false\""
        systemctl --user daemon-reload
        run_mbctl 5 upgrade now --jar "$new"
        assert_contains "$OUT" "the unit sets -Dmb.db.automigrate=false"
        assert_eq "$(main_pid)" "$pid" "MainPID after the second refusal"

        # "TRUE" is true for Metabase (Boolean/parseBoolean ignores case): no refusal
        write_metabase_unit "Environment=MB_DB_FILE=$SB/var/lib/metabase/metabase.db" Environment=MB_DB_AUTOMIGRATE=TRUE
        systemctl --user daemon-reload
        run_mbctl 0 upgrade now --jar "$new"
        assert_contains "$OUT" "committed"
        assert_eq "$(running_version)" "v0.56.2"
}
