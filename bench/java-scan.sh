#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench/java-scan.sh BUILD_DIR
#
# The time to find the Java a JAR of real size needs. Metabase's Main-Class is a gen-class stub
# at class-file version 49, so mbupgraded reads the first 8 bytes of every class (common/jar.c).
# A generated JAR shaped like a real release (not committed; built in a temporary directory):
# BENCH_CLASSES (40 000) class files of 1-12 KB, deflated, at 52 with some at
# 55 and one at 65, a few META-INF/versions/N/ copies, the stub Main-Class at 49, and stored
# padding up to BENCH_JAR_MB (400) MB. Page cache warm, median of BENCH_RUNS (5) runs each:
#   - `mbctl inspect --no-hash JAR` (opens the archive, reads version.properties and the
#     manifest, scans every class): the figure;
#   - `unzip -l JAR` (reads the central directory alone): the baseline, in the same run;
#   - their ratio. Target: the scan within 1 s, and it must say Java 21.
set -euo pipefail

BUILD=$(cd "${1:?usage: bench/java-scan.sh BUILD_DIR}" && pwd)
MBCTL=$BUILD/cli/mbctl
CLASSES=${BENCH_CLASSES:-40000}
JAR_MB=${BENCH_JAR_MB:-400}
RUNS=${BENCH_RUNS:-5}
TARGET_MS=1000

source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
[[ -x $MBCTL ]] || { echo "no mbctl at $MBCTL (meson compile -C $BUILD)" >&2; exit 2; }
command -v unzip >/dev/null || { echo "unzip not found (apt-get install unzip)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "python3 not found" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mbup-bench-java-scan.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
JAR=$WORK/metabase.jar

echo "Generating a $JAR_MB MB JAR with $CLASSES classes..."
t0=$(now_ns)
python3 - "$JAR" "$CLASSES" "$JAR_MB" <<'PY'
import os, random, struct, sys, zipfile

path, n, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(14)
words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz$_/") for _ in range(rng.randint(4, 24))) for _ in range(4000)]

def klass(major, size):
    # A class-file header, then constant-pool-like text: it deflates about as well as real classes.
    body = bytearray(struct.pack(">IHH", 0xCAFEBABE, 0, major))
    while len(body) < size:
        body += rng.choice(words) + bytes([1, rng.randrange(256)])
    return bytes(body[:size])

with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
    z.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\nMulti-Release: true\r\n"
               "Main-Class: metabase.core.bootstrap\r\n\r\n")
    z.writestr("version.properties", "date=2025-08-01\ntag=v0.56.3\nhash=0123abc")
    z.writestr("metabase/core/bootstrap.class", klass(49, 900))
    for i in range(n):
        major = 65 if i == n // 2 else (55 if i % 10 == 0 else 52)
        z.writestr("metabase/pkg%03d/ns%05d$fn__%d.class" % (i % 500, i, i), klass(major, rng.randint(1000, 12000)))
    for v in (11, 17, 21, 22):
        z.writestr("META-INF/versions/%d/com/example/Fast.class" % v, klass(44 + v, 2000))
    z.close()
size = os.path.getsize(path)
pad = mb * 1048576 - size
if pad > 0:
    with zipfile.ZipFile(path, "a", zipfile.ZIP_STORED) as z:
        chunk = os.urandom(1048576)
        with z.open("metabase/padding.bin", "w", force_zip64=True) as f:
            while pad > 0:
                f.write(chunk[: min(pad, len(chunk))])
                pad -= len(chunk)
PY
t1=$(now_ns)
size=$(stat -c %s "$JAR")
entries=$(unzip -Z1 "$JAR" | wc -l)
echo "JAR: $((size >> 20)) MiB, $entries entries (generated in $(calc "($t1 - $t0) / 1e9") s)"

# run_ms CMD...: wall time in ms of one run (output to $WORK/out); a failure ends the benchmark.
run_ms() {
        local t0 t1 rc=0
        t0=$(now_ns)
        timeout 120 "$@" >"$WORK/out" 2>&1 || rc=$?
        t1=$(now_ns)
        ((rc == 0)) || { echo "FAIL: '$*' exited $rc: $(head -c 500 "$WORK/out")" >&2; exit 1; }
        calc "($t1 - $t0) / 1000000"
}

cat "$JAR" >/dev/null # page cache warm
# Also with TZ=:/etc/localtime: libzip converts every entry's DOS time with mktime(), which
# without TZ stat()s /etc/localtime each time (40 000 times here).
scan=() base=() scan_tz=()
for ((i = 0; i < RUNS; i++)); do
        scan+=("$(run_ms "$MBCTL" inspect --no-hash "$JAR")")
        cp "$WORK/out" "$WORK/inspect.out"
        base+=("$(run_ms unzip -l "$JAR")")
        scan_tz+=("$(TZ=:/etc/localtime run_ms "$MBCTL" inspect --no-hash "$JAR")")
done
scan_ms=$(median "${scan[@]}")
base_ms=$(median "${base[@]}")
scan_tz_ms=$(median "${scan_tz[@]}")
ratio=$(calc "$scan_ms / $base_ms")
java=$(sed -n 's/^Java needed: \([0-9]*\).*/\1/p' "$WORK/inspect.out")

echo "mbctl inspect --no-hash (every class's header): median $(fmt 1 "$scan_ms") ms  (runs: ${scan[*]})"
echo "unzip -l (central directory only, baseline):    median $(fmt 1 "$base_ms") ms  (runs: ${base[*]})"
echo "the same with TZ=:/etc/localtime:             median $(fmt 1 "$scan_tz_ms") ms  (runs: ${scan_tz[*]})"
echo "ratio scan / baseline: $(fmt 2 "$ratio")"
echo "Java needed: ${java:-?} (expected 21)"

result=PASS
[[ $java == 21 ]] || result=FAIL
le "$scan_ms" "$TARGET_MS" || result=FAIL
summary "java scan, $((size >> 20)) MiB JAR, $((entries / 1000))k entries" "$(fmt 1 "$scan_ms")" ms "<= $TARGET_MS ms" "$result"
summary "java scan / unzip -l (same run)" "$(fmt 2 "$ratio")" x "info" INFO
summary "java scan with TZ=:/etc/localtime" "$(fmt 1 "$scan_tz_ms")" ms "info" INFO
echo "VERDICT: $result"
[[ $result == PASS ]]
