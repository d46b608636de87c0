"""The cyclic garbage collector, set for a process that serves many small requests.

CPython collects its youngest generation after every 700 net allocations of tracked objects.
The bot makes hundreds per update (PTB's objects, coroutines, futures) and keeps thousands in
flight, so at 1,200 updates/s it ran about 35 young collections a second, each of which found
the in-flight objects alive and promoted them; the older generations then collected them
again, and every full collection walked the whole heap of modules and classes. Of the bot's
CPU in bench/load.py, 11-12 % was the collector (measured with gc.callbacks), and it freed
next to nothing: reference counting frees almost everything the bot drops.

So the bot collects its young generation every `YOUNG_THRESHOLD` net allocations instead
(about once a second at that load: the collector's share fell to about 2 %), and freezes what
exists once startup is done, so full collections skip the startup heap. Cycles are still
collected, only later: at most that many more tracked objects wait for a collection.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 7_000


def tune_collector() -> None:
    """Collect the startup garbage, freeze the rest, and collect the young less often."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
