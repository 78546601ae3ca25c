# MariaDB as the application database: a good upgrade (a mysqldump --single-transaction taken
# with Metabase stopped, checksum recorded), then a release whose migrations fail half-way,
# rolled back to a database equal to the dump before it, then mbctl rollback to v0.56.1 with
# its database as it was. The password never shows in logs, state or backup metadata.
my_snapshot() {
        local dump
        dump=$(command -v mariadb-dump || command -v mysqldump)
        "$dump" --defaults-extra-file="$MY_CNF" --skip-dump-date --skip-comments --single-transaction \
                --no-tablespaces metabase
}

assert_my_snapshot() {
        my_snapshot >"$1.now"
        cmp -s "$1" "$1.now" || {
                diff "$1" "$1.now" | head -n 20 >&2
                die "$2: the database differs from its snapshot $1"
        }
}

scenario() {
        local v1=$SB/v1.sql v2=$SB/v2.sql backup
        mariadb_start
        install_metabase_my "$(make_release v0.56.1)" vars
        mysql_mb "INSERT INTO report_card (id, name) VALUES (100, 'made on v0.56.1')" >/dev/null
        start_daemon
        my_snapshot >"$v1"

        run_mbctl 0 upgrade now --jar "$(make_release v0.56.2)"
        assert_contains "$OUT" "committed"
        assert_contains "$OUT" "MySQL metabase@127.0.0.1:$MY_PORT/metabase"
        assert_eq "$(running_version)" "v0.56.2"
        backup=$(ls "$SB"/backups/*/metabase.sql)
        [[ $(stat -c %a "$backup") == 600 ]] || die "the dump is not 0600"
        grep -q '"sha256":"'"$(sha256sum "$backup" | cut -d' ' -f1)"'"' "$(dirname "$backup")/backup.json" ||
                die "backup.json does not record the dump's SHA-256"
        assert_contains "$(cat "$(dirname "$backup")/backup.json")" '"kind":"mysql"'
        assert_contains "$(cat "$(dirname "$backup")/backup.json")" '"schema":"v56.001"'
        mysql_mb "INSERT INTO report_card (id, name) VALUES (101, 'made on v0.56.2')" >/dev/null
        my_snapshot >"$v2"

        run_mbctl 3 upgrade now --jar "$(make_release v0.56.3 bad --fail half-migration)"
        assert_contains "$OUT" "rolled-back"
        assert_eq "$(running_version)" "v0.56.2" "the version serving after the rollback"
        assert_my_snapshot "$v2" "after the rollback of the half-applied migration"

        run_mbctl 0 rollback --yes
        assert_eq "$(running_version)" "v0.56.1"
        assert_my_snapshot "$v1" "after mbctl rollback"
        [[ ! -e "$SB/state/appdb.secret" ]] || die "the password file outlived the operations"
        ! grep -rl -- "$MY_PASS" "$SB/logs" "$SB/state" "$SB"/backups/*/backup.json ||
                die "the database password was written down"
}
