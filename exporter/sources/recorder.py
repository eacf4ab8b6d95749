"""Counts every request a cycle sends and records every failure, so one failed call never ends a cycle."""

from __future__ import annotations

import threading
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
    """Shared by the calls of one cycle, which run concurrently: every update holds the lock."""

    def __init__(self, deadline: float, request_timeout: float) -> None:
        self.deadline = deadline  # time.monotonic() value by which the whole cycle must end
        self.request_timeout = request_timeout
        self._errors: list[SourceError] = []
        self._requests: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    @property
    def errors(self) -> list[SourceError]:
        with self._lock:
            return list(self._errors)

    @property
    def requests(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._requests)

    def error(self, source: str, api: str, message: str) -> None:
        with self._lock:
            self._errors.append(SourceError(source, api, message))

    def timeout(self) -> float:
        """Seconds the next request may take: its own limit, cut to what is left of the cycle."""
        return max(0.1, min(self.request_timeout, self.deadline - time.monotonic()))

    def call(self, source: str, api: str, fn: Callable[[], T], requests: int = 1) -> T | None:
        with self._lock:
            self._requests[(source, api)] += requests
        if time.monotonic() >= self.deadline:
            self.error(source, api, "skipped: the cycle deadline had passed")
            return None
        try:
            return fn()
        except Exception as e:  # any failure of an outside system is data, not a crash
            self.error(source, api, describe_error(e))
            return None

    def failed(self, source: str) -> bool:
        return any(e.source == source for e in self.errors)
