"""Structure report: import arrows between packages, state-transition callers, size per package.

    .venv/bin/python bench/structure_report.py [--root .]

Scans every .py file under the root except tests/, bench/, scripts/, .venv and hidden folders.
A node is a directory with __init__.py at depth <= 2 (bot, bot/texts, ...) or a top-level module
(worker.py); a file belongs to the deepest node that holds it.
  (a) import arrows: distinct (importing file, imported module) pairs per (from, to) node pair,
      from `ast` (imports inside functions and TYPE_CHECKING blocks count; "deferred" says how
      many of them sit inside a function);
  (b) files calling an order-state transition (TRANSITION_PATTERNS, text match outside
      comments), inside studio/ and outside;
  (c) lines per node: code (non-blank, non-comment; docstrings count as code) and total;
  (d) files over LONG_FILE_LINES lines.
"""

from __future__ import annotations

import argparse
import ast
import re
from collections import Counter, defaultdict
from pathlib import Path

EXCLUDED_DIRS = frozenset({"tests", "bench", "scripts", ".venv", "build", "__pycache__"})
# What counts as "calls an order-state transition"; regexes, matched per line outside comments.
TRANSITION_PATTERNS: list[str] = [
    r"\.transition\(",  # the raw compare-and-set (before the named transitions)
    r"\.orders\.(accept_headshot|finish_selfies|choose_pack|pay|claim|record_progress|deliver"
    r"|fail|cancel|withdraw|attach_charge|refund)\(",
]
DOMAIN_PACKAGE = "studio"
LONG_FILE_LINES = 400
MAX_NODE_DEPTH = 2


def project_files(root: Path) -> list[Path]:
    files = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if any(p in EXCLUDED_DIRS or p.startswith(".") for p in parts[:-1]):
            continue
        files.append(path)
    return files


def find_nodes(root: Path, files: list[Path]) -> dict[str, Path]:
    """Dotted node name -> its directory (packages) or file (top-level modules)."""
    nodes: dict[str, Path] = {}
    for path in files:
        rel = path.relative_to(root)
        if len(rel.parts) == 1 and path.name != "__init__.py":
            nodes[path.stem] = path
        elif path.name == "__init__.py" and len(rel.parts) - 1 <= MAX_NODE_DEPTH:
            nodes[".".join(rel.parts[:-1])] = path.parent
    return nodes


def node_of_module(module: str, nodes: dict[str, Path]) -> str | None:
    """The deepest node a dotted module name falls in (None: not ours)."""
    parts = module.split(".")
    for depth in range(min(len(parts), MAX_NODE_DEPTH), 0, -1):
        name = ".".join(parts[:depth])
        if name in nodes:
            return name
    return None


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(tree: ast.Module, this: str, is_package: bool) -> list[tuple[str, bool]]:
    """(dotted module, deferred) for each import; `from a import b` yields a.b (b may be one)."""
    found: list[tuple[str, bool]] = []
    deferred_nodes = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for inner in ast.walk(node)
    }
    for node in ast.walk(tree):
        deferred = id(node) in deferred_nodes
        if isinstance(node, ast.Import):
            found += [(alias.name, deferred) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = this.split(".") if is_package else this.split(".")[:-1]
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found += [(f"{base}.{alias.name}".strip("."), deferred) for alias in node.names]
    return found


def code_lines(lines: list[str]) -> int:
    return sum(1 for line in lines if line.strip() and not line.strip().startswith("#"))


def report(root: Path) -> list[str]:
    files = project_files(root)
    nodes = find_nodes(root, files)
    arrows: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
    deferred_arrows: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
    transitions: dict[str, int] = {}
    code: Counter[str] = Counter()
    total: Counter[str] = Counter()
    file_count: Counter[str] = Counter()
    long_files: list[tuple[int, str]] = []
    patterns = [re.compile(p) for p in TRANSITION_PATTERNS]
    for path in files:
        rel = str(path.relative_to(root))
        this = module_name(root, path)
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        src_node = node_of_module(this, nodes) or "(other)"
        code[src_node] += code_lines(lines)
        total[src_node] += len(lines)
        file_count[src_node] += 1
        if len(lines) > LONG_FILE_LINES:
            long_files.append((len(lines), rel))
        hits = sum(
            len(p.findall(line.split("#", 1)[0])) for line in lines for p in patterns
        )  # fmt: skip
        if hits:
            transitions[rel] = hits
        tree = ast.parse(source, filename=rel)
        for module, deferred in imported_modules(tree, this, path.name == "__init__.py"):
            dst_node = node_of_module(module, nodes)
            if dst_node is None or dst_node == src_node:
                continue
            # `from bot import checkout` and `from bot.checkout import x` name one module.
            pair = (rel, _existing_module(root, module))
            arrows[(src_node, dst_node)].add(pair)
            if deferred:
                deferred_arrows[(src_node, dst_node)].add(pair)

    out = [f"structure of {root.resolve()} ({len(files)} files, nodes: {', '.join(nodes)})"]
    out.append("(a) import arrows: from -> to: distinct (file, module) pairs [deferred], files")
    for (src, dst), pairs in sorted(arrows.items()):
        importers = len({file for file, _ in pairs})
        n_deferred = len(deferred_arrows.get((src, dst), ()))
        out.append(f"  {src:14} -> {dst:14} {len(pairs):4}  [{n_deferred:3}]  {importers:3} files")
    inside = {f: n for f, n in transitions.items() if f.startswith(f"{DOMAIN_PACKAGE}/")}
    outside = {f: n for f, n in transitions.items() if f not in inside}
    out.append(f"(b) files calling a transition ({' | '.join(TRANSITION_PATTERNS)}):")
    for where, group in (
        (f"outside {DOMAIN_PACKAGE}/", outside),
        (f"in {DOMAIN_PACKAGE}/", inside),
    ):
        calls = sum(group.values())
        out.append(f"  {where}: {len(group)} files, {calls} calls")
        out += [f"    {file}: {n}" for file, n in sorted(group.items())]
    out.append("(c) lines per node: files, code lines (non-blank, non-comment), total lines")
    for node in sorted(total):
        out.append(f"  {node:14} {file_count[node]:4} {code[node]:7} {total[node]:7}")
    out.append(f"  {'all':14} {len(files):4} {code.total():7} {total.total():7}")
    out.append(f"(d) files over {LONG_FILE_LINES} lines: {len(long_files)}")
    out += [f"  {n:5}  {file}" for n, file in sorted(long_files, reverse=True)]
    return out


def _existing_module(root: Path, module: str) -> str:
    """The longest prefix of `module` that is a file or package of ours (drops imported names)."""
    parts = module.split(".")
    for depth in range(len(parts), 0, -1):
        base = root.joinpath(*parts[:depth])
        if base.with_suffix(".py").is_file() or (base / "__init__.py").is_file():
            return ".".join(parts[:depth])
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args()
    print("\n".join(report(args.root)))


if __name__ == "__main__":
    main()
