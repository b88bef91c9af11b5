#!/usr/bin/env python3
"""Measures the shape of src/: top-level modules, import cycles between files, long functions,
and uses of command-line types outside the command-line layer.

    python3 tools/structure.py            # the figures, one line each, then the details
    python3 tools/structure.py --json     # the same as JSON (the structure test reads this)

Why a script: issue 17's structural targets are properties of the source text, so a program
checks them the same way every time instead of a reviewer counting by hand. Standard library
only; Rust is read with a small tokenizer that skips comments, strings and char literals,
which is all these counts need.
"""

import json
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SRC = os.path.join(ROOT, "src")
# the command-line layer: the flag parser, its tables and run files, and the binaries on top
CLI_FILES_PREFIXES = ("cli.rs", "cli/", "main.rs", "bin/")
LONG_FUNCTION = 100


def rust_files():
    out = []
    for d, _, names in os.walk(SRC):
        for n in names:
            if n.endswith(".rs"):
                out.append(os.path.relpath(os.path.join(d, n), SRC).replace(os.sep, "/"))
    return sorted(out)


def strip_code(text):
    """The text with comments, strings and char literals blanked (newlines kept), so braces and
    paths are only those of the code."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
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
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            end = '"' + m.group(1)
            j = text.find(end, i + len(m.group(0)))
            j = n if j < 0 else j + len(end)
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j + 1
        elif c == "'":
            # a char literal ('a', '\n', '\u{..}') or a lifetime ('a)
            m = re.match(r"'(\\.[^']*|[^\\'])'", text[i:i + 12])
            if m:
                out.append("' '")
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def module_of(path):
    """'experiment/crystal.rs' -> ['experiment', 'crystal']; 'lib.rs' -> []."""
    parts = path[:-3].split("/")
    if parts == ["main"] or parts[0] == "bin":
        return None
    if parts[-1] in ("mod", "lib"):
        parts = parts[:-1]
    return parts


def build_module_map(files):
    mods = {}
    for f in files:
        m = module_of(f)
        if m is not None:
            mods[tuple(m)] = f
    return mods


PATH_RE = re.compile(r"\b(crate|super|self)((?:\s*::\s*[A-Za-z_][A-Za-z0-9_]*)+)")
USE_GROUP_RE = re.compile(r"\buse\s+([^;]+);", re.S)


def expand_use(tree):
    """Paths named by a `use` tree (`crate::a::{b, c::d}` -> crate::a::b, crate::a::c::d); a
    renamed import keeps its new name after an `@` (`a::b as c` -> a::b@c)."""
    tree = re.sub(r"\s+", "", re.sub(r"\s+as\s+", "@", tree))
    out = []

    def walk(prefix, t):
        depth, start, items = 0, 0, []
        if "{" not in t:
            out.append(prefix + t)
            return
        head, rest = t.split("{", 1)
        body = rest[: rest.rfind("}")]
        for i, ch in enumerate(body):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                items.append(body[start:i])
                start = i + 1
        items.append(body[start:])
        for it in items:
            if it:
                walk(prefix + head, it)

    walk("", tree)
    return out


def absolute(segs, current_module, children):
    """A path as absolute module segments, or None for an external crate or std."""
    segs = [x for x in segs if x]
    if not segs:
        return None
    if segs[0] == "crate":
        return segs[1:]
    if segs[0] in ("super", "self"):
        base = list(current_module)
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super":
                base = base[:-1]
            segs = segs[1:]
        return base + segs
    if segs[0] in children:
        # a bare path starting with a child module declared in this file (2018 paths)
        return list(current_module) + segs
    return None


def resolve(abs_segs, mods, reexports, depth=0):
    """The file a path points into: the deepest existing module prefix of the path, followed
    through `pub use` re-exports to the file that defines the name."""
    if abs_segs is None:
        return None
    full = [x for x in abs_segs if x != "*"]
    for k in range(len(full), -1, -1):
        key = tuple(full[:k])
        if key in mods:
            f = mods[key]
            rest = full[k:]
            if rest and depth < 8 and rest[0] in reexports.get(f, {}):
                target = resolve(reexports[f][rest[0]] + rest[1:], mods, reexports, depth + 1)
                if target:
                    return target
            return f
    return None


MOD_DECL_RE = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([A-Za-z_][A-Za-z0-9_]*)\s*;", re.M)
# any `use` of a module makes its names reachable as module::name from the module and its
# descendants, so private imports of a mod.rs are followed like re-exports
PUB_USE_RE = re.compile(r"^(?:pub(?:\([^)]*\))?\s+)?use\s+([^;]+);", re.S | re.M)


def children_of(code):
    return set(MOD_DECL_RE.findall(code))


def reexport_table(files, texts):
    """Per file, the names its top-level `use` items bring in (`pub use a::b::Name;`), as
    absolute paths."""
    table = {}
    for f in files:
        m = module_of(f)
        if m is None:
            continue
        kids = children_of(texts[f])
        names = {}
        for u in PUB_USE_RE.finditer(texts[f]):
            for p in expand_use(u.group(1)):
                if p.endswith("*"):
                    continue
                path, _, alias = p.partition("@")
                segs = path.split("::")
                a = absolute(segs, m, kids)
                if a:
                    names[alias or segs[-1]] = a
        table[f] = names
    return table


INLINE_MOD_RE = re.compile(r"\bmod\s+([A-Za-z_][A-Za-z0-9_]*)\s*\{")


def closing_brace(code, open_at):
    """Index of the `}` that closes the `{` at `open_at` (the end of the text if none)."""
    depth = 0
    for k in range(open_at, len(code)):
        if code[k] == "{":
            depth += 1
        elif code[k] == "}":
            depth -= 1
            if depth == 0:
                return k
    return len(code)


def inline_modules(code):
    """(start, end, name) of every inline `mod name { ... }` block."""
    return [(m.start(), closing_brace(code, m.end() - 1), m.group(1)) for m in INLINE_MOD_RE.finditer(code)]


def module_at(pos, file_module, blocks):
    """The module a position of a file is in: the file's module plus enclosing inline modules."""
    return list(file_module) + [name for (a, b, name) in blocks if a <= pos <= b]


def dependencies(files, texts, mods):
    reexports = reexport_table(files, texts)
    deps = {f: set() for f in files}
    for f in files:
        m = module_of(f)
        if m is None:
            continue
        code = texts[f]
        kids = children_of(code)
        blocks = inline_modules(code)
        paths = []
        for u in USE_GROUP_RE.finditer(code):
            for p in expand_use(u.group(1)):
                paths.append((u.start(), p.partition("@")[0].split("::")))
        for p in PATH_RE.finditer(code):
            segs = [p.group(1)] + [s.strip() for s in p.group(2).split("::") if s.strip()]
            paths.append((p.start(), segs))
        if kids:
            for p in re.finditer(r"(?<![:\w])(%s)((?:\s*::\s*[A-Za-z_][A-Za-z0-9_]*)+)" % "|".join(sorted(kids)), code):
                segs = [p.group(1)] + [s.strip() for s in p.group(2).split("::") if s.strip()]
                paths.append((p.start(), segs))
        for pos, segs in paths:
            segs = [s for s in segs if s]
            here = module_at(pos, m, blocks)
            # inline modules are not files: a path into one lands in this file
            target = resolve(absolute(segs, here, kids if len(here) == len(m) else set()), mods, reexports)
            if target and target != f:
                deps[f].add(target)
    return deps


def strongly_connected(deps):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in deps[v]:
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
                out.append(sorted(comp))

    for v in sorted(deps):
        if v not in index:
            visit(v)
    return sorted(out)


FN_RE = re.compile(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)")


def long_functions(files, texts, limit):
    out = []
    for f in files:
        code = texts[f]
        for m in FN_RE.finditer(code):
            # the body opens at the first '{' after the signature, unless a ';' ends a declaration first
            j = m.end()
            depth_paren = 0
            while j < len(code):
                ch = code[j]
                if ch in "([<":
                    depth_paren += 1
                elif ch in ")]>":
                    depth_paren -= 1
                elif ch == ";" and depth_paren <= 0:
                    j = -1
                    break
                elif ch == "{" and depth_paren <= 0:
                    break
                j += 1
            if j < 0 or j >= len(code):
                continue
            k = closing_brace(code, j)
            first = code.count("\n", 0, m.start()) + 1
            last = code.count("\n", 0, k) + 1
            if last - first + 1 > limit:
                out.append({"file": f, "function": m.group(1), "line": first, "lines": last - first + 1})
    return sorted(out, key=lambda d: -d["lines"])


CLI_USE_RE = re.compile(r"\bcrate\s*::\s*cli\b|\bsuper\s*::\s*(?:super\s*::\s*)*cli\b|\bcli\s*::\s*(?:Options|parse|table|runfile)\b")


def cli_leaks(files, texts):
    out = []
    for f in files:
        if f.startswith(CLI_FILES_PREFIXES):
            continue
        n = len(CLI_USE_RE.findall(texts[f]))
        if n:
            out.append({"file": f, "uses": n})
    return out


def main():
    files = rust_files()
    texts = {f: strip_code(open(os.path.join(SRC, f), encoding="utf-8").read()) for f in files}
    mods = build_module_map(files)
    top = sorted(re.findall(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([A-Za-z_][A-Za-z0-9_]*)\s*;", texts["lib.rs"], re.M))
    deps = dependencies(files, texts, mods)
    cycles = strongly_connected(deps)
    longf = long_functions(files, texts, LONG_FUNCTION)
    leaks = cli_leaks(files, texts)
    lines = sum(open(os.path.join(SRC, f), encoding="utf-8").read().count("\n") for f in files)
    report = {
        "files": len(files),
        "lines": lines,
        "top_level_modules": len(top),
        "top_level_module_names": top,
        "import_cycles": cycles,
        "files_in_cycles": sorted({f for c in cycles for f in c}),
        "functions_over_100_lines": longf,
        "cli_types_outside_cli": leaks,
    }
    if "--json" in sys.argv:
        print(json.dumps(report, indent=1))
        return
    print(f"files: {report['files']}, lines: {lines}")
    print(f"top-level modules: {len(top)} ({', '.join(top)})")
    print(f"import cycles: {len(cycles)} (files in them: {len(report['files_in_cycles'])})")
    for c in cycles:
        print("  cycle: " + " <-> ".join(c))
    print(f"functions over {LONG_FUNCTION} lines: {len(longf)}")
    for d in longf:
        print(f"  {d['file']}:{d['line']} {d['function']} ({d['lines']} lines)")
    print(f"files outside the command-line layer using command-line types: {len(leaks)}")
    for d in leaks:
        print(f"  {d['file']} ({d['uses']})")


if __name__ == "__main__":
    main()
