# The zero-downtime path (issue 18) end to end: PostgreSQL, the stand-in starting in 1.5 s, a real
# nginx over TLS as nginx.service of the sandbox's systemd with the shipped upstream snippet, a
# prober through nginx at 50 Hz (a new TLS connection each probe, as a new visitor's) for the
# whole of each upgrade:
# - a release with no migration: online backup, bridge, nginx switched to it, settled under
#   traffic, the unit upgraded, nginx switched back, the bridge gone: zero answers that were not
#   200, the version seen to change once (nginx's reload may let both answer for a moment);
# - the same kind of release with upgrade.zero_downtime: never: the usual path, whose downtime the
#   prober measures, for comparison;
# - a bridge that does not come up (crashes at start): failed, Metabase never stopped, zero non-200;
# - a bridge whose verify hook fails while it settles under traffic: nginx back to the old
#   version, which never stopped: rolled back, zero non-200;
# - mbctl cancel while the bridge settles: canceled, zero non-200;
# - a bridge that crashes under traffic: nginx back to the old version; the answers that failed
#   between the crash and the switch back are counted (nginx has no second server to retry on);
#   then the same with proxy.failover_file and the shipped failover snippet at nginx's http level:
#   nginx retries the old version, zero non-200;
# - a release with a migration: the usual path, with the reason.
# After each: upstream.conf names the unit's port, no mbupgraded-bridge.service, no bridge.env.
source "$MBUP_SRC/tests/integration/nginx.sh"

last_upgrade() { grep '"kind":"upgrade"' "$SB/state/history.jsonl" | tail -n 1; }
upstream_port() { sed -n 's/^set \$mbupgraded_upstream 127\.0\.0\.1:\([0-9]*\);$/\1/p' "$SB/run/upstream.conf"; }

restart_daemon() {
        write_config
        systemctl --user restart mbupgraded.service || die "mbupgraded did not restart"
        wait_for 10 bash -c "\"$MBCTL\" status >/dev/null 2>&1" || die "mbupgraded does not answer"
}

# nothing_left WHAT: nginx on the unit's own port, no bridge unit, no bridge environment file
nothing_left() {
        assert_eq "$(upstream_port)" "$MB_PORT" "$1: upstream.conf"
        wait_for 10 bash -c "[[ \$(systemctl --user show -p LoadState --value mbupgraded-bridge.service) == not-found ]]" ||
                die "$1: mbupgraded-bridge.service is left: $(systemctl --user show -p LoadState,ActiveState mbupgraded-bridge.service)"
        [[ ! -e $SB/state/bridge.env ]] || die "$1: bridge.env is left"
        [[ ! -e $SB/state/operation.json ]] || die "$1: the journal is left"
}

# probed NAME RC ARGS...: mbctl ARGS with the prober through nginx from before the call to its end
probed() {
        local name=$1 rc=$2
        shift 2
        nginx_prober_begin "$name"
        sleep 0.3
        run_mbctl "$rc" "$@"
        nginx_prober_end
}

# no_bad WHAT: every answer through nginx was a 200
no_bad() {
        [[ $N_BAD -eq 0 ]] || { awk '$2 != 200' "$PROBER_LOG" | head -5 >&2; die "$1: $N_BAD answers through nginx were not 200"; }
}

# switched_once WHAT OLD NEW: the prober saw OLD, then NEW; both alternating only within nginx's
# reload (its old worker still accepts beside the new one for a moment: under 500 ms)
switched_once() {
        local overlap
        overlap=$(awk -v o="$2" -v n="$3" '$2 == 200 && $3 == n && !f { f = $1 } $2 == 200 && $3 == o { l = $1 }
                END { print (f && l > f) ? l - f : 0 }' "$PROBER_LOG")
        [[ $VERSIONS == "$2>$3"* ]] || die "$1: the versions the prober saw: $VERSIONS"
        ((overlap < 500)) || die "$1: $2 and $3 alternated for $overlap ms ($VERSIONS)"
        log "$1: $2 then $3 (alternating for $overlap ms during nginx's reload)"
}

# canceled_at STEP JAR: mbctl upgrade now --jar JAR, canceled once the daemon is at STEP (the prober
# through nginx running): canceled, Metabase's main process the same, no answer but 200, nothing left
canceled_at() {
        local step=$1 up rc=0
        nginx_prober_begin "cancel-$step"
        "$MBCTL" upgrade now --jar "$2" >"$SB/cancel.out" 2>&1 &
        up=$!
        wait_for 60 bash -c "\"$MBCTL\" status | grep -q 'Step: $step\$'" || die "no step $step: $("$MBCTL" status)"
        run_mbctl 0 cancel
        wait "$up" || rc=$?
        nginx_prober_end
        assert_eq "$rc" "1" "mbctl upgrade's exit status once canceled at $step ($(cat "$SB/cancel.out"))"
        assert_eq "$(jq -r .result <<<"$(last_upgrade)")" "canceled" "canceled at $step"
        no_bad "canceled at $step"
        assert_eq "$(main_pid)" "$pid" "metabase.service's main process (never stopped)"
        nothing_left "canceled at $step"
}

# crashes_under_traffic VERSION: an upgrade to VERSION (no migration) whose bridge crashes 7 s after
# it is ready, while it settles under traffic: rolled back, Metabase never stopped, nothing left
crashes_under_traffic() {
        probed "bridge-crashes-$1" 3 upgrade now --jar "$(make_release "$1" "$1" --changesets-of v0.56.1 --fail crash-after-ready --crash-after-ms 7000)"
        assert_contains "$OUT" "the bridge $1 failed under traffic"
        assert_eq "$(main_pid)" "$pid" "metabase.service's main process (never stopped)"
        assert_eq "$(running_version)" "v0.56.3"
        nothing_left "crashed under traffic"
}

scenario() {
        local slow=(--startup-ms 1500) pid
        postgres_start
        install_metabase_pg "$(make_release v0.56.1 v0.56.1 "${slow[@]}")"
        nginx_front_tls
        systemctl --user start nginx.service || die "nginx did not start"
        export MBUP_PROXY_URL=$FRONT_URL MBUP_PROXY_CA_FILE=$TEST_CA MBUP_SETTLE=4s
        write_config
        mkdir -p "$SB/hooks/verify.d" "$SB/gate"
        cat >"$SB/hooks/verify.d/50-smoke" <<EOT
#!/bin/sh
if [ -e $SB/gate/smoke-fails ]; then
        echo "saved question 1 answered HTTP 500"
        exit 1
fi
[ -e $SB/gate/slow ] && sleep 30
echo "saved question 1 answered"
EOT
        chmod 755 "$SB/hooks/verify.d/50-smoke"
        start_daemon
        wait_for 10 test -s "$SB/run/upstream.conf" || die "no upstream.conf after the daemon's start"

        log "v0.56.1 -> v0.56.2, no migration: the zero-downtime path"
        pid=$(main_pid)
        probed zero-downtime 0 upgrade now --jar "$(make_release v0.56.2 v0.56.2 --changesets-of v0.56.1 "${slow[@]}")"
        assert_contains "$OUT" "zero downtime: yes"
        for step in online-backup bridge switch bridge-settle stop swap start verify settle switch-back; do
                assert_contains "$OUT" "[$step]" "the steps mbctl showed"
        done
        no_bad "the zero-downtime path"
        switched_once "the zero-downtime path" v0.56.1 v0.56.2
        ZD_PROBES=$N_PROBES
        assert_eq "$(running_version)" "v0.56.2"
        [[ $(main_pid) != "$pid" ]] || die "metabase.service was not restarted on the new JAR"
        local h
        h=$(last_upgrade)
        assert_eq "$(jq -r '[.result, .bridged, .downtime_ms] | join(" ")' <<<"$h")" "committed true 0" "the history"
        [[ -s $(jq -r .backup <<<"$h") ]] || die "the online backup is not there: $h"
        nothing_left "committed"

        log "the same kind of release with upgrade.zero_downtime: never: the usual path, for comparison"
        MBUP_ZERO_DOWNTIME=never restart_daemon
        probed usual 0 upgrade now --jar "$(make_release v0.56.3 v0.56.3 --changesets-of v0.56.1 "${slow[@]}")"
        assert_contains "$OUT" "zero downtime: no: upgrade.zero_downtime is never"
        [[ $OUT != *"[bridge]"* ]] || die "the usual path started a bridge"
        ((N_BAD > 0)) || die "the usual path showed no downtime through nginx: the comparison measures nothing"
        log "through nginx: the usual path $N_BAD answers not 200 (${BAD_MS} ms without one), the zero-downtime path 0 of $ZD_PROBES"
        restart_daemon

        log "a bridge that does not come up (it crashes at start): failed, Metabase never stopped"
        pid=$(main_pid)
        probed bridge-crash-at-start 1 upgrade now --jar "$(make_release v0.56.4 v0.56.4 --changesets-of v0.56.1 --fail crash-at-start)"
        assert_contains "$OUT" "the bridge v0.56.4 did not come up, so nginx was not switched and metabase.service kept serving v0.56.3"
        no_bad "a bridge that did not come up"
        assert_eq "$VERSIONS" "v0.56.3" "the versions the prober saw"
        assert_eq "$(main_pid)" "$pid" "metabase.service's main process"
        assert_eq "$(jq -r .result <<<"$(last_upgrade)")" "failed"
        nothing_left "failed to come up"

        log "a bridge whose verify hook fails while it settles under traffic: back to the old version"
        touch "$SB/gate/smoke-fails"
        probed bridge-hook-fails 3 upgrade now --jar "$(make_release v0.56.5 v0.56.5 --changesets-of v0.56.1)"
        rm "$SB/gate/smoke-fails"
        assert_contains "$OUT" "saved question 1 answered HTTP 500"
        assert_contains "$OUT" "rolled-back"
        no_bad "a bridge that failed under traffic"
        [[ $VERSIONS == v0.56.3\>v0.56.5*\>v0.56.3 ]] || die "the versions the prober saw: $VERSIONS"
        assert_eq "$(main_pid)" "$pid" "metabase.service's main process (never stopped)"
        assert_eq "$(running_version)" "v0.56.3"
        nothing_left "rolled back before the stop"

        log "mbctl cancel while the bridge starts, then while it settles under traffic: canceled, the old version serving"
        canceled_at bridge "$(make_release v0.56.6 v0.56.6-slow --changesets-of v0.56.1 --startup-ms 20000)"
        touch "$SB/gate/slow"
        canceled_at bridge-settle "$(make_release v0.56.6 v0.56.6 --changesets-of v0.56.1)"
        rm "$SB/gate/slow"

        log "a bridge that crashes under traffic (7 s after it is ready: its 4 s settle and the switch are over, nginx points at it)"
        crashes_under_traffic v0.56.7
        ((BAD_MS < 5000)) || die "users were without Metabase for $BAD_MS ms after the bridge crashed"
        log "the bridge crashed under traffic, no failover: $N_BAD answers not 200 through nginx (${BAD_MS} ms) until it was switched back"

        log "the same with proxy.failover_file (the shipped snippet at nginx's http level): nginx retries the old version"
        MBUP_FAILOVER_FILE=$SB/run/failover.conf restart_daemon
        crashes_under_traffic v0.56.9
        no_bad "a bridge that crashed under traffic, with the failover"
        grep -q "server 127.0.0.1:$MB_PORT backup;" "$SB/run/failover.conf" || die "failover.conf: $(cat "$SB/run/failover.conf")"
        assert_eq "$(stat -c '%U %a' "$SB/run/failover.conf")" "root 644" "failover.conf's owner and mode"
        log "the bridge crashed under traffic, with the failover: 0 of $N_PROBES answers not 200"

        log "a release with a migration: the usual path, saying why"
        probed migration 0 upgrade now --jar "$(make_release v0.56.8 v0.56.8 "${slow[@]}")"
        assert_contains "$OUT" "zero downtime: no: v0.56.8 adds"
        [[ $OUT != *"[bridge]"* ]] || die "a release with a migration started a bridge"
        ((N_BAD > 0)) || die "the usual path showed no downtime through nginx"
        assert_eq "$(running_version)" "v0.56.8"
        nothing_left "the usual path"
}
