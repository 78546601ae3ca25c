#!/bin/bash
# SPDX-License-Identifier: MIT
# The Debian package, end to end, on this machine (root): build the .deb from a scratch copy of the
# source tree with dpkg-buildpackage, lintian (no errors), dpkg -i, check that everything is in
# place (and that the package holds every file meson installs), run the installed programs, then
# dpkg --purge and check that everything is gone. systemd need not be PID 1: installing must work
# without it (a container, a chroot, this CI).
# Use: tests/debian-package.sh        (MBUP_KEEP=1 keeps the scratch directory)
set -euo pipefail
cd "$(dirname "$0")/.."

PKG=mbupgraded
fail() {
        echo "FAIL: $*" >&2
        exit 1
}
installed() { [[ $(dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null) == installed ]]; }
known() { [[ -n $(dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null | grep -v '^not-installed$') ]]; }

# A previous run that stopped half-way may have left it installed.
if known; then
        echo "# purging the $PKG left by an earlier run"
        dpkg --purge "$PKG" >/dev/null
fi

scratch=$(mktemp -d /tmp/mbup-deb.XXXXXX)
cleanup() {
        if known; then dpkg --purge "$PKG" >/dev/null 2>&1 || true; fi
        if [[ -n ${MBUP_KEEP:-} ]]; then echo "# kept $scratch"; else rm -rf "$scratch"; fi
}
trap cleanup EXIT

# The tree as it is (tracked and new files, not what .gitignore leaves out: no build dirs), so
# that the package is built from what is being tested; a plain copy where git is not at hand.
src=$scratch/$PKG
mkdir "$src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git ls-files -z --cached --others --exclude-standard |
                tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C "$src"
else
        tar --exclude='./build*' --exclude=./.git -cf - . | tar -xf - -C "$src"
fi
[[ -f $src/debian/control ]] || fail "no debian/ in the copied tree"

echo "# dpkg-buildpackage -us -uc -b"
start=$SECONDS
(cd "$src" && dpkg-buildpackage -us -uc -b >"$scratch/build.log" 2>&1) ||
        { tail -n 40 "$scratch/build.log"; fail "dpkg-buildpackage failed (log above)"; }
deb=$(ls "$scratch"/${PKG}_*.deb)
echo "# built $(basename "$deb") in $((SECONDS - start))s"

echo "# lintian"
lintian_out=$(lintian --fail-on error --display-info "$scratch"/*.changes 2>&1) && lintian_rc=0 || lintian_rc=$?
printf '%s\n' "$lintian_out" | grep -v '^running with root privileges' | sed 's/^/  /'
[[ $lintian_rc -eq 0 ]] || fail "lintian reports errors"
! printf '%s\n' "$lintian_out" | grep -q '^E:' || fail "lintian reports errors"

echo "# dpkg -i"
[[ ! -d /run/systemd/system ]] && echo "# (systemd is not PID 1 here: no unit is started)"
dpkg -i "$deb" >"$scratch/install.log" 2>&1 || { cat "$scratch/install.log"; fail "dpkg -i failed"; }
installed || fail "dpkg says $PKG is not installed"

unitdir=$(pkg-config --variable=systemdsystemunitdir systemd)
files=(
        /usr/sbin/mbupgraded
        /usr/bin/mbctl
        /usr/libexec/mbupgraded-fetch
        /usr/libexec/mbupgraded-db
        "$unitdir/mbupgraded.service"
        "$unitdir/mbupgraded-window.service"
        "$unitdir/mbupgraded-window.timer"
        /usr/share/dbus-1/system.d/org.mbupgraded.Manager1.conf
        /etc/mbupgraded/mbupgraded.yaml
        /usr/lib/sysusers.d/mbupgraded.conf
        /usr/lib/tmpfiles.d/mbupgraded.conf
        /usr/share/man/man8/mbupgraded.8.gz
        /usr/share/man/man1/mbctl.1.gz
        /usr/share/man/man5/mbupgraded.yaml.5.gz
        /usr/share/bash-completion/completions/mbctl
        /usr/share/doc/$PKG/dbus.md
)
for f in "${files[@]}"; do
        [[ -f $f ]] || fail "not installed: $f"
done
dpkg-query -W -f='${Conffiles}\n' "$PKG" | grep -q '^ /etc/mbupgraded/mbupgraded.yaml ' ||
        fail "/etc/mbupgraded/mbupgraded.yaml is not a conffile"
# The group: made by the postinst through systemd-sysusers (the group may be there from before,
# so the postinst is checked too).
dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./postinst | grep -q '^ *systemd-sysusers .*mbupgraded.conf' ||
        fail "the postinst does not run systemd-sysusers for mbupgraded.conf"
getent group mbupgrade >/dev/null || fail "the group mbupgrade was not created"
# The config file may hold database passwords: 0640 root:mbupgrade (issue 15, item 10); a
# member of the group reads it (mbctl config check, mbctl doctor), another user does not.
cfg_mode=$(stat -c '%a %U %G' /etc/mbupgraded/mbupgraded.yaml)
[[ $cfg_mode == "640 root mbupgrade" ]] || fail "/etc/mbupgraded/mbupgraded.yaml is $cfg_mode, not 640 root mbupgrade"
setpriv --reuid=nobody --regid="$(getent group mbupgrade | cut -d: -f3)" --clear-groups \
        /usr/bin/mbctl config check /etc/mbupgraded/mbupgraded.yaml >/dev/null ||
        fail "a member of mbupgrade cannot read the config file"
! setpriv --reuid=nobody --regid=nogroup --clear-groups cat /etc/mbupgraded/mbupgraded.yaml >/dev/null 2>&1 ||
        fail "a user outside mbupgrade reads the config file"
echo "# /etc/mbupgraded/mbupgraded.yaml: $cfg_mode"
[[ -d /var/lib/mbupgraded/backups ]] || fail "the state directory was not created (tmpfiles)"
[[ $(stat -c %a /var/lib/mbupgraded/backups) == 700 ]] || fail "/var/lib/mbupgraded/backups is not 0700"
# Enabled (links only, nothing started); the maintenance window is the admin's choice.
[[ -L /etc/systemd/system/multi-user.target.wants/mbupgraded.service ]] || fail "mbupgraded.service is not enabled"
[[ ! -e /etc/systemd/system/timers.target.wants/mbupgraded-window.timer ]] || fail "the window's timer was enabled"
grep -q "^ExecStart=/usr/sbin/mbupgraded --config /etc/mbupgraded/mbupgraded.yaml$" "$unitdir/mbupgraded.service" ||
        fail "mbupgraded.service does not run /usr/sbin/mbupgraded with /etc/mbupgraded/mbupgraded.yaml"

# Everything meson installs is in the package (a man page compressed): the same build, installed
# into a directory of its own.
meson_dest=$scratch/meson-dest
DESTDIR=$meson_dest meson install -C "$(ls -d "$src"/obj-*)" --no-rebuild --quiet >/dev/null ||
        fail "meson install of the package's build failed"
(cd "$meson_dest" && find . -type f -o -type l) | sed 's/^\.//' | sort >"$scratch/meson-files"
dpkg -L "$PKG" | sort >"$scratch/deb-files"
missing=0
while read -r f; do
        grep -qxF -e "$f" -e "$f.gz" "$scratch/deb-files" || { echo "  meson installs $f, the package does not"; missing=1; }
done <"$scratch/meson-files"
[[ $missing -eq 0 ]] || fail "files that meson installs are missing from the package"
echo "# $(wc -l <"$scratch/meson-files") files from meson install, all in the package"

/usr/sbin/mbupgraded --version | grep -q "^mbupgraded $(dpkg-query -W -f='${Version}' "$PKG")" ||
        fail "mbupgraded --version: $(/usr/sbin/mbupgraded --version 2>&1)"
/usr/bin/mbctl --help | grep -q '^mbctl \[OPTIONS...\] VERB' || fail "mbctl --help"
/usr/bin/mbctl config check /etc/mbupgraded/mbupgraded.yaml >/dev/null || fail "mbctl config check of the shipped config"
man -w mbctl 2>/dev/null | grep -q '/usr/share/man/man1/mbctl.1.gz' || echo "# (man -w does not find mbctl(1); man-db not installed?)"

echo "# dpkg --purge"
dpkg --purge "$PKG" >"$scratch/purge.log" 2>&1 || { cat "$scratch/purge.log"; fail "dpkg --purge failed"; }
for f in "${files[@]}" /etc/mbupgraded /etc/systemd/system/multi-user.target.wants/mbupgraded.service /var/lib/mbupgraded; do
        [[ ! -e $f && ! -L $f ]] || fail "still there after the purge: $f"
done
status=$(dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null || true)
[[ -z $status || $status == not-installed ]] || fail "dpkg status after the purge: $status"
echo "# purged: no file left, dpkg status ${status:-unknown (forgotten)}"
echo "# the deb gate took $((SECONDS))s"
