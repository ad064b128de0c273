"""CPU seconds and peak RSS of the processes under test, and how busy the rest of the machine was.

Read from /proc (the bench runs on Linux only: SO_REUSEPORT, loopback), so no psutil is
needed. A sampler thread records the peak of the summed RSS of a process tree; CPU is read
as a difference between two moments.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _proc_stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # fields from the state on; the name may hold spaces


def tree(root: int) -> list[int]:
    """``root`` and every descendant that is alive now."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _proc_stat_fields(int(entry.name))) is not None:
            parents[int(entry.name)] = int(fields[1])
    found, frontier = [], [root] if root in parents else []
    while frontier:
        pid = frontier.pop()
        found.append(pid)
        frontier.extend(child for child, parent in parents.items() if parent == pid)
    return found


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU of these processes so far (a process that is gone counts 0)."""
    total = 0.0
    for pid in pids:
        if (fields := _proc_stat_fields(pid)) is not None:
            total += (int(fields[11]) + int(fields[12])) / _TICKS
    return total


def rss_bytes(pids: Iterable[int]) -> int:
    total = 0
    for pid in pids:
        if (fields := _proc_stat_fields(pid)) is not None:
            total += int(fields[21]) * _PAGE
    return total


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent not idle since boot, summed over cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / _TICKS


class TreeMeter:
    """Peak summed RSS of the trees under ``roots()``, sampled every ``interval_s``, and their CPU."""

    def __init__(self, roots: Callable[[], list[int]], interval_s: float = 0.2) -> None:
        self.roots = roots
        self.interval_s = interval_s
        self.peak_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="bench-rss", daemon=True)

    def pids(self) -> list[int]:
        return [pid for root in self.roots() for pid in tree(root)]

    def cpu_s(self) -> float:
        return cpu_seconds(self.pids())

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak_rss = max(self.peak_rss, rss_bytes(self.pids()))

    def __enter__(self) -> TreeMeter:
        self.peak_rss = rss_bytes(self.pids())
        self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_rss = max(self.peak_rss, rss_bytes(self.pids()))

    @property
    def peak_rss_mb(self) -> float:
        return self.peak_rss / 2**20


def wait_for_quiet(max_cores: float, timeout_s: float, window_s: float = 2.0) -> float:
    """Wait until the machine is busier than ``max_cores`` no more (others' work), at most ``timeout_s``.

    Returns the busy cores of the last window, whether or not it got quiet.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        before = machine_busy_seconds()
        time.sleep(window_s)
        busy = (machine_busy_seconds() - before) / window_s
        if busy <= max_cores or time.monotonic() >= deadline:
            return busy
