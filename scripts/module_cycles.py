#!/usr/bin/env python3
"""Finds cycles in the crate's module graph: one node per source file, an edge wherever a file
names another module by path (`use crate::…`, `use super::…`, or an inline `crate::a::b::C`).
A cycle means two parts of the code can only be understood, tested or changed together.

Usage: module_cycles.py SRC_DIR   (exits 1 and prints each cycle when there is one)
"""
import re
import sys
from pathlib import Path

USE = re.compile(r"\buse\s+((?:crate|super|self)::[^;]*);", re.S)
INLINE = re.compile(r"\b((?:crate|super)(?:::\w+)+)")
COMMENT = re.compile(r"//[^\n]*")


def module_of(root: Path, file: Path) -> tuple:
    """`src/server/billing/webhook.rs` → ("server", "billing", "webhook")."""
    parts = list(file.relative_to(root).with_suffix("").parts)
    if parts[-1] == "mod" or (len(parts) == 1 and parts[0] in ("lib", "main")):
        parts = parts[:-1]
    return tuple(parts)


def expand(tree: str) -> list:
    """`crate::a::{b, c::{d, e}}` → ["crate::a::b", "crate::a::c::d", "crate::a::c::e"]."""
    tree = re.sub(r"\s+", "", tree)
    brace = tree.find("{")
    if brace < 0:
        return [tree]
    prefix, inner = tree[:brace], tree[brace + 1 : tree.rfind("}")]
    items, depth, start = [], 0, 0
    for i, ch in enumerate(inner + ","):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            if inner[start:i]:
                items.append(inner[start:i])
            start = i + 1
    return [p for item in items for p in expand(prefix + item)]


def resolve(path: str, module: tuple, modules: set):
    """The longest known module that a path written in `module` names."""
    segs = path.split("::")
    if segs[0] == "crate":
        base, segs = [], segs[1:]
    else:
        base = list(module)
        if segs[0] == "self":
            segs = segs[1:]
        while segs and segs[0] == "super":
            base, segs = base[:-1], segs[1:]
    full = base + [s for s in segs if s not in ("self", "*")]
    for n in range(len(full), -1, -1):
        if tuple(full[:n]) in modules:
            return tuple(full[:n])
    return None


def main(src: str) -> int:
    root = Path(src)
    # main.rs is the binary's own crate: its `crate::` is not the library's.
    files = {module_of(root, f): f for f in root.rglob("*.rs") if f != root / "main.rs"}
    modules = set(files)
    edges = {m: set() for m in modules}
    for module, file in files.items():
        text = COMMENT.sub("", file.read_text())
        paths = [p for u in USE.findall(text) for p in expand(u)]
        paths += INLINE.findall(USE.sub("", text))
        for path in paths:
            target = resolve(path, module, modules)
            # Naming a module's own child (`mod.rs` → its files) or an ancestor's item through
            # the ancestor's path is not a dependency on a sibling.
            if target is None or target == module or module[: len(target)] == target:
                continue
            edges[module].add(target)
    cycles = find_cycles(edges)
    for cycle in cycles:
        print("cycle: " + " -> ".join(str(files[m].relative_to(root)) for m in cycle + [cycle[0]]))
    if cycles:
        return 1
    print(f"ok: {len(modules)} modules, {sum(map(len, edges.values()))} edges, no cycle")
    return 0


def find_cycles(edges: dict) -> list:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index, low, on_stack, stack, sccs, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                sccs.append(scc)

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return [shortest_cycle(edges, sorted(scc)) for scc in sccs]


def shortest_cycle(edges: dict, scc: list) -> list:
    """A shortest path from the component's first module back to itself."""
    start, members = scc[0], set(scc)
    prev, queue = {start: None}, [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(edges[v] & members):
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return path[::-1]
            if w not in prev:
                prev[w] = v
                queue.append(w)
    return scc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "src"))
