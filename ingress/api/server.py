"""Run the ingress on every core: N processes sharing one port through SO_REUSEPORT.

The kernel spreads connections across the processes; each has its own producer and
event loop, so no lock or queue is shared. The parent only supervises (infra.core.supervisor):
a signal stops the children gracefully (in-flight requests finish, producers flush).
"""

from __future__ import annotations

import os
import shutil

import uvloop
from aiohttp import web

from infra.core.logging import configure_logging
from infra.core.settings import Settings
from infra.core.supervisor import exit_with, supervise
from ingress.api.app import build_app

_GRACE_S = 15.0


def run_worker(settings: Settings, parent_pid: int | None = None) -> None:
    """One ingress process: its own event loop (uvloop), producer and connection pool."""
    if parent_pid is not None:
        exit_with(parent_pid)
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
    return supervise(run_worker, [(settings,)] * settings.ingress_workers, "crmbus-ingress")
