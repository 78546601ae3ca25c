# Hostile arguments straight over D-Bus, as root, past mbctl's own checks: JAR paths that are no
# JAR file (a symlink, a FIFO, devices, a directory, a socket, a 2 GiB sparse file, /proc, the
# installed JAR itself), relative, with control characters, 10 MB long; versions that try to
# become paths or URLs; backups outside backup.dir; hold reasons too long or with control
# characters; unknown flags and wrong signatures. Each is refused with a clear error (the error
# names mbctl maps to its exit codes: InvalidArgs 2, Refused 5), Metabase and the daemon keep
# their PIDs, and nothing changes but the history's "refused" entries. Then a history grown past
# what one reply carries still reads, and the daemon takes a good upgrade.

BUS_CALL=(/usr/bin/python3 "$MBUP_SRC/tests/integration/bus-call.py")
TRIED=0
REFUSED=0

# refused ERROR_NAME TEXT METHOD SIGNATURE ARGS...: the call fails with that error and message.
refused() {
        local name=$1 text=$2 rc=0
        shift 2
        TRIED=$((TRIED + 1))
        OUT=$("${BUS_CALL[@]}" "$@" 2>&1) || rc=$?
        printf '#   %s: %s\n' "$1" "${OUT:0:200}" >&2
        [[ $rc -ne 0 ]] || die "$1 $2 was accepted: $OUT"
        assert_contains "$OUT" "ERROR $name: " "the error of $1"
        assert_contains "$OUT" "$text" "the message of $1"
        REFUSED=$((REFUSED + 1))
}

# jar_refused ERROR_NAME TEXT PATH: an Upgrade of the JAR at PATH is refused, for real and as a dry run.
jar_refused() {
        refused "$1" "$2" Upgrade sst "$3" "" 0
        refused "$1" "$2" Upgrade sst "$3" "" 2
}

daemon_pid() { systemctl --user show -p MainPID --value mbupgraded.service; }

scenario() {
        local pid dpid jar sha i v
        install_metabase "$(make_release v0.56.1)"
        start_daemon
        # a backup to name (H2: Metabase is stopped for the copy, so before taking its PID)
        run_mbctl 0 backup
        pid=$(main_pid)
        dpid=$(daemon_pid)
        sha=$(sha256sum "$SB/opt/metabase/metabase.jar" | cut -d' ' -f1)
        jar=$(make_release v0.56.2)
        local R=org.mbupgraded.Error.Refused A=org.freedesktop.DBus.Error.InvalidArgs

        log "JAR paths that are no JAR file"
        ln -s "$jar" "$SB/jars/link.jar"
        jar_refused $R "symbolic link" "$SB/jars/link.jar"
        ln -s /nonexistent "$SB/jars/dangling.jar"
        jar_refused $R "symbolic link" "$SB/jars/dangling.jar"
        mkfifo "$SB/jars/fifo.jar"
        jar_refused $R "this is a FIFO, not a JAR file" "$SB/jars/fifo.jar"
        # devices are never opened (a watchdog would arm, a tape rewind)
        for f in /dev/zero /dev/null /dev/urandom /dev/full /dev/watchdog /dev/tty; do
                [[ -e $f ]] || continue
                jar_refused $R "this is a character device, not a JAR file" "$f"
        done
        jar_refused $R "this is a socket, not a JAR file" "$SB/rt/bus"
        mkdir "$SB/jars/dir.jar"
        jar_refused $R "this is a directory, not a JAR file" "$SB/jars/dir.jar"
        truncate -s 2G "$SB/jars/sparse.jar"
        jar_refused $R "not a ZIP" "$SB/jars/sparse.jar"
        head -c 30000 "$jar" >"$SB/jars/truncated.jar"
        jar_refused $R "not a ZIP" "$SB/jars/truncated.jar"
        : >"$SB/jars/empty.jar"
        jar_refused $R "empty" "$SB/jars/empty.jar"
        jar_refused $R "the file is empty" /proc/self/environ
        jar_refused $R "not a ZIP" /etc/shadow
        jar_refused $R "cannot read" "$SB/jars/missing.jar"
        jar_refused $R "is the installed JAR itself" "$SB/opt/metabase/metabase.jar"
        cp "$SB/opt/metabase/metabase.jar" "$SB/jars/same.jar"
        jar_refused $R "already installed" "$SB/jars/same.jar"
        # ...a path a component of which is a file, and one just under PATH_MAX of real directories' names
        jar_refused $R "Not a directory" "$jar/metabase.jar"
        printf -v v '/%.0s..' $(seq 1 1360)
        # (through ".." components: not canonical, so refused before anything is opened, as any
        # path a journal could not read back after a crash; issue 15)
        jar_refused $A "must be canonical" "$v/tmp/x.jar"
        jar_refused $A "must be canonical" "$SB/jars/../jars/$(basename "$jar")"
        jar_refused $A "must be canonical" "$SB/jars/./x.jar"
        jar_refused $A "must be canonical" "$SB//jars/x.jar"

        # Not refused, on purpose: a JAR only root may read (mode 000, another owner). The daemon runs
        # as root and reads it; the staged copy takes the installed JAR's owner and mode, so Metabase
        # can read what is installed. (mbctl refuses a JAR its caller can't read before asking.)
        cp "$jar" "$SB/jars/unreadable.jar"
        chown nobody:nogroup "$SB/jars/unreadable.jar"
        chmod 000 "$SB/jars/unreadable.jar"
        OUT=$("${BUS_CALL[@]}" Upgrade sst "$SB/jars/unreadable.jar" "" 2) || die "a JAR only root may read: $OUT"
        assert_contains "$OUT" "v0.56.1 -> v0.56.2"

        log "JAR paths no caller may give"
        jar_refused $A "must be absolute" "metabase.jar"
        jar_refused $A "must be absolute" "../../../../etc/passwd"
        jar_refused $A "must be absolute" "~root/metabase.jar"
        for v in $'/tmp/a\nb.jar' $'/tmp/\e[2J\e[31mred.jar' $'/tmp/del\x7f.jar' $'/tmp/csi\xc2\x9b31m.jar' $'\e]0;title\a'; do
                jar_refused $A "control characters" "$v"
        done
        head -c 10000000 /dev/zero | tr '\0' a | sed 's|^|/|' >"$SB/long-path"
        jar_refused $A "too long" "@$SB/long-path"
        printf '/%04095d' 0 >"$SB/path-max"
        jar_refused $A "too long" "@$SB/path-max"
        refused $A "a JAR or a version, not both" Upgrade sst "$jar" v0.56.2 0

        log "versions that try to be paths, URLs or numbers out of range"
        for v in ../../etc/passwd v0.56.2/../../../etc /etc/passwd v0.56.2%2f..%2f..%2f '..%2F..%2Fetc' \
                'v0.56.2 ' ' v0.56.2' 'v0.56 .2' 'v0.56.2?x=1' 'v0.56.2#frag' 'https://evil.example/metabase.jar' \
                'v0.56.2;rm -rf /' '$(reboot)' 'v0.56.2`id`' $'v0.56.2\n' $'v0.56.2\e[2J' $'v0.56.2\xc2\x9b' \
                v99999999999999999999.0.0 v0.99999999999.1 v0.56.2.4.5 v-1.56.2 v0.56.2- 'v0.56.*' '.' '..'; do
                refused $A "Not a Metabase version" Upgrade sst "" "$v" 0
                refused $A "Not a Metabase version" Approve s "$v"
        done
        refused $A "Not a Metabase version" Approve s ""
        [[ ! -e $SB/state/approved.json ]] || die "a refused approval wrote approved.json"
        head -c 1000000 /dev/zero | tr '\0' 9 | sed 's/^/v0.56./' >"$SB/long-version"
        refused $A "Not a Metabase version" Upgrade sst "" "@$SB/long-version" 0
        # ...and the message quotes no control character back
        assert_not_contains "$("${BUS_CALL[@]}" Upgrade sst "" $'v\e[2J' 0)" $'\e'

        log "flags nobody defined, arguments of the wrong type"
        refused $A "Unknown flags" Upgrade sst "$jar" "" 4
        refused $A "Unknown flags" Upgrade sst "$jar" "" 0xffffffffffffffff
        refused $A "Unknown flags" Rollback t 4
        refused $A "Unknown flags" Window t 1
        refused $A "Unknown flags" Backup t 1
        refused $A "Unknown flags" Restore st x 8
        refused $A "" Upgrade s "$jar"
        refused $A "" Hold i 5
        refused $A "" Cancel s now
        refused org.freedesktop.DBus.Error.UnknownMethod "" Upgrade2 s "$jar"

        log "backups that are not in backup.dir"
        local id
        id=$("$MBCTL" backups --json | sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' | head -n 1)
        [[ -n $id ]] || die "no backup to name"
        for v in ../../etc/passwd /etc/passwd "$SB/backups/../state/hold.json" "$SB/backups" "$SB/backups/" \
                "$SB/backups/$id/../../state" "$SB/backups/../backups/../jars/link.jar" . .. ... "$id/../.." \
                "$id/../../../../etc/passwd" 'nonexistent' '%2e%2e%2f%2e%2e%2fetc' ' ' "/proc/self/root/etc/passwd"; do
                refused $R "backup" Restore st "$v" 1
        done
        refused $R "No backup given" Restore st "" 1
        for v in $'id\n' $'\e[2J' $'x\x7f' $'x\xc2\x85'; do
                refused $A "control characters" Restore st "$v" 1
        done
        refused $R "too long" Restore st "@$SB/long-path" 1
        # a backup directory whose backup.json points elsewhere: its path is not believed
        mkdir "$SB/backups/forged"
        printf '{"kind":"h2","version":"v0.56.1","file":"/etc/shadow","sha256":"%s"}\n' \
                "$(sha256sum /etc/shadow | cut -d' ' -f1)" >"$SB/backups/forged/backup.json"
        refused $R "can't be read" Restore st forged 1
        rm -r "$SB/backups/forged"
        ln -s /etc "$SB/backups/elsewhere"
        refused $R "No backup" Restore st elsewhere 1
        rm "$SB/backups/elsewhere"

        log "hold reasons"
        printf -v v '%01025d' 0
        refused $A "too long" Hold s "$v"
        head -c 10000000 /dev/zero | tr '\0' r >"$SB/long-reason"
        refused $A "too long" Hold s "@$SB/long-reason"
        for v in $'a\nb' $'\e[2J\e[1;1Hforged status' $'\x7f' $'\xc2\x9b31m' $'tab\there'; do
                refused $A "control characters" Hold s "$v"
        done
        # the longest allowed, in any script, holds and shows as given
        printf -v v '%01020d' 0
        "${BUS_CALL[@]}" Hold s "$v é" >/dev/null || die "a 1023-byte reason was refused"
        assert_contains "$("$MBCTL" status)" "$v é"
        "${BUS_CALL[@]}" Unhold "" >/dev/null || die "unhold failed"
        # mbctl's exit codes for these errors
        run_mbctl 5 upgrade now --jar /dev/zero
        assert_contains "$OUT" "character device"
        run_mbctl 2 hold --reason $'\e[2J'
        assert_contains "$OUT" "control characters"

        log "$TRIED hostile calls, $REFUSED refused"
        [[ $TRIED -eq $REFUSED ]] || die "only $REFUSED of $TRIED hostile calls were refused"
        assert_eq "$(daemon_pid)" "$dpid" "the daemon's PID after the hostile calls"
        assert_eq "$(main_pid)" "$pid" "Metabase's MainPID after the hostile calls"
        assert_eq "$(sha256sum "$SB/opt/metabase/metabase.jar" | cut -d' ' -f1)" "$sha" "the installed JAR"
        [[ -z "$(ls -A "$SB/opt/metabase" | grep mbup || true)" ]] || die "staging leftovers: $(ls -A "$SB/opt/metabase")"
        [[ $(ls "$SB/backups" | wc -l) -eq 1 ]] || die "backups besides mbctl backup's: $(ls "$SB/backups")"
        [[ ! -e "$SB/state/hold.json" ]] || die "a hold is left"
        [[ -z "$(find "$SB/state" -name '*.mbup-*')" ]] || die "temporary files left in state_dir"
        "$MBCTL" history --json | grep -o '"result":"[a-z-]*"' | sort | uniq -c >&2
        assert_not_contains "$("$MBCTL" history --json | grep -o '"result":"[a-z-]*"' | sort -u | tr '\n' ' ')" \
                "rolled-back" "the history"

        log "a history longer than one reply carries: the newest entries"
        systemctl --user stop mbupgraded.service
        local line
        line=$(tail -n 1 "$SB/state/history.jsonl")
        for i in $(seq 1 14); do printf '%s\n' "$line"; done >"$SB/h1"
        for i in $(seq 1 10); do cat "$SB/h1" "$SB/h1" "$SB/h1"; done >"$SB/h2"
        for i in $(seq 1 40); do cat "$SB/h2"; done >"$SB/h3" # 16800 entries
        cat "$SB/h3" "$SB/state/history.jsonl" >"$SB/state/history.jsonl.new"
        mv "$SB/state/history.jsonl.new" "$SB/state/history.jsonl"
        [[ $(stat -c %s "$SB/state/history.jsonl") -gt $((5 * 1024 * 1024)) ]] || die "the history is too short to test"
        systemctl --user start mbupgraded.service
        run_mbctl 0 upgrade now --jar "$jar"
        assert_eq "$(running_version)" "v0.56.2"
        OUT=$("$MBCTL" history) || die "mbctl history failed on a long history"
        log "mbctl history: $(wc -l <<<"$OUT") lines"
        # the newest entry: its row, then who started it on a line of its own
        assert_contains "$(tail -n 2 <<<"$OUT" | head -n 1)" "v0.56.2" "the newest entry"
        assert_contains "$(tail -n 1 <<<"$OUT")" "by root (uid 0)" "who started the newest entry"
        [[ $(wc -l <<<"$OUT") -gt 1000 ]] || die "mbctl history: only $(wc -l <<<"$OUT") lines"
}
