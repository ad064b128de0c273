"""Run N copies of a process in the foreground and keep them running (ingress, workers, console).

A child that exits without being asked to (a crash, a SIGKILL, a librdkafka abort) is started
again with exponential backoff (``streams.restarts``), and the log says which child, how it
exited and when it restarts. SIGTERM or SIGINT stops the children gracefully and returns. If the
supervisor itself is killed outright, the kernel stops the children (PR_SET_PDEATHSIG), so no
orphan keeps a port or a partition. After each change the supervisor rewrites its status file
(``ChildStatus`` lines as JSON), which ``crmbus status`` reads.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import Any

import structlog

from streams.restarts import ChildState, ChildStatus, Crashes, RestartPolicy, describe_exit

_PR_SET_PDEATHSIG = 1
_CLEAN_STOPS = (0, -signal.SIGTERM)

log = structlog.get_logger(__name__)


def exit_with(parent_pid: int) -> None:
    """Have the kernel SIGTERM this process when its supervisor dies, even by SIGKILL (Linux)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:  # the supervisor died before prctl took effect
        sys.exit(0)


def status_file(state_path: Path, name: str, port: int) -> Path:
    """Where the supervisor of ``name`` serving ``port`` writes its children's state."""
    return state_path / "bus" / f"{name}-{port}.status.json"


def read_status(path: Path) -> tuple[int, list[ChildStatus]] | None:
    """The supervisor pid and its children's state from its status file, if there is one."""
    try:
        data = json.loads(path.read_text())
        return int(data["supervisor_pid"]), [ChildStatus.from_json(child) for child in data["children"]]
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


@dataclass
class _Child:
    """One slot the supervisor keeps filled: its current process, crashes and next start."""

    name: str
    args: tuple[Any, ...]
    process: BaseProcess | None = None
    started_at: float = 0.0
    crashes: Crashes = field(default_factory=Crashes)
    last_exit: str | None = None
    last_exit_at: float | None = None
    restart_at: float | None = None  # monotonic

    def status(self, state: ChildState) -> ChildStatus:
        restart_at = None if self.restart_at is None else time.time() + self.restart_at - time.monotonic()
        pid = self.process.pid if self.process is not None else None
        return ChildStatus(self.name, state, pid, self.crashes.total, self.last_exit, self.last_exit_at, restart_at)


def supervise(
    target: Callable[..., None],
    args: Sequence[tuple[Any, ...]],
    name: str,
    *,
    policy: RestartPolicy | None = None,
    status_path: Path | None = None,
) -> int:
    """Run ``target(*args[i], parent_pid)`` in one spawned process per entry, restarting any that
    exits, until SIGTERM or SIGINT. Returns 0 once every child stopped cleanly, 1 when one did not
    (a non-zero exit while stopping)."""
    policy = policy or RestartPolicy()
    context = multiprocessing.get_context("spawn")
    children = [_Child(f"{name}-{i}", tuple(child_args)) for i, child_args in enumerate(args)]
    stopping = False
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)

    def start(child: _Child) -> int | None:
        child.process = context.Process(target=target, args=(*child.args, os.getpid()), name=child.name)
        child.process.start()
        child.started_at = time.monotonic()
        child.restart_at = None
        return child.process.pid

    def stop(signum: int, _: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.process is not None and child.process.is_alive() and child.process.pid is not None:
                os.kill(child.process.pid, signal.SIGTERM)
        with contextlib.suppress(BlockingIOError):
            os.write(wake_write, b"\0")  # wakes the wait below at once

    def write_status() -> None:
        if status_path is None:
            return
        states = [
            child.status("stopping" if stopping else "running" if child.process is not None else "restarting")
            for child in children
        ]
        document = {"supervisor_pid": os.getpid(), "children": [state.to_json() for state in states]}
        status_path.parent.mkdir(parents=True, exist_ok=True)
        partial = status_path.with_suffix(".tmp")
        partial.write_text(json.dumps(document))
        partial.replace(status_path)

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    failed = False
    try:
        for child in children:
            start(child)
        write_status()
        while True:
            running = [child for child in children if child.process is not None]
            if stopping and not running:
                return 1 if failed else 0
            due = [child.restart_at for child in children if child.restart_at is not None and not stopping]
            timeout = max(0.0, min(due) - time.monotonic()) if due else None
            multiprocessing.connection.wait(
                [child.process.sentinel for child in running if child.process is not None] + [wake_read], timeout
            )
            with contextlib.suppress(BlockingIOError):
                os.read(wake_read, 64)
            for child in running:
                if child.process is None or child.process.is_alive():
                    continue
                child.process.join()
                exitcode = child.process.exitcode if child.process.exitcode is not None else 0
                child.process = None
                if stopping:
                    failed = failed or exitcode not in _CLEAN_STOPS
                    continue
                _crashed(child, exitcode, policy)
            for child in children:
                if not stopping and child.restart_at is not None and child.restart_at <= time.monotonic():
                    log.warning("process restarted", process=child.name, pid=start(child))
            write_status()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        os.close(wake_read)
        os.close(wake_write)


def _crashed(child: _Child, exitcode: int, policy: RestartPolicy) -> None:
    ran_for_s = time.monotonic() - child.started_at
    child.crashes = child.crashes.after(ran_for_s, policy)
    child.last_exit = describe_exit(exitcode)
    child.last_exit_at = time.time()
    delay_s = policy.delay_s(child.crashes.in_a_row)
    child.restart_at = time.monotonic() + delay_s
    log.error(
        "process exited without being asked to stop; restarting",
        process=child.name,
        exit=child.last_exit,
        ran_for_s=round(ran_for_s, 1),
        restart=child.crashes.total,
        restart_in_s=delay_s,
    )
