"""Package boundaries from ARCHITECTURE.md, read from the code's own imports (ast, nothing runs).

- `pipeline/` and `emulator/` import nothing of ours; `studio/` imports no bot, jobs or pipeline.
- `bot/` never imports jobs or the workers, and of `pipeline/` only the pure style catalogue.
- `portrait_studio/` (the entry point) may import every role; nothing imports it.
- `bot/handlers/` is imported by `bot/app.py` alone: workers use the outbox, never a handler.
- Only `studio/queue.py` knows arq's keys, and only `studio/` touches an order's hash or its
  index sets, or calls the raw transition behind the named ones.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = ("bot", "studio", "jobs", "pipeline", "emulator", "worker", "portrait_studio")
SHIPPED = ("bot", "studio", "jobs", "pipeline", "emulator", "portrait_studio")
# studio.keys names that only the domain may use: the order hash, its photos, the index sets.
ORDER_INTERNALS = frozenset(
    {"order", "order_photos", "OPEN_ORDERS", "PAID_ORDERS", "CLOSED_ORDERS", "ORDER_INDEXES"}
)
RAW_TRANSITIONS = frozenset({"_move", "transition", "_transition"})


def shipped_files() -> Iterator[Path]:
    yield ROOT / "worker.py"
    for package in SHIPPED:
        yield from sorted((ROOT / package).rglob("*.py"))


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def imports(path: Path) -> set[str]:
    """Every module the file imports (`from a import b` counts as `a` and `a.b`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def ours(modules: set[str]) -> set[str]:
    return {m for m in modules if m.split(".")[0] in OURS}


def imports_of(package: str) -> dict[str, set[str]]:
    return {rel(p): ours(imports(p)) for p in shipped_files() if rel(p).startswith(package + "/")}


def offenders(package: str, allowed: tuple[str, ...]) -> dict[str, set[str]]:
    """Imports of our modules from `package` that start with none of `allowed`."""
    out = {}
    for path, modules in imports_of(package).items():
        bad = {m for m in modules if not m.startswith(allowed)}
        if bad:
            out[path] = bad
    return out


def test_pipeline_and_emulator_import_nothing_of_ours() -> None:
    assert offenders("pipeline", ("pipeline",)) == {}
    assert offenders("emulator", ("emulator",)) == {}


def test_the_domain_imports_no_bot_jobs_or_pipeline() -> None:
    assert offenders("studio", ("studio",)) == {}


def test_the_bot_imports_no_workers_and_only_the_style_catalogue_of_the_pipeline() -> None:
    assert offenders("bot", ("bot", "studio", "pipeline.styles")) == {}


def test_only_the_app_imports_the_handlers() -> None:
    importers = {
        rel(path)
        for path in shipped_files()
        if not rel(path).startswith("bot/handlers/")
        and any(m == "bot.handlers" or m.startswith("bot.handlers.") for m in imports(path))
    }
    assert importers == {"bot/app.py"}


def test_workers_use_the_outbox_never_a_handler() -> None:
    worker_files = {"worker.py": ours(imports(ROOT / "worker.py")), **imports_of("jobs")}
    assert {
        path: {m for m in modules if m.startswith("bot.handlers")}
        for path, modules in worker_files.items()
        if any(m.startswith("bot.handlers") for m in modules)
    } == {}


def test_only_the_queue_module_reads_arq_keys() -> None:
    readers = {
        rel(p) for p in shipped_files() if any(m.startswith("arq.constants") for m in imports(p))
    }
    assert readers == {"studio/queue.py"}


def test_only_the_domain_touches_order_hashes_index_sets_and_raw_transitions() -> None:
    found: dict[str, set[str]] = {}
    for path in shipped_files():
        if rel(path).startswith("studio/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, ast.Attribute):
                continue
            owner = node.value.id if isinstance(node.value, ast.Name) else ""
            if (owner == "keys" and node.attr in ORDER_INTERNALS) or node.attr in RAW_TRANSITIONS:
                found.setdefault(rel(path), set()).add(f"{owner or '…'}.{node.attr}")
    assert found == {}


def test_nothing_imports_the_entry_point() -> None:
    importers = {
        rel(p)
        for p in shipped_files()
        if not rel(p).startswith("portrait_studio/")
        and any(m.split(".")[0] == "portrait_studio" for m in imports(p))
    }
    assert importers == set()
