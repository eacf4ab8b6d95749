"""Counts every request a cycle sends and records every failure, so one failed call never ends a cycle."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

from kafka.errors import KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError, RequestTimedOutError

from exporter.model import SourceError

T = TypeVar("T")
# Failures that say the broker itself did not answer (not that it answered with an error).
_UNANSWERED = (
    TimeoutError,
    ConnectionError,
    KafkaTimeoutError,
    RequestTimedOutError,
    KafkaConnectionError,
    NodeNotReadyError,
)


def unanswered(e: BaseException) -> bool:
    """True when e (or what it wraps) means the broker did not answer: hung, dead, unreachable."""
    seen: BaseException | None = e
    while seen is not None:
        if isinstance(seen, _UNANSWERED):
            return True
        seen = seen.__cause__
    return False


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
        # Brokers that did not answer a call this cycle: later calls to them are skipped, so one hung broker
        # costs the cycle one request timeout, not one per call.
        self._unresponsive: set[int] = set()
        self._lock = threading.Lock()

    @property
    def unresponsive(self) -> set[int]:
        with self._lock:
            return set(self._unresponsive)

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

    def call(
        self,
        source: str,
        api: str,
        fn: Callable[[], T],
        requests: int = 1,
        *,
        broker: int | None = None,
        heavy: bool = False,
    ) -> T | None:
        """fn's result, or None with the failure recorded. `broker`: the one broker fn asks, if any; a broker
        that did not answer is skipped for the rest of the cycle, unless the call that timed out was `heavy`
        (a slow answer to it, e.g. DescribeLogDirs of a busy broker, does not mean the broker hangs)."""
        if broker is not None and broker in self.unresponsive:
            self.error(source, api, f"skipped: broker {broker} did not answer earlier in this cycle")
            return None
        with self._lock:
            self._requests[(source, api)] += requests
        if time.monotonic() >= self.deadline:
            self.error(source, api, "skipped: the cycle deadline had passed")
            return None
        try:
            return fn()
        except Exception as e:  # any failure of an outside system is data, not a crash
            if broker is not None and not heavy and unanswered(e):
                with self._lock:
                    self._unresponsive.add(broker)
            self.error(source, api, describe_error(e) if broker is None else f"broker {broker}: {describe_error(e)}")
            return None

    def failed(self, source: str) -> bool:
        return any(e.source == source for e in self.errors)
