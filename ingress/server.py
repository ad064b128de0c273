"""Run the ingress on every core: N processes sharing one port through SO_REUSEPORT.

The kernel spreads connections across the processes; each has its own producer and
event loop, so no lock or queue is shared. The parent only supervises: a signal stops the
children gracefully (in-flight requests finish, producers flush), if one child dies the
others are stopped too, so a supervisor (systemd, Kubernetes) sees the failure, and if the
parent is killed outright the kernel stops the children (no orphan keeps the port).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import shutil
import signal
import sys
from types import FrameType

import uvloop
from aiohttp import web

from infra.logging import configure_logging
from infra.settings import Settings
from ingress.app import build_app

_GRACE_S = 15.0
_PR_SET_PDEATHSIG = 1


def _exit_with(parent_pid: int) -> None:
    """Have the kernel SIGTERM this worker when its supervisor dies, even by SIGKILL (Linux)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:  # the supervisor died before prctl took effect
        sys.exit(0)


def run_worker(settings: Settings, parent_pid: int | None = None) -> None:
    """One ingress process: its own event loop (uvloop), producer and connection pool."""
    if parent_pid is not None:
        _exit_with(parent_pid)
    configure_logging(settings.log_level)
    uvloop.install()
    web.run_app(
        build_app(settings),
        host=settings.ingress_host,
        port=settings.ingress_port,
        reuse_port=True,
        access_log=None,
        print=None,
        shutdown_timeout=_GRACE_S,
    )


def serve(settings: Settings) -> int:
    """Start ``ingress_workers`` processes and wait; the exit status says if one failed."""
    if settings.ingress_workers == 1:
        run_worker(settings)
        return 0
    metrics_dir = settings.state_path / "prometheus" / f"ingress-{settings.ingress_port}"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)  # inherited by the children
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(target=run_worker, args=(settings, os.getpid()), name=f"crmbus-ingress-{i}", daemon=False)
        for i in range(settings.ingress_workers)
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
