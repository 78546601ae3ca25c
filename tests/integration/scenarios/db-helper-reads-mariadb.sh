# mbupgraded-db with MBUP_DB_KIND=mysql against a real MariaDB that the stand-in Metabase migrated:
# the server version, the size, the newest change set (Liquibase's upper-case tables, or lower-case
# ones), a held migration lock; the password only ever in a 0600 option file, never on a command
# line, quoted the way the daemon writes it; a wrong password and missing clients are clear errors.
# Then what a rollback needs: backup, the newer version migrates, restore, the old version starts
# on exactly the old schema and rows; a damaged dump is refused and changes nothing.

# my_defaults FILE USER PASSWORD: the option file as the daemon writes it (appdb_mysql_defaults:
# 0600, a comment, [client], values quoted, backslash, quotes and a tab escaped).
my_defaults() {
        local pass=$3
        pass=${pass//\\/\\\\}
        pass=${pass//\"/\\\"}
        pass=${pass//\'/\\\'}
        pass=${pass//$'\t'/\\t}
        rm -f "$1"
        (umask 077 && printf '# written by the test\n[client]\nhost="127.0.0.1"\nport=%s\nuser="%s"\npassword="%s"\n' \
                "$MY_PORT" "$2" "$pass" >"$1")
}

# The database as a fingerprint: every table and view, its columns and their types, its rows'
# checksum; routines and triggers.
my_fingerprint() {
        mysql_mb "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'metabase'
                ORDER BY BINARY TABLE_NAME"
        mysql_mb "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS
                WHERE TABLE_SCHEMA = 'metabase' ORDER BY BINARY TABLE_NAME, ORDINAL_POSITION"
        mysql_mb "SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'metabase'"
        mysql_mb "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'metabase'"
        mysql_mb "CHECKSUM TABLE DATABASECHANGELOG, DATABASECHANGELOGLOCK, report_card, card_blob EXTENDED"
}

scenario() {
        local helper=$MBUP_BUILD/dbhelper/mbupgraded-db defaults=$SB/mbup-my.cnf rc t0 t1
        t0=$(date +%s%N)
        mariadb_start
        t1=$(date +%s%N)
        log "mariadb_start took $(((t1 - t0) / 1000000)) ms (port $MY_PORT)"
        install_metabase_my "$(make_release v0.56.1)" vars
        assert_contains "$(cat "$SB/logs/metabase.log")" "Verifying mysql Database Connection"
        assert_not_contains "$(cat "$SB/logs/metabase.log")" "$MY_PASS" "the password in the log"

        # what real Liquibase and Metabase leave on MySQL: upper-case changelog tables, lower-case data
        assert_eq "$(mysql_mb "SELECT GROUP_CONCAT(TABLE_NAME ORDER BY TABLE_NAME) FROM information_schema.TABLES
                WHERE TABLE_SCHEMA = 'metabase' AND BINARY TABLE_NAME LIKE 'DATABASECHANGELOG%'")" \
                "DATABASECHANGELOG,DATABASECHANGELOGLOCK"
        assert_eq "$(mysql_mb 'SELECT COUNT(*) FROM DATABASECHANGELOG')" "121"
        assert_eq "$(mysql_mb 'SELECT COUNT(*) FROM report_card')" "3"
        assert_eq "$(http /api/standin/cards)" '{"count":3}'
        assert_eq "$(mysql_mb "SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'metabase'
                AND TABLE_NAME = 'DATABASECHANGELOGLOCK' AND COLUMN_NAME = 'LOCKED'")" "bit" "Liquibase's LOCKED"

        export MBUP_DB_KIND=mysql MBUP_MY_DEFAULTS=$defaults MBUP_MY_DATABASE=metabase
        my_defaults "$defaults" metabase "$MY_PASS"
        OUT=$("$helper" preflight) || die "preflight failed: $OUT"
        printf '#   %s\n' "$OUT" >&2
        assert_eq "$(grep '^server_version ' <<<"$OUT" | wc -w)" "2" "one word of server version"
        assert_contains "$OUT" "server_version 10."
        assert_contains "$OUT" "-MariaDB"
        assert_contains "$OUT" "free_space unknown"
        assert_contains "$OUT" "changelog_count 121"
        assert_contains "$OUT" "changelog_latest v56.001"
        assert_eq "$(grep -c '^changelog_id ' <<<"$OUT")" "121" "changelog_id lines"
        assert_eq "$(grep '^changelog_id ' <<<"$OUT" | sed -n '1p;$p' | tr '\n' ' ')" "changelog_id v50.001 changelog_id v56.001 " "first and last"
        assert_contains "$OUT" "lock free"
        assert_eq "$(tail -n 1 <<<"$OUT")" "done"
        [[ $(sed -n 's/^database_size //p' <<<"$OUT") -gt 1000000 ]] || die "no database size"

        mysql_mb "UPDATE DATABASECHANGELOGLOCK SET LOCKED = 1, LOCKEDBY = 'node-1 (10.0.0.1)', LOCKGRANTED = NOW() WHERE ID = 1"
        OUT=$("$helper" preflight) || die "preflight with the lock held failed: $OUT"
        assert_contains "$OUT" "lock held node-1\\x20(10.0.0.1) 20"
        mysql_mb "UPDATE DATABASECHANGELOGLOCK SET LOCKED = 0, LOCKEDBY = NULL, LOCKGRANTED = NULL WHERE ID = 1"

        # a database whose changelog tables came out lower case (moved from elsewhere) reads the same
        mysql_mb "RENAME TABLE DATABASECHANGELOG TO databasechangelog, DATABASECHANGELOGLOCK TO databasechangeloglock"
        mysql_mb "UPDATE databasechangeloglock SET LOCKED = 1, LOCKEDBY = 'node-2', LOCKGRANTED = NOW() WHERE ID = 1"
        OUT=$("$helper" preflight) || die "preflight on lower-case tables failed: $OUT"
        assert_contains "$OUT" "changelog_count 121"
        assert_contains "$OUT" "changelog_latest v56.001"
        assert_contains "$OUT" "lock held node-2 "
        mysql_mb "UPDATE databasechangeloglock SET LOCKED = 0, LOCKEDBY = NULL, LOCKGRANTED = NULL WHERE ID = 1"
        mysql_mb "RENAME TABLE databasechangelog TO DATABASECHANGELOG, databasechangeloglock TO DATABASECHANGELOGLOCK"

        # a password with quotes, a backslash, a '#', a tab and spaces: libmariadb and the clients
        # read the quoted option file alike
        local odd="p\"a's\\s #w;rd x"$'\t'"end"
        mariadb --no-defaults -S "$MY_SOCKET" -u root -e "
                CREATE USER 'metabase2'@'127.0.0.1' IDENTIFIED BY 'p\"a''s\\\\s #w;rd x\tend';
                GRANT ALL PRIVILEGES ON metabase.* TO 'metabase2'@'127.0.0.1'" || die "cannot create metabase2"
        my_defaults "$SB/odd.cnf" metabase2 "$odd"
        OUT=$(MBUP_MY_DEFAULTS=$SB/odd.cnf "$helper" preflight) || die "preflight with an odd password failed: $OUT"
        assert_contains "$OUT" "changelog_count 121"
        mkdir -p "$SB/backups"
        OUT=$(MBUP_MY_DEFAULTS=$SB/odd.cnf "$helper" backup "$SB/backups/odd.sql") ||
                die "backup with an odd password failed: $OUT"
        rm -f "$SB/backups/odd.sql"

        # a wrong password: the server's message, never a password
        my_defaults "$defaults" metabase "wr0ngPassw0rd"
        rc=0
        OUT=$("$helper" preflight 2>&1) || rc=$?
        [[ $rc -eq 1 ]] || die "a wrong password exited $rc"
        assert_contains "$OUT" "error connect"
        assert_contains "$OUT" "Access denied for user 'metabase'@'127.0.0.1'"
        assert_not_contains "$OUT" "$MY_PASS"
        assert_not_contains "$OUT" "wr0ngPassw0rd"
        rc=0
        OUT=$("$helper" backup "$SB/backups/never.sql" 2>/dev/null) || rc=$?
        [[ $rc -eq 1 ]] || die "a backup with a wrong password exited $rc"
        assert_contains "$OUT" "error connect"
        [[ ! -e $SB/backups/never.sql && ! -e $SB/backups/never.sql.tmp ]] || die "a failed backup left a file"
        # no server there: the same kind of error, soon
        sed -i "s/^port=.*/port=$(free_port)/" "$defaults"
        rc=0
        OUT=$("$helper" preflight 2>&1) || rc=$?
        [[ $rc -eq 1 ]] || die "no server exited $rc"
        assert_contains "$OUT" "error connect cannot connect to the application database: Can't connect"
        my_defaults "$defaults" metabase "$MY_PASS"

        # usage: no option file or database, an unknown kind
        for env in "MBUP_MY_DEFAULTS=" "MBUP_MY_DATABASE=" "MBUP_MY_DATABASE=--all-databases" "MBUP_DB_KIND=oracle"; do
                rc=0
                OUT=$(env "$env" "$helper" preflight 2>/dev/null) || rc=$?
                [[ $rc -eq 2 ]] || die "$env exited $rc, expected 2"
                assert_contains "$OUT" "error usage"
        done

        # no clients installed (none in PATH): a clear error before anything is done
        for verb in preflight "backup $SB/backups/never.sql" "restore $SB/backups/never.sql"; do
                rc=0
                # shellcheck disable=SC2086
                OUT=$(PATH=/nonexistent "$helper" $verb 2>&1) || rc=$?
                [[ $rc -eq 1 ]] || die "$verb without clients exited $rc"
                assert_eq "$OUT" "error tool no mysqldump/mysql client: install mariadb-client (apt install mariadb-client)"
        done

        scenario_backup_restore "$helper"
}

# backup and restore: what a rollback of a MySQL application database needs. A dump taken with
# Metabase stopped, the new version's migrations, then the restore: the old version starts again
# on exactly the schema and rows it had. The clients run through wrappers that record their
# arguments: the password is never among them.
scenario_backup_restore() {
        local helper=$1 dump=$SB/backups/metabase.sql rc=0 sha before after w
        mkdir -p "$SB/wrap"
        for w in mariadb mariadb-dump; do
                printf '#!/bin/bash\nprintf "%%s\\n" "$(basename "$0") $*" >>%q\nexec %q "$@"\n' \
                        "$SB/wrap/argv.log" "$(command -v "$w")" >"$SB/wrap/$w"
                chmod 755 "$SB/wrap/$w"
        done

        # rows of every kind a dump must carry: utf8mb4 text, binary data, a view, a trigger, a routine
        mysql_mb "INSERT INTO report_card (ID, NAME) VALUES (100, 'before the upgrade 📊 ''quoted''')"
        mysql_mb "CREATE TABLE card_blob (ID INT PRIMARY KEY, B BLOB, CARD INT,
                        FOREIGN KEY (CARD) REFERENCES report_card (ID)) ENGINE = InnoDB;
                INSERT INTO card_blob VALUES (1, UNHEX('00FF0A0D2722275C1A'), 100);
                CREATE VIEW card_names AS SELECT ID, NAME FROM report_card;
                CREATE TRIGGER card_blob_check BEFORE INSERT ON card_blob FOR EACH ROW SET NEW.CARD = NEW.CARD;
                CREATE PROCEDURE count_cards() SELECT COUNT(*) FROM report_card"
        systemctl --user stop metabase.service
        before=$(my_fingerprint)

        OUT=$(PATH=$SB/wrap:$PATH "$helper" backup "$dump") || die "backup failed: $OUT"
        printf '#   backup: %s\n' "$OUT" >&2
        sha=$(sha256sum "$dump" | cut -d' ' -f1)
        assert_eq "$OUT" "done $(stat -c %s "$dump") $sha"
        [[ $(stat -c %a "$dump") == 600 ]] || die "the dump is not 0600"
        [[ ! -e "$dump.tmp" ]] || die "a temporary dump was left behind"
        assert_contains "$(tail -n 1 "$dump")" "-- Dump completed"
        ! grep -q 'CREATE DATABASE\|^USE ' "$dump" || die "the dump names its database"
        grep -q 'CREATE TABLE `DATABASECHANGELOG`' "$dump" || die "no DATABASECHANGELOG in the dump"
        grep -q 'count_cards' "$dump" || die "no routine in the dump"
        grep -q '0x00FF0A0D2722275C1A' "$dump" || die "the blob is not in hex"
        assert_contains "$(cat "$SB/wrap/argv.log")" \
                "mariadb-dump --defaults-extra-file=$MBUP_MY_DEFAULTS --single-transaction --routines --triggers --hex-blob --no-tablespaces"
        assert_contains "$(cat "$SB/wrap/argv.log")" " metabase"

        # the next release migrates v56.002, and someone deletes a row
        cp "$(make_release v0.56.2)" "$SB/opt/metabase/metabase.jar"
        systemctl --user start metabase.service
        wait_healthy 60 || die "v0.56.2 did not start"
        assert_contains "$(changelog)" '"v56.002"'
        assert_eq "$(mysql_mb "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'metabase'
                AND TABLE_NAME = 'mig_56_002'")" "1"
        mysql_mb "DELETE FROM card_blob; DELETE FROM report_card WHERE ID = 100"
        systemctl --user stop metabase.service

        # a damaged (cut short) dump, or something else, is refused and changes nothing
        head -c 20000 "$dump" >"$SB/backups/broken.sql"
        after=$(my_fingerprint)
        for f in "$SB/backups/broken.sql" "$SB/units/metabase.service" "$SB/backups/missing.sql"; do
                rc=0
                OUT=$("$helper" restore "$f") || rc=$?
                [[ $rc -eq 1 ]] || die "restoring $f exited $rc"
                assert_contains "$OUT" "error restore"
                assert_contains "$OUT" "the database is as it was before"
                assert_eq "$(my_fingerprint)" "$after" "the database after refusing $f"
        done

        # a dump complete at both ends with a bad statement inside: the client stops there, and
        # the message does not pretend nothing changed
        sed '0,/^INSERT INTO/s//NOT SQL AT ALL;\nINSERT INTO/' "$dump" >"$SB/backups/bad-inside.sql"
        rc=0
        OUT=$("$helper" restore "$SB/backups/bad-inside.sql") || rc=$?
        [[ $rc -eq 1 ]] || die "restoring a dump with a bad statement exited $rc"
        assert_contains "$OUT" "error restore"
        assert_contains "$OUT" "partly restored"

        : >"$SB/wrap/argv.log"
        OUT=$(PATH=$SB/wrap:$PATH "$helper" restore "$dump") || die "restore failed: $OUT"
        assert_eq "$OUT" "done"
        assert_contains "$(cat "$SB/wrap/argv.log")" "mariadb --defaults-extra-file=$MBUP_MY_DEFAULTS "
        assert_not_contains "$(cat "$SB/wrap/argv.log")" "$MY_PASS" "the password on a command line"
        assert_eq "$(my_fingerprint)" "$before" "the restored database"

        cp "$SB/jars/v0.56.1.jar" "$SB/opt/metabase/metabase.jar"
        systemctl --user start metabase.service
        wait_healthy 60 || die "v0.56.1 did not start on the restored database"
        assert_not_contains "$(changelog)" '"v56.002"' "the restored schema"
        assert_eq "$(mysql_mb "SELECT NAME FROM report_card WHERE ID = 100")" "before the upgrade 📊 'quoted'" \
                "the restored rows"
        assert_eq "$(mysql_mb "SELECT HEX(B) FROM card_blob WHERE ID = 1")" "00FF0A0D2722275C1A" "the restored blob"
        assert_eq "$(mysql_mb "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'metabase'
                AND TABLE_NAME = 'mig_56_002'")" "0" "the newer version's table"
        assert_eq "$(mysql_mb "CALL count_cards()")" "4" "the restored routine"
        systemctl --user stop metabase.service
        assert_eq "$(my_fingerprint)" "$before" "the database after the old version ran on it"

        # a release whose migration fails half-way leaves one change set applied (the lock is
        # released, as Metabase's Liquibase releases it in a finally), as the helper sees; the
        # restore undoes it
        cp "$(make_release v0.56.3 v0.56.3-half --fail half-migration)" "$SB/opt/metabase/metabase.jar"
        systemctl --user start metabase.service
        for _ in $(seq 1 100); do
                [[ $(unit_state) == failed || $(unit_state) == inactive ]] && break
                sleep 0.1
        done
        assert_eq "$(unit_state)" "failed" "the unit of the half-migrating release"
        assert_contains "$(tail -n 5 "$SB/logs/metabase.log")" "Unknown column 'y' in 'field list'"
        systemctl --user reset-failed metabase.service
        OUT=$("$helper" preflight) || die "preflight after a half-applied migration failed: $OUT"
        assert_contains "$OUT" "changelog_count 122"
        assert_contains "$OUT" "changelog_latest v56.002"
        assert_contains "$OUT" "lock free"
        OUT=$("$helper" restore "$dump") || die "restore after a half-applied migration failed: $OUT"
        OUT=$("$helper" preflight) || die "preflight after the restore failed: $OUT"
        assert_contains "$OUT" "changelog_count 121"
        assert_contains "$OUT" "changelog_latest v56.001"
        assert_contains "$OUT" "lock free"
        assert_eq "$(my_fingerprint)" "$before" "the database restored after a half-applied migration"

        # a dump that can't be taken (a view whose table is gone) leaves no file behind
        mysql_mb "CREATE TABLE gone (X INT); CREATE VIEW gone_view AS SELECT X FROM gone; DROP TABLE gone"
        rc=0
        OUT=$("$helper" backup "$SB/backups/failed.sql" 2>/dev/null) || rc=$?
        [[ $rc -eq 1 ]] || die "a failing dump exited $rc"
        assert_contains "$OUT" "error dump"
        [[ ! -e $SB/backups/failed.sql && ! -e $SB/backups/failed.sql.tmp ]] || die "a failed dump left a file"
        mysql_mb "DROP VIEW gone_view"
}
