#!/bin/bash
# SPDX-License-Identifier: MIT
# Every quality gate, in order: packages, a -Werror build, formatting, meson install, the unit
# tests (also under valgrind), the bash completion, the Debian package, the integration scenarios
# in the sandbox, an ASan+UBSan build of the unit tests and of the daemon running two scenarios,
# and each fuzz target for a short time.
# Ends with "N passed, N failed". Run as root from the source tree: tests/run-all.sh
set -uo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-20}
TEST_JOBS=${TEST_JOBS:-2}
passed=0
failed=0
failures=()
digest="" # the FAIL lines of failed scenarios, printed again at the end (the output above is cut)

step() { printf '\n=== %s\n' "$*"; }
gate() { # gate NAME COMMAND...: a pass/fail gate of its own
        local name=$1
        shift
        if "$@"; then
                passed=$((passed + 1))
        else
                failed=$((failed + 1))
                failures+=("$name")
        fi
}
# meson_tests NAME BUILD_DIR ARGS...: counts every test meson runs.
meson_tests() {
        local name=$1 dir=$2 out ok fail
        shift 2
        out=$(meson test -C "$dir" --print-errorlogs "$@" 2>&1)
        local rc=$?
        printf '%s\n' "$out" | grep -vE '^\s*$' | tail -n 60
        # each failure's last progress lines ("# ...") and its FAIL line, kept for the summary
        digest+=$(printf '%s\n' "$out" | awk '
                /^ *[0-9]+\/[0-9]+ .* (FAIL|TIMEOUT) / { name = $0; n = 0 }
                /^# / { ring[n % 6] = $0; n++ }
                /^FAIL: / {
                        print "--- " name
                        for (i = (n > 6 ? n - 6 : 0); i < n; i++) print substr(ring[i % 6], 1, 300)
                        print substr($0, 1, 1500)
                }')$'\n'
        ok=$(printf '%s\n' "$out" | sed -n 's/^Ok: *\([0-9]*\).*/\1/p' | tail -1)
        fail=$(printf '%s\n' "$out" | sed -n 's/^Fail: *\([0-9]*\).*/\1/p' | tail -1)
        passed=$((passed + ${ok:-0}))
        failed=$((failed + ${fail:-0}))
        if [[ $rc -ne 0 || -z "$ok" ]]; then
                failures+=("$name")
                [[ -n "${fail:-}" && "${fail:-0}" -gt 0 ]] || failed=$((failed + 1))
        fi
}

step "packages"
tests/install-deps.sh || { echo "cannot install the packages"; echo "0 passed, 1 failed"; exit 1; }

step "build (-Werror)"
if [[ ! -d build ]]; then
        # test_hooks: the crash points of crash-at-every-step (inert without MBUP_TEST_CRASH_AT)
        meson setup build -Dtest_hooks=true -Dman=enabled >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
fi
meson configure build -Dtest_hooks=true -Dman=enabled >/dev/null # an older build/ too
meson compile -C build || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

step "clang-format"
check_format() {
        local bad=()
        for f in $(git ls-files '*.c' '*.h' 2>/dev/null || find common daemon cli tests -name '*.[ch]'); do
                clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
        done
        [[ ${#bad[@]} -eq 0 ]] || { echo "clang-format would change: ${bad[*]}"; return 1; }
}
gate clang-format check_format

step "module graph (no circle among the daemon's modules: docs/architecture.md, section 8)"
check_graph() {
        local out
        out=$(python3 tools/module-graph.py) || { printf '%s\n' "$out" | tail -n 15; return 1; }
        printf '%s\n' "$out" | tail -n 2
}
gate module-graph check_graph

step "meson install (into a scratch DESTDIR)"
check_install() {
        local dest f
        dest=$(mktemp -d)
        DESTDIR=$dest meson install -C build --quiet >/dev/null || return 1
        for f in sbin/mbupgraded bin/mbctl libexec/mbupgraded-fetch libexec/mbupgraded-db \
                etc/mbupgraded/mbupgraded.yaml share/dbus-1/system.d/org.mbupgraded.Manager1.conf \
                sysusers.d/mbupgraded.conf tmpfiles.d/mbupgraded.conf \
                share/man/man8/mbupgraded.8 share/man/man1/mbctl.1 share/man/man5/mbupgraded.yaml.5 \
                bash-completion/completions/mbctl; do
                [[ -n "$(find "$dest" -path "*/$f" -print -quit)" ]] || { echo "not installed: $f"; return 1; }
        done
        for f in mbupgraded.service mbupgraded-window.service mbupgraded-window.timer; do
                [[ -n "$(find "$dest" -path "*/systemd/system/$f" -print -quit)" ]] || { echo "not installed: $f"; return 1; }
        done
        grep -qx 'g mbupgrade - -' "$(find "$dest" -path '*/sysusers.d/mbupgraded.conf')" || { echo "sysusers.d: no group mbupgrade"; return 1; }
        rm -rf "$dest"
}
gate install check_install

step "unit tests"
meson_tests unit build --suite unit
step "bash completion (offline: verbs, options, files)"
meson_tests completion build --suite completion
step "unit tests under valgrind"
meson_tests unit-valgrind build --suite unit \
        --wrapper 'valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite --quiet'

step "debian package (dpkg-buildpackage, lintian, dpkg -i, dpkg --purge)"
# Builds from a scratch copy of the tree, installs on this machine and purges again.
gate debian-package tests/debian-package.sh

step "integration scenarios (sandbox: private D-Bus, systemd --user, stand-in Metabase)"
# Two at a time: each scenario has a sandbox of its own (mount namespace, bus, manager, cgroup,
# ports), and most of a scenario's time is waiting for Java to start and settle.
meson_tests integration build --suite integration --num-processes "$TEST_JOBS"

step "ASan + UBSan"
if [[ ! -d build-asan ]]; then
        CC=gcc meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false \
                -Dc_args=-fno-sanitize-recover=all >/dev/null
fi
if meson compile -C build-asan >/dev/null; then
        export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
        meson_tests unit-asan build-asan --suite unit
        # the daemon itself under the sanitizers, through real upgrades and a rollback
        MBUP_DAEMON_ENV="ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1" \
                meson_tests integration-asan build-asan --suite integration --num-processes "$TEST_JOBS" upgrade-commits releases-stepwise-two-majors \
                upgrade-rolls-back-on-crash-during-settle hold-cancel-and-busy postgres-upgrade-commits backup-and-restore \
                notify-webhook-and-command metrics-file fleet-agent-against-postgres fleet-status-heartbeats \
                db-helper-scratch-copy-postgres db-helper-scratch-copy-mariadb rehearsal-on-h2 fleet-rollout-rolls-back \
                postgres-upgrade-commits-during-long-migration upgrade-rolls-back-when-start-hangs \
                upgrade-commits-with-https-redirect postgres-refuses-old-server zero-downtime-upgrade-through-nginx
        unset ASAN_OPTIONS UBSAN_OPTIONS
else
        failed=$((failed + 1))
        failures+=("asan-build")
fi

step "fuzz targets (${FUZZ_SECONDS}s each)"
if [[ ! -d build-fuzz ]]; then
        CC=clang meson setup build-fuzz -Dfuzz=true -Dtests=true >/dev/null
fi
if meson compile -C build-fuzz >/dev/null; then
        for t in build-fuzz/tests/fuzz/fuzz-*; do
                [[ -x "$t" && -f "$t" ]] || continue
                name=$(basename "$t")
                corpus=$(mktemp -d)
                extra=()
                cp -r "tests/fuzz/corpus/$name/." "$corpus/" 2>/dev/null || true
                case $name in
                fuzz-jar) cp build-fuzz/tests/fuzz/*.jar build-fuzz/tests/fuzz/structured-* "$corpus/" ;;
                fuzz-config) extra=(-dict=tests/fuzz/fuzz-config.dict) ;;
                esac
                if "$t" -max_total_time="$FUZZ_SECONDS" -max_len=65536 "${extra[@]}" "$corpus" >"/tmp/$name.log" 2>&1; then
                        echo "$name: $(grep -o 'Done [0-9]* runs' "/tmp/$name.log" || echo ok)"
                        passed=$((passed + 1))
                else
                        tail -n 30 "/tmp/$name.log"
                        failed=$((failed + 1))
                        failures+=("$name")
                fi
                rm -rf "$corpus"
        done
else
        failed=$((failed + 1))
        failures+=("fuzz-build")
fi

step "summary"
[[ -z "${digest//$'\n'/}" ]] || printf '%s' "$digest"
[[ ${#failures[@]} -eq 0 ]] || echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
