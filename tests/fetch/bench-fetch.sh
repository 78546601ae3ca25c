#!/bin/bash
# SPDX-License-Identifier: MIT
# What the download helper costs over plain curl: a 512 MiB file from the local nginx with TLS
# (tests/integration/nginx.sh), fetched by
#   curl            curl -o F URL                  what any download costs
#   curl+sha256sum  curl -o F URL && sha256sum F   download, then hash: what the helper replaces
#   helper          mbupgraded-fetch               download, hash while writing, fsync, rename
# twice: as fast as loopback goes (CPU-bound: nginx's TLS and the client's share the machine), and
# from /rate/100m/ at 100 MiB/s, about a 1 Gbit/s link. Prints median wall and CPU (user+sys) times,
# the ratios, and the helper's peak RSS.
#
#   tests/fetch/bench-fetch.sh BUILD_DIR [SIZE_MIB] [RUNS]
#
# The downloads go to OUT_DIR (default: a directory under /dev/shm, so that the disk is not what is
# measured and the helper's fsync is nearly free); OUT_DIR=/var/tmp/x includes the disk.

set -euo pipefail

BUILD=$(cd "${1:?usage: bench-fetch.sh BUILD_DIR [SIZE_MIB] [RUNS]}" && pwd)
SIZE_MIB=${2:-512}
RUNS=${3:-7}
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FETCH=$BUILD/fetch/mbupgraded-fetch
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy

T=$(mktemp -d /tmp/mbup-fetch-bench.XXXXXX)
if [[ -z "${OUT_DIR:-}" ]]; then
        OUT_DIR=$(mktemp -d /dev/shm/mbup-fetch-bench.XXXXXX 2>/dev/null || mktemp -d /tmp/mbup-fetch-bench-out.XXXXXX)
        RM_OUT=1
fi
mkdir -p "$OUT_DIR"
cleanup() {
        nginx_stop
        rm -rf "$T"
        [[ -z "${RM_OUT:-}" ]] || rm -rf "$OUT_DIR"
}
trap cleanup EXIT

source "$SRC/tests/integration/nginx.sh"
nginx_start "$T/nginx"
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom >"$NGINX_DIR/www/big.bin"
F=$OUT_DIR/big.bin

median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# measure NAME COMMAND...: one run; appends "wall cpu" to $T/NAME.
measure() {
        local name=$1
        shift
        rm -f "$F" "$F.part"
        /usr/bin/time -f '%e %U %S' -o "$T/time" "$@" >/dev/null
        awk '{ printf "%s %.2f\n", $1, $2 + $3 }' "$T/time" >>"$T/$name"
}

bench() { # TITLE URL
        local url=$2 name
        rm -f "$T"/{curl,curl+sha256sum,helper}
        "$FETCH" --url "$url" --output "$F" --ca-file "$TEST_CA" >/dev/null # warm-up
        for _ in $(seq 1 "$RUNS"); do
                # Interleaved, so that a slow moment of the machine hits all three alike.
                measure curl curl -sf --cacert "$TEST_CA" -o "$F" "$url"
                # shellcheck disable=SC2016 # expanded by that sh
                measure curl+sha256sum sh -c 'curl -sf --cacert "$1" -o "$2" "$3" && sha256sum "$2"' \
                        sh "$TEST_CA" "$F" "$url"
                measure helper "$FETCH" --url "$url" --output "$F" --ca-file "$TEST_CA"
        done
        echo "$1"
        for name in curl curl+sha256sum helper; do
                WALL[$name]=$(cut -d' ' -f1 "$T/$name" | median)
                CPU[$name]=$(cut -d' ' -f2 "$T/$name" | median)
                printf '  %-16s wall %6.2f s   cpu %5.2f s   (wall: %s)\n' "$name" "${WALL[$name]}" "${CPU[$name]}" \
                        "$(cut -d' ' -f1 "$T/$name" | tr '\n' ' ')"
        done
        printf '  helper / curl            wall %.2f  cpu %.2f   (target <= 1.10)\n' \
                "$(bc -l <<<"${WALL[helper]} / ${WALL[curl]}")" "$(bc -l <<<"${CPU[helper]} / ${CPU[curl]}")"
        printf '  helper / curl+sha256sum  wall %.2f  cpu %.2f   (target <= 0.50)\n' \
                "$(bc -l <<<"${WALL[helper]} / ${WALL[curl+sha256sum]}")" \
                "$(bc -l <<<"${CPU[helper]} / ${CPU[curl+sha256sum]}")"
}

declare -A WALL CPU
printf '%d MiB over https from nginx on 127.0.0.1, %d CPUs, output in %s, median of %d runs\n' \
        "$SIZE_MIB" "$(nproc)" "$OUT_DIR" "$RUNS"
bench "as fast as loopback goes:" "$NGINX_URL/big.bin"
bench "at 100 MiB/s (nginx limit_rate):" "$NGINX_URL/rate/100m/big.bin"

/usr/bin/time -v "$FETCH" --url "$NGINX_URL/big.bin" --output "$F" --ca-file "$TEST_CA" >/dev/null 2>"$T/time"
printf 'helper peak RSS: %s KiB\n' "$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$T/time")"
