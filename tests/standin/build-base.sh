#!/bin/bash
# SPDX-License-Identifier: MIT
#
# build-base.sh OUT.jar
# Compiles the stand-in Metabase (javac --release 11: class-file major 55, like
# Metabase < v0.53) and writes a base JAR: its classes plus the H2 JDBC driver's
# classes (from $H2_JAR, default /usr/share/java/h2.jar), the PostgreSQL JDBC
# driver's (from $PGJDBC_JAR, default /usr/share/java/postgresql.jar) and the MariaDB
# one's, for MySQL and MariaDB (from $MYJDBC_JAR, default
# /usr/share/java/mariadb-java-client.jar). make-jar.sh turns the base into release JARs.
set -euo pipefail

die() { echo "build-base.sh: $*" >&2; exit 1; }

[[ $# -eq 1 && -n $1 && $1 != -* ]] || die "usage: build-base.sh OUT.jar"
out=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
h2=${H2_JAR:-/usr/share/java/h2.jar}
pg=${PGJDBC_JAR:-/usr/share/java/postgresql.jar}
my=${MYJDBC_JAR:-/usr/share/java/mariadb-java-client.jar}

command -v javac >/dev/null || die "javac not found (apt-get install default-jdk-headless)"
command -v jar >/dev/null || die "jar not found (apt-get install default-jdk-headless)"
command -v unzip >/dev/null || die "unzip not found (apt-get install unzip)"
[[ -r $h2 ]] || die "H2 JDBC driver $h2 not found (apt-get install libh2-java, or set H2_JAR)"
[[ -r $pg ]] || die "PostgreSQL JDBC driver $pg not found (apt-get install libpostgresql-jdbc-java, or set PGJDBC_JAR)"
[[ -r $my ]] || die "MariaDB JDBC driver $my not found (apt-get install libmariadb-java, or set MYJDBC_JAR)"
[[ -d $(dirname "$out") ]] || die "directory of $out does not exist"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mkdir "$tmp/classes"
javac --release 11 -encoding UTF-8 -Xlint:all,-path -Werror -cp "$h2" -d "$tmp/classes" \
    "$here/src/metabase/core.java" || die "javac failed"
[[ -f $tmp/classes/metabase/core.class ]] || die "javac produced no metabase/core.class"

# The Main-Class stubs, one per era of Metabase's uberjar.clj (make-jar.sh names the
# release's in the manifest): compiled for Java 8, then stamped at class-file version 49
# as Clojure's gen-class writes them. Compiled apart: package metabase.core would clash
# with the class metabase.core at compile time (not at run time).
for main in metabase.bootstrap metabase.core.bootstrap; do
        pkg=${main%.*} cls=${main##*.}
        dir=$tmp/stub-src/${pkg//.//}
        mkdir -p "$dir"
        sed "s/@PACKAGE@/$pkg/; s/@CLASS@/$cls/g" "$here/src/stub/bootstrap.java.in" >"$dir/$cls.java"
        javac --release 8 -encoding UTF-8 -Xlint:all,-options -Werror -d "$tmp/classes" "$dir/$cls.java" \
                || die "javac failed for the stub $main"
        f=$tmp/classes/${main//.//}.class
        javap -v "$f" >"$tmp/stub.javap" || die "javap failed"
        ! grep -q invokedynamic "$tmp/stub.javap" || die "the stub $main uses invokedynamic, which class file 49 cannot"
        printf '\x00\x31' | dd of="$f" bs=1 seek=6 count=2 conv=notrunc status=none
done

# Each driver's classes and its META-INF/services registration; not its manifest or
# any signature files. All drivers register in META-INF/services/java.sql.Driver: the
# registrations are concatenated, not overwritten.
services=META-INF/services/java.sql.Driver
: >"$tmp/java.sql.Driver"
for d in h2:"$h2" pg:"$pg" my:"$my"; do
        name=${d%%:*} src=${d#*:}
        mkdir "$tmp/$name"
        unzip -q "$src" -d "$tmp/$name" || die "cannot extract $src"
        rm -f "$tmp/$name/META-INF/MANIFEST.MF" "$tmp/$name/META-INF/"*.{SF,RSA,DSA,EC} "$tmp/$name/META-INF/"SIG-*
        if [[ -f $tmp/$name/$services ]]; then
                cat "$tmp/$name/$services" >>"$tmp/java.sql.Driver"
                echo >>"$tmp/java.sql.Driver"
                rm "$tmp/$name/$services"
        fi
        cp -a "$tmp/$name/." "$tmp/classes/"
done
mkdir -p "$tmp/classes/META-INF/services"
grep -v '^[[:space:]]*\(#\|$\)' "$tmp/java.sql.Driver" >"$tmp/classes/$services" || true
[[ -f $tmp/classes/org/h2/Driver.class ]] || die "$h2 holds no org/h2/Driver.class"
[[ -f $tmp/classes/org/postgresql/Driver.class ]] || die "$pg holds no org/postgresql/Driver.class"
[[ -f $tmp/classes/org/mariadb/jdbc/Driver.class ]] || die "$my holds no org/mariadb/jdbc/Driver.class"
grep -qx 'org.h2.Driver' "$tmp/classes/$services" || die "$h2 does not register org.h2.Driver"
grep -qx 'org.postgresql.Driver' "$tmp/classes/$services" || die "$pg does not register org.postgresql.Driver"
grep -qx 'org.mariadb.jdbc.Driver' "$tmp/classes/$services" || die "$my does not register org.mariadb.jdbc.Driver"

# Metabase's resources the stand-in reads (metabase/app_db/supported-db-versions.edn)
cp -a "$here/resources/." "$tmp/classes/"
[[ -f $tmp/classes/metabase/app_db/supported-db-versions.edn ]] || die "no resources/metabase/app_db/supported-db-versions.edn"

# jar puts META-INF/MANIFEST.MF first; make-jar.sh replaces it in place.
jar --create --file "$tmp/base.jar" --main-class metabase.core -C "$tmp/classes" . \
    || die "jar failed"
mv -f "$tmp/base.jar" "$out"
echo "build-base.sh: wrote $out"
