#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""prom-parse.py FILE: reads FILE with Prometheus's own text-format parser (python3-prometheus-client)
and prints one line a sample, sorted: NAME{LABEL="VALUE",...} VALUE. Exits 1 with the parser's
error on anything that is not the text format, on a sample without HELP and TYPE, and on a metric
name twice."""
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    if not text.endswith("\n"):
        sys.exit("prom-parse.py: the file does not end with a newline")
    declared = {l.split()[2] for l in text.splitlines() if l.startswith("# TYPE ")}
    helped = {l.split()[2] for l in text.splitlines() if l.startswith("# HELP ")}
    lines = []
    seen = set()
    try:
        for family in text_string_to_metric_families(text):
            if family.name in seen:
                sys.exit(f"prom-parse.py: {family.name} twice")
            seen.add(family.name)
            for s in family.samples:
                if s.name not in declared or s.name not in helped:
                    sys.exit(f"prom-parse.py: {s.name} has no TYPE or HELP")
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
                value = int(s.value) if s.value == int(s.value) else s.value
                lines.append(f"{s.name}{{{labels}}} {value}" if labels else f"{s.name} {value}")
    except ValueError as e:
        sys.exit(f"prom-parse.py: {e}")
    print("\n".join(sorted(lines)))


if __name__ == "__main__":
    main()
