# Issue 15, item 2: a PostgreSQL restore feeds pg_restore's SQL to psql, which runs "\! cmd"
# through a shell, as root. The attacker can write a backup and its checksum (the backup
# directory's owner, or a hostile server choosing what pg_dump writes):
#   1. a real custom-format backup whose archive carries "\! touch CANARY" in an entry's SQL (a
#      COMMENT's text patched in place, its length kept): pg_restore prints the line as is; psql
#      gets it only after "\restrict KEY" with the helper's random key and refuses it, the
#      transaction is never committed;
#   2. a plain-text dump with "\! touch CANARY" put where the backup is expected: pg_restore
#      refuses a text dump, psql never starts on it.
# Each time backup.json gets the new SHA-256; mbctl restore fails with a clear message, the
# canary never appears, Metabase is back on v0.56.1 with the database as it was. A clean backup
# still restores.
# tamper FILE: backup.json's SHA-256 rewritten for FILE as it is now (the original in FILE.sha)
tamper() {
        local file=$1 old new
        old=$(cat "$file.sha")
        new=$(sha256sum "$file" | cut -d' ' -f1)
        sed -i "s/$old/$new/" "$(dirname "$file")/backup.json"
        grep -q "$new" "$(dirname "$file")/backup.json" || die "backup.json's SHA-256 was not rewritten"
        echo "$new" >"$file.sha"
}

restore_refused() { # WHAT TEXT
        local rc=0
        OUT=$("$MBCTL" restore "$id" --yes 2>&1) || rc=$?
        printf '%s\n' "$OUT" | sed 's/^/#   mbctl: /' >&2
        [[ $rc -ne 0 ]] || die "$1: the tampered restore succeeded"
        assert_contains "$OUT" "$2" "$1: the reason"
        [[ ! -e $canary ]] || die "$1: the dump's shell command ran as root"
        assert_eq "$(unit_state)" "active" "$1: Metabase after the refused restore"
        assert_eq "$(running_version)" "v0.56.1" "$1: the version serving"
        assert_pg_snapshot "$before" "$1: after the refused restore"
        [[ ! -e "$SB/state/operation.json" ]] || die "$1: the journal was left behind"
}

scenario() {
        local dump before=$SB/before.sql canary=$SB/CANARY filler
        id=
        postgres_start
        install_metabase_pg "$(make_release v0.56.1)" uri
        psql_mb "INSERT INTO report_card (id, name) VALUES (100, 'in the backup')" >/dev/null
        filler=$(printf 'A%.0s' $(seq 1 200))
        psql_mb "COMMENT ON TABLE report_card IS '$filler'" >/dev/null
        start_daemon

        run_mbctl 0 backup
        id=$(ls "$SB/backups" | tail -n 1)
        dump=$SB/backups/$id/metabase.dump
        [[ -f $dump ]] || die "no dump $dump"
        cp "$dump" "$dump.orig"
        sha256sum "$dump" | cut -d' ' -f1 >"$dump.sha"
        psql_mb "INSERT INTO report_card (id, name) VALUES (101, 'after the backup')" >/dev/null
        pg_snapshot >"$before"

        log "attack 1: a custom-format archive whose SQL carries \\! touch CANARY"
        python3 - "$dump" "$canary" "$filler" <<'PY'
import sys
path, canary, filler = sys.argv[1], sys.argv[2].encode(), sys.argv[3].encode()
data = open(path, "rb").read()
old = b"'" + filler + b"'"
assert data.count(old) == 1, "the COMMENT's text is not in the archive once, uncompressed"
new = b"'x';\n\\! touch " + canary + b"\n-- "
assert len(new) <= len(old)
new += b"z" * (len(old) - len(new))
open(path, "wb").write(data.replace(old, new))
PY
        # the attack is real: pg_restore hands the line to psql as it is
        "$PG_BIN/pg_restore" --no-owner --file=- "$dump" | grep -x "\\\\! touch $canary" >/dev/null ||
                die "the patched archive does not carry the \\! line"
        tamper "$dump"
        restore_refused "a \\! line in the archive" "psql exit"
        # psql said why: restricted mode, not some other error
        grep -q 'backslash commands are restricted' "$SB/logs/mbupgraded.log" ||
                die "psql did not refuse the \\! line as a restricted meta-command"

        log "attack 2: a plain-text dump with \\! touch CANARY in the backup's place"
        { echo "\\! touch $canary"; PGPASSFILE=$PG_PASSFILE "$PG_BIN/pg_dump" --no-owner -h 127.0.0.1 -p "$PG_PORT" \
                -U metabase -d metabase; } >"$dump"
        tamper "$dump"
        restore_refused "a plain-text dump" "not a PostgreSQL custom-format archive"

        log "a clean backup still restores"
        cp "$dump.orig" "$dump"
        tamper "$dump"
        run_mbctl 0 restore "$id" --yes
        assert_contains "$OUT" "database: done"
        assert_eq "$(psql_mb "SELECT COUNT(*) FROM report_card WHERE id = 101")" "0" "the row written after the backup"
        assert_eq "$(psql_mb "SELECT name FROM report_card WHERE id = 100")" "in the backup"
        assert_eq "$(running_version)" "v0.56.1"
        [[ ! -e $canary ]] || die "a canary appeared"
}
