"""One interpreter serves scrapes (the event loop) and runs collection and analysis (threads): how it is tuned
so that a scrape landing during a cycle waits milliseconds, not the cycle's CPU work (bench/bench.py measures
it). Only the long-running server calls this; `check` and `plan` run one collection and exit."""

from __future__ import annotations

import gc
import sys

# A thread that wants the GIL waits up to this for the one holding it (default 5 ms): a scrape needs the GIL a
# few times, so during a cycle each scrape waited 5 ms several times over.
SWITCH_INTERVAL_SECONDS = 0.001
# A cycle allocates millions of objects, nearly all freed by reference counting. With the default thresholds
# (700, 10, 10) the cyclic collector ran ~250 times a cycle and its full collections held the GIL for up to
# 0.5 s at 10,000 partitions (a scrape waited that long). Fewer, younger collections; full ones become rare.
GC_THRESHOLDS = (50_000, 20, 100)


def tune_for_serving() -> None:
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    # What start-up created (modules, config, clients) lives as long as the process: out of every collection.
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
