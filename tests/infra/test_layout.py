"""The layout stays readable: no crate's modules import each other in a circle (issue 16).

The graph is the file-level one a reader follows: an edge from a module file to the module file
that a `crate::a::b` or `super::a` path in its code (not its comments) names. A child naming an
ancestor (re-exports through `mod.rs`) is not an edge, and test modules are left out."""

from __future__ import annotations

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
# stores/redis is one module (lib.rs): nothing in it can import in a circle.
CRATES = ["shared/src", "server/src", "native/src", "workers/src", "lambda/src", "stores/dynamodb/src",
          "tests/fake-upstream/src"]
PATH = re.compile(r"\b(crate|super)((?:::\w+)+)")
COMMENT = re.compile(r"(^|\s)//.*$", re.M)  # line and doc comments (`://` in a URL is not one)
TESTS = re.compile(r"#\[cfg\(test\)\]\s*mod tests\s*\{.*", re.S)


def modules(src: pathlib.Path) -> dict[tuple[str, ...], pathlib.Path]:
    found = {}
    for file in src.rglob("*.rs"):
        parts = file.relative_to(src).with_suffix("").parts
        if parts[-1] in ("mod", "lib", "main"):
            parts = parts[:-1]
        found[parts] = file
    return found


def graph(src: pathlib.Path) -> dict[tuple[str, ...], set[tuple[str, ...]]]:
    mods = modules(src)

    def resolve(path: list[str]):
        for n in range(len(path), 0, -1):
            if tuple(path[:n]) in mods:
                return tuple(path[:n])
        return None

    edges: dict[tuple[str, ...], set[tuple[str, ...]]] = {m: set() for m in mods}
    for mod, file in mods.items():
        if mod and mod[-1] == "tests":
            continue
        code = COMMENT.sub("", file.read_text())
        code = TESTS.sub("", code)
        for m in PATH.finditer(code):
            segments = m.group(2).split("::")[1:]
            base = [] if m.group(1) == "crate" else list(mod[:-1])
            target = resolve(base + segments)
            if target and target != mod and mod[: len(target)] != target:
                edges[mod].add(target)
    return edges


def cycles(edges) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append("/".join(w) or "lib")
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def test_the_checker_finds_a_cycle(tmp_path):
    (tmp_path / "a.rs").write_text("use crate::b::B;\n")
    (tmp_path / "b.rs").write_text("use crate::a::A; // [crate::c] in a comment is no edge\n")
    (tmp_path / "c.rs").write_text("use super::a::A;\n")
    assert cycles(graph(tmp_path)) == [["a", "b"]]


@pytest.mark.parametrize("crate", CRATES)
def test_no_import_cycles(crate):
    edges = graph(ROOT / crate)
    assert len(edges) > 3, f"{crate}: found only {len(edges)} modules"
    assert cycles(edges) == []
