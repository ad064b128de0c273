"""Run workers: ``worker_processes`` Faust workers in one consumer group, each on its own port.

Kafka shares the partitions among them; the parent only supervises (infra.core.supervisor): a signal
stops the children gracefully (batches in hand finish, acknowledged offsets commit).
"""

from __future__ import annotations

import faust
import uvloop

from agents.app import build_app
from infra.core.collector import tune_for_streams
from infra.core.logging import configure_logging
from infra.core.settings import Settings
from infra.core.supervisor import exit_with, supervise


def run_worker(settings: Settings, index: int = 0, parent_pid: int | None = None) -> None:
    """One worker process, in the foreground until SIGTERM or SIGINT."""
    if parent_pid is not None:
        exit_with(parent_pid)
    configure_logging(settings.log_level)
    uvloop.install()
    app = build_app(settings, index)
    tune_for_streams()
    worker = faust.Worker(app, loglevel="warn", quiet=True, redirect_stdouts=False, override_logging=False)
    worker.execute_from_commandline()


def serve(settings: Settings) -> int:
    """Start the workers and wait; the exit status says whether one failed."""
    if settings.worker_processes == 1:
        run_worker(settings)
        return 0
    return supervise(run_worker, [(settings, i) for i in range(settings.worker_processes)], "crmbus-worker")
