# mbupgraded-db scratch-copy / drop-scratch on MariaDB (issue 8's rehearsals): the copy taken
# while the stand-in Metabase keeps running on the database (MainPID, health), the same tables and
# rows at the copy's moment, independent after; a user without the right gets the GRANT to run;
# a copy left from before is replaced; drop-scratch kills the copy's connections and drops it.
my_root() { mariadb --no-defaults -S "$MY_SOCKET" -u root -N -B -e "$1"; }
# content DB: every table's rows, in order (CHECKSUM TABLE of each)
content() {
        my_root "SELECT GROUP_CONCAT(TABLE_NAME ORDER BY TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '$1'" |
                tr ',' '\n' | while read -r t; do
                my_root "CHECKSUM TABLE \`$1\`.\`$t\` EXTENDED" | awk -v t="$t" '{ print t, $2 }'
        done
}

scenario() {
        mariadb_start
        install_metabase_my "$(make_release v0.56.1)"
        local helper=$MBUP_BUILD/dbhelper/mbupgraded-db pid rc=0
        db() { env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin MBUP_DB_KIND=mysql MBUP_MY_DEFAULTS="$MY_CNF" MBUP_MY_DATABASE=metabase "$helper" "$@"; }
        mysql_mb "INSERT INTO report_card (id, name) VALUES (100, 'before the copy')" >/dev/null
        pid=$(main_pid)

        log "no right to create it: the GRANT to run, and nothing made"
        OUT=$(db scratch-copy) || rc=$?
        ((rc == 1)) || die "scratch-copy without the right exited $rc: $OUT"
        assert_contains "$OUT" "error create cannot create the scratch database metabase_mbup_rehearsal"
        assert_contains "$OUT" 'GRANT ALL ON `metabase_mbup_rehearsal`.* TO'
        assert_eq "$(my_root "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'metabase_mbup_rehearsal'")" 0 "scratch databases"

        log "the copy while Metabase runs"
        my_root "GRANT ALL PRIVILEGES ON \`metabase_mbup_rehearsal\`.* TO 'metabase'@'127.0.0.1'; GRANT ALL PRIVILEGES ON \`metabase_mbup_rehearsal\`.* TO 'metabase'@'%'"
        OUT=$(db scratch-copy) || die "scratch-copy failed: $OUT"
        printf '#   %s\n' "${OUT//$'\n'/ | }" >&2
        assert_contains "$OUT" "scratch metabase_mbup_rehearsal"
        assert_contains "$OUT" "done"
        [[ $(sed -n 's/^database_size //p' <<<"$OUT") -gt 0 ]] || die "no size for the copy: $OUT"
        assert_eq "$(main_pid)" "$pid" "Metabase's MainPID during the copy"
        wait_healthy 10 || die "Metabase is not healthy after the copy"
        [[ -n $(content metabase) ]] || die "no tables to compare"
        assert_eq "$(content metabase_mbup_rehearsal)" "$(content metabase)" "the copy's tables and rows"

        log "independent after"
        mysql_mb "INSERT INTO report_card (id, name) VALUES (101, 'after the copy')" >/dev/null
        my_root "DELETE FROM metabase_mbup_rehearsal.report_card WHERE id = 100"
        assert_eq "$(my_root "SELECT COUNT(*) FROM metabase_mbup_rehearsal.report_card WHERE id = 101")" 0 "101 in the copy"
        assert_eq "$(mysql_mb "SELECT COUNT(*) FROM report_card WHERE id = 100")" 1 "100 in the database"

        log "replaced; dropped with a connection on it"
        OUT=$(db scratch-copy) || die "a second scratch-copy failed: $OUT"
        assert_eq "$(my_root "SELECT COUNT(*) FROM metabase_mbup_rehearsal.report_card WHERE id = 101")" 1 "101 in the new copy"
        mariadb --defaults-extra-file="$MY_CNF" metabase_mbup_rehearsal -e "SELECT SLEEP(60)" >/dev/null 2>&1 &
        local sleeper=$!
        on_copy() { [[ $(my_root "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = 'metabase_mbup_rehearsal'") -ge 1 ]]; }
        wait_for 10 on_copy || die "no connection on the copy to end"
        OUT=$(db drop-scratch) || die "drop-scratch failed: $OUT"
        wait "$sleeper" 2>/dev/null || true
        assert_eq "$(my_root "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'metabase_mbup_rehearsal'")" 0 "scratch databases after drop-scratch"
        OUT=$(db drop-scratch) || die "drop-scratch of nothing failed: $OUT"
        assert_eq "$(mysql_mb "SELECT COUNT(*) FROM report_card WHERE id IN (100, 101)")" 2 "the application database's rows"
        assert_eq "$(main_pid)" "$pid" "Metabase's MainPID at the end"
}
