# mbctl rollback --keep-data on PostgreSQL (issue 17 part 3): what users wrote after the upgrade
# stays. v0.56.3 -> v0.57.2, rows added under v0.57.2 (report_card, a table migrate down keeps):
# - a migrate down that fails (a v57 table dropped by hand, as standin-migrate-down does: its
#   rollback fails and the command still exits 0), not rehearsed first (the role may not create
#   the scratch copy), is caught by the changelog afterwards: the fresh backup goes back, v0.57.2
#   serves again with every row;
# - the same once the role may create databases: rehearsed on a scratch copy first, it fails there
#   and the rollback is refused with production untouched (same MainPID, no backup taken);
# - with the table back, Metabase's migrate down (the newer JAR, as a transient unit with the unit's
#   user and EnvironmentFile=), rehearsed on the copy, takes the schema to v56: v0.56.3 serves every
#   row, no v57 change set is left, and the fresh backup taken before is listed;
# - within one major (v0.56.4 -> v0.56.3) only the JAR goes back, no restore, the rows stay;
# - two majors back (v0.58.1 -> v0.56.3) is refused before anything is touched;
# - on MariaDB the same one major back keeps its row; on H2 it is refused, nothing touched.
v57_rows() { psql_mb "select count(*) from databasechangelog where id like 'v57.%'"; }
cards() { psql_mb "select string_agg(id::text, ',' order by id) from report_card"; }
n_backups() { find "$SB/backups" -name metabase.dump | wc -l; }

scenario() {
        local old new n pid
        old=$(make_release v0.56.3)
        new=$(make_release v0.57.2)
        postgres_start
        install_metabase_pg "$old" envfile
        start_daemon
        run_mbctl 0 upgrade now --jar "$new"
        assert_contains "$OUT" "committed"
        assert_eq "$(v57_rows)" "2" "v57 change sets after the upgrade"
        psql_mb "INSERT INTO report_card VALUES (20, 'Written under v0.57.2'), (21, 'And this')" >/dev/null
        assert_eq "$(cards)" "1,2,3,20,21" "the rows before the rollbacks"

        # a migrate down whose v57.001 rollback fails: exit 0, the row left, the changelog tells
        psql_mb "DROP TABLE mig_57_001" >/dev/null
        n=$(n_backups)
        run_mbctl 3 rollback --keep-data --yes
        assert_contains "$OUT" "keeping the data: a fresh backup, then v0.57.2's migrate down"
        assert_contains "$OUT" "migrate down NOT rehearsed: cannot copy the database"
        assert_contains "$OUT" "Metabase's migrate down left"
        assert_contains "$OUT" "change sets of v57"
        assert_contains "$OUT" "Error rolling back migration v57.001"
        assert_eq "$(running_version)" "v0.57.2" "after the failed migrate down"
        assert_eq "$(installed_version)" "v0.57.2"
        assert_eq "$(cards)" "1,2,3,20,21" "the rows after the failed migrate down"
        assert_eq "$(v57_rows)" "2" "the fresh backup put back"
        assert_eq "$(n_backups)" "$((n + 1))" "the fresh backup"
        assert_eq "$(systemctl --user show -p LoadState --value mbupgraded-migrate-down.service)" "not-found" \
                "the migrate down unit afterwards"
        [[ ! -e $SB/state/migrate-down.env ]] || die "the unit's environment (with its password) outlived migrate down"
        run_mbctl 0 history --json
        assert_contains "$OUT" '"keep_data":true'

        # rehearsed on a scratch copy, where it fails the same: refused, production untouched
        pg_super "ALTER ROLE metabase CREATEDB" >/dev/null
        pid=$(main_pid)
        run_mbctl 5 rollback --keep-data --yes
        assert_contains "$OUT" "v0.57.2's migrate down was rehearsed and failed: on a copy of the database it left change sets of v57"
        assert_contains "$OUT" "Error rolling back migration v57.001"
        assert_contains "$OUT" "Nothing was changed"
        assert_eq "$(main_pid)" "$pid" "Metabase's MainPID after the failed rehearsal"
        assert_eq "$(running_version)" "v0.57.2" "after the failed rehearsal"
        assert_eq "$(n_backups)" "$((n + 1))" "no backup taken for the refused rollback"
        assert_eq "$(pg_super "select count(*) from pg_database where datname = 'metabase_mbup_rehearsal'")" "0" \
                "the scratch copy after the rehearsal"

        # with the table back, it works: rehearsed, then v0.56.3 on the v56 schema, every row kept
        psql_mb "CREATE TABLE mig_57_001 (x INT)" >/dev/null
        n=$(n_backups)
        run_mbctl 0 rollback --keep-data --yes
        assert_contains "$OUT" "migrate down rehearsed: on a copy of the database it went to v56's schema"
        assert_contains "$OUT" "committed"
        assert_eq "$(running_version)" "v0.56.3" "after the keep-data rollback"
        assert_eq "$(installed_version)" "v0.56.3"
        assert_eq "$(cards)" "1,2,3,20,21" "the rows after the keep-data rollback"
        assert_eq "$(v57_rows)" "0" "v57 change sets after migrate down"
        assert_eq "$(psql_mb "select count(*) from pg_tables where tablename like 'mig\_57\_%'")" "0" "v57 tables"
        assert_eq "$(n_backups)" "$((n + 1))" "the fresh backup before migrate down"
        run_mbctl 0 backups
        assert_contains "$OUT" "v0.57.2"
        # the newer JAR's own command, connected with the unit's environment (the password is in
        # its EnvironmentFile=, nowhere else)
        assert_contains "$(cat "$SB/state/migrate-down.log")" "Rolling back app database schema to version 56"
        assert_contains "$(cat "$SB/state/migrate-down.log")" "Going to roll back changeset v57.002"
        assert_not_contains "$(cat "$SB/state/migrate-down.log")" "Command failed"
        run_mbctl 5 rollback --keep-data --yes
        assert_contains "$OUT" "no committed upgrade to roll back"

        # the same major: the JAR only, no restore
        run_mbctl 0 upgrade now --jar "$(make_release v0.56.4)"
        psql_mb "INSERT INTO report_card VALUES (30, 'Written under v0.56.4')" >/dev/null
        n=$(n_backups)
        run_mbctl 0 rollback --keep-data --yes
        assert_contains "$OUT" "v0.56.4 and v0.56.3 are the same major, so only the JAR goes back"
        assert_contains "$OUT" "committed"
        assert_eq "$(running_version)" "v0.56.3" "after the same-major keep-data rollback"
        assert_eq "$(cards)" "1,2,3,20,21,30" "the rows after the same-major keep-data rollback"
        assert_eq "$(n_backups)" "$((n + 1))" "the fresh backup of the same-major rollback"

        # two majors back: refused, nothing touched
        run_mbctl 0 upgrade now --jar "$(make_release v0.58.1)"
        assert_contains "$OUT" "committed"
        psql_mb "INSERT INTO report_card VALUES (40, 'Written under v0.58.1')" >/dev/null
        pid=$(main_pid)
        n=$(n_backups)
        run_mbctl 5 rollback --keep-data --yes
        assert_contains "$OUT" "--keep-data can't go from v0.58.1 back to v0.56.3"
        assert_contains "$OUT" "Nothing was changed"
        assert_eq "$(running_version)" "v0.58.1" "after the refused keep-data rollback"
        assert_eq "$(main_pid)" "$pid" "Metabase's MainPID after the refusal"
        assert_eq "$(n_backups)" "$n" "backups after the refusal"
        assert_eq "$(cards)" "1,2,3,20,21,30,40" "the rows after the refusal"
        # in the history: the failed, the refused by its rehearsal, the done, the refused for want of
        # an upgrade, the same major; the refusal above never began an operation
        run_mbctl 0 history --json
        assert_eq "$(grep -o '"kind":"rollback"' <<<"$OUT" | wc -l)" "5" "rollbacks in the history"
        assert_not_contains "$OUT" "v0.58.1 back to" "the refusal in the history"

        # MariaDB: the same rule on its changelog (mbupgraded-db's MySQL half)
        systemctl --user stop metabase.service
        mariadb_start
        install_metabase_my "$old" vars
        run_mbctl 0 upgrade now --jar "$new"
        mysql_mb "INSERT INTO report_card VALUES (50, 'Written under v0.57.2 on MariaDB')"
        run_mbctl 0 rollback --keep-data --yes
        assert_contains "$OUT" "committed"
        assert_eq "$(running_version)" "v0.56.3" "after the keep-data rollback on MariaDB"
        assert_eq "$(mysql_mb "SELECT COUNT(*) FROM DATABASECHANGELOG WHERE ID LIKE 'v57%'")" "0" "v57 rows on MariaDB"
        assert_eq "$(mysql_mb 'SELECT name FROM report_card WHERE id = 50')" "Written under v0.57.2 on MariaDB" \
                "the row on MariaDB"

        # H2, one major back: refused before anything is touched (a plain rollback restores)
        systemctl --user stop metabase.service
        install_metabase "$old"
        run_mbctl 0 upgrade now --jar "$new"
        pid=$(main_pid)
        run_mbctl 5 rollback --keep-data --yes
        assert_contains "$OUT" "not of H2"
        assert_contains "$OUT" "Nothing was changed"
        assert_eq "$(running_version)" "v0.57.2" "after the refusal on H2"
        assert_eq "$(main_pid)" "$pid" "Metabase's MainPID after the refusal on H2"
}
