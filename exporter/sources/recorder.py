"""Counts every request a cycle sends and records every failure, so one failed call never ends a cycle."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

from exporter.model import SourceError

T = TypeVar("T")


def describe_error(e: BaseException) -> str:
    """A one-line, human-readable reason (confluent-kafka wraps a KafkaError in args[0])."""
    if e.args and hasattr(e.args[0], "str") and callable(e.args[0].str):
        return str(e.args[0].str())
    text = str(e) or type(e).__name__
    return text.splitlines()[0][:300]


class CycleRecorder:
    def __init__(self, deadline: float, request_timeout: float) -> None:
        self.deadline = deadline  # time.monotonic() value by which the whole cycle must end
        self.request_timeout = request_timeout
        self.errors: list[SourceError] = []
        self.requests: Counter[tuple[str, str]] = Counter()

    def timeout(self) -> float:
        """Seconds the next request may take: its own limit, cut to what is left of the cycle."""
        return max(0.1, min(self.request_timeout, self.deadline - time.monotonic()))

    def call(self, source: str, api: str, fn: Callable[[], T], requests: int = 1) -> T | None:
        self.requests[(source, api)] += requests
        if time.monotonic() >= self.deadline:
            self.errors.append(SourceError(source, api, "skipped: the cycle deadline had passed"))
            return None
        try:
            return fn()
        except Exception as e:  # any failure of an outside system is data, not a crash
            self.errors.append(SourceError(source, api, describe_error(e)))
            return None

    def failed(self, source: str) -> bool:
        return any(e.source == source for e in self.errors)
