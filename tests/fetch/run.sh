#!/bin/bash
# SPDX-License-Identifier: MIT
# The download helper against a real nginx with TLS (tests/integration/nginx.sh): every test is a
# real transfer over loopback. Prints "ok N - name" / "not ok N - name" and a summary line.
#
#   tests/fetch/run.sh BUILD_DIR
#
# Exit status: 0 all passed, 1 some failed, 77 skipped (no nginx or openssl). MBUP_KEEP=1 keeps
# the directory with nginx's logs and the downloads.

set -euo pipefail

BUILD=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FETCH=$BUILD/fetch/mbupgraded-fetch

for p in nginx openssl curl sha256sum; do
        command -v "$p" >/dev/null || { echo "1..0 # SKIP $p is not installed"; exit 77; }
done
[[ -x "$FETCH" ]] || { echo "no $FETCH: build first" >&2; exit 1; }

# Whatever the caller's environment, these tests talk to loopback only.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy no_proxy NO_PROXY

T=$(mktemp -d /tmp/mbup-fetch-test.XXXXXX)
cleanup() {
        local rc=$?
        nginx_stop
        if [[ -n "${MBUP_KEEP:-}" ]]; then
                echo "# kept $T"
        else
                rm -rf "$T"
        fi
        exit $rc
}
trap cleanup EXIT

# hostile-httpd is built by tests/fetch/meson.build; until then (or in another build) build it here.
NGINX_HOSTILE_HTTPD=$BUILD/tests/fetch/hostile-httpd
if [[ ! -x "$NGINX_HOSTILE_HTTPD" ]]; then
        NGINX_HOSTILE_HTTPD=$T/hostile-httpd
        cc -std=gnu11 -D_GNU_SOURCE -O2 -I"$SRC/common" -o "$NGINX_HOSTILE_HTTPD" "$SRC/tests/fetch/hostile-httpd.c"
fi

source "$SRC/tests/integration/nginx.sh"
nginx_start "$T/nginx"

WWW=$NGINX_DIR/www
OUT=$T/out
mkdir -p "$OUT"
head -c $((3 * 1024 * 1024 + 12345)) /dev/urandom >"$WWW/metabase.jar"
JAR_SIZE=$(stat -c %s "$WWW/metabase.jar")
JAR_SHA=$(sha256sum "$WWW/metabase.jar" | cut -d' ' -f1)
# Larger than the helper's ring of buffers (4 MiB) many times over, and no multiple of its slots.
head -c $((40 * 1024 * 1024 + 4321)) /dev/urandom >"$WWW/big.bin"
BIG_SIZE=$(stat -c %s "$WWW/big.bin")
BIG_SHA=$(sha256sum "$WWW/big.bin" | cut -d' ' -f1)
printf '{"latest":{"version":"v0.56.3"}}\n' >"$WWW/version-info.json"

N=0
PASSED=0
FAILED=0

# fetch ARGS...: runs the helper; sets RC, LAST (its last line of stdout), LINES (all of them).
fetch() {
        set +e
        "$FETCH" "$@" >"$T/stdout" 2>"$T/stderr"
        RC=$?
        set -e
        LINES=$(cat "$T/stdout")
        LAST=$(tail -n 1 "$T/stdout")
}

# t NAME FUNCTION: runs one test; the function fails (non-zero) with a "# why" line on stderr.
t() {
        local name=$1
        shift
        N=$((N + 1))
        rm -rf "${OUT:?}"/*
        : >"$T/stdout"
        mark_log
        # Not "if (...)": that would turn off set -e inside the test.
        set +e
        (
                set -e
                "$@"
        ) 2>"$T/why"
        local rc=$?
        set -e
        if [[ $rc -eq 0 ]]; then
                echo "ok $N - $name"
                PASSED=$((PASSED + 1))
        else
                echo "not ok $N - $name"
                sed 's/^/#   /' "$T/why"
                sed 's/^/#   stdout: /' "$T/stdout" 2>/dev/null | tail -n 5
                FAILED=$((FAILED + 1))
        fi
}

fail() {
        echo "$*" >&2
        return 1
}

expect_done() { # SIZE SHA256
        [[ $RC -eq 0 ]] || fail "exit status $RC, expected 0"
        [[ "$LAST" == "done $1 $2" ]] || fail "last line '$LAST', expected 'done $1 $2'"
}

expect_error() { # KIND [REGEX]
        [[ $RC -eq 1 ]] || fail "exit status $RC, expected 1"
        [[ "$LAST" == "error $1 "* ]] || fail "last line '$LAST', expected 'error $1 ...'"
        [[ -z "${2:-}" || "$LAST" =~ $2 ]] || fail "message '$LAST' does not match /$2/"
        [[ ! -e "$OUT/f" ]] || fail "$OUT/f exists after a failure"
}

# What the server logged since the test began (nginx writes the line once the response is out,
# which may be a moment after the client has it all).
mark_log() { LOG_MARK=$(wc -l <"$NGINX_ACCESS_LOG"); }
log_since_mark() { tail -n +$((LOG_MARK + 1)) "$NGINX_ACCESS_LOG"; }
log_has() { # ERE
        for _ in $(seq 1 40); do
                log_since_mark | grep -qE -- "$1" && return 0
                sleep 0.05
        done
        fail "no /$1/ in the server's log: $(log_since_mark)"
}

# Every line of the protocol: progress lines, then one done/error line.
protocol_is_well_formed() {
        local n
        n=$(grep -c . "$T/stdout")
        if head -n $((n - 1)) "$T/stdout" | grep -qvE '^progress [0-9]+ [0-9]+$'; then
                fail "a bad progress line"
        fi
        grep -qE '^(done [0-9]+ [0-9a-f]{64}|error (http|size|timeout|tls|redirect|protocol|network|io|usage) .+)$' \
                <<<"$LAST" || fail "bad final line '$LAST'"
}

test_good_download() {
        fetch --url "$NGINX_URL/metabase.jar" --output "$OUT/f" --ca-file "$TEST_CA"
        expect_done "$JAR_SIZE" "$JAR_SHA"
        protocol_is_well_formed
        [[ "$(sha256sum <"$OUT/f" | cut -d' ' -f1)" == "$JAR_SHA" ]] || fail "the file's hash differs"
        [[ "$(stat -c %a "$OUT/f")" == 600 ]] || fail "mode $(stat -c %a "$OUT/f"), expected 600"
        [[ ! -e "$OUT/f.part" ]] || fail "f.part left behind"
        grep -qE "^progress [0-9]+ $JAR_SIZE\$" <<<"$LINES" || fail "no progress line with the total"
        log_has 'ua="mbupgraded/[0-9.]+"'
}

test_small_file_with_small_limit() {
        fetch --url "$NGINX_URL/version-info.json" --output "$OUT/f" --ca-file "$TEST_CA" --max-size 4096
        expect_done "$(stat -c %s "$WWW/version-info.json")" "$(sha256sum <"$WWW/version-info.json" | cut -d' ' -f1)"
        cmp -s "$OUT/f" "$WWW/version-info.json" || fail "content differs"
}

test_resume() {
        local half=$((JAR_SIZE / 2))
        head -c $half "$WWW/metabase.jar" >"$OUT/f.part"
        fetch --url "$NGINX_URL/metabase.jar" --output "$OUT/f" --ca-file "$TEST_CA" --resume
        expect_done "$JAR_SIZE" "$JAR_SHA"
        cmp -s "$OUT/f" "$WWW/metabase.jar" || fail "content differs"
        log_has "\" 206 $((JAR_SIZE - half)) range=\"bytes=$half-\""
        head -n 1 "$T/stdout" | grep -qx "progress $half $JAR_SIZE" || fail "first progress is not '$half $JAR_SIZE'"
}

# The SHA-256 reported is of the bytes in the file, whatever they are: the server's, or a .part's
# that --resume kept.
expect_hash_of_file() { # SIZE
        local got
        got=$(sha256sum <"$OUT/f" | cut -d' ' -f1)
        [[ "$LAST" == "done $1 $got" ]] || fail "last line '$LAST', the file is $(stat -c %s "$OUT/f") bytes, $got"
}

test_large_download() {
        fetch --url "$NGINX_URL/big.bin" --output "$OUT/f" --ca-file "$TEST_CA"
        expect_done "$BIG_SIZE" "$BIG_SHA"
        expect_hash_of_file "$BIG_SIZE"
        # Resumed at an odd offset past the first ring's worth.
        rm "$OUT/f"
        head -c $((17 * 1024 * 1024 + 3)) "$WWW/big.bin" >"$OUT/f.part"
        fetch --url "$NGINX_URL/big.bin" --output "$OUT/f" --ca-file "$TEST_CA" --resume --no-fsync
        expect_done "$BIG_SIZE" "$BIG_SHA"
        expect_hash_of_file "$BIG_SIZE"
        log_has "\" 206 $((BIG_SIZE - 17 * 1024 * 1024 - 3)) range=\"bytes=$((17 * 1024 * 1024 + 3))-\""
}

test_resume_hashes_what_the_part_holds() {
        # Zeros where the file's first bytes should be: the server sends the rest, and the hash is
        # of the zeros and the rest, not the file's (the caller's check against metabase.sha256
        # then refuses it).
        head -c $((5 * 1024 * 1024 + 1)) /dev/zero >"$OUT/f.part"
        fetch --url "$NGINX_URL/big.bin" --output "$OUT/f" --ca-file "$TEST_CA" --resume
        [[ $RC -eq 0 ]] || fail "exit status $RC, expected 0"
        expect_hash_of_file "$BIG_SIZE"
        [[ "$LAST" != *"$BIG_SHA" ]] || fail "reported the server's hash for other bytes"
        cmp -s -i $((5 * 1024 * 1024 + 1)) "$OUT/f" "$WWW/big.bin" || fail "the rest differs"
}

test_resume_server_ignores_range() {
        # Wrong bytes in f.part: a server that answers 200 must make the helper start over.
        head -c 1000 /dev/zero >"$OUT/f.part"
        fetch --url "$NGINX_URL/no-ranges/metabase.jar" --output "$OUT/f" --ca-file "$TEST_CA" --resume
        expect_done "$JAR_SIZE" "$JAR_SHA"
        log_has '" 200 [0-9]+ range="bytes=1000-"'
}

test_resume_part_too_long() {
        # f.part longer than the file (416): start over.
        head -c $((JAR_SIZE + 10)) /dev/zero >"$OUT/f.part"
        fetch --url "$NGINX_URL/metabase.jar" --output "$OUT/f" --ca-file "$TEST_CA" --resume
        expect_done "$JAR_SIZE" "$JAR_SHA"
        log_has '" 416 '
}

test_without_resume_part_is_replaced() {
        head -c 1000 /dev/zero >"$OUT/f.part"
        fetch --url "$NGINX_URL/metabase.jar" --output "$OUT/f" --ca-file "$TEST_CA"
        expect_done "$JAR_SIZE" "$JAR_SHA"
        log_has '" 200 [0-9]+ range="-"'
}

test_404() {
        fetch --url "$NGINX_URL/status/404" --output "$OUT/f" --ca-file "$TEST_CA"
        expect_error http '404'
        protocol_is_well_formed
        [[ ! -e "$OUT/f.part" ]] || fail "an empty f.part was left behind"
}

test_500() {
        fetch --url "$NGINX_URL/status/500" --output "$OUT/f" --ca-file "$TEST_CA"
        expect_error http '500'
}

test_redirect_https_followed() {
        fetch --url "$NGINX_URL/redirect/metabase.jar" --output "$OUT/f" --ca-file "$TEST_CA"
        expect_done "$JAR_SIZE" "$JAR_SHA"
}

test_redirect_to_http_refused() {
        fetch --url "$NGINX_URL/redirect-http/metabase.jar" --output "$OUT/f" --ca-file "$TEST_CA"
        expect_error redirect 'plain http'
        log_has '"GET /redirect-http/metabase.jar HTTP/1.1" 302 '
        ! log_since_mark | grep -q "^port=$NGINX_HTTP_PORT " || fail "the http target was fetched"
}

test_redirect_to_http_loopback_allowed() {
        fetch --url "$NGINX_URL/redirect-http/metabase.jar" --output "$OUT/f" --ca-file "$TEST_CA" \
                --allow-http-loopback
        expect_done "$JAR_SIZE" "$JAR_SHA"
        log_has "^port=$NGINX_HTTP_PORT \"GET /metabase.jar HTTP/1.1\" 200 "
}

test_redirect_to_remote_http_refused() {
        fetch --url "$NGINX_URL/redirect-http-remote/metabase.jar" --output "$OUT/f" --ca-file "$TEST_CA" \
                --allow-http-loopback --connect-timeout 2
        expect_error redirect 'plain http .*192\.0\.2\.1'
}

test_redirect_loop() {
        fetch --url "$NGINX_URL/redirect-loop/x" --output "$OUT/f" --ca-file "$TEST_CA"
        expect_error redirect 'more than 5 redirects'
}

test_untrusted_certificate_refused() {
        fetch --url "$NGINX_URL/metabase.jar" --output "$OUT/f"
        expect_error tls 'not trusted.*releases\.ca_file'
}

test_other_ca_refused() {
        fetch --url "$NGINX_OTHER_URL/metabase.jar" --output "$OUT/f" --ca-file "$TEST_CA"
        expect_error tls 'not trusted'
}

test_other_ca_accepted_with_its_ca() {
        fetch --url "$NGINX_OTHER_URL/metabase.jar" --output "$OUT/f" --ca-file "$OTHER_CA"
        expect_done "$JAR_SIZE" "$JAR_SHA"
}

test_trickle_aborted() {
        local start=$SECONDS
        fetch --url "$NGINX_URL/slow/metabase.jar" --output "$OUT/f" --ca-file "$TEST_CA" \
                --low-speed-limit 100 --low-speed-time 2
        expect_error timeout 'too slow'
        ((SECONDS - start <= 10)) || fail "took $((SECONDS - start))s"
        [[ -s "$OUT/f.part" ]] || fail "the bytes received are not kept in f.part"
}

test_total_timeout() {
        fetch --url "$NGINX_URL/slow/metabase.jar" --output "$OUT/f" --ca-file "$TEST_CA" --timeout 2
        expect_error timeout 'timed out'
}

test_truncated() {
        fetch --url "$NGINX_URL/truncated/metabase.jar" --output "$OUT/f" --ca-file "$TEST_CA"
        expect_error network 'ended before the whole file'
        [[ -e "$OUT/f.part" ]] || fail "no f.part"
        (($(stat -c %s "$OUT/f.part") < JAR_SIZE)) || fail "f.part is complete?"
        # ... and the rest comes with --resume.
        fetch --url "$NGINX_URL/metabase.jar" --output "$OUT/f" --ca-file "$TEST_CA" --resume
        expect_done "$JAR_SIZE" "$JAR_SHA"
        log_has '" 206 [0-9]+ range="bytes=[0-9]+-"'
}

test_too_big_by_content_length() {
        fetch --url "$NGINX_URL/metabase.jar" --output "$OUT/f" --ca-file "$TEST_CA" --max-size 1000000
        expect_error size 'more than the limit of 1000000|larger than'
        [[ ! -e "$OUT/f.part" ]] || fail "f.part left behind"
}

test_too_big_without_content_length() {
        fetch --url "$NGINX_URL/no-length/metabase.jar" --output "$OUT/f" --ca-file "$TEST_CA" --max-size 1000000
        expect_error size 'sent more than the limit of 1000000'
        (($(stat -c %s "$OUT/f.part") <= 1000000)) || fail "f.part holds more than --max-size"
}

test_no_content_length() {
        fetch --url "$NGINX_URL/no-length/metabase.jar" --output "$OUT/f" --ca-file "$TEST_CA"
        expect_done "$JAR_SIZE" "$JAR_SHA"
        grep -qx "progress 0 0" <<<"$LINES" || fail "TOTAL is not 0 for an unknown length"
}

test_lying_length() {
        # More bytes than announced: only the announced ones are kept (the hash check upstream of
        # this helper then refuses the file).
        local half=$((JAR_SIZE / 2))
        fetch --url "$NGINX_URL/lying-length/metabase.jar" --output "$OUT/f" --ca-file "$TEST_CA"
        expect_done "$half" "$(head -c $half "$WWW/metabase.jar" | sha256sum | cut -d' ' -f1)"
}

test_http_refused_without_flag() {
        fetch --url "$NGINX_HTTP_URL/metabase.jar" --output "$OUT/f"
        expect_error protocol 'plain http'
}

test_http_loopback_allowed() {
        fetch --url "http://localhost:$NGINX_HTTP_PORT/metabase.jar" --output "$OUT/f" --allow-http-loopback
        expect_done "$JAR_SIZE" "$JAR_SHA"
}

test_http_remote_refused_without_connecting() {
        local url=http://192.0.2.1:$NGINX_HTTP_PORT/metabase.jar
        if command -v strace >/dev/null; then
                set +e
                strace -f -qq -e trace=connect -o "$T/strace" \
                        "$FETCH" --url "$url" --output "$OUT/f" --allow-http-loopback >"$T/stdout" 2>"$T/stderr"
                RC=$?
                set -e
                LAST=$(tail -n 1 "$T/stdout")
                ! grep -q 'connect(' "$T/strace" || fail "it connected: $(grep 'connect(' "$T/strace")"
        else
                fetch --url "$url" --output "$OUT/f" --allow-http-loopback
        fi
        expect_error protocol 'plain http'
}

test_other_schemes_refused() {
        fetch --url "ftp://127.0.0.1/metabase.jar" --output "$OUT/f"
        expect_error protocol 'only https'
}

test_file_url() {
        fetch --url "file://$WWW/metabase.jar" --output "$OUT/f"
        expect_done "$JAR_SIZE" "$JAR_SHA"
        cmp -s "$OUT/f" "$WWW/metabase.jar" || fail "content differs"
        head -c 1000 "$WWW/metabase.jar" >"$OUT/f.part"
        rm "$OUT/f"
        fetch --url "file://$WWW/metabase.jar" --output "$OUT/f" --resume
        expect_done "$JAR_SIZE" "$JAR_SHA"
        head -n 1 "$T/stdout" | grep -qx "progress 1000 $JAR_SIZE" || fail "did not resume at 1000"
}

test_progress_rate() {
        local start end lines
        start=$(date +%s%N)
        fetch --url "$NGINX_URL/rate/1m/metabase.jar" --output "$OUT/f" --ca-file "$TEST_CA"
        end=$(date +%s%N)
        expect_done "$JAR_SIZE" "$JAR_SHA"
        protocol_is_well_formed
        lines=$(grep -c '^progress ' "$T/stdout")
        # 3 MiB at 1 MiB/s after a first second at full speed: about 2 s, so 8 or 9 lines.
        ((lines >= 5)) || fail "only $lines progress lines"
        ((lines <= (end - start) / 250000000 + 2)) || fail "$lines progress lines in $(((end - start) / 1000000)) ms"
        # Non-decreasing, against the right total.
        grep '^progress ' "$T/stdout" | awk -v total="$JAR_SIZE" \
                '$3 != total || $2 < last { bad = 1 } { last = $2 } END { exit bad }' || fail "bad progress sequence"
}

test_proxy_from_environment_used() {
        # nginx as the "proxy": it logs the CONNECT it gets (and refuses it).
        https_proxy=http://127.0.0.1:$NGINX_HTTP_PORT fetch --url "https://downloads.example.invalid/x.jar" \
                --output "$OUT/f"
        expect_error network ''
        log_has '"CONNECT downloads\.example\.invalid:443 HTTP/1\.1" 4[0-9][0-9] '
}

test_proxy_not_used_for_loopback() {
        # A dead proxy in the environment; a loopback URL still goes straight to this machine.
        https_proxy=http://127.0.0.1:1 http_proxy=http://127.0.0.1:1 \
                fetch --url "$NGINX_URL/metabase.jar" --output "$OUT/f" --ca-file "$TEST_CA"
        expect_done "$JAR_SIZE" "$JAR_SHA"
}

test_usage_errors() {
        fetch --output "$OUT/f"
        [[ $RC -eq 2 && "$LAST" == "error usage "* ]] || fail "no --url: rc=$RC '$LAST'"
        fetch --url "$NGINX_URL/x" --output "$OUT/f" --max-size lots
        [[ $RC -eq 2 && "$LAST" == "error usage "* ]] || fail "bad --max-size: rc=$RC '$LAST'"
        fetch --url "$NGINX_URL/x" --output "$OUT/f" --frobnicate
        [[ $RC -eq 2 && "$LAST" == "error usage "* ]] || fail "unknown option: rc=$RC '$LAST'"
}

test_output_dir_missing() {
        fetch --url "$NGINX_URL/metabase.jar" --output "$OUT/nowhere/f" --ca-file "$TEST_CA"
        expect_error io 'nowhere/f\.part'
}

t "good download: hash, mode, progress, User-Agent" test_good_download
t "small file with a small --max-size" test_small_file_with_small_limit
t "resume after an interrupted download (Range request, 206)" test_resume
t "a 40 MiB download, and resumed past 17 MiB: the hash is the file's" test_large_download
t "resume hashes what the .part holds, not what the server has" test_resume_hashes_what_the_part_holds
t "resume from a server that ignores Range starts over" test_resume_server_ignores_range
t "resume with a .part longer than the file (416) starts over" test_resume_part_too_long
t "without --resume an old .part is replaced" test_without_resume_part_is_replaced
t "404 is an http error" test_404
t "500 is an http error" test_500
t "redirect to https is followed" test_redirect_https_followed
t "redirect to http is refused" test_redirect_to_http_refused
t "redirect to http on loopback allowed with --allow-http-loopback" test_redirect_to_http_loopback_allowed
t "redirect to http on another host refused even with --allow-http-loopback" test_redirect_to_remote_http_refused
t "redirect loop stops after 5" test_redirect_loop
t "untrusted certificate refused" test_untrusted_certificate_refused
t "certificate from another CA refused with --ca-file TEST_CA" test_other_ca_refused
t "certificate accepted with its CA in --ca-file" test_other_ca_accepted_with_its_ca
t "trickle aborted by the low-speed limit" test_trickle_aborted
t "total timeout" test_total_timeout
t "truncated download leaves only .part, then resumes" test_truncated
t "too big by Content-Length (--max-size)" test_too_big_by_content_length
t "too big without Content-Length (--max-size in the write callback)" test_too_big_without_content_length
t "no Content-Length within the limit" test_no_content_length
t "more bytes than Content-Length: only the announced ones are kept" test_lying_length
t "http:// refused without --allow-http-loopback" test_http_refused_without_flag
t "http://localhost allowed with --allow-http-loopback" test_http_loopback_allowed
t "http:// to another host refused without connecting" test_http_remote_refused_without_connecting
t "ftp:// refused" test_other_schemes_refused
t "file:// works, and resumes" test_file_url
t "progress: at most 4 lines a second, with the total" test_progress_rate
t "a proxy from the environment is used" test_proxy_from_environment_used
t "a proxy from the environment is not used for loopback" test_proxy_not_used_for_loopback
t "usage errors exit 2" test_usage_errors
t "missing output directory is an io error" test_output_dir_missing

echo "1..$N"
echo "$PASSED passed, $FAILED failed"
((FAILED == 0))
