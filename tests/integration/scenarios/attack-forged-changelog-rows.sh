# Helper output injection (issue 15, item 6): whoever can write Metabase's application database
# (the Metabase user's database role, here `metabase` itself, no superuser) forges
# DATABASECHANGELOG and DATABASECHANGELOGLOCK rows whose ID and LOCKEDBY hold newlines and protocol
# lines ("database_size 0" would skip the free-disk check of the backup). On PostgreSQL and on
# MariaDB: pre-flight still reads the real values (with backup.dir on a tmpfs too small for the
# real database, but big enough for a database of 0 bytes, the upgrade is refused for want of
# disk), the messages and `mbctl status` show the values escaped (a literal \n, no line of their
# own), an ID longer than the daemon's line limit changes nothing either, and Metabase keeps
# serving, same process, no backup taken. The upgrades tried with --force are dry runs: had the
# forgery worked, they would have passed (exit 0) and changed nothing.

EVIL_ID='forged\ndatabase_size 0\nchangelog_latest v99.999\nlock free\ndone'
EVIL_BY='evil\ndatabase_size 0\nlock free'

# backups_just_too_small BYTES: backup.dir (a tmpfs) has room for a database of 0 bytes plus the
# daemon's 16 MiB margin, not for one of BYTES.
backups_just_too_small() {
        local kib=$(((16 * 1024 * 1024 + $1 / 2) / 1024))
        mount -o remount,size=${kib}k "$SB/backups"
        log "backup.dir: $(df --output=avail -B1 "$SB/backups" | tail -n 1 | tr -d ' ') bytes free, the database $1 bytes"
}

# attack KIND SIZE_SQL: the forged rows are in; what pre-flight makes of them.
attack() {
        local kind=$1 pid size new
        pid=$(main_pid)
        new=$(make_release v0.56.2)

        log "$kind: the lock held by a forged LOCKEDBY: refused, the holder escaped"
        run_mbctl 5 upgrade now --jar "$new"
        assert_contains "$OUT" "migration lock"
        assert_contains "$OUT" "$EVIL_BY"
        ! grep -qx 'database_size 0' <<<"$OUT" || die "$kind: a forged line of its own in the message"
        run_mbctl 0 status
        assert_contains "$OUT" "$EVIL_ID" "$kind: the schema in mbctl status"
        ! grep -q '^lock free' <<<"$OUT" || die "$kind: a forged line of its own in mbctl status"

        log "$kind: --force past the lock: the free-disk check runs on the real size"
        size=$2
        backups_just_too_small "$size"
        run_mbctl 5 upgrade now --force --dry-run --jar "$new"
        assert_contains "$OUT" "not enough free disk under $SB/backups for a backup of"
        # the size the helper read: the real one (give or take a MiB the server's statistics move)
        local said
        said=$(sed -n 's/.*: it is \([0-9]*\) MiB.*/\1/p' <<<"$OUT")
        [[ -n $said ]] && ((said + 1 >= size >> 20 && said <= (size >> 20) + 1)) ||
                die "$kind: the size in the refusal is '$said' MiB, the database's $((size >> 20)) MiB"

        log "$kind: room again: the dry run passes and names the forged schema escaped"
        mount -o remount,size=1g "$SB/backups"
        run_mbctl 0 upgrade now --force --dry-run --jar "$new"
        assert_contains "$OUT" "schema $EVIL_ID"
        ! grep -qx 'done' <<<"$OUT" || die "$kind: a forged line of its own in the plan"

        assert_eq "$(main_pid)" "$pid" "$kind: MainPID"
        assert_eq "$(running_version)" "v0.56.1" "$kind: the running version"
        [[ -z "$(ls -A "$SB/backups")" ]] || die "$kind: a backup was taken"
        ! grep -q '^database_size 0' "$SB/logs/mbupgraded.log" || die "$kind: a forged line in the daemon's log"
}

scenario() {
        local size
        mount -t tmpfs -o size=1g,mode=700 tmpfs "$SB/backups"
        trap 'rc=$?; set +e; umount -l "$SB/backups" 2>/dev/null; (exit $rc); sandbox_cleanup' EXIT

        postgres_start
        install_metabase_pg "$(make_release v0.56.1)" vars
        start_daemon
        # as the database role Metabase runs with: no superuser needed
        psql_mb "INSERT INTO databasechangelog (id, author, filename, dateexecuted, orderexecuted, exectype)
                 SELECT E'$EVIL_ID', 'attacker', 'forged.yaml', now(), max(orderexecuted) + 1, 'EXECUTED'
                 FROM databasechangelog" >/dev/null
        psql_mb "UPDATE databasechangeloglock SET locked = true, lockedby = E'$EVIL_BY', lockgranted = now() WHERE id = 1" >/dev/null
        size=$(psql_mb "SELECT pg_database_size(current_database())")
        attack postgres "$size"

        log "postgres: an ID longer than the daemon's 4096-byte lines, the forged line after the cut"
        psql_mb "ALTER TABLE databasechangelog ALTER COLUMN id TYPE text" >/dev/null
        psql_mb "INSERT INTO databasechangelog (id, author, filename, dateexecuted, orderexecuted, exectype)
                 SELECT repeat('A', 5000) || E'\ndatabase_size 0\n', 'attacker', 'forged.yaml', now(),
                        max(orderexecuted) + 1, 'EXECUTED' FROM databasechangelog" >/dev/null
        size=$(psql_mb "SELECT pg_database_size(current_database())")
        backups_just_too_small "$size"
        run_mbctl 5 upgrade now --force --dry-run --jar "$(make_release v0.56.2)"
        assert_contains "$OUT" "not enough free disk under $SB/backups for a backup of"
        mount -o remount,size=1g "$SB/backups"
        run_mbctl 0 status
        local schema
        schema=$(grep 'Schema:' <<<"$OUT")
        assert_contains "$schema" "AAAAAAAA" "the long schema in mbctl status"
        assert_not_contains "$schema" "database_size" "the long schema, cut before its forged line"
        systemctl --user stop metabase.service

        mariadb_start
        install_metabase_my "$(make_release v0.56.1)" vars
        mysql_mb "INSERT INTO DATABASECHANGELOG (ID, AUTHOR, FILENAME, DATEEXECUTED, ORDEREXECUTED, EXECTYPE)
                  SELECT '$EVIL_ID', 'attacker', 'forged.yaml', NOW(), MAX(ORDEREXECUTED) + 1, 'EXECUTED'
                  FROM DATABASECHANGELOG" >/dev/null
        mysql_mb "UPDATE DATABASECHANGELOGLOCK SET LOCKED = 1, LOCKEDBY = '$EVIL_BY', LOCKGRANTED = NOW() WHERE ID = 1" >/dev/null
        [[ $(mysql_mb "SELECT LOCKEDBY FROM DATABASECHANGELOGLOCK WHERE ID = 1" | wc -l) -ge 1 ]] || die "no forged LOCKEDBY"
        size=$(mysql_mb "SELECT CAST(COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) AS UNSIGNED)
                         FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()")
        attack mariadb "$size"
}
