# Metabase runs as its own unprivileged user, as on a real server (Metabase's
# docs/installation-and-operation/running-metabase-on-debian.md: User=metabase): the JAR and its
# directory are root's (0644, 0755), the data directory and the H2 file the metabase user's.
# mbupgraded (root) keeps it that way: a rehearsal (run with the unit's User=) can read the staged
# JAR and write its scratch copy and passes; after an upgrade that commits, after one rolled back
# by itself, after mbctl rollback and after mbctl restore (also of an H2 file that was lost), the JAR, the H2 file and their
# directories have the owners and modes they had, and Metabase's processes run as metabase.
# The maintenance flag, in a directory mbupgraded creates under its UMask=0077, is readable by
# another user (nginx's); state_dir, made by the daemon too, lets the rehearsal reach its JAR.

# owners DIR-OR-FILE...: "user:group:mode" of each, space-separated
owners() { stat -c '%U:%G:%a' "$@" | tr '\n' ' ' | sed 's/ $//'; }

# assert_layout WHEN: the installed files' owners and modes are as installed, and the service's
# processes run as the metabase user, which can read its JAR.
assert_layout() {
        local when=$1 pid uid gid
        assert_eq "$(owners "$SB/opt/metabase" "$SB/opt/metabase/metabase.jar")" \
                "root:root:755 root:root:644" "$when: the JAR's directory and the JAR"
        assert_eq "$(owners "$SB/var/lib/metabase" "$H2")" \
                "$MB_USER:$MB_USER:750 $MB_USER:$MB_USER:$H2_MODE" "$when: the data directory and the H2 file"
        pid=$(main_pid)
        [[ $pid -gt 0 ]] || die "$when: metabase.service has no main process"
        uid=$(id -u "$MB_USER")
        gid=$(id -g "$MB_USER")
        local p n=0
        for p in $(pgrep -f -- "-jar $SB/opt/metabase/metabase.jar"); do
                assert_contains "$(cat "/proc/$p/status")" $'Uid:\t'"$uid"$'\t'"$uid"$'\t'"$uid"$'\t'"$uid" \
                        "$when: process $p's user ids"
                assert_contains "$(cat "/proc/$p/status")" $'Gid:\t'"$gid"$'\t'"$gid"$'\t'"$gid"$'\t'"$gid" \
                        "$when: process $p's group ids"
                n=$((n + 1))
        done
        [[ $n -ge 1 ]] || die "$when: no java process runs $SB/opt/metabase/metabase.jar"
        [[ -z "$(find "$SB/opt/metabase" "$SB/var/lib/metabase" -name '*mbup*')" ]] ||
                die "$when: leftovers: $(find "$SB/opt/metabase" "$SB/var/lib/metabase" -name '*mbup*')"
        log "$when: JAR root:root 644, H2 $MB_USER $H2_MODE, $n java process(es) as $MB_USER (uid $uid)"
}

scenario() {
        local id
        H2=$SB/var/lib/metabase/metabase.db.mv.db
        MBUP_MAINTENANCE_FLAG=$SB/run/mbup/maintenance write_config
        install_metabase "$(make_release v0.56.1)"
        # the unit as the daemon will read it
        assert_eq "$(systemctl --user show -p User --value metabase.service)" "$MB_USER" "the unit's User="
        [[ -f $H2 ]] || die "Metabase did not create its H2 file in its data directory"
        H2_MODE=$(stat -c %a "$H2")
        assert_layout "installed"
        # the sandbox's manager (systemd --user, as root) honoured User=: nothing runs as root
        ! runuser -u "$MB_USER" -- touch "$SB/opt/metabase/probe" 2>/dev/null || die "the JAR's directory is the service user's to write"

        mirror_release v0.56.2 "$(make_release v0.56.2)"
        mirror_release v0.56.3 "$(make_release v0.56.3 v0.56.3 --fail half-migration)"
        mirror_feed v0.56.3:2025-02-01 v0.56.2:2025-01-20 v0.56.1:2025-01-01
        # state_dir made by the daemon itself (not by StateDirectory=), under its UMask=0077
        rmdir "$SB/state"
        start_daemon
        assert_eq "$(owners "$SB/state")" "root:root:755" "state_dir as the daemon made it"
        run_mbctl 0 check

        # a rehearsal runs the staged JAR as the unit's user, on a copy it writes
        run_mbctl 0 rehearse v0.56.2
        assert_contains "$OUT" "rehearsal of v0.56.2: passed"
        assert_eq "$(owners "$SB/state/staging/v0.56.2/metabase.jar")" "root:root:644" "the staged JAR"
        runuser -u "$MB_USER" -- head -c 4 "$SB/state/staging/v0.56.2/metabase.jar" >/dev/null ||
                die "the metabase user cannot read the staged JAR"
        assert_not_contains "$(cat "$SB/logs/mbupgraded.log")" "Unable to access jarfile"

        # an upgrade that commits; the maintenance flag meanwhile readable by another user
        (mbctl upgrade now --to v0.56.2 >"$SB/upgrade.out" 2>&1) &
        local upgrade=$!
        wait_for 60 test -e "$SB/run/mbup/maintenance" || die "no maintenance flag during the upgrade"
        runuser -u nobody -- cat "$SB/run/mbup/maintenance" >/dev/null ||
                die "the maintenance flag is not readable by another user: $(ls -ld "$SB/run/mbup" "$SB/run/mbup/maintenance")"
        wait "$upgrade" || die "the upgrade failed: $(cat "$SB/upgrade.out")"
        assert_contains "$(cat "$SB/upgrade.out")" "committed"
        assert_eq "$(running_version)" "v0.56.2"
        assert_layout "after the upgrade to v0.56.2"
        assert_eq "$(owners "$SB/state/releases/v0.56.1/metabase.jar")" "root:root:644" "the kept JAR"

        # an upgrade whose migration fails half-way: rolled back by itself, H2 file restored
        run_mbctl 3 upgrade now --to v0.56.3
        assert_contains "$OUT" "rolled-back"
        assert_eq "$(running_version)" "v0.56.2"
        assert_layout "after the rollback from v0.56.3"

        # mbctl rollback: the kept JAR and the backup put back
        run_mbctl 0 rollback --yes
        assert_contains "$OUT" "committed"
        assert_eq "$(running_version)" "v0.56.1"
        assert_not_contains "$(changelog)" '"v56.002"' "the H2 database after the rollback"
        assert_layout "after mbctl rollback"

        # mbctl backup, then mbctl restore of it
        run_mbctl 0 backup
        run_mbctl 0 backups --json
        id=$(sed -n 's/.*"id":"\([^"]*\)".*/\1/p' <<<"$(tr -d ' \n' <<<"$OUT")")
        [[ -n $id ]] || die "no backup id in: $OUT"
        run_mbctl 0 restore "$id" --yes
        assert_contains "$OUT" "database: done"
        assert_eq "$(running_version)" "v0.56.1"
        assert_layout "after mbctl restore"

        # the H2 file lost: mbctl restore puts it back as the metabase user's, who makes it
        systemctl --user stop metabase.service
        rm -f "$H2"
        run_mbctl 0 restore "$id" --yes
        assert_contains "$OUT" "database: done"
        assert_eq "$(running_version)" "v0.56.1"
        assert_layout "after mbctl restore of a lost H2 file"
}
