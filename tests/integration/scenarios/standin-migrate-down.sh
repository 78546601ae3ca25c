# `java -jar metabase.jar migrate down` as Metabase has it (docs/metabase.md, tests/standin/README.md),
# on the sandbox's PostgreSQL (then briefly H2 and MariaDB), run as the metabase user with the unit's environment, the service
# stopped: v0.56.3 with rows the test adds, upgraded to v0.57.2 (the rest of v56 and two v57 change
# sets), more rows added under v0.57.2. The older JAR's `migrate down` is refused before anything changes; a held
# migration lock stops it after six tries; the newer JAR's takes the schema back to the v56 change
# sets with every row kept, and v0.56.3 starts on it; run again it has nothing to do. A change set
# whose rollback fails leaves its row behind and the command still exits 0: only the changelog
# tells, and the older JAR refuses to start on it.
mb_run() { # mb_run JAR ARGS...: as metabase.service would run it, with the unit's environment
        local env
        env=$(systemctl --user show -p Environment --value metabase.service)
        # shellcheck disable=SC2086
        (cd "$SB/var/lib/metabase" && runuser -u "$MB_USER" -- env $env java -jar "$@")
}

h2_query() { # h2_query SQL: on the H2 file, as its owner (the service stopped)
        runuser -u "$MB_USER" -- java -cp /usr/share/java/h2.jar org.h2.tools.Shell \
                -url "jdbc:h2:file:$SB/var/lib/metabase/metabase.db" -sql "$1"
}

scenario() {
        local old new before out rc t0 t1
        old=$(make_release v0.56.3)
        new=$(make_release v0.57.2)
        postgres_start
        install_metabase_pg "$old" uri
        psql_mb "INSERT INTO report_card VALUES (10, 'Added under v0.56.3'), (11, 'Another one')"
        before=$(psql_mb "select string_agg(id, ',' order by orderexecuted) from databasechangelog")
        assert_eq "$(http /api/standin/cards)" '{"count":5}'

        systemctl --user stop metabase.service
        install_jar "$new"
        systemctl --user start metabase.service
        wait_healthy 60 || die "v0.57.2 did not become healthy"
        assert_eq "$(running_version)" "v0.57.2"
        assert_eq "$(psql_mb "select count(*) from databasechangelog where id like 'v57.%'")" "2" "v57 change sets"
        psql_mb "INSERT INTO report_card VALUES (12, 'Added under v0.57.2')"
        systemctl --user stop metabase.service
        cp "$old" "$SB/opt/metabase/older.jar"
        chmod 644 "$SB/opt/metabase/older.jar"

        # the older JAR's migrate down: refused once it holds the lock, nothing changed, lock freed
        rc=0
        out=$(mb_run "$SB/opt/metabase/older.jar" migrate down 2>&1) || rc=$?
        assert_eq "$rc" "1" "the older JAR's migrate down"
        assert_contains "$out" "Command failed with exception: Cannot downgrade a database at version 57 from Metabase version 56. You must run 'migrate down' from Metabase version >= 57."
        assert_not_contains "$out" "Rolling back app database schema"
        assert_eq "$(psql_mb "select count(*) from databasechangelog where id like 'v57.%'")" "2" "v57 rows after the refusal"
        assert_eq "$(psql_mb 'select locked from databasechangeloglock where id = 1')" "f" "the lock after the refusal"

        # a held lock: six tries about 2 s apart, then the LockException; nothing changed
        psql_mb "UPDATE databasechangeloglock SET locked = TRUE, lockedby = 'another node' WHERE id = 1"
        rc=0
        t0=$(date +%s)
        out=$(mb_run "$SB/opt/metabase/metabase.jar" migrate down 2>&1) || rc=$?
        t1=$(date +%s)
        assert_eq "$rc" "1" "migrate down under a held lock"
        assert_contains "$out" "Command failed with exception: Database has migration lock; cannot run migrations."
        assert_eq "$(grep -c 'auto-retry' <<<"$out")" "5" "the retries"
        ((t1 - t0 >= 10)) || die "migrate down gave up on the lock after $((t1 - t0)) s"
        assert_eq "$(psql_mb "select count(*) from databasechangelog where id like 'v57.%'")" "2" "v57 rows under the lock"
        assert_eq "$(psql_mb 'select lockedby from databasechangeloglock where id = 1')" "another node" "the other's lock"
        psql_mb "UPDATE databasechangeloglock SET locked = FALSE, lockedby = NULL WHERE id = 1"

        # the newer JAR's migrate down: back to the v56 change sets, every row kept, exit 0
        out=$(mb_run "$SB/opt/metabase/metabase.jar" migrate down 2>&1) || die "migrate down failed: $out"
        log "migrate down: $(grep -c . <<<"$out") lines"
        assert_contains "$out" "INFO app-db.liquibase :: Migration lock acquired."
        assert_contains "$out" "INFO app-db.liquibase :: Rolling back app database schema to version 56"
        assert_contains "$out" "Going to roll back changeset v57.002"
        assert_contains "$out" "Going to roll back changeset v57.001"
        assert_not_contains "$out" "Verifying postgres Database Connection" "setup-db! in a command"
        # only the newer MAJOR goes: the v56 change sets v0.57.2 ran that v0.56.3 did not know
        # (v56.004..v56.020, as a later v56 patch release would have) stay, and v0.56.3 ignores them
        assert_eq "$(psql_mb "select string_agg(id, ',' order by orderexecuted) from databasechangelog")" \
                "$before,$(seq -f 'v56.%03g' -s, 4 20)" "the changelog after migrate down"
        assert_eq "$(psql_mb "select count(*) from pg_tables where tablename like 'mig\_57\_%'")" "0" "v57 tables"
        assert_eq "$(psql_mb 'select locked from databasechangeloglock where id = 1')" "f" "the lock after migrate down"
        assert_eq "$(psql_mb "select string_agg(id::text, ',' order by id) from report_card")" "1,2,3,10,11,12" "the rows"

        # again: nothing left to do, exit 0
        out=$(mb_run "$SB/opt/metabase/metabase.jar" migrate down 2>&1) || die "the second migrate down failed: $out"
        assert_contains "$out" "No changesets to roll back"

        # v0.56.3 starts on it and serves every row
        install_jar "$old"
        systemctl --user start metabase.service
        wait_healthy 60 || die "v0.56.3 did not start after migrate down"
        assert_eq "$(running_version)" "v0.56.3"
        assert_eq "$(http /api/standin/cards)" '{"count":6}'
        assert_not_contains "$(cat "$SB/logs/metabase.log")" "Downgrade detected"

        # a rollback that fails: exit 0 all the same, the row stays, and the older JAR refuses
        systemctl --user stop metabase.service
        install_jar "$new"
        systemctl --user start metabase.service
        wait_healthy 60 || die "v0.57.2 did not become healthy again"
        systemctl --user stop metabase.service
        psql_mb "DROP TABLE mig_57_001"
        out=$(mb_run "$SB/opt/metabase/metabase.jar" migrate down 2>&1) || die "migrate down exited $?: $out"
        assert_contains "$out" "ERROR app-db.liquibase :: Error rolling back migration v57.001"
        assert_contains "$out" "WARN app-db.liquibase :: The following changesets were not rolled back due to errors (v57.001): v57.001"
        assert_eq "$(psql_mb "select string_agg(id, ',') from databasechangelog where id like 'v57.%'")" "v57.001" \
                "the change set left behind"
        assert_eq "$(psql_mb 'select locked from databasechangeloglock where id = 1')" "f" "the lock after the failure"
        install_jar "$old"
        systemctl --user start metabase.service
        for _ in $(seq 1 100); do
                [[ $(unit_state) == failed || $(unit_state) == inactive ]] && break
                sleep 0.1
        done
        assert_eq "$(unit_state)" "failed" "v0.56.3 on the half rolled-back schema"
        assert_contains "$(tail -n 30 "$SB/logs/metabase.log")" "ERROR: Downgrade detected."
        assert_eq "$(psql_mb 'select count(*) from report_card')" "6" "the rows after it all"
        systemctl --user reset-failed metabase.service

        # the same on H2, the file the metabase user's: down to v56, v0.56.3 starts with every row
        systemctl --user stop metabase.service
        install_metabase "$old"
        systemctl --user stop metabase.service
        h2_query "INSERT INTO REPORT_CARD VALUES (10, 'Added under v0.56.3')" >/dev/null
        install_jar "$new"
        systemctl --user start metabase.service
        wait_healthy 60 || die "v0.57.2 did not become healthy on H2"
        systemctl --user stop metabase.service
        out=$(mb_run "$SB/opt/metabase/metabase.jar" migrate down 2>&1) || die "migrate down failed on H2: $out"
        assert_contains "$out" "Going to roll back changeset v57.001"
        assert_eq "$(h2_query "SELECT COUNT(*) FROM DATABASECHANGELOG WHERE ID LIKE 'v57%'" | sed -n 2p | tr -d ' ')" "0" \
                "v57 rows on H2"
        install_jar "$old"
        systemctl --user start metabase.service
        wait_healthy 60 || die "v0.56.3 did not start on H2 after migrate down"
        assert_eq "$(http /api/standin/cards)" '{"count":4}' "the rows on H2"

        # and on MariaDB (DDL commits at once there; the result is the same)
        systemctl --user stop metabase.service
        mariadb_start
        install_metabase_my "$old" uri
        mysql_mb "INSERT INTO report_card VALUES (10, 'Added under v0.56.3')"
        systemctl --user stop metabase.service
        install_jar "$new"
        systemctl --user start metabase.service
        wait_healthy 60 || die "v0.57.2 did not become healthy on MariaDB"
        systemctl --user stop metabase.service
        out=$(mb_run "$SB/opt/metabase/metabase.jar" migrate down 2>&1) || die "migrate down failed on MariaDB: $out"
        assert_eq "$(mysql_mb "SELECT COUNT(*) FROM DATABASECHANGELOG WHERE ID LIKE 'v57%'")" "0" "v57 rows on MariaDB"
        assert_eq "$(mysql_mb "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'metabase'
                AND table_name LIKE 'mig\\_57\\_%'")" "0" "v57 tables on MariaDB"
        assert_eq "$(mysql_mb 'SELECT LOCKED + 0 FROM DATABASECHANGELOGLOCK WHERE ID = 1')" "0" "the lock on MariaDB"
        install_jar "$old"
        systemctl --user start metabase.service
        wait_healthy 60 || die "v0.56.3 did not start on MariaDB after migrate down"
        assert_eq "$(http /api/standin/cards)" '{"count":4}' "the rows on MariaDB"
}
