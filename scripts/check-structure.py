#!/usr/bin/env python3
"""The workspace's two structure checks (issue 26), run early by scripts/test.sh.

1. No module cycle. In every crate of `crates/`, at every level of the module tree (the
   crate root, and each module with children), the nodes are the parent's own file and each
   child module with everything beneath it. One node *reaches* another when a file of it names
   the other through a `crate::`, `super::` or `self::` path: in a `use` tree (braces expanded)
   or inline (`crate::days::foo(...)`). Two nodes must never reach each other, directly or
   around a longer loop. So no two top-level modules of a crate, and no two files of one
   folder, depend on each other. What does not count: code under `#[cfg(test)]` (items, and
   files declared `#[cfg(test)] mod x;`), comments (doc links too) and string literals. A
   name a module re-exports (`pub use timeline::Lane;` in `report/mod.rs`) counts as the
   module it comes from, so a facade does not hide or invent an edge. A parent naming its
   child without `self::` (`core::handle`) is how modules nest and is not a path this check
   reads.

2. No source file over 500 lines. Counted: every `.rs` file under `crates/*/src`, its lines
   minus those of inline `#[cfg(test)] mod name { ... }` blocks. Exempt (tests): files named
   `tests.rs`, files under a `tests` folder in `src`, and files compiled only for tests
   (declared `#[cfg(test)] mod x;`, or beneath such a module). Examples, benches and
   integration tests live outside `src` and are not counted.

Usage: scripts/check-structure.py [cycles|lines]... (both when none is named). Exit status
1 when a check fails; each finding names the files and, for a cycle, the lines that make it.
`--self-test` checks the checker on a small generated crate.
"""

from __future__ import annotations

import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

MAX_LINES = 500
ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------------
# Lexing: comments and literals blanked (newlines kept, so offsets map to the same lines)


def blank(text: str) -> str:
    """`text` with comments and the contents of string and char literals replaced by spaces."""
    out = list(text)
    i, n = 0, len(text)

    def wipe(a: int, b: int) -> None:
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            wipe(i, j)
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            wipe(i, j)
            i = j
        elif (m := re.compile(r'b?r(#*)"').match(text, i)) and (
            i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")
        ):
            end = text.find('"' + m.group(1), m.end())
            end = n if end < 0 else end + 1 + len(m.group(1))
            wipe(m.end(), end - 1 - len(m.group(1)))
            i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            wipe(i + 1, j)
            i = j + 1
        elif c == "'" and (m := re.compile(r"'(?:\\(?:u\{[0-9a-fA-F]+\}|x..|.)|[^'\\\n])'").match(text, i)):
            wipe(i + 1, m.end() - 1)
            i = m.end()
        else:
            i += 1
    return "".join(out)


def item_end(code: str, start: int) -> int:
    """Where the item that begins at `start` ends: its `;`, or the `}` closing its body."""
    depth = 0
    i = start
    while i < len(code):
        c = code[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0 and c == "}":
                return i + 1
        elif c == ";" and depth == 0:
            return i + 1
        i += 1
    return len(code)


CFG_TEST = re.compile(r"#\[cfg\(test\)\]")


def without_tests(code: str) -> str:
    """`code` (already blanked) with every `#[cfg(test)]` item blanked too."""
    out = list(code)
    for m in CFG_TEST.finditer(code):
        end = item_end(code, m.end())
        for k in range(m.start(), end):
            if out[k] != "\n":
                out[k] = " "
    return "".join(out)


def line_of(code: str, pos: int) -> int:
    return code.count("\n", 0, pos) + 1


# ---------------------------------------------------------------------------------------------
# The module tree


@dataclass
class Module:
    path: tuple[str, ...]  # () for the crate root
    file: Path
    test_only: bool
    children: dict[str, "Module"] = field(default_factory=dict)
    text: str = ""
    code: str = ""  # blanked, `#[cfg(test)]` items removed


MOD_DECL = re.compile(r"^[ \t]*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*(;|\{)", re.M)


def child_file(parent: Module, name: str) -> Path | None:
    """The file of child `name` of `parent`, as rustc looks for it."""
    f = parent.file
    base = f.parent if f.name in ("lib.rs", "main.rs", "mod.rs") else f.parent / f.stem
    for cand in (base / f"{name}.rs", base / name / "mod.rs"):
        if cand.exists():
            return cand
    return None


def load(path: tuple[str, ...], file: Path, test_only: bool, problems: list[str]) -> Module:
    module = Module(path, file, test_only)
    module.text = file.read_text()
    blanked = blank(module.text)
    module.code = without_tests(blanked)
    for m in MOD_DECL.finditer(blanked):
        name, kind = m.group(1), m.group(2)
        in_test = test_only or module.code[m.start(1) : m.end(1)] != name
        if kind == "{":
            if not in_test:
                module.children[name] = inline(module, name, m.end() - 1)
            continue
        target = child_file(module, name)
        if target is None:
            # `#[path = ...]` modules (only in tests today) and generated ones.
            if not in_test:
                problems.append(f"{file}: module `{name}` has no file this check can find")
            continue
        module.children[name] = load(path + (name,), target, in_test, problems)
    return module


def inline(parent: Module, name: str, brace: int) -> Module:
    """An inline `mod name { ... }`: its own module, over the same file (same offsets, so the
    same line numbers); the parent's code no longer holds its body."""
    end = item_end(parent.code, brace)
    child = Module(parent.path + (name,), parent.file, False, text=parent.text)
    child.code = "".join(c if brace <= k < end or c == "\n" else " " for k, c in enumerate(parent.code))
    parent.code = "".join(c if not (brace <= k < end) or c == "\n" else " " for k, c in enumerate(parent.code))
    return child


def modules(root: Module):
    yield root
    for child in root.children.values():
        yield from modules(child)


def crate_roots() -> list[tuple[str, Module, list[str]]]:
    out = []
    for src in sorted(ROOT.glob("crates/*/src")):
        for name in ("lib.rs", "main.rs"):
            if (src / name).exists():
                problems: list[str] = []
                out.append((f"{src.parent.name} ({name})", load((), src / name, False, problems), problems))
    return out


# ---------------------------------------------------------------------------------------------
# Paths: `use` trees and inline paths


USE = re.compile(r"\buse\s+")
INLINE = re.compile(r"(?<![\w:])\$?(crate|super|self)\s*((?:::\s*\w+\s*)+)")


def split_top(s: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for c in s:
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        if c == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += c
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def expand(tree: str, prefix: list[str]) -> list[tuple[list[str], str | None]]:
    """Every path of a `use` tree, with the name it binds (None for globs)."""
    tree = re.sub(r"\s+", "", tree)
    if not tree:
        return []
    if tree.startswith("::"):
        tree = tree[2:]
    brace = tree.find("{")
    if brace >= 0 and tree.endswith("}"):
        head = [s for s in tree[:brace].split("::") if s]
        out = []
        for part in split_top(tree[brace + 1 : -1]):
            out += expand(part, prefix + head)
        return out
    segs = tree.split("::")
    if segs[-1] == "*":
        return [(prefix + segs[:-1], None)]
    if segs[-1] == "self":
        full = prefix + segs[:-1]
        return [(full, full[-1] if full else None)]
    full = prefix + segs
    return [(full, full[-1] if full else None)]


def expand_spaced(tree: str, prefix: list[str]) -> list[tuple[list[str], str | None]]:
    """`expand`, keeping `as` renames (they need the spaces `expand` removes)."""
    renames: dict[str, str] = {}

    def keep(m: re.Match) -> str:
        renames[m.group(1) + "#" + m.group(2)] = m.group(2)
        return m.group(1) + "#" + m.group(2)

    tree = re.sub(r"(\w+)\s+as\s+(\w+)", keep, tree)
    out = []
    for path, bound in expand(tree, prefix):
        last = path[-1] if path else ""
        if "#" in last:
            name, alias = last.split("#")
            out.append((path[:-1] + [name], alias))
        else:
            out.append((path, bound))
    return out


@dataclass
class Ref:
    path: list[str]  # as written, starting with crate/super/self
    line: int
    text: str  # the source line


def refs_of(module: Module) -> tuple[list[Ref], list[tuple[list[str], str | None]]]:
    """The `crate::`/`super::`/`self::` paths of a module's non-test code, and its imports."""
    code = module.code
    lines = module.text.splitlines()
    refs: list[Ref] = []
    imports: list[tuple[list[str], str | None]] = []
    rest = list(code)
    for m in USE.finditer(code):
        if m.start() > 0 and (code[m.start() - 1].isalnum() or code[m.start() - 1] in "_:"):
            continue
        end = item_end(code, m.end())
        body = code[m.end() : end].rstrip().rstrip(";")
        line = line_of(code, m.start())
        for path, bound in expand_spaced(body, []):
            imports.append((path, bound))
            if path and path[0] in ("crate", "super", "self"):
                refs.append(Ref(path, line, lines[line - 1].strip()))
        for k in range(m.start(), end):
            if rest[k] != "\n":
                rest[k] = " "
    rest_s = "".join(rest)
    for m in INLINE.finditer(rest_s):
        path = [m.group(1)] + [s.strip() for s in m.group(2).split("::") if s.strip()]
        line = line_of(rest_s, m.start())
        refs.append(Ref(path, line, lines[line - 1].strip()))
    return refs, imports


class Resolver:
    """Absolute module paths from written paths, following re-exports."""

    def __init__(self, root: Module):
        self.by_path = {m.path: m for m in modules(root) if not m.test_only}
        self.imports = {p: refs_of(m)[1] for p, m in self.by_path.items()}

    def absolute(self, here: tuple[str, ...], path: list[str]) -> list[str] | None:
        cur = list(here)
        segs = list(path)
        if segs and segs[0] == "crate":
            cur, segs = [], segs[1:]
        elif segs and segs[0] in ("super", "self"):
            pass
        else:
            return None
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super":
                if not cur:
                    return None
                cur.pop()
            segs.pop(0)
        return cur + segs

    def target(self, here: tuple[str, ...], path: list[str], depth: int = 0) -> tuple[str, ...] | None:
        """The module a written path lands in (the deepest module it names, or where a
        re-exported name comes from)."""
        full = self.absolute(here, path)
        if full is None:
            return None
        return self.land(full, depth)

    def land(self, full: list[str], depth: int = 0) -> tuple[str, ...]:
        cur: tuple[str, ...] = ()
        i = 0
        while i < len(full) and cur + (full[i],) in self.by_path:
            cur += (full[i],)
            i += 1
        if i < len(full) and depth < 8:
            name = full[i]
            for ipath, bound in self.imports.get(cur, []):
                if bound == name and ipath:
                    inner = self.import_path(cur, ipath)
                    if inner is not None:
                        return self.land(inner + full[i + 1 :], depth + 1)
                    break
            # `pub use x::*` in a facade: look the name up in what it globs
            for ipath, bound in self.imports.get(cur, []):
                if bound is None and ipath:
                    inner = self.import_path(cur, ipath)
                    if inner is None:
                        continue
                    glob = self.land(inner, depth + 1)
                    landed = self.land(list(glob) + full[i:], depth + 1)
                    if landed != glob or self.names_item(glob, name):
                        return landed
        return cur

    def import_path(self, here: tuple[str, ...], ipath: list[str]) -> list[str] | None:
        """An import of module `here` as an absolute path; a plain first segment is one of
        `here`'s children (`pub use timeline::Lane;`), anything else another crate."""
        if ipath[0] in ("crate", "super", "self"):
            return self.absolute(here, ipath)
        if here + (ipath[0],) in self.by_path:
            return list(here) + ipath
        return None

    def names_item(self, module: tuple[str, ...], name: str) -> bool:
        m = self.by_path.get(module)
        return bool(m and re.search(rf"\b(?:fn|struct|enum|trait|type|const|static|mod)\s+{re.escape(name)}\b", m.code))


# ---------------------------------------------------------------------------------------------
# Check 1: cycles


def rel(p: Path) -> str:
    return str(p.relative_to(ROOT))


def find_cycles() -> list[str]:
    findings = []
    for crate, root, problems in crate_roots():
        findings += problems
        resolver = Resolver(root)
        # edges[(from_module, to_module)] = [(file, line, text)]
        edges: dict[tuple[tuple[str, ...], tuple[str, ...]], list[tuple[Path, int, str]]] = {}
        for path, module in resolver.by_path.items():
            for ref in refs_of(module)[0]:
                to = resolver.target(path, ref.path)
                if to is None or to == path:
                    continue
                edges.setdefault((path, to), []).append((module.file, ref.line, ref.text))
        for parent in resolver.by_path.values():
            if not parent.children:
                continue
            findings += cycles_under(crate, parent, edges)
    return findings


def cycles_under(crate, parent: Module, edges) -> list[str]:
    """Cycles among `parent`'s own file and its child subtrees."""
    depth = len(parent.path)

    def node(m: tuple[str, ...]) -> str | None:
        if m[:depth] != parent.path:
            return None
        return m[depth] if len(m) > depth else "(" + parent.file.name + ")"

    graph: dict[str, dict[str, list]] = {}
    for (a, b), where in edges.items():
        na, nb = node(a), node(b)
        if na is None or nb is None or na == nb:
            continue
        graph.setdefault(na, {}).setdefault(nb, []).extend(where)
    out = []
    for cycle in simple_cycles(graph):
        where = "::".join(parent.path) or "crate root"
        lines = [f"cycle in {crate}, under {where} ({rel(parent.file.parent)}): " + " -> ".join(cycle + [cycle[0]])]
        for a, b in zip(cycle, cycle[1:] + cycle[:1]):
            lines.append(f"  {a} -> {b}:")
            seen = set()
            for file, line, text in sorted(graph[a][b], key=lambda w: (str(w[0]), w[1])):
                if (file, line) in seen:
                    continue
                seen.add((file, line))
                lines.append(f"    {rel(file)}:{line}: {text}")
        out.append("\n".join(lines))
    return out


def simple_cycles(graph: dict[str, dict[str, list]]) -> list[list[str]]:
    """One shortest cycle through each strongly connected group of nodes, plus every pair
    that reaches each other directly (the usual case, and the easiest to act on)."""
    found, seen_pairs = [], set()
    for a in sorted(graph):
        for b in sorted(graph[a]):
            if a < b and a in graph.get(b, {}):
                found.append([a, b])
                seen_pairs.add(frozenset((a, b)))
    # longer loops: breadth-first from each node back to itself
    reported = set()
    for start in sorted(graph):
        prev = {start: None}
        queue = [start]
        cycle = None
        while queue and cycle is None:
            nxt = []
            for u in queue:
                for v in sorted(graph.get(u, {})):
                    if v == start:
                        path = [u]
                        while prev[path[-1]] is not None:
                            path.append(prev[path[-1]])
                        cycle = list(reversed(path))
                        break
                    if v not in prev:
                        prev[v] = u
                        nxt.append(v)
                if cycle:
                    break
            queue = nxt
        if cycle and len(cycle) > 2 and frozenset(cycle) not in reported:
            if not any(frozenset((x, y)) in seen_pairs for x in cycle for y in cycle if x != y):
                reported.add(frozenset(cycle))
                found.append(cycle)
    return found


# ---------------------------------------------------------------------------------------------
# Check 2: file length


TEST_BLOCK = re.compile(r"#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*mod\s+\w+\s*\{")


def counted_lines(text: str) -> int:
    code = blank(text)
    lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    for m in TEST_BLOCK.finditer(code):
        end = item_end(code, m.start() + len("#[cfg(test)]"))
        lines -= code.count("\n", m.start(), end) + 1
    return lines


def long_files() -> list[str]:
    test_files = set()
    for _, root, _ in crate_roots():
        test_files |= {m.file for m in modules(root) if m.test_only}
    findings = []
    for src in sorted(ROOT.glob("crates/*/src")):
        for f in sorted(src.rglob("*.rs")):
            if f.name == "tests.rs" or "tests" in f.relative_to(src).parts[:-1] or f in test_files:
                continue
            n = counted_lines(f.read_text())
            if n > MAX_LINES:
                findings.append(f"{rel(f)}: {n} lines (at most {MAX_LINES}, not counting `#[cfg(test)] mod` blocks): split it by responsibility")
    return findings


# ---------------------------------------------------------------------------------------------


def self_test() -> None:
    """The checker finds a cycle through a braced `use` and an inline path, ignores tests,
    comments and strings, follows re-exports, and counts lines without test blocks."""
    global ROOT
    saved = ROOT
    with tempfile.TemporaryDirectory() as tmp:
        ROOT = Path(tmp)
        src = ROOT / "crates/demo/src"
        (src / "report").mkdir(parents=True)
        (src / "lib.rs").write_text("pub mod a;\npub mod b;\npub mod c;\npub mod report;\n#[cfg(test)]\nmod tests;\n")
        (src / "a.rs").write_text("use crate::{b::{self, Thing}, c};\npub fn f() {}\n")
        (src / "b.rs").write_text('pub struct Thing;\n// crate::c::g()\nconst S: &str = "crate::c::g";\npub fn g() { crate::a::f() }\n')
        (src / "c.rs").write_text("pub fn g() {}\n#[cfg(test)]\nmod tests {\n    use crate::a;\n}\n")
        (src / "tests.rs").write_text("use crate::c;\n" + "\n" * 600)
        (src / "report/mod.rs").write_text("mod svg;\nmod timeline;\npub use timeline::Lane;\n")
        (src / "report/svg.rs").write_text("use super::Lane;\npub fn draw() {}\n")
        (src / "report/timeline.rs").write_text(
            "pub struct Lane;\npub fn t() {\n    super::svg::draw();\n}\n" + "\n" * 496 + "#[cfg(test)]\nmod tests {\n" + "\n" * 50 + "}\n"
        )
        found = find_cycles()
        assert len(found) == 2, found
        assert "a -> b -> a" in found[0] and "crates/demo/src/b.rs:4: pub fn g() { crate::a::f() }" in found[0], found[0]
        assert "svg -> timeline -> svg" in found[1] and "use super::Lane;" in found[1], found[1]
        assert long_files() == [], long_files()
        (src / "c.rs").write_text("pub fn g() {}\n" + "\n" * 500)
        assert len(long_files()) == 1 and "c.rs: 501 lines" in long_files()[0], long_files()
    ROOT = saved
    print("check-structure self-test: ok")


def main(argv: list[str]) -> int:
    if argv == ["--self-test"]:
        self_test()
        return 0
    wanted = argv or ["cycles", "lines"]
    failed = False
    if "cycles" in wanted:
        found = find_cycles()
        for f in found:
            print(f, end="\n\n")
        print(f"module cycles: {len(found)} found" + ("" if found else " (none)"))
        failed |= bool(found)
    if "lines" in wanted:
        found = long_files()
        for f in found:
            print(f)
        print(f"files over {MAX_LINES} lines in crates/*/src: {len(found)}")
        failed |= bool(found)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
