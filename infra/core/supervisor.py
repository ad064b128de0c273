"""Run N copies of a process in the foreground and supervise them (ingress, workers).

A signal stops the children gracefully; if one child fails the others are stopped too, so a
service manager (systemd, Kubernetes) sees the failure; and if the parent is killed outright,
the kernel stops the children (PR_SET_PDEATHSIG), so no orphan keeps a port or a partition.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

_PR_SET_PDEATHSIG = 1


def exit_with(parent_pid: int) -> None:
    """Have the kernel SIGTERM this process when its supervisor dies, even by SIGKILL (Linux)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:  # the supervisor died before prctl took effect
        sys.exit(0)


def supervise(target: Callable[..., None], args: Sequence[tuple[Any, ...]], name: str) -> int:
    """Run ``target(*args[i], parent_pid)`` in one spawned process per entry; wait for all.

    Returns 1 when a child failed (the others were then stopped), else 0.
    """
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(target=target, args=(*child_args, os.getpid()), name=f"{name}-{i}")
        for i, child_args in enumerate(args)
    ]
    for child in children:
        child.start()

    def stop(signum: int, _: FrameType | None) -> None:
        for child in children:
            if child.is_alive() and child.pid is not None:
                os.kill(child.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    failed = False
    while any(child.is_alive() for child in children):
        for child in children:
            child.join(timeout=0.5)
            if not child.is_alive() and child.exitcode not in (0, None, -signal.SIGTERM) and not failed:
                failed = True
                stop(signal.SIGTERM, None)
    return 1 if failed else 0
