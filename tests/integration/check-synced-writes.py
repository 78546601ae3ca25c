#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""check-synced-writes.py STRACE_LOG ROOT: reads what `strace -f -y -e trace=...` saw the daemon and its
helpers do, and checks that every file under ROOT that must survive a power loss got there the crash-safe
way: written under a temporary name, fsynced, renamed into place, and the directory fsynced after the
rename; an append-only log (history.jsonl) fsynced after each write, its directory after it was created;
every directory made fsynced in its parent; every removal of a state file followed by its directory's
fsync. Prints one line per write and per finding; exits 1 on a finding.

Exempt, on purpose: a release's JAR that mbupgraded-fetch downloads into staging/ (--no-fsync: its SHA-256
is checked before use, again by pre-flight, so a torn file is never installed) and the feed's download
(re-read at the next check)."""
import os
import re
import sys

log_path, root = sys.argv[1], sys.argv[2].rstrip("/")

# A syscall line: "PID name(args) = ret" (ret may carry "<path>" with -y), possibly split in
# "<unfinished ...>" and "<... name resumed>" halves.
line_re = re.compile(r"^(\d+)\s+(.*)$")
call_re = re.compile(r"^(\w+)\((.*)\)\s+=\s+(-?\d+)(?:<([^>]*)>)?(.*)$")
pending = {}
events = []  # (index, pid, name, args, ret, retpath)
with open(log_path, errors="replace") as f:
    for raw in f:
        m = line_re.match(raw.rstrip("\n"))
        if not m:
            continue
        pid, rest = m.group(1), m.group(2)
        if rest.endswith("<unfinished ...>"):
            pending[pid] = rest[: -len("<unfinished ...>")].rstrip()
            continue
        rm = re.match(r"^<\.\.\. (\w+) resumed>(.*)$", rest)
        if rm:
            rest = pending.pop(pid, rm.group(1) + "(") + rm.group(2)
        cm = call_re.match(rest)
        if not cm:
            continue
        events.append((len(events), pid, cm.group(1), cm.group(2), int(cm.group(3)), cm.group(4) or ""))


def strings(args):
    return re.findall(r'"((?:[^"\\]|\\.)*)"', args)


def fd_path(args):
    m = re.match(r"\s*\d+<([^>]*)>", args)
    return m.group(1) if m else None


def under_root(p):
    return p == root or p.startswith(root + "/")


def exempt(p):
    return ("/staging/" in p and (p.endswith("/metabase.jar") or ".part" in p or "feed.json" in p)) or p.endswith(
        "/feed.json.download"
    )


fsyncs = []  # (index, path)
for i, pid, name, args, ret, _ in events:
    if name in ("fsync", "fdatasync") and ret == 0:
        p = fd_path(args)
        if p:
            fsyncs.append((i, p))


def fsynced(path, after, before=None):
    return any(i > after and (before is None or i < before) and p == path for i, p in fsyncs)


findings = []
checked = []
synced_data = {}  # a name the data reached through renames, and whether that data was fsynced
for i, pid, name, args, ret, _ in events:
    if ret != 0:
        continue
    s = strings(args)
    if name in ("rename", "renameat", "renameat2") and len(s) >= 2:
        src, dst = s[0], s[1]
        if not under_root(dst) or exempt(dst):
            continue
        d = os.path.dirname(dst)
        # the data: an fsync of the temporary file before the rename, or before an earlier rename
        # that gave it this name (the staged JAR swapped in); a hard link to an existing, durable
        # file has no data of its own to sync
        linked = any(e[2] in ("link", "linkat") and e[4] == 0 and strings(e[3])[-1:] == [src] for e in events[:i])
        opened = [e[0] for e in events[:i] if e[2] in ("openat", "open") and e[4] >= 0 and src in strings(e[3])]
        start = opened[-1] if opened else -1
        data_ok = linked or fsynced(src, start, i) or synced_data.pop(src, False)
        synced_data[dst] = data_ok
        # the name: an fsync of the directory after the rename, before the same name changes again
        nxt = [e[0] for e in events[i + 1 :] if e[2].startswith("rename") and strings(e[3])[1:2] == [dst]]
        dir_ok = fsynced(d, i, nxt[0] if nxt else None)
        tmp_ok = src != dst and os.path.dirname(src) == d
        what = "link+rename" if linked else "write+rename"
        checked.append(dst)
        ok = data_ok and dir_ok and tmp_ok
        print(f"{'ok  ' if ok else 'FAIL'} {what:12} {dst}")
        if not data_ok:
            findings.append(f"{dst}: {src} was renamed into place without an fsync of its data")
        if not dir_ok:
            findings.append(f"{dst}: renamed from {src} without an fsync of {d} after the rename")
        if not tmp_ok:
            findings.append(f"{dst}: not written under a temporary name in its own directory ({src})")
    elif name in ("mkdir", "mkdirat") and s:
        p = s[-1]
        if not under_root(p) or exempt(p + "/"):
            continue
        ok = fsynced(os.path.dirname(p), i)
        checked.append(p + "/")
        print(f"{'ok  ' if ok else 'FAIL'} {'mkdir':12} {p}/")
        if not ok:
            findings.append(f"{p}/: made without an fsync of {os.path.dirname(p)} after it")
    elif name in ("unlink", "unlinkat") and s:
        p = s[-1]
        base = os.path.basename(p)
        if not under_root(p) or base not in ("operation.json", "last-upgrade.json", "hold.json"):
            continue
        ok = fsynced(os.path.dirname(p), i)
        print(f"{'ok  ' if ok else 'FAIL'} {'unlink':12} {p}")
        if not ok:
            findings.append(f"{p}: removed without an fsync of {os.path.dirname(p)} after it")

# The append-only history: each write fsynced; its directory fsynced once after it was created.
hist = [e for e in events if e[2] in ("openat", "open") and e[4] >= 0 and any(x.endswith("/history.jsonl") for x in strings(e[3]))]
for e in hist:
    path = [x for x in strings(e[3]) if x.endswith("/history.jsonl")][0]
    fd = e[4]
    close_or_next = [x[0] for x in events[e[0] + 1 :] if x[2] in ("fsync", "fdatasync") and fd_path(x[3]) == path]
    ok = bool(close_or_next)
    print(f"{'ok  ' if ok else 'FAIL'} {'append':12} {path}")
    if not ok and "O_APPEND" in e[3]:
        findings.append(f"{path}: appended without an fsync")
if hist:
    first = hist[0]
    path = [x for x in strings(first[3]) if x.endswith("/history.jsonl")][0]
    if "O_CREAT" in first[3] and not fsynced(os.path.dirname(path), first[0]):
        findings.append(f"{path}: created (O_CREAT) without an fsync of {os.path.dirname(path)}")

print(f"{len(checked)} crash-safe writes checked, {len(findings)} findings")
for f in findings:
    print("FINDING: " + f)
sys.exit(1 if findings else 0)
