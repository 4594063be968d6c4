#!/usr/bin/env python3
"""Fails when a crate's modules depend on each other in a circle.

For every crate under crates/, each source file is a module; a file depends on
another when it names it through `crate::…` or `super::…` (in `use` trees or inline
paths). Test modules (`#[cfg(test)] mod … { … }`) are left
out: tests may reach anywhere. Prints each circle as its files and exits 1 if there
is any, 0 otherwise.

Usage: scripts/module-circles.py [ROOT]   (default: the current directory)
"""
import re
import sys
from pathlib import Path

COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
STRING = re.compile(r'r(#*)".*?"\1|"(?:\\.|[^"\\])*"', re.S)
TEST_MOD = re.compile(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{")
PATH = re.compile(r"\b(crate|super)::((?:\w+::)*(?:\w+|\{))")


def without_tests(src):
    """`src` with comments, strings and test modules removed."""
    src = STRING.sub('""', COMMENT.sub("", src))
    while m := TEST_MOD.search(src):
        depth, i = 0, m.end() - 1
        for i in range(m.end() - 1, len(src)):
            depth += {"{": 1, "}": -1}.get(src[i], 0)
            if depth == 0:
                break
        src = src[: m.start()] + src[i + 1 :]
    return src


def group(src, start):
    """The text of the brace group opening at `start`, without its braces."""
    depth = 0
    for i in range(start, len(src)):
        depth += {"{": 1, "}": -1}.get(src[i], 0)
        if depth == 0:
            return src[start + 1 : i]
    return src[start + 1 :]


def split_top(text):
    """`text` split at the commas outside braces."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return parts + [cur]


def expand(prefix, tree):
    """Every path a use tree names, as lists of segments after `prefix`."""
    tree = tree.strip()
    if not tree:
        return []
    if "{" in tree:
        head, _, rest = tree.partition("{")
        head = [s for s in head.strip().rstrip(":").split("::") if s]
        inner = group("{" + rest, 0)
        return [p for part in split_top(inner) for p in expand(prefix + head, part)]
    name = tree.split(" as ")[0].strip()
    return [prefix + [s for s in name.split("::") if s]]


def modules(src_dir):
    """Module path (tuple) → file, for one crate's source directory."""
    mods = {}
    for f in sorted(src_dir.rglob("*.rs")):
        parts = list(f.relative_to(src_dir).with_suffix("").parts)
        if parts[0] == "bin":
            continue
        if parts[-1] in ("mod", "lib", "main"):
            parts = parts[:-1]
        mods[tuple(parts)] = f
    return mods


def edges(mods):
    """Module → the other modules of the crate it names."""
    graph = {m: set() for m in mods}
    for mod, f in mods.items():
        src = without_tests(f.read_text(encoding="utf-8"))
        for m in PATH.finditer(src):
            base = [] if m.group(1) == "crate" else list(mod[:-1])
            text = m.group(2)
            if text.endswith("{"):
                head = [s for s in text[:-1].split("::") if s]
                paths = expand(base + head, "{" + group(src, m.end() - 1) + "}")
            else:
                paths = [base + text.split("::")]
            for p in paths:
                p = [s for s in p if s != "self"]
                for k in range(len(p), 0, -1):
                    if tuple(p[:k]) in mods:
                        if tuple(p[:k]) != mod:
                            graph[mod].add(tuple(p[:k]))
                        break
    return graph


def circles(graph):
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
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
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    dirs = sorted(root.glob("crates/*/src"))
    if not dirs:
        print(f"module-circles: no crates/*/src under {root}", file=sys.stderr)
        return 2
    bad = 0
    for src_dir in dirs:
        mods = modules(src_dir)
        for comp in circles(edges(mods)):
            bad += 1
            names = " -> ".join(str(mods[m].relative_to(root)) for m in comp)
            print(f"module circle: {names}")
    count = sum(len(modules(d)) for d in dirs)
    print(f"module-circles: {count} modules in {len(dirs)} crates, {bad} circle(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
