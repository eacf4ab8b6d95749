"""The collecting process's interpreter (collection and analysis in threads, an event loop scheduling them):
how its pauses are kept short and its memory near what the data needs (bench/bench.py measures both). Scrapes
were served by this interpreter until they moved to a process of their own (exporter/serving.py), which is
forked after this tuning. Only the long-running exporter calls `tune_for_serving`; `check` and `plan` run one
collection and exit."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys
import threading

# A thread that wants the GIL waits up to this for the one holding it (default 5 ms): chosen when scrapes were
# # served in this process (each waited 5 ms several times over during a cycle; 0.2 ms measured no better); kept
# since (not re-measured): the cycle's I/O threads also wait for the GIL each time a response arrives.
SWITCH_INTERVAL_SECONDS = 0.001
# The cyclic garbage collector runs only here, once every this many cycles (a full pass). A cycle allocates
# hundreds of thousands of objects, nearly all freed by reference counting: collections triggered by allocation
# scanned up to 130,000 young objects at a time, holding the GIL 5-40 ms each, several times a cycle, and found
# next to nothing (55 objects in cycles over 4 cycles at 10,000 partitions).
FULL_COLLECTION_EVERY_CYCLES = 60
# glibc gives each thread that allocates concurrently its own heap arena, up to 8 per core; the collection's
# threads and librdkafka's each kept one with freed but unreturned memory (RSS 112 -> 105 MiB idle,
# 139 -> 124 MiB under load at 10,000 partitions). Two: the event loop's and one the workers share.
MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # mallopt's parameter number (glibc malloc.h)

_lock = threading.Lock()
_cycles: int | None = None  # cycles since the last full collection; None: not tuned (check, plan, tests)


def tune_for_serving() -> None:
    global _cycles
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    path = ctypes.util.find_library("c")
    mallopt = getattr(ctypes.CDLL(path), "mallopt", None) if path else None  # glibc only (not musl, macOS)
    if mallopt is not None:  # before the first collection thread or Kafka client starts
        mallopt(_M_ARENA_MAX, MALLOC_ARENAS)
    # What start-up created (modules, config, clients) lives as long as the process: out of every collection.
    gc.collect()
    gc.freeze()
    gc.disable()
    _cycles = 0


def after_cycle() -> None:
    """What survives a cycle (its snapshot, the history, the rendered text) is set aside from future
    collections: it is freed by reference counting when the next cycle replaces it. A full collection every
    FULL_COLLECTION_EVERY_CYCLES cycles frees what reference cycles there are (a pause of tens of ms at
    10,000 partitions, in this process only: scrapes are served by another)."""
    global _cycles
    with _lock:
        if _cycles is None:
            return
        _cycles += 1
        if _cycles >= FULL_COLLECTION_EVERY_CYCLES:
            _cycles = 0
            gc.unfreeze()
            gc.collect()
        gc.freeze()
