"""The bot's garbage collector settings (studio/gc_tuning.py): rarer young collections, the
startup heap frozen, and cycles still collected without anyone calling gc.collect().

In a fresh interpreter, so the test process keeps CPython's defaults; the entry point's own
call is checked on the real process's /metrics (tests/test_entry_point.py).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import gc, weakref
from studio.gc_tuning import YOUNG_THRESHOLD, tune_collector

assert gc.get_threshold()[0] == 700 and gc.get_freeze_count() == 0  # CPython's defaults
tune_collector()
assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10), gc.get_threshold()
assert gc.get_freeze_count() > 1_000, gc.get_freeze_count()  # modules, classes, functions


class Node:
    pass


def cycle():
    node = Node()
    node.self = node  # only the collector can free it
    return weakref.ref(node)


before = gc.get_stats()[0]["collections"]
dead = cycle()
kept = [[] for _ in range(YOUNG_THRESHOLD // 2)]  # fewer than the threshold: not yet
assert dead() is not None and gc.get_stats()[0]["collections"] == before
kept += [[] for _ in range(YOUNG_THRESHOLD)]  # past it: collected by the collector itself
assert dead() is None
assert gc.get_stats()[0]["collections"] == before + 1
print("ok")
"""


def test_tuning_collects_young_objects_less_often_but_still_collects_cycles() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
