"""The serving interpreter's garbage collection: no collection triggered by allocation (its pauses held the GIL
for up to 40 ms at 10,000 partitions, delaying scrapes), yet objects in reference cycles are still freed
within a bounded number of cycles."""

from __future__ import annotations

import gc
import sys
import weakref
from collections.abc import Iterator

import pytest

from exporter import interpreter


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


@pytest.fixture
def tuned() -> Iterator[None]:
    enabled, switch = gc.isenabled(), sys.getswitchinterval()
    interpreter.tune_for_serving()
    try:
        yield
    finally:
        interpreter._cycles = None
        gc.unfreeze()
        sys.setswitchinterval(switch)
        if enabled:
            gc.enable()


@pytest.mark.usefixtures("tuned")
def test_cyclic_garbage_is_freed_by_the_periodic_full_collection_only() -> None:
    assert not gc.isenabled()
    garbage = Node()
    ref = weakref.ref(garbage)
    del garbage
    for _ in range(interpreter.FULL_COLLECTION_EVERY_CYCLES - 1):
        [Node() for _ in range(1000)]  # allocation alone triggers no collection
        interpreter.after_cycle()
        assert ref() is not None
    interpreter.after_cycle()
    assert ref() is None


@pytest.mark.usefixtures("tuned")
def test_what_a_cycle_leaves_alive_survives_the_full_collection() -> None:
    kept = Node()
    ref = weakref.ref(kept)
    for _ in range(interpreter.FULL_COLLECTION_EVERY_CYCLES):
        interpreter.after_cycle()
    assert ref() is kept


def test_without_tuning_a_cycle_leaves_the_collector_alone() -> None:
    """`check`, `plan` and tests run cycles in an ordinary interpreter: nothing is frozen or disabled."""
    frozen = gc.get_freeze_count()
    interpreter.after_cycle()
    assert gc.get_freeze_count() == frozen
