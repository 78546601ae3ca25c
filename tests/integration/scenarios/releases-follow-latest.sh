# The feed as Metabase's release tooling leaves it (release/src/version-info.ts): v0.57.1 promoted
# to "latest" with a staged rollout of 50%, the previous latest (v0.56.6) back in "older" without
# its rollout, v0.57.2 released since and not promoted, a hotfix (never promoted), a beta named
# like v0.58.0-beta, a nightly, major_version_support. By default (releases.follow: latest) an
# installation outside the rollout takes nothing and `mbctl list` says why; inside it takes latest
# and nothing past it; with releases.follow: newest it takes the newest release (not the nightly).

# bucket SITE_ID MAJOR: the daemon's rollout bucket (common/policy.c policy_rollout_bucket).
bucket() { echo $((16#$(printf '%s-%s' "$1" "$2" | sha256sum | cut -c1-8) % 100)); }

# site_id_with BELOW|ABOVE: a 32-hex site id whose bucket for major 56 is below 50 or not.
site_id_with() {
        local i id b
        for i in $(seq 1 500); do
                id=$(printf '%032x' $((i * 7919)))
                b=$(bucket "$id" 56)
                if [[ $1 == below && $b -lt 50 ]] || [[ $1 == above && $b -ge 50 ]]; then
                        echo "$id"
                        return 0
                fi
        done
        die "no site id $1 50%"
}

write_promoted_feed() {
        local h='"highlights":["stand-in"]'
        cat >"$SB/mirror/version-info.json" <<EOT
{"latest":{"version":"v0.57.1","released":"2025-03-01","patch":true,$h,"rollout":50},
 "older":[{"version":"v0.57.2","released":"2025-03-20","patch":true,$h},
          {"version":"v0.57.1.1","released":"2025-03-10","patch":true,$h},
          {"version":"v0.56.6","released":"2025-02-01","patch":true,$h},
          {"version":"v0.56.5","released":"2025-01-15","patch":true,$h}],
 "beta":{"version":"v0.58.0-beta","released":"2025-03-25","rollout":100,"highlights":[]},
 "nightly":{"version":"v0.58.1","released":"2025-03-26","rollout":100,"highlights":[]},
 "major_version_support":[{"major":57,"eol":"2026-03-01"},{"major":56,"eol":"2025-12-01"}]}
EOT
}

restart_with_site_id() {
        systemctl --user stop mbupgraded.service 2>/dev/null || true
        mkdir -p "$SB/state"
        printf '%s\n' "$1" >"$SB/state/site-id"
        start_daemon
        run_mbctl 0 check
        assert_contains "$OUT" "ok: 5 releases, newest v0.57.2"
}

scenario() {
        local v out_id in_id b
        install_metabase "$(make_release v0.56.6)"
        for v in v0.57.1 v0.57.2; do
                mirror_release $v "$(make_release $v)"
        done
        mkdir -p "$SB/mirror"
        write_promoted_feed
        MBUP_ALLOW=major write_config

        # Outside latest's rollout: nothing to take, and list says why for each release.
        out_id=$(site_id_with above)
        b=$(bucket "$out_id" 56)
        restart_with_site_id "$out_id"
        run_mbctl 0 list
        assert_contains "$OUT" "Latest (Metabase's recommendation): v0.57.1, staged rollout at 50%: this installation is not in it yet (bucket $b"
        assert_contains "$OUT" "Unattended upgrades follow: latest (releases.follow); target: none"
        assert_contains "$OUT" "newer than latest v0.57.1: not promoted by Metabase yet"
        assert_contains "$OUT" "a hotfix newer than latest v0.57.1: Metabase never promotes hotfixes"
        assert_contains "$OUT" "staged rollout at 50%; this installation's bucket is $b"
        assert_not_contains "$OUT" "v0.58.1"
        assert_not_contains "$OUT" "v0.58.0"
        run_mbctl 0 list --json
        python3 -c '
import json, sys
l = {r["version"]: r for r in json.loads(sys.argv[1])}
assert list(l) == ["v0.57.2", "v0.57.1.1", "v0.57.1", "v0.56.6", "v0.56.5"], list(l)
assert l["v0.57.2"]["verdict"] == "unpromoted" and not l["v0.57.2"]["latest"]
assert l["v0.57.1.1"]["verdict"] == "unpromoted"
t = l["v0.57.1"]
assert t["latest"] and t["verdict"] == "rollout" and t["rollout"] == 50, t
assert t["rollout_applies"] and not t["in_rollout"] and t["bucket"] == int(sys.argv[2]), t
assert t["follow"] == "latest"
assert not any(r["target"] for r in l.values())
' "$OUT" "$b" || die "list --json, outside the rollout"
        run_mbctl 0 upgrade window
        assert_contains "$OUT" "nothing to do"
        assert_eq "$(running_version)" "v0.56.6"
        [[ ! -d $SB/state/staging/v0.57.2 ]] || die "the unpromoted v0.57.2 was staged"

        # Inside the rollout: latest, and not the newer v0.57.2.
        in_id=$(site_id_with below)
        b=$(bucket "$in_id" 56)
        restart_with_site_id "$in_id"
        run_mbctl 0 list
        assert_contains "$OUT" "staged rollout at 50%: this installation is in it (bucket $b)"
        assert_contains "$OUT" "target: v0.57.1"
        assert_contains "$OUT" "allowed: the target"
        run_mbctl 0 upgrade window
        assert_contains "$OUT" "v0.56.6 -> v0.57.1: committed"
        assert_eq "$(running_version)" "v0.57.1"
        # On latest's major: v0.57.2 and the hotfix are still not promoted.
        run_mbctl 0 upgrade window
        assert_contains "$OUT" "nothing to do"
        assert_eq "$(running_version)" "v0.57.1"
        [[ ! -d $SB/state/staging/v0.57.2 ]] || die "the unpromoted v0.57.2 was staged"

        # releases.follow: newest takes the newest release in the feed (never the nightly).
        sed -i 's/^releases:$/releases:\n  follow: newest/' "$SB/mbupgraded.yaml"
        grep -q '^  follow: newest$' "$SB/mbupgraded.yaml" || die "follow: newest not written"
        restart_with_site_id "$out_id"
        run_mbctl 0 list
        assert_contains "$OUT" "Unattended upgrades follow: newest (releases.follow); target: v0.57.2"
        run_mbctl 0 upgrade window
        assert_contains "$OUT" "v0.57.1 -> v0.57.2: committed"
        assert_eq "$(running_version)" "v0.57.2"
        run_mbctl 0 upgrade window
        assert_contains "$OUT" "nothing to do"
}
