#!/bin/bash
# SPDX-License-Identifier: MIT
#
# build-base.sh OUT.jar
# Compiles the stand-in Metabase (javac --release 11: class-file major 55, like
# Metabase < v0.53) and writes a base JAR: its classes plus the H2 JDBC driver's
# classes (from $H2_JAR, default /usr/share/java/h2.jar). make-jar.sh turns the base
# into release JARs.
set -euo pipefail

die() { echo "build-base.sh: $*" >&2; exit 1; }

[[ $# -eq 1 && -n $1 && $1 != -* ]] || die "usage: build-base.sh OUT.jar"
out=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
h2=${H2_JAR:-/usr/share/java/h2.jar}

command -v javac >/dev/null || die "javac not found (apt-get install default-jdk-headless)"
command -v jar >/dev/null || die "jar not found (apt-get install default-jdk-headless)"
command -v unzip >/dev/null || die "unzip not found (apt-get install unzip)"
[[ -r $h2 ]] || die "H2 JDBC driver $h2 not found (apt-get install libh2-java, or set H2_JAR)"
[[ -d $(dirname "$out") ]] || die "directory of $out does not exist"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mkdir "$tmp/classes"
javac --release 11 -encoding UTF-8 -Xlint:all,-path -Werror -cp "$h2" -d "$tmp/classes" \
    "$here/src/metabase/core.java" || die "javac failed"
[[ -f $tmp/classes/metabase/core.class ]] || die "javac produced no metabase/core.class"

# The driver's classes and its META-INF/services registration; not its manifest or
# any signature files.
mkdir "$tmp/h2"
unzip -q "$h2" -d "$tmp/h2" || die "cannot extract $h2"
rm -f "$tmp/h2/META-INF/MANIFEST.MF" "$tmp/h2/META-INF/"*.{SF,RSA,DSA,EC} "$tmp/h2/META-INF/"SIG-*
cp -a "$tmp/h2/." "$tmp/classes/"
[[ -f $tmp/classes/org/h2/Driver.class ]] || die "$h2 holds no org/h2/Driver.class"

# jar puts META-INF/MANIFEST.MF first; make-jar.sh replaces it in place.
jar --create --file "$tmp/base.jar" --main-class metabase.core -C "$tmp/classes" . \
    || die "jar failed"
mv -f "$tmp/base.jar" "$out"
echo "build-base.sh: wrote $out"
