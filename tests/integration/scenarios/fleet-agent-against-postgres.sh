# agent_start NAME: a fleet agent for node NAME, its stdin on fd AGENT_IN[NAME], stdout on AGENT_OUT[NAME]
declare -A AGENT_PID AGENT_IN AGENT_OUT
agent_start() {
        local name=$1 in=$SB/agent-$1.in out=$SB/agent-$1.out fd_in fd_out
        rm -f "$in" "$out"
        mkfifo "$in" "$out"
        # only what the daemon gives it (the sandbox's own environment has the password)
        env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin MBUP_FLEET_CONNINFO="$FLEET_CONNINFO" \
                MBUP_PG_CONNINFO="$APP_CONNINFO" PGPASSFILE="$PASS" MBUP_FLEET_NODE="$name" \
                MBUP_FLEET_HOST="host-$name" "$MBUP_BUILD/dbhelper/mbupgraded-db" fleet-agent <"$in" >"$out" 2>>"$SB/logs/agent-$name.err" &
        AGENT_PID[$name]=$!
        exec {fd_in}>"$in"
        exec {fd_out}<"$out"
        AGENT_IN[$name]=$fd_in
        AGENT_OUT[$name]=$fd_out
}

# agent_read NAME UNTIL: its lines until one starting with UNTIL (or "error "), into $OUT
agent_read() {
        local line
        OUT=
        while IFS= read -r -t 15 line <&"${AGENT_OUT[$1]}"; do
                OUT+=$line$'\n'
                [[ $line == "$2"* || $line == "error "* ]] && return 0
        done
        die "agent $1: no '$2' line; got: $OUT"
}

# heartbeat NAME VERSION STATE STAGED [ROLLOUT STEP]: one heartbeat, its answer in $OUT
heartbeat() {
        local name=$1
        shift
        echo "heartbeat $*" >&"${AGENT_IN[$name]}"
        agent_read "$name" fleet
}

# agent_drain NAME: whatever NAME said that was not read yet (its notify lines), into $OUT
agent_drain() {
        local line
        OUT=
        while IFS= read -r -t 0.5 line <&"${AGENT_OUT[$1]}"; do OUT+=$line$'\n'; done
        return 0
}

agents_stop() {
        local name
        for name in "${!AGENT_PID[@]}"; do
                eval "exec ${AGENT_IN[$name]}>&- ${AGENT_OUT[$name]}<&-"
                wait "${AGENT_PID[$name]}" 2>/dev/null || true
        done
        AGENT_PID=()
}

# age NAME: the age in ms of NAME's row in $OUT
age() { awk -v n="$1" '$1 == "node" && $2 == n { print $6 }' <<<"$OUT"; }

SHA=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef

scenario() {
        trap 'rc=$?; set +e; agents_stop; (exit $rc); sandbox_cleanup' EXIT
        postgres_start
        FLEET_CONNINFO="host='127.0.0.1' port='$PG_PORT' dbname='metabase_mbupgraded' user='metabase'"
        APP_CONNINFO="host='127.0.0.1' port='$PG_PORT' dbname='metabase' user='metabase'"
        PASS=$SB/pgpass
        printf '127.0.0.1:%s:*:metabase:%s\n' "$PG_PORT" "$PG_PASS" >"$PASS"
        chmod 600 "$PASS"

        log "no coordination database, and a role that may not create one"
        agent_start a
        agent_read a "error"
        assert_contains "$OUT" "error connect the coordination database metabase_mbupgraded does not exist and can't be created"
        assert_contains "$OUT" "CREATE DATABASE metabase_mbupgraded OWNER metabase"
        agents_stop

        log "a role with CREATEDB: two agents starting together make one database and one table"
        pg_super "ALTER ROLE metabase CREATEDB" >/dev/null
        agent_start a
        agent_start b
        agent_read a ready
        assert_contains "$OUT" "ready"
        agent_read b ready
        assert_contains "$OUT" "ready"
        assert_eq "$(pg_super "SELECT count(*) FROM pg_database WHERE datname = 'metabase_mbupgraded'")" 1 "databases"
        assert_eq "$(pg_super "SELECT count(*) FROM pg_tables WHERE tablename = 'mbup_nodes'" metabase_mbupgraded)" 1 "tables"
        # and nothing of it in the application database, whose dumps and restores never touch it
        assert_eq "$(psql_mb "SELECT count(*) FROM pg_tables WHERE tablename = 'mbup_nodes'")" 0 "mbup_nodes in the application database"

        log "heartbeats: every node, with the age of its last one"
        heartbeat a v0.56.1 idle -
        heartbeat b v0.56.1 staging v0.56.2
        assert_contains "$OUT" "node a v0.56.1 idle - "
        assert_contains "$OUT" "node b v0.56.1 staging v0.56.2 "
        assert_contains "$OUT" "fleet 2"
        (($(age b) < 1000)) || die "b's own heartbeat is $(age b) ms old"
        assert_eq "$(pg_super "SELECT host || ' ' || (pid > 0)::text FROM mbup_nodes WHERE name = 'b'" metabase_mbupgraded)" \
                "host-b true" "b's row"

        log "b is silent: a sees it age"
        sleep 2
        heartbeat a v0.56.1 idle -
        (($(age b) >= 2000)) || die "b's last heartbeat should be 2 s old, is $(age b) ms"
        (($(age a) < 1000)) || die "a's own heartbeat is $(age a) ms old"

        log "a heartbeat that began after the reader's transaction and committed before its snapshot"
        # (its last_seen a moment after the reader's now(), as under a burst of heartbeats on a
        # NOTIFY): still listed, 0 ms old, not left out (which made a node "never seen" or "lost")
        pg_super "UPDATE mbup_nodes SET last_seen = now() + interval '2 seconds' WHERE name = 'b'" metabase_mbupgraded >/dev/null
        heartbeat a v0.56.1 idle -
        assert_contains "$OUT" "node b v0.56.1 staging v0.56.2 0 "

        log "the server drops a's connection: the agent sees it go, and the next heartbeat connects again"
        pg_super "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'metabase_mbupgraded' AND application_name = ''" >/dev/null
        sleep 0.5
        heartbeat a v0.56.1 idle -
        assert_contains "$OUT" "fleet 2"
        assert_not_contains "$OUT" "error"

        log "rows no node writes are skipped; bad input is refused and the agent goes on"
        pg_super "INSERT INTO mbup_nodes (name, version) VALUES ('has space', 'v0.56.1'), (E'ctl\\x01', 'x')" metabase_mbupgraded >/dev/null
        heartbeat a v0.56.1 idle -
        assert_contains "$OUT" "fleet 4"
        assert_not_contains "$OUT" "has space"
        assert_eq "$(grep -c '^node ' <<<"$OUT")" 2 "node lines"
        echo "heartbeat only-two tokens" >&"${AGENT_IN[a]}"
        agent_read a "error"
        assert_contains "$OUT" "error usage expected: heartbeat VERSION STATE STAGED"
        heartbeat a v0.56.2 idle -
        assert_contains "$OUT" "node a v0.56.2 idle - "

        log "a rollout: one open at a time, one leader by the advisory lock, taken over when the leader dies"
        agent_start c
        agent_read c ready
        # b's connection went with the server's terminate above: its next line connects again
        heartbeat b v0.56.1 idle -
        assert_contains "$OUT" "fleet "
        assert_not_contains "$OUT" "error"
        echo "propose v0.56.1 v0.56.2 $SHA" >&"${AGENT_IN[a]}"
        agent_read a proposed
        assert_contains "$OUT" "proposed 1"
        echo "propose v0.56.1 v0.56.3 $SHA" >&"${AGENT_IN[b]}"
        agent_read b "error"
        assert_contains "$OUT" "error busy rollout 1 (staging, proposed by a) is open; it must end first"
        heartbeat b v0.56.1 idle v0.56.2 1 staged
        assert_contains "$OUT" "rollout 1 v0.56.1 v0.56.2 $SHA staging -"
        assert_contains "$OUT" "node b v0.56.1 idle v0.56.2 "
        [[ $OUT == *"node b v0.56.1 idle v0.56.2 "*" 1 staged"* ]] || die "b's step in the rollout: $OUT"
        # exactly one leader, whoever asks first; the others learn who
        echo "lead 1" >&"${AGENT_IN[b]}"
        agent_read b leader
        assert_contains "$OUT" "leader 1"
        for n in a c; do
                echo "lead 1" >&"${AGENT_IN[$n]}"
                agent_read "$n" follower
                assert_contains "$OUT" "follower 1 b"
        done
        # only the leader moves it on
        echo "set 1 stopping" >&"${AGENT_IN[a]}"
        agent_read a "error"
        assert_contains "$OUT" "error notleader this node does not lead rollout 1"
        agent_drain a
        echo "set 1 stopping every node stops its Metabase" >&"${AGENT_IN[b]}"
        agent_read b set
        assert_contains "$OUT" "set 1 stopping"
        # the others hear of it at once (a NOTIFY), not at their next heartbeat
        agent_read a notify
        # a node's step and its reason
        heartbeat c v0.56.0 idle - 1 failed this node runs v0.56.0, not v0.56.1
        [[ $OUT == *"node c v0.56.0 idle - "*" 1 failed this\x20node\x20runs\x20v0.56.0,\x20not\x20v0.56.1"* ]] || die "c's reason: $OUT"
        assert_contains "$OUT" "rollout 1 v0.56.1 v0.56.2 $SHA stopping b - - - every\x20node\x20stops\x20its\x20Metabase"
        assert_eq "$(pg_super "SELECT state || '|' || reason FROM mbup_rollouts WHERE id = 1" metabase_mbupgraded)" \
                "stopping|every node stops its Metabase" "the rollout's row"
        # the leader dies: its session ends, the lock with it; another node takes over
        kill -KILL "${AGENT_PID[b]}"
        wait "${AGENT_PID[b]}" 2>/dev/null || true
        unset "AGENT_PID[b]"
        for _ in $(seq 1 50); do
                echo "lead 1" >&"${AGENT_IN[c]}"
                agent_read c "leader 1"
                [[ $OUT == *"leader 1"* && $OUT != *follower* ]] && break
                sleep 0.2
        done
        assert_contains "$OUT" "leader 1" "c taking over from the dead leader"
        echo "lead 1" >&"${AGENT_IN[a]}"
        agent_read a follower
        assert_contains "$OUT" "follower 1 c"
        heartbeat a v0.56.1 idle -
        assert_contains "$OUT" "rollout 1 v0.56.1 v0.56.2 $SHA stopping c"
        # where the backup is, by the leader only
        echo "backup 1 clone:metabase_mbup_1" >&"${AGENT_IN[a]}"
        agent_read a "error"
        assert_contains "$OUT" "error notleader"
        # a clone that is not there is not recorded: its changelog is the backup's marker
        echo "backup 1 clone:metabase_mbup_1" >&"${AGENT_IN[c]}"
        agent_read c "error"
        assert_contains "$OUT" "error connect cannot read the backup"
        pg_super "CREATE DATABASE metabase_mbup_1 OWNER metabase" >/dev/null
        echo "backup 1 clone:metabase_mbup_1" >&"${AGENT_IN[c]}"
        agent_read c backup
        heartbeat a v0.56.1 idle -
        assert_contains "$OUT" "rollout 1 v0.56.1 v0.56.2 $SHA stopping c clone:metabase_mbup_1"
        assert_eq "$(pg_super "SELECT backup_marker FROM mbup_rollouts WHERE id = 1" metabase_mbupgraded)" "0:-" "the clone's marker"
        # before a node starts the new version: the backup is there, with its marker
        echo "check-backup 1" >&"${AGENT_IN[a]}"
        agent_read a backup-ok
        assert_contains "$OUT" "backup-ok 1"
        pg_super "DROP DATABASE metabase_mbup_1" >/dev/null
        echo "check-backup 1" >&"${AGENT_IN[a]}"
        agent_read a "error"
        assert_contains "$OUT" "error nobackup the backup of rollout 1, the database metabase_mbup_1, can't be read"
        # ended: the next one may be proposed, and nobody leads the old one any more
        echo "set 1 committed" >&"${AGENT_IN[c]}"
        agent_read c set
        heartbeat a v0.56.2 idle -
        assert_not_contains "$OUT" "rollout 1"
        assert_contains "$OUT" "committed 1 v0.56.2 $SHA"
        # a mode, fixed when proposed (docs/fleet.md): in the rollout's line, a token and why
        echo "propose v0.56.2 v0.56.3 $SHA rolling v0.56.3 adds no migration" >&"${AGENT_IN[a]}"
        agent_read a proposed
        [[ $OUT =~ proposed\ ([0-9]+) ]] && ((BASH_REMATCH[1] > 1)) || die "no new rollout: $OUT" # (a refused proposal used up an id)
        local rid=${BASH_REMATCH[1]}
        heartbeat a v0.56.2 idle -
        assert_contains "$OUT" "rollout $rid v0.56.2 v0.56.3 $SHA staging - - rolling v0.56.3\x20adds\x20no\x20migration -"
        assert_eq "$(pg_super "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")" 0 "advisory locks held"
        for bad in "lead 0" "lead x" "set 3 flying" "propose a b" "propose a b c sideways" "heartbeat v x - 1" "lead 2 extra" "backup 2" "backup x clone:y" "check-backup x"; do
                echo "$bad" >&"${AGENT_IN[a]}"
                agent_read a "error"
                assert_contains "$OUT" "error usage" "'$bad'"
        done

        # the password: in PGPASSFILE only
        assert_not_contains "$(cat "$SB"/logs/agent-*.err 2>/dev/null)" "$PG_PASS"
        assert_not_contains "$(tr '\0' ' ' </proc/"${AGENT_PID[a]}"/cmdline)" "$PG_PASS"
        assert_not_contains "$(tr '\0' '\n' </proc/"${AGENT_PID[a]}"/environ)" "$PG_PASS"

        log "stdin closed: the agents end"
        local pids="${AGENT_PID[*]}" pid
        agents_stop
        for pid in $pids; do
                ! kill -0 "$pid" 2>/dev/null || die "agent $pid still running after its stdin closed"
        done
}
