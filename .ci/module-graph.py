#!/usr/bin/env python3
"""The package's module graph, drawn from Package.swift, and the rule it is for.

Reads the package with `swift package dump-package` (JSON; no build, no network) and:

- prints the graph of the package's own targets, each with its target dependencies, as a
  Mermaid `graph TD` block and as an indented text tree (`--format`). Products of other
  packages (swift-argument-parser, hdrhistogram-swift) are shown as leaves, in a group of
  their own;
- `--write FILE` replaces what lies between the two marker lines in FILE (docs/design.md) with
  the generated graph; `--check FILE` exits 1 when the graph committed there is not the one
  Package.swift gives (run `make module-graph` to rewrite it);
- checks the rule the graph is for (with `--write`, `--check`, or alone with `--imports`):
  1. every Swift file under a target's folder imports (`import X`, `@testable import X`,
     `@_exported import X`, `@_spi(...) import X`, `public import X`, `import struct X.Y`...,
     also inside `#if`) only targets of this package that are that target's dependencies,
     directly or transitively; a module that is not a target of this package (Glibc, Musl,
     Foundation, Dispatch, Synchronization, _Concurrency, Testing, XCTest, another package's
     module...) is external and allowed;
  2. the library's layers are ordered (LAYERS below, lowest first): a layer depends on, and a
     file of it imports, only layers below it, the C targets (C_TARGETS), and nothing else of
     the package (no tool, test support or test target) nor any other package's product.

Violations are printed as `file:line: imports X, which is above target T` (or `..., which is
not a dependency of target T`), and `Package.swift: target T depends on X, ...`. Exit status:
0 when everything holds, 1 on a violation or a stale graph, 2 on a usage or tool error.
"""

import argparse
import json
import os
import re
import subprocess
import sys

# The library's layers, lowest first: each may depend on (and import) only those before it.
LAYERS = ["_MultiLoopSystem", "_MultiLoopInbox", "_MultiLoopEventLoop", "MultiLoop"]
# What lies below every layer: the C shim and the system library it wraps.
C_TARGETS = ["CAtomicOps", "CMultiLoopSystem"]

BEGIN = "<!-- module-graph:begin"
END = "<!-- module-graph:end -->"
BEGIN_LINE = ("<!-- module-graph:begin: generated from Package.swift by .ci/module-graph.py; "
              "`make module-graph` rewrites it, `make test` checks it -->")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fail_usage(message):
    print(f"module-graph: {message}", file=sys.stderr)
    sys.exit(2)


# MARK: - The package

class Target:
    def __init__(self, name, kind, path, deps, products):
        self.name = name
        self.kind = kind          # regular, executable, test, system, ...
        self.path = path          # folder, relative to the package root
        self.deps = deps          # names of this package's targets, in declaration order
        self.products = products  # (product, package) of other packages


def load_package(swift):
    try:
        out = subprocess.run([swift, "package", "--package-path", ROOT, "dump-package"],
                             check=True, capture_output=True, text=True).stdout
    except FileNotFoundError:
        fail_usage(f"`{swift}` not found (set SWIFT to the toolchain's swift)")
    except subprocess.CalledProcessError as error:
        fail_usage(f"`swift package dump-package` failed:\n{error.stderr}")
    package = json.loads(out)
    names = {t["name"] for t in package["targets"]}
    targets = []
    for t in package["targets"]:
        deps, products = [], []
        for dep in t["dependencies"]:
            if "byName" in dep:
                name = dep["byName"][0]
                if name in names:
                    deps.append(name)
                else:  # a product of another package, named like its package's target
                    products.append((name, None))
            elif "target" in dep:
                deps.append(dep["target"][0])
            elif "product" in dep:
                products.append((dep["product"][0], dep["product"][1]))
        path = t.get("path") or os.path.join("Tests" if t["type"] == "test" else "Sources", t["name"])
        targets.append(Target(t["name"], t["type"], path, deps, products))
    return targets


def closure(targets_by_name, name):
    """Every target `name` depends on, directly or not (cycles tolerated)."""
    seen, stack = set(), list(targets_by_name[name].deps)
    while stack:
        dep = stack.pop()
        if dep in seen or dep not in targets_by_name:
            continue
        seen.add(dep)
        stack.extend(targets_by_name[dep].deps)
    return seen


def swift_files(target):
    folder = os.path.join(ROOT, target.path)
    found = []
    for directory, subdirs, files in os.walk(folder):
        subdirs.sort()
        found.extend(os.path.join(directory, f) for f in sorted(files) if f.endswith(".swift"))
    return found


def group_of(target):
    if target.name in LAYERS:
        return "layers"
    if target.name in C_TARGETS:
        return "c"
    if target.kind == "test":
        return "tests"
    return "tools"


GROUPS = [
    ("layers", "the library: the MultiLoop product, one module per layer"),
    ("c", "C: the shim and libatomic_ops"),
    ("tools", "tools and test support: not in the library product"),
    ("tests", "test targets"),
    ("external", "other packages' products"),
]


def ordered(targets):
    """Targets by group, the layers top to bottom, the rest in declaration order."""
    rank = {name: i for i, name in enumerate(list(reversed(LAYERS)) + list(reversed(C_TARGETS)))}
    keyed = [(i, t) for i, t in enumerate(targets)]
    group_index = {g: i for i, (g, _) in enumerate(GROUPS)}
    keyed.sort(key=lambda it: (group_index[group_of(it[1])], rank.get(it[1].name, 0), it[0]))
    return [t for _, t in keyed]


# MARK: - Rendering

def node_id(name):
    return "m_" + re.sub(r"[^A-Za-z0-9]", "_", name)


def product_label(product, package):
    return f"{product} ({package})" if package else product


def mermaid(targets):
    lines = ["```mermaid", "graph TD"]
    externals = []
    for t in targets:
        for p in t.products:
            if p not in externals:
                externals.append(p)
    by_group = {}
    for t in ordered(targets):
        by_group.setdefault(group_of(t), []).append(t)
    for key, title in GROUPS:
        if key == "external":
            if not externals:
                continue
            lines.append(f'  subgraph g_external["{title}"]')
            for product, package in externals:
                lines.append(f'    {node_id("x_" + product)}(["{product_label(product, package)}"])')
            lines.append("  end")
            continue
        members = by_group.get(key, [])
        if not members:
            continue
        lines.append(f'  subgraph g_{key}["{title}"]')
        for t in members:
            suffix = {"executable": " (executable)", "system": " (system library)"}.get(t.kind, "")
            lines.append(f'    {node_id(t.name)}["{t.name}{suffix}"]')
        lines.append("  end")
    for t in ordered(targets):
        for dep in t.deps:
            lines.append(f"  {node_id(t.name)} --> {node_id(dep)}")
        for product, _ in t.products:
            lines.append(f"  {node_id(t.name)} -.-> {node_id('x_' + product)}")
    lines.append("```")
    return lines


def direct_list(targets):
    """Each target and its direct dependencies, as plain text."""
    width = max(len(t.name) for t in targets)
    lines = ["```text"]
    for key, title in GROUPS:
        if key == "external":
            continue
        members = [t for t in ordered(targets) if group_of(t) == key]
        if not members:
            continue
        lines.append(f"{title}:")
        for t in members:
            deps = list(t.deps) + [product_label(p, pkg) for p, pkg in t.products]
            lines.append(f"  {t.name.ljust(width)}  -> {', '.join(deps) if deps else '(nothing)'}")
    lines.append("```")
    return lines


def tree(targets):
    """Indented text tree from the targets nothing depends on; a subtree shown once."""
    by_name = {t.name: t for t in targets}
    used = {d for t in targets for d in t.deps}
    roots = [t for t in ordered(targets) if t.name not in used]
    lines, shown = [], set()

    def walk(name, prefix, last, depth):
        t = by_name[name]
        branch = "" if depth == 0 else ("└── " if last else "├── ")
        children = list(t.deps) + [("x", p) for p in t.products]
        again = name in shown and children
        lines.append(f"{prefix}{branch}{name}{' (shown above)' if again else ''}")
        if again:
            return
        shown.add(name)
        inner = prefix if depth == 0 else prefix + ("    " if last else "│   ")
        for i, child in enumerate(children):
            is_last = i == len(children) - 1
            if isinstance(child, tuple):
                product, package = child[1]
                lines.append(f"{inner}{'└── ' if is_last else '├── '}{product_label(product, package)} [other package]")
            else:
                walk(child, inner, is_last, depth + 1)

    for root in roots:
        walk(root.name, "", True, 0)
    return lines


def generated_block(targets):
    return "\n".join([BEGIN_LINE] + mermaid(targets) + [""] + direct_list(targets) + [END])


# MARK: - The rule

IMPORT = re.compile(
    r"^\s*(?:@\w+(?:\([^)]*\))?\s+)*"                         # @testable, @_exported, @_spi(X), @preconcurrency
    r"(?:(?:public|package|internal|fileprivate|private)\s+)?"  # access-level imports
    r"import\s+(?:(?:typealias|struct|class|enum|protocol|let|var|func)\s+)?"
    r"([A-Za-z_][A-Za-z0-9_]*)")


def strip_comments(text):
    """Blanks out comments (`//`, nested `/* */`) and string literals, keeping line breaks, so
    that neither an `import` in a comment or a string nor a `/*` in a string is taken for code."""
    out, i, n, depth = [], 0, len(text), 0
    while i < n:
        if depth == 0 and text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth += 1
            i += 2
        elif depth and text.startswith("*/", i):
            depth -= 1
            i += 2
        elif depth == 0 and text[i] == '"':
            quote = '"""' if text.startswith('"""', i) else '"'
            j = i + len(quote)
            while j < n and not text.startswith(quote, j):
                if quote == '"' and text[j] == "\n":
                    break  # an unterminated one-line string: stop at the line's end
                j += 2 if text[j] == "\\" else 1
            j = min(n, j + len(quote))
            out.append("".join(c if c == "\n" else " " for c in text[i:j]))
            i = j
        else:
            out.append(text[i] if depth == 0 or text[i] == "\n" else " ")
            i += 1
    return "".join(out)


def imports(path):
    with open(path, encoding="utf-8") as f:
        text = strip_comments(f.read())
    for number, line in enumerate(text.split("\n"), 1):
        match = IMPORT.match(line)
        if match:
            yield number, match.group(1)


def violations(targets):
    by_name = {t.name: t for t in targets}
    rank = {name: i for i, name in enumerate(LAYERS)}
    found = []
    order = " < ".join(LAYERS)

    # Package.swift: each layer's dependencies, transitively.
    for t in targets:
        if t.name not in rank:
            continue
        for dep in sorted(closure(by_name, t.name), key=lambda d: (rank.get(d, -1), d)):
            how = "depends on" if dep in t.deps else "depends (through another target) on"
            if dep in rank and rank[dep] >= rank[t.name]:
                where = "its own layer" if dep == t.name else "above it"
                found.append(f"Package.swift: target {t.name} {how} {dep}, which is {where} "
                             f"(layer order: {order})")
            elif dep not in rank and dep not in C_TARGETS:
                found.append(f"Package.swift: target {t.name} {how} {dep}, which is not a layer "
                             f"below it nor a C target (a library layer depends on no tool or test target)")
        for product, package in t.products:
            found.append(f"Package.swift: target {t.name} depends on {product_label(product, package)}, "
                         f"a product of another package (the library depends on nothing)")

    # Every Swift file's imports.
    for t in targets:
        allowed = closure(by_name, t.name)
        for path in swift_files(t):
            shown = os.path.relpath(path, ROOT)
            for line, module in imports(path):
                if module not in by_name:
                    continue  # not a target of this package: system, toolchain or another package
                if t.name in rank and module in rank and rank[module] >= rank[t.name]:
                    what = "its own module" if module == t.name else f"above target {t.name}"
                    found.append(f"{shown}:{line}: imports {module}, which is {what} "
                                 f"(layer order: {order})")
                elif module not in allowed:
                    found.append(f"{shown}:{line}: imports {module}, which is not a dependency of "
                                 f"target {t.name} (Package.swift)")
    return found


# MARK: - Links

LINK = re.compile(r"\[([^\]]+)\]\(([^)\s#]+)(?:#[^)]*)?\)")
CODE = re.compile(r"`([^`]+)`")


def broken_links(path):
    """Each relative link of the Markdown file `path` whose file is missing, or whose text names
    in code (`Symbol`, `Type.member`, `name(label:)`) an identifier the file does not contain."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    base = os.path.dirname(os.path.abspath(path))
    found = []
    for number, line in enumerate(text.split("\n"), 1):
        for label, target in LINK.findall(line):
            if re.match(r"^[a-z]+:", target):
                continue  # an absolute URL
            file = os.path.normpath(os.path.join(base, target))
            shown = f"{os.path.relpath(path, ROOT)}:{number}"
            if not os.path.exists(file):
                found.append(f"{shown}: links to {target}, which does not exist")
                continue
            if os.path.isdir(file):
                continue
            with open(file, encoding="utf-8", errors="replace") as f:
                content = f.read()
            for code in CODE.findall(label):
                for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", code):
                    if not re.search(r"(?<![A-Za-z0-9_])" + re.escape(word) + r"(?![A-Za-z0-9_])", content):
                        found.append(f"{shown}: `{code}`: {target} has no `{word}`")
    return found


# MARK: - design.md

def split_markers(text, path):
    begin = text.find(BEGIN)
    end = text.find(END)
    if begin < 0 or end < 0 or end < begin:
        fail_usage(f"{path}: no `{BEGIN} ... -->` line followed by a `{END}` line")
    end += len(END)
    return text[:begin], text[begin:end], text[end:]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", metavar="FILE", help="replace the graph between the markers in FILE")
    mode.add_argument("--check", metavar="FILE",
                      help="exit 1 if FILE's graph is not Package.swift's, or if the rule is broken")
    mode.add_argument("--imports", action="store_true", help="check the rule only")
    mode.add_argument("--links", metavar="FILE",
                      help="check FILE's relative links: each file exists and has the symbols its "
                           "link text names in code (not part of --check)")
    parser.add_argument("--format", choices=["mermaid", "tree", "both"], default="both",
                        help="what to print when neither --write, --check nor --imports is given")
    args = parser.parse_args()

    if args.links:
        found = broken_links(args.links)
        for line in found:
            print(line, file=sys.stderr)
        if not found:
            print(f"module-graph: every link of {args.links} names a file and symbols that exist")
        return 1 if found else 0

    targets = load_package(os.environ.get("SWIFT", "swift"))
    known = {t.name for t in targets}
    for name in LAYERS + C_TARGETS:
        if name not in known:
            fail_usage(f"{name} (LAYERS or C_TARGETS in {os.path.relpath(__file__, ROOT)}) is not a "
                       f"target of Package.swift: update the lists")

    if not (args.write or args.check or args.imports):
        if args.format in ("mermaid", "both"):
            print("\n".join(mermaid(targets)))
        if args.format == "both":
            print()
        if args.format in ("tree", "both"):
            print("\n".join(tree(targets)))
        return 0

    status = 0
    if args.write or args.check:
        path = args.write or args.check
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as error:
            fail_usage(f"{path}: {error.strerror}")
        before, committed, after = split_markers(text, path)
        block = generated_block(targets)
        if args.write:
            if committed != block:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(before + block + after)
                print(f"module-graph: wrote the graph into {path}")
            else:
                print(f"module-graph: {path} is up to date")
        elif committed != block:
            print(f"module-graph: the module graph in {path} is not the one Package.swift gives; "
                  f"run `make module-graph` and commit the result", file=sys.stderr)
            status = 1

    found = violations(targets)
    for line in found:
        print(line, file=sys.stderr)
    if found:
        print(f"module-graph: {len(found)} violation(s) of the layering "
              f"({' < '.join(LAYERS)}; imports only of dependencies)", file=sys.stderr)
        status = 1
    elif status == 0:
        files = sum(len(swift_files(t)) for t in targets)
        print(f"module-graph: {len(targets)} targets, {files} Swift files: every import is a "
              f"dependency, the layers point only downward")
    return status


if __name__ == "__main__":
    sys.exit(main())
