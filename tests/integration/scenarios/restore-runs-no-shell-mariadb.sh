# Issue 15, item 2: a MariaDB dump is SQL text for the client, which runs "\! cmd" and "system
# cmd" lines through a shell, as root, and "\e"/"edit" through $EDITOR (vi: the rest of the dump
# its keystrokes, ":!cmd"; not stopped by --sandbox). The attacker can write a backup and its
# checksum (the backup directory's owner, or a hostile database server): a backup gets "\! touch
# CANARY", "system touch CANARY", "\e" or "edit" lines, backup.json the new SHA-256. mbctl restore refuses it before
# anything is dropped (the helper finds the client commands), the canary never appears, Metabase
# is back with the database as it was. The client's --sandbox, the second wall, refuses the same
# dump fed to it directly as the helper runs it. A clean backup still restores.
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

# tamper FILE LINE...: the lines inserted after FILE's third line, backup.json's SHA-256 rewritten
tamper() {
        local file=$1 old new
        shift
        old=$(tr -d ' \n' <"$(dirname "$file")/backup.json" | sed -n 's/.*"sha256":"\([0-9a-f]*\)".*/\1/p')
        [[ -n $old ]] || die "no SHA-256 in backup.json"
        { head -n 3 "$file.orig"; printf '%s\n' "$@"; tail -n +4 "$file.orig"; } >"$file"
        new=$(sha256sum "$file" | cut -d' ' -f1)
        sed -i "s/$old/$new/" "$(dirname "$file")/backup.json"
        grep -q "$new" "$(dirname "$file")/backup.json" || die "backup.json's SHA-256 was not rewritten"
}

scenario() {
        local id dump before=$SB/before.sql canary=$SB/CANARY rc
        MBUP_KEEP_BACKUPS=20 write_config # every refused restore leaves a backup: keep the attacked one
        mariadb_start
        install_metabase_my "$(make_release v0.56.1)" vars
        mysql_mb "INSERT INTO report_card (id, name) VALUES (100, 'in the backup')" >/dev/null
        start_daemon

        run_mbctl 0 backup
        id=$(ls "$SB/backups" | tail -n 1)
        dump=$SB/backups/$id/metabase.sql
        [[ -f $dump ]] || die "no dump $dump"
        log "the dump's first line: $(head -n 1 "$dump")"
        cp "$dump" "$dump.orig"
        mysql_mb "INSERT INTO report_card (id, name) VALUES (101, 'after the backup')" >/dev/null
        my_snapshot >"$before"

        local attack
        # \e and edit run $EDITOR (vi: the rest of the dump its keystrokes) even in --sandbox mode
        for attack in "\\! touch $canary" "system touch $canary" "SELECT 1; \\! touch $canary" \
                "\\e"$'\n'":!touch $canary"$'\n'":q!" "edit"$'\n'":!touch $canary"$'\n'":q!"; do
                log "attack: a backup with the line(s): $attack"
                tamper "$dump" "$attack"
                rc=0
                OUT=$("$MBCTL" restore "$id" --yes 2>&1) || rc=$?
                printf '%s\n' "$OUT" | sed 's/^/#   mbctl: /' >&2
                [[ $rc -ne 0 ]] || die "the tampered restore succeeded"
                assert_contains "$OUT" "is a client command"
                [[ ! -e $canary ]] || die "the dump's shell command ran as root ($attack)"
                assert_eq "$(unit_state)" "active" "Metabase after the refused restore"
                assert_eq "$(running_version)" "v0.56.1"
                assert_my_snapshot "$before" "after the refused restore"
                [[ ! -e "$SB/state/operation.json" ]] || die "the journal was left behind"
        done

        # The second wall: the client as the helper runs it, on the dump itself.
        # without the dump's own sandbox marker (the attacker can drop that line): --sandbox alone
        log "the client in sandbox mode, fed the tampered dump directly, its sandbox marker removed"
        tamper "$dump" "\\! touch $canary" "system touch $canary"
        rc=0
        OUT=$(mariadb --defaults-extra-file="$MY_CNF" --default-character-set=utf8mb4 --batch --sandbox \
                --skip-local-infile --database=metabase < <(grep -v 'enable the sandbox mode' "$dump") 2>&1) || rc=$?
        log "client: exit $rc: $OUT"
        [[ $rc -ne 0 ]] || die "the sandboxed client ran the tampered dump"
        assert_contains "${OUT,,}" "sandbox"
        [[ ! -e $canary ]] || die "the sandboxed client ran the dump's shell command"
        assert_my_snapshot "$before" "after the sandboxed client stopped at the client command"

        # a clean backup still restores, through the sandboxed client
        tamper "$dump"
        run_mbctl 0 restore "$id" --yes
        assert_contains "$OUT" "database: done"
        assert_eq "$(mysql_mb "SELECT COUNT(*) FROM report_card WHERE id = 101")" "0" "the row written after the backup"
        assert_eq "$(mysql_mb "SELECT name FROM report_card WHERE id = 100")" "in the backup"
        assert_eq "$(running_version)" "v0.56.1"
        [[ ! -e $canary ]] || die "a canary appeared"
}
