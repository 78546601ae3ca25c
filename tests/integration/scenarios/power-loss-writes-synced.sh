# What must survive a power loss is written the crash-safe way. The daemon runs under strace; a
# release is staged from the mirror (verified.json), upgraded to (journal, staged JAR, the swap, the
# kept JAR, the backup and its backup.json, history, last-upgrade.json) and rolled back (the JAR and
# the database put back), and upgrades are held and released (hold.json). check-synced-writes.py
# then checks each of those writes: a temporary name, fsync, rename, fsync of the directory; each
# directory made, fsynced in its parent; each state file removed, its directory fsynced.

scenario() {
        local trace=$SB/logs/strace.log
        command -v strace >/dev/null || die "no strace (apt-get install strace)"
        install_metabase "$(make_release v0.56.1)"
        mirror_release v0.56.2 "$(make_release v0.56.2)"
        mirror_feed v0.56.2:2025-02-01 v0.56.1:2025-01-01
        # strace is the unit's main process; READY=1 and the watchdog pings come from its child
        mkdir -p "$SB/units/mbupgraded.service.d"
        printf '[Service]\nNotifyAccess=all\n' >"$SB/units/mbupgraded.service.d/strace.conf"
        MBUP_WRAPPER="/usr/bin/strace -f -y -qq -o $trace -e trace=open,openat,rename,renameat,renameat2,fsync,fdatasync,link,linkat,unlink,unlinkat,mkdir,mkdirat" \
                start_daemon

        run_mbctl 0 check
        run_mbctl 0 upgrade now --to v0.56.2
        assert_contains "$OUT" "committed"
        [[ -f $SB/state/staging/v0.56.2/verified.json ]] || die "no verified.json for the staged release"
        run_mbctl 0 rollback --yes
        assert_contains "$OUT" "committed"
        assert_eq "$(running_version)" "v0.56.1"
        run_mbctl 0 hold --reason "power-loss test"
        run_mbctl 0 unhold
        systemctl --user stop mbupgraded.service

        local out rc=0
        out=$(/usr/bin/python3 "$MBUP_SRC/tests/integration/check-synced-writes.py" "$trace" "$SB") || rc=$?
        printf '%s\n' "$out" | sed 's/^/#   /' >&2
        # every kind of file that must survive was seen, and checked
        local f
        for f in state/operation.json state/last-upgrade.json state/hold.json state/releases/v0.56.1/metabase.jar \
                state/staging/v0.56.2/verified.json opt/metabase/.metabase.jar.mbup-staged opt/metabase/metabase.jar \
                var/lib/metabase/metabase.db.mv.db /backup.json /metabase.db.mv.db state/history.jsonl; do
                grep -q "^ok .*$f" <<<"$out" || grep -q "^FAIL .*$f" <<<"$out" || die "no write of $f was seen"
        done
        [[ $rc -eq 0 ]] || die "writes that a power loss could lose (see above)"
}
