# Full disks, on tmpfs mounts of the sandbox's own (its mount namespace): the JAR's directory too
# small for the staged copy (pre-flight's free-space check refuses), the JAR's directory out of
# inodes (free bytes, but the staged copy can't even be created: the copy fails), backup.dir out of
# inodes (pre-flight counts bytes, the backup fails after the stop), and state_dir out of inodes
# right after pre-flight (the journal of the stop can't be written). The first two are refused
# before the stop (exit 5), the last fails before it (exit 1), Metabase untouched; the third is
# rolled back (exit 3) with the old version serving on its database. None leaves a staged JAR, a
# temporary file or a half backup directory behind. (Inodes run out where bytes can't: pre-flight
# asks for 16 MiB more than it needs.)

# No leftovers: no staged JAR, no temporary file, no backup directory without its backup.json.
assert_no_leftovers() {
        local f d
        f=$(find "$SB/opt/metabase" "$SB/backups" "$SB/state" -name '*.mbup-*' 2>/dev/null || true)
        [[ -z $f ]] || die "$1: leftovers: $f"
        for d in "$SB"/backups/*/; do
                [[ -d $d ]] || continue
                [[ -f $d/backup.json ]] || die "$1: a half backup directory: $d ($(ls -A "$d"))"
        done
}

# inodes_full DIR [SPARE]: the tmpfs at DIR has no inode left but SPARE (default 0).
inodes_full() {
        local used
        used=$(df --output=iused "$1" | tail -n 1 | tr -d ' ')
        mount -o remount,nr_inodes=$((used + ${2:-0})) "$1"
}
inodes_free() { mount -o remount,nr_inodes=1000 "$1"; }

scenario() {
        local pid sha new
        # The JAR's directory: 20 MiB, the installed JAR (4 MiB) and H2 in it.
        mount -t tmpfs -o size=20m,nr_inodes=1000,mode=755 tmpfs "$SB/opt/metabase"
        mount -t tmpfs -o size=64m,nr_inodes=1000,mode=700 tmpfs "$SB/backups"
        # detached (lazily: Metabase has files open there) before the clean-up removes $SB, so that
        # no empty mount point outlives the sandbox
        trap 'rc=$?; set +e; umount -l "$SB/opt/metabase" "$SB/backups" 2>/dev/null; (exit $rc); sandbox_cleanup' EXIT
        install_metabase "$(make_release v0.56.1)"
        start_daemon
        pid=$(main_pid)
        sha=$(sha256sum "$SB/opt/metabase/metabase.jar" | cut -d' ' -f1)
        new=$(make_release v0.56.2)

        log "the JAR's directory has not the room for the staged copy and the margin: pre-flight refuses"
        run_mbctl 5 upgrade now --jar "$new"
        assert_contains "$OUT" "not enough free disk for the upgrade under $SB/opt/metabase"
        assert_no_leftovers "no room"

        log "room, but no inode for the staged copy: the copy fails, before the stop"
        mount -o remount,size=64m "$SB/opt/metabase"
        inodes_full "$SB/opt/metabase"
        run_mbctl 5 upgrade now --jar "$new"
        assert_contains "$OUT" "cannot stage"
        assert_contains "$OUT" "No space left on device"
        inodes_free "$SB/opt/metabase"
        assert_no_leftovers "no inode for the staged copy"
        assert_eq "$(main_pid)" "$pid" "Metabase's MainPID after the refusals"
        assert_eq "$(sha256sum "$SB/opt/metabase/metabase.jar" | cut -d' ' -f1)" "$sha" "the installed JAR"
        [[ -z "$(ls -A "$SB/backups")" ]] || die "a backup was taken for a refused upgrade"

        log "backup.dir fills up during the backup, after the stop: rolled back, nothing lost"
        # one inode: the backup's directory is made, its copy is not
        inodes_full "$SB/backups" 1
        run_mbctl 3 upgrade now --jar "$new"
        assert_contains "$OUT" "rolled-back"
        assert_contains "$OUT" "No space left on device"
        inodes_free "$SB/backups"
        assert_eq "$(running_version)" "v0.56.1"
        assert_eq "$(sha256sum "$SB/opt/metabase/metabase.jar" | cut -d' ' -f1)" "$sha" "the installed JAR"
        assert_contains "$(changelog)" '"v56.001"'
        assert_not_contains "$(changelog)" '"v56.002"'
        assert_no_leftovers "a backup that failed"
        pid=$(main_pid)
        [[ ! -e "$SB/state/operation.json" ]] || die "the journal was not removed"

        log "state_dir fills up between pre-flight and the stop: the journal can't be written, no stop"
        # state_dir on the JAR's tmpfs (the kept JAR is a hard link there); pre-flight's journal, the
        # staged copy and the kept JAR's link get their inodes, the journal of the stop does not.
        systemctl --user stop mbupgraded.service
        sed -i "s|^state_dir: .*|state_dir: $SB/opt/metabase/state|" "$SB/mbupgraded.yaml"
        start_daemon
        "$MBCTL" check >/dev/null 2>&1 || true # the release check's staging directory, now
        mkdir -p "$SB/opt/metabase/state/releases/v0.56.1"
        : >"$SB/opt/metabase/state/history.jsonl"
        inodes_full "$SB/opt/metabase" 3 # tmpfs counts a hard link as an inode
        run_mbctl 1 upgrade now --jar "$new"
        assert_contains "$OUT" "cannot write the journal under $SB/opt/metabase/state"
        assert_contains "$OUT" "metabase.service was not stopped"
        inodes_free "$SB/opt/metabase"
        assert_eq "$(main_pid)" "$pid" "Metabase's MainPID after a journal that could not be written"
        assert_no_leftovers "a journal that could not be written"
        [[ ! -e "$SB/opt/metabase/state/operation.json" ]] || die "the journal was not removed"

        log "with room again, the upgrade is taken"
        run_mbctl 0 upgrade now --jar "$new"
        assert_eq "$(running_version)" "v0.56.2"
        assert_no_leftovers "the good upgrade"
}
