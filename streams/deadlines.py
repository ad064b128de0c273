"""Waiting for a condition with a deadline, for code that must block until something is ready
(a server answering, topic metadata visible): a poll, never a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable

from streams.errors import StartTimeoutError


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.2) -> None:
    """Poll ``condition`` until it holds; StartTimeoutError naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            raise StartTimeoutError(f"{what}: not ready after {timeout_s:.0f} s")
        time.sleep(interval_s)
