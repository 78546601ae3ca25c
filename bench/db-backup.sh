#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench/db-backup.sh BUILD_DIR
#
# Backup and restore of a PostgreSQL application database by mbupgraded-db, at two sizes (100 MB
# and 1 GB: BENCH_DB_SIZES_MB), against the same done by hand in the same run, alternated:
#   - backup: `mbupgraded-db backup` (pg_dump --format=custom, read back with pg_restore --list,
#     fsynced, SHA-256) vs `pg_dump -Fc -f FILE` by hand. Metabase is stopped while it runs: this
#     is the downtime the backup adds to an upgrade.
#   - restore: `mbupgraded-db restore` (into the same database, in one transaction, after dropping
#     what the role owns) vs `pg_restore --single-transaction` by hand into a fresh database. This
#     is the downtime a rollback adds.
#   - the clone method: `mbupgraded-db clone` (CREATE DATABASE ... TEMPLATE; its added downtime),
#     `restore-clone` (two renames: a rollback's) and `drop-clone` (retention, not downtime).
# And how each grows with the size. Every timed step starts after a CHECKPOINT, with the page
# cache warm (the machine holds the database in memory: this measures the work, not the disk's
# reads).
#
# The database is generated here: a Metabase-like query_execution table (wide rows of hashes,
# text and numbers, three indexes) filled with generate_series until the database has the size
# asked for. The cluster is a PostgreSQL of its own (tests/integration/lib.sh's postgres_start,
# a temporary directory, a free loopback port), with fsync, full_page_writes, synchronous_commit
# and shared_buffers as a stock Debian server has them (the tests turn durability off).
#
# Targets: backup <= 1.25x pg_dump (the read-back and the hash cost at most a quarter); restore
# <= 1.25x pg_restore; the clone's added downtime <= 0.5x the dump's at the largest size (or the
# method is not worth having); restore-clone <= 1 s at every size (renames do not grow).
# Knobs: BENCH_DB_SIZES_MB ("100 1024"), BENCH_DB_ROUNDS (3 rounds at each size, alternated).
# Needs root (the cluster runs as the postgres OS user); about 4 minutes and 5 GB in $TMPDIR.
set -euo pipefail

export MBUP_BUILD=$(cd "${1:?usage: bench/db-backup.sh BUILD_DIR}" && pwd)
SIZES=${BENCH_DB_SIZES_MB:-"100 1024"}
ROUNDS=${BENCH_DB_ROUNDS:-3}
TARGET_BACKUP=1.25
TARGET_RESTORE=1.25
TARGET_CLONE=0.5
TARGET_RENAME_MS=1000

source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
source "$BENCH_DIR/../tests/integration/lib.sh"
[[ $(id -u) -eq 0 ]] || { echo "bench/db-backup.sh needs root (PostgreSQL runs as the postgres user)" >&2; exit 77; }
HELPER=$MBUP_BUILD/dbhelper/mbupgraded-db
[[ -x $HELPER ]] || { echo "no $HELPER: meson compile -C $MBUP_BUILD" >&2; exit 2; }

SB=$(mktemp -d "${TMPDIR:-/tmp}/mbup-bench-db.XXXXXX")
trap 'rc=$?; postgres_stop; rm -rf "$SB"; exit $rc' EXIT
mkdir -p "$SB/dumps"

# pg_super SQL [DB]: as the superuser, over the cluster's socket.
pg_super() {
        PGOPTIONS='-c client_min_messages=warning' runuser -u postgres -- "$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$PG_SOCKET_DIR" -p "$PG_PORT" \
                -U postgres -d "${2:-postgres}" -c "$1"
}

log "PostgreSQL cluster in $SB/pg"
postgres_start
# A production server's durability and Debian's shared_buffers, then a restart for the latter.
pg_super "ALTER SYSTEM SET fsync = on" >/dev/null
pg_super "ALTER SYSTEM SET full_page_writes = on" >/dev/null
pg_super "ALTER SYSTEM SET synchronous_commit = on" >/dev/null
pg_super "ALTER SYSTEM SET shared_buffers = '128MB'" >/dev/null
postgres_stop
runuser -u postgres -- "$PG_BIN/postgres" -D "$PG_DATA" >>"$PG_DIR/postgres.log" 2>&1 &
PG_PID=$!
for _ in $(seq 1 300); do
        "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -d postgres && break
        kill -0 "$PG_PID" 2>/dev/null || die "PostgreSQL did not restart"
        sleep 0.05
done
[[ $(pg_super "SHOW fsync") == on && $(pg_super "SHOW shared_buffers") == 128MB ]] || die "the cluster's settings did not take"
pg_super "ALTER ROLE metabase CREATEDB" >/dev/null
PG_VERSION=$(pg_super "SHOW server_version" | cut -d' ' -f1)
PG_NUM=$(pg_super "SHOW server_version_num")

# The helper's connection, as the daemon gives it: conninfo without the password, a 0600
# PGPASSFILE whose entry matches any database (the clone verbs use the maintenance database).
PASS=$SB/pgpass
(umask 077 && printf '127.0.0.1:%s:*:metabase:%s\n' "$PG_PORT" "$PG_PASS" >"$PASS")
helper() {
        MBUP_PG_CONNINFO="host='127.0.0.1' port='$PG_PORT' dbname='metabase' user='metabase'" PGPASSFILE=$PASS \
                "$HELPER" "$@" >"$SB/helper.out" 2>>"$SB/helper.log" || die "mbupgraded-db $* failed: $(cat "$SB/helper.out")"
}
as_metabase() { PGPASSFILE=$PASS "$@" --no-password -h 127.0.0.1 -p "$PG_PORT" -U metabase; }

# generate MB: database metabase, fresh, owned by metabase, of about MB megabytes.
generate() {
        local want=$(($1 * 1024 * 1024)) rows per_row have
        pg_super "DROP DATABASE IF EXISTS metabase"
        pg_super "CREATE DATABASE metabase OWNER metabase"
        as_metabase "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d metabase <<'EOT'
CREATE TABLE query_execution (
        id integer NOT NULL,
        hash bytea NOT NULL,
        started_at timestamptz NOT NULL,
        running_time integer NOT NULL,
        result_rows integer NOT NULL,
        native boolean NOT NULL,
        context varchar(32),
        error text,
        executor_id integer,
        card_id integer,
        dashboard_id integer,
        database_id integer,
        cache_hit boolean,
        cache_hash bytea,
        embedding_client varchar(254),
        parameters text
);
CREATE TABLE report_card (id serial PRIMARY KEY, name varchar(254) NOT NULL, dataset_query text NOT NULL);
INSERT INTO report_card (name, dataset_query)
SELECT 'card ' || i, '{"database":1,"type":"native","native":{"query":"SELECT * FROM orders WHERE id = ' || i || '"}}'
FROM generate_series(1, 2000) i;
EOT
        # Rows as query_execution's are: 32-byte hashes (incompressible), some text, an error now and
        # then, parameters as JSON. A first batch says how many bytes a row takes with its indexes.
        fill() {
                as_metabase "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d metabase -c "SET synchronous_commit = off" -c "
INSERT INTO query_execution
SELECT i, decode(md5(i::text) || md5((i * 7)::text), 'hex'), timestamptz '2024-01-01' + i * interval '7 seconds',
       (i * 37) % 60000, (i * 13) % 2000, i % 5 = 0, (ARRAY['ad-hoc','question','dashboard','pulse'])[i % 4 + 1],
       CASE WHEN i % 20 = 0 THEN 'ERROR: relation \"orders_' || md5(i::text) || '\" does not exist' END,
       i % 50 + 1, i % 2000 + 1, CASE WHEN i % 3 = 0 THEN i % 300 + 1 END, 1, i % 7 = 0,
       decode(md5((i + 1)::text) || md5((i + 2)::text), 'hex'), CASE WHEN i % 10 = 0 THEN 'embedding-sdk-react' END,
       '[{\"type\":\"category\",\"value\":\"' || substr(md5((i * 3)::text), 1, 16) || '\",\"target\":[\"variable\",[\"template-tag\",\"category\"]]}]'
FROM generate_series($1, $2) i" >/dev/null
        }
        indexes() {
                as_metabase "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d metabase \
                        -c "ALTER TABLE query_execution ADD PRIMARY KEY (id)" \
                        -c "CREATE INDEX idx_query_execution_started_at ON query_execution (started_at)" \
                        -c "CREATE INDEX idx_query_execution_card_started_at ON query_execution (card_id, started_at)"
        }
        unindex() {
                as_metabase "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d metabase \
                        -c "ALTER TABLE query_execution DROP CONSTRAINT query_execution_pkey" \
                        -c "DROP INDEX idx_query_execution_started_at, idx_query_execution_card_started_at"
        }
        # A sample with its indexes says what a row costs; the rest goes in without them (faster),
        # and they are built at the end.
        empty=$(pg_super "SELECT pg_database_size('metabase')")
        fill 1 100000
        indexes
        per_row=$((($(pg_super "SELECT pg_database_size('metabase')") - empty) / 100000))
        rows=$(((want - empty) / per_row))
        if ((rows > 100000)); then
                unindex
                fill 100001 "$rows"
                indexes
        fi
        pg_super "VACUUM (ANALYZE) query_execution, report_card" metabase
        pg_super "CHECKPOINT"
        have=$(pg_super "SELECT pg_database_size('metabase')")
        log "generated ${1} MB asked: $((have >> 20)) MiB, $rows query_execution rows"
        echo "$have"
}

# timed CMD...: runs it after a CHECKPOINT; its wall time in ms on stdout.
timed() {
        local t0 t1
        pg_super "CHECKPOINT" >/dev/null
        t0=$(now_ns)
        "$@"
        t1=$(now_ns)
        echo $(((t1 - t0) / 1000000))
}
by_hand_dump() { as_metabase "$PG_BIN/pg_dump" -Fc -d metabase -f "$SB/dumps/hand.dump"; }
by_hand_restore() { as_metabase "$PG_BIN/pg_restore" --single-transaction --no-owner -d restored "$SB/dumps/hand.dump"; }
# CREATE DATABASE ... TEMPLATE by hand, with the strategy PostgreSQL 15 offers (older ones only copy files)
by_hand_clone() {
        as_metabase "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres \
                -c "CREATE DATABASE metabase_by_hand TEMPLATE metabase OWNER metabase STRATEGY $1"
}

imed() { fmt 0 "$(median "$@")"; }
# ratios A B: the median of the rounds' A[i] / B[i] (each round's pair ran back to back, so drift
# in the machine's load cancels), 0 without a baseline.
ratios() {
        local -n a=$1 b=$2
        local i r=()
        for i in "${!a[@]}"; do
                ((b[i] > 0)) && r+=("$(calc "${a[i]} / ${b[i]}")") || r+=(0)
        done
        median "${r[@]}"
}
# The clone's baseline: CREATE DATABASE ... TEMPLATE by hand with each strategy, timed into W and F.
clone_by_hand() {
        local strategy t
        if ((PG_NUM < 150000)); then
                W+=(0) F+=(0)
                return
        fi
        for strategy in WAL_LOG FILE_COPY; do
                t=$(timed by_hand_clone $strategy)
                pg_super "DROP DATABASE metabase_by_hand"
                if [[ $strategy == WAL_LOG ]]; then W+=("$t"); else F+=("$t"); fi
        done
}
RESULTS=$SB/results
: >"$RESULTS"
for mb in $SIZES; do
        bytes=$(generate "$mb")
        B=() H=() R=() P=() C=() X=() D=() W=() F=()
        for round in $(seq 1 "$ROUNDS"); do
                # alternated: the helper first in odd rounds, by hand first in even ones
                if ((round % 2)); then
                        B+=("$(timed helper backup "$SB/dumps/helper.dump")")
                        H+=("$(timed by_hand_dump)")
                else
                        H+=("$(timed by_hand_dump)")
                        B+=("$(timed helper backup "$SB/dumps/helper.dump")")
                fi
                dump_bytes=$(stat -c %s "$SB/dumps/helper.dump")
                pg_super "DROP DATABASE IF EXISTS restored" >/dev/null
                pg_super "CREATE DATABASE restored OWNER metabase" >/dev/null
                if ((round % 2)); then
                        R+=("$(timed helper restore "$SB/dumps/helper.dump")")
                        P+=("$(timed by_hand_restore)")
                else
                        P+=("$(timed by_hand_restore)")
                        R+=("$(timed helper restore "$SB/dumps/helper.dump")")
                fi
                pg_super "DROP DATABASE restored" >/dev/null
                ((round % 2)) || clone_by_hand
                C+=("$(timed helper clone metabase_mbup_bench)")
                clone_bytes=$(sed -n 's/^size //p' "$SB/helper.out")
                X+=("$(timed helper restore-clone metabase_mbup_bench metabase_mbup_bench_kept)")
                D+=("$(timed helper drop-clone metabase_mbup_bench_kept)")
                ((round % 2 == 0)) || clone_by_hand
                log "$mb MB round $round: backup ${B[-1]} ms, pg_dump ${H[-1]} ms; restore ${R[-1]} ms, pg_restore ${P[-1]} ms; clone ${C[-1]} ms, restore-clone ${X[-1]} ms, drop-clone ${D[-1]} ms; CREATE DATABASE WAL_LOG ${W[-1]} ms, FILE_COPY ${F[-1]} ms"
        done
        echo "$mb $bytes $dump_bytes $clone_bytes $(imed "${B[@]}") $(imed "${H[@]}") $(imed "${R[@]}") $(imed "${P[@]}") $(imed "${C[@]}") $(imed "${X[@]}") $(imed "${D[@]}") $(imed "${W[@]}") $(imed "${F[@]}") $(ratios B H) $(ratios R P) $(ratios C F)" >>"$RESULTS"
done

echo "== PostgreSQL $PG_VERSION application database (fsync on, page cache warm; ms, median of $ROUNDS rounds;"
echo "   ratios: the median of the rounds' ratios, each pair having run back to back)"
echo "-- the dump method: backup = mbupgraded-db backup (pg_dump -Fc, pg_restore --list, fsync, SHA-256),"
echo "   pg_dump = pg_dump -Fc -f by hand; restore = mbupgraded-db restore (pg_restore to SQL, then DROP OWNED"
echo "   and the SQL in one transaction), pg_restore = pg_restore --single-transaction into a fresh database"
printf '%9s %9s | %8s %8s %6s | %8s %10s %6s\n' database dump backup pg_dump ratio restore pg_restore ratio
while read -r mb bytes dump clone b h r p c x d w f rb rr rc; do
        printf '%6s MB %6s MB | %8d %8d %6s | %8d %10d %6s\n' "$((bytes >> 20))" "$((dump >> 20))" \
                "$b" "$h" "$(fmt 2 "$rb")" "$r" "$p" "$(fmt 2 "$rr")"
done <"$RESULTS"
echo "-- the clone method: clone = mbupgraded-db clone (CREATE DATABASE ... TEMPLATE ... STRATEGY FILE_COPY,"
echo "   properties copied); by hand: CREATE DATABASE ... TEMPLATE, each STRATEGY; ratio: clone / FILE_COPY by hand;"
echo "   restore-clone: two renames; drop-clone: retention"
printf '%9s %9s | %8s %9s %10s %6s | %13s %10s\n' database clone clone WAL_LOG FILE_COPY ratio restore-clone drop-clone
while read -r mb bytes dump clone b h r p c x d w f rb rr rc; do
        printf '%6s MB %6s MB | %8d %9s %10s %6s | %13d %10d\n' "$((bytes >> 20))" "$((clone >> 20))" "$c" \
                "$( ((w)) && echo "$w" || echo -)" "$( ((f)) && echo "$f" || echo -)" \
                "$( ((f)) && fmt 2 "$rc" || echo -)" "$x" "$d"
done <"$RESULTS"
echo "-- added downtime: of an upgrade, the dump method's backup or the clone method's clone; of a rollback,"
echo "   restore or restore-clone"

pass=1
verdict() { if "$@"; then echo PASS; else echo FAIL; fi; }
first=$(head -n 1 "$RESULTS")
last=$(tail -n 1 "$RESULTS")
read -r mb0 bytes0 _ _ b0 h0 _ _ c0 _ <<<"$first"
read -r mb1 bytes1 _ _ b1 h1 r1 p1 c1 _ _ _ _ rb1 rr1 _ <<<"$last"
if [[ $first != "$last" ]]; then
        g=$(calc "$bytes1 / $bytes0")
        echo "== growth from $((bytes0 >> 20)) to $((bytes1 >> 20)) MiB ($(fmt 1 "$g")x the data): backup $(fmt 1 "$(calc "$b1 / $b0")")x, pg_dump $(fmt 1 "$(calc "$h1 / $h0")")x, clone $(fmt 1 "$(calc "$c1 / $c0")")x"
        echo "   per GiB at $((bytes1 >> 20)) MiB: backup $(fmt 1 "$(calc "$b1 / 1000 / ($bytes1 / 2^30)")") s, pg_dump $(fmt 1 "$(calc "$h1 / 1000 / ($bytes1 / 2^30)")") s, clone $(fmt 1 "$(calc "$c1 / 1000 / ($bytes1 / 2^30)")") s"
fi
while read -r mb bytes _ _ b h r p c x _ w f rb rr rc; do
        size="$((bytes >> 20)) MiB"
        vb=$(verdict le "$rb" "$TARGET_BACKUP")
        vr=$(verdict le "$rr" "$TARGET_RESTORE")
        vx=$(verdict test "$x" -le "$TARGET_RENAME_MS")
        summary "db backup/pg_dump, $size" "$(fmt 2 "$rb")" x "<= $TARGET_BACKUP" "$vb"
        summary "db restore/pg_restore, $size" "$(fmt 2 "$rr")" x "<= $TARGET_RESTORE" "$vr"
        summary "db backup (downtime), $size" "$b" ms "-" INFO
        summary "db restore (rollback downtime), $size" "$r" ms "-" INFO
        summary "db clone (downtime), $size" "$c" ms "-" INFO
        ((f == 0)) || summary "db clone/CREATE DATABASE FILE_COPY, $size" "$(fmt 2 "$rc")" x "-" INFO
        ((w == 0)) || summary "db CREATE DATABASE WAL_LOG by hand, $size" "$w" ms "-" INFO
        summary "db restore-clone, $size" "$x" ms "<= $TARGET_RENAME_MS" "$vx"
        [[ $vb == PASS && $vr == PASS && $vx == PASS ]] || pass=0
done <"$RESULTS"
vc=$(verdict le "$(calc "$c1 / $b1")" "$TARGET_CLONE")
summary "db clone/backup, $((bytes1 >> 20)) MiB" "$(fmt 2 "$(calc "$c1 / $b1")")" x "<= $TARGET_CLONE" "$vc"
[[ $vc == PASS ]] || pass=0
if ((pass)); then
        echo "VERDICT: PASS db-backup at $((bytes1 >> 20)) MiB: backup $(fmt 2 "$rb1")x pg_dump, restore $(fmt 2 "$rr1")x pg_restore, clone $(fmt 2 "$(calc "$c1 / $b1")")x backup"
else
        echo "VERDICT: FAIL db-backup at $((bytes1 >> 20)) MiB: backup $(fmt 2 "$rb1")x pg_dump (<= $TARGET_BACKUP), restore $(fmt 2 "$rr1")x pg_restore (<= $TARGET_RESTORE), clone $(fmt 2 "$(calc "$c1 / $b1")")x backup (<= $TARGET_CLONE), restore-clone <= $TARGET_RENAME_MS ms at every size"
        exit 1
fi
