#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The daemon's module graph, derived from the code.

A module is a file daemon/NAME.c (with its NAME.h when there is one). There is an arrow A -> B when
A.c calls a function that B.c defines and a header declares (or, with --includes, when A.c
includes B.h). Prints the graph in Mermaid (default) or Graphviz text, then the cycles: the strongly
connected components of more than one module and the pairs that call each other.

    tools/module-graph.py [--dot] [--includes] [--calls] [DIR]     (DIR: daemon/ by default)
"""
import os
import re
import sys

IDENT_CALL = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
KEYWORDS = {"if", "for", "while", "switch", "return", "sizeof", "defined", "_Static_assert",
            "typeof", "__attribute__", "alignof", "offsetof"}


def strip(text):
    """Comments, string and character literals and preprocessor lines removed."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r'"(\\.|[^"\\\n])*"', '""', text)
    text = re.sub(r"'(\\.|[^'\\\n])*'", "''", text)
    out = []
    cont = False
    for line in text.split("\n"):
        if cont or line.lstrip().startswith("#"):
            cont = line.rstrip().endswith("\\")
            continue
        out.append(line)
    return "\n".join(out)


def top_level(text):
    """The statements at brace depth 0 (a function body counts as one, ended by its '}')."""
    depth, start = 0, 0
    for i, c in enumerate(text):
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                yield text[start : i + 1]
                start = i + 1
        elif c == ";" and depth == 0:
            yield text[start : i + 1]
            start = i + 1


def declared_functions(header_text):
    names = set()
    for stmt in top_level(strip(header_text)):
        s = stmt.strip()
        if not s or s.startswith(("typedef", "struct", "enum", "union", "extern")):
            continue
        head = s.split("{", 1)[0]
        m = re.search(r"\b([A-Za-z_]\w*)\s*\(", head)
        if m and m.group(1) not in KEYWORDS and "(*" not in head[: m.start() + 2]:
            names.add(m.group(1))
    return names


def defined_functions(c_text):
    """The functions a .c file defines for others (not static)."""
    names = set()
    for stmt in top_level(strip(c_text)):
        s = stmt.strip()
        if not s.endswith("}") or s.startswith(("static", "typedef", "struct", "enum", "union")):
            continue
        m = re.search(r"\b([A-Za-z_]\w*)\s*\(", s.split("{", 1)[0])
        if m and m.group(1) not in KEYWORDS:
            names.add(m.group(1))
    return names


def main(argv):
    fmt = "dot" if "--dot" in argv else "mermaid"
    by_includes = "--includes" in argv
    show_calls = "--calls" in argv
    args = [a for a in argv if not a.startswith("--")]
    d = args[0] if args else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "daemon")

    modules = sorted(f[:-2] for f in os.listdir(d) if f.endswith(".c"))
    headers = sorted(f[:-2] for f in os.listdir(d) if f.endswith(".h"))
    declared = set()
    for h in headers:
        with open(os.path.join(d, h + ".h")) as f:
            declared |= declared_functions(f.read())
    owner = {}  # function -> the module that defines it
    for mod in modules:
        with open(os.path.join(d, mod + ".c")) as f:
            for name in defined_functions(f.read()) & declared:
                owner.setdefault(name, mod)

    edges = {}  # (a, b) -> set of functions (or {"#include"})
    for mod in modules:
        with open(os.path.join(d, mod + ".c")) as f:
            raw = f.read()
        if by_includes:
            for inc in re.findall(r'^#include "([\w-]+)\.h"', raw, flags=re.M):
                if inc in headers and inc != mod:
                    edges.setdefault((mod, inc), set()).add("#include")
            continue
        for name in IDENT_CALL.findall(strip(raw)):
            b = owner.get(name)
            if b and b != mod:
                edges.setdefault((mod, b), set()).add(name)

    nodes = sorted({x for e in edges for x in e} | set(modules))
    succ = {n: sorted(b for (a, b) in edges if a == n) for n in nodes}

    # Tarjan's strongly connected components
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for n in nodes:
        if n not in index:
            visit(n)
    cycles = sorted((c for c in sccs if len(c) > 1), key=lambda c: (-len(c), c))
    in_cycle = {n for c in cycles for n in c}
    pairs = sorted((a, b) for (a, b) in edges if a < b and (b, a) in edges)

    if fmt == "dot":
        print("digraph daemon {")
        print("        rankdir=LR; node [shape=box, fontname=monospace];")
        for n in nodes:
            print(f'        "{n}"{" [style=filled, fillcolor=mistyrose]" if n in in_cycle else ""};')
        for (a, b) in sorted(edges):
            print(f'        "{a}" -> "{b}";')
        print("}")
    else:
        print("```mermaid")
        print("graph LR")
        for (a, b) in sorted(edges):
            print(f"    {a.replace('-', '_')}[{a}] --> {b.replace('-', '_')}[{b}]")
        for n in sorted(in_cycle):
            print(f"    style {n.replace('-', '_')} fill:#fdd")
        print("```")
    item = "- " if fmt == "mermaid" else ""  # a Markdown list under the Mermaid block
    print()
    print(f"{item}{len(nodes)} modules, {len(edges)} arrows, {len(pairs)} pairs that call each other.")
    if not cycles:
        print(f"{item}No cycles: every arrow points one way.")
    for c in cycles:
        print(f"{item}cycle ({len(c)} modules): {' '.join(c)}")
    for (a, b) in pairs:
        print(f"{item}both ways: {a} <-> {b}")
    if show_calls:
        for (a, b) in sorted(edges):
            print(f"{item}{a} -> {b}: {' '.join(sorted(edges[(a, b)]))}")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
