# The stand-in Metabase on the sandbox's PostgreSQL, under systemd, without the daemon: it
# migrates into a real databasechangelog, the next release migrates further, an older JAR of the
# same major starts on the newer schema but one of an older major refuses it ("Downgrade
# detected": Metabase compares major versions only), and every way issue 4 says the unit may
# carry the connection settings (URI, JDBC URI, MB_DB_* variables, EnvironmentFile=) works.
scenario() {
        local old new t0 t1 ids n state mode
        old=$(make_release v0.56.1)
        new=$(make_release v0.56.2)

        t0=$(date +%s%N)
        postgres_start
        t1=$(date +%s%N)
        log "postgres_start took $(((t1 - t0) / 1000000)) ms (port $PG_PORT)"
        assert_eq "$(psql_mb 'SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()')" "0" \
                "a fresh database"

        t0=$(date +%s%N)
        install_metabase_pg "$old" uri
        t1=$(date +%s%N)
        log "the stand-in on PostgreSQL was healthy $(((t1 - t0) / 1000000)) ms after systemctl start"
        assert_contains "$(cat "$SB/logs/metabase.log")" "Verifying postgres Database Connection"
        assert_not_contains "$(cat "$SB/logs/metabase.log")" "$PG_PASS" "the password in the log"

        # the changelog over HTTP and in PostgreSQL agree: v50..v55 (20 each) and v56.001
        ids=$(changelog)
        n=$(grep -o '"v[0-9]*\.[0-9]*"' <<<"$ids" | wc -l)
        assert_eq "$n" "121" "changelog entries over HTTP"
        assert_eq "$(psql_mb 'select count(*) from databasechangelog')" "$n" "changelog rows in PostgreSQL"
        assert_eq "$(psql_mb 'select id from databasechangelog order by orderexecuted desc limit 1')" "v56.001"
        assert_eq "$(psql_mb "select string_agg('\"' || id || '\"', ',' order by orderexecuted) from databasechangelog")" \
                "$(tr -d '[]' <<<"$ids")" "the changelog in order"
        # Liquibase's names on PostgreSQL: lower case, in the public schema
        assert_eq "$(psql_mb "select string_agg(tablename, ',' order by tablename) from pg_tables
                where tablename like 'databasechangelog%'")" "databasechangelog,databasechangeloglock"
        assert_eq "$(psql_mb 'select locked from databasechangeloglock where id = 1')" "f" "the migration lock"
        assert_eq "$(psql_mb 'select count(*) from report_card')" "3" "report_card rows"
        assert_eq "$(http /api/standin/cards)" '{"count":3}'
        assert_eq "$(psql_mb "select count(*) from pg_tables where tablename like 'mig\_%'")" "121" "migration tables"
        assert_eq "$(running_version)" "v0.56.1"

        # the next release, by hand: it migrates v56.002
        systemctl --user stop metabase.service
        assert_eq "$(unit_state)" "inactive" "after stop"
        assert_eq "$(psql_mb 'select locked from databasechangeloglock where id = 1')" "f" "the lock after a clean stop"
        cp "$new" "$SB/opt/metabase/metabase.jar"
        systemctl --user start metabase.service
        wait_healthy 60 || die "v0.56.2 did not become healthy on PostgreSQL"
        assert_eq "$(running_version)" "v0.56.2"
        assert_contains "$(changelog)" '"v56.002"' "the new migration over HTTP"
        assert_eq "$(psql_mb 'select id from databasechangelog order by orderexecuted desc limit 1')" "v56.002"
        assert_eq "$(psql_mb 'select count(*) from databasechangelog')" "122"
        assert_eq "$(psql_mb 'select count(*) from mig_56_002')" "0" "the v56.002 table"
        assert_eq "$(psql_mb 'select locked from databasechangeloglock where id = 1')" "f"

        # the older JAR of the same major starts: Liquibase ignores the change set it does not know
        systemctl --user stop metabase.service
        cp "$old" "$SB/opt/metabase/metabase.jar"
        systemctl --user start metabase.service
        wait_healthy 60 || die "v0.56.1 did not start on the v56.002 schema"
        assert_eq "$(running_version)" "v0.56.1"
        assert_eq "$(psql_mb 'select count(*) from databasechangelog')" "122" "the changelog under v0.56.1"

        # a JAR of an older major refuses the newer schema and the unit fails; the schema is untouched
        systemctl --user stop metabase.service
        cp "$(make_release v0.55.4)" "$SB/opt/metabase/metabase.jar"
        systemctl --user start metabase.service
        for _ in $(seq 1 100); do
                state=$(unit_state)
                [[ $state == failed || $state == inactive ]] && break
                sleep 0.1
        done
        assert_eq "$state" "failed" "the unit of the older major's JAR"
        assert_contains "$(tail -n 30 "$SB/logs/metabase.log")" "Database has migrations from v56 but this binary only knows up to v55:"
        assert_contains "$(tail -n 30 "$SB/logs/metabase.log")" "  - v56.002"
        assert_contains "$(tail -n 30 "$SB/logs/metabase.log")" "ERROR: Downgrade detected."
        assert_contains "$(tail -n 30 "$SB/logs/metabase.log")" "metabase.jar migrate down\` from version 56."
        assert_eq "$(psql_mb 'select count(*) from databasechangelog')" "122" "the changelog after the refusal"
        assert_eq "$(psql_mb 'select locked from databasechangeloglock where id = 1')" "f" "the lock after the refusal"
        systemctl --user reset-failed metabase.service

        # each way of giving the connection settings, with v0.56.2 on the same database
        for mode in jdbc-uri vars envfile envfile-uri; do
                install_metabase_pg "$new" "$mode"
                assert_eq "$(running_version)" "v0.56.2" "the version ($mode)"
                assert_eq "$(psql_mb 'select count(*) from databasechangelog')" "122" "the changelog ($mode)"
                case $mode in
                envfile*)
                        assert_eq "$(stat -c %a "$SB/opt/metabase/metabase.env")" "600" "the EnvironmentFile's mode"
                        assert_not_contains "$(cat "$SB/units/metabase.service")" "$PG_PASS" "the password in the unit"
                        ;;
                esac
        done
        # the unit as systemd sees it: what the daemon will read over D-Bus
        assert_contains "$(systemctl --user show -p EnvironmentFiles --value metabase.service)" "metabase.env"

        # a wrong password: the unit fails at once, Metabase-style
        systemctl --user stop metabase.service
        sed -i "s/^MB_DB_CONNECTION_URI=.*/MB_DB_CONNECTION_URI=postgres:\/\/metabase:wrong@127.0.0.1:$PG_PORT\/metabase/" \
                "$SB/opt/metabase/metabase.env"
        systemctl --user start metabase.service
        for _ in $(seq 1 100); do
                state=$(unit_state)
                [[ $state == failed || $state == inactive ]] && break
                sleep 0.1
        done
        assert_eq "$state" "failed" "the unit with a wrong password"
        assert_contains "$(tail -n 10 "$SB/logs/metabase.log")" "Unable to connect to Metabase postgres DB."
        assert_contains "$(tail -n 10 "$SB/logs/metabase.log")" "password authentication failed"
}
