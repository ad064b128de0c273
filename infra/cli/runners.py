"""How the bus's long-running processes run: the ingress and the workers, N processes each under
the supervisor (``infra.core.supervisor``), and the console, each app built by ``infra.cli.wiring``.

The ingress runs on every core: its processes share one port through SO_REUSEPORT, the kernel
spreads connections across them, and each has its own producer and event loop, so no lock or
queue is shared. The workers are ``worker_processes`` Faust workers in one consumer group, each
on its own web port; Kafka shares the partitions among them. The parent only supervises: a signal
stops the children gracefully (in-flight requests finish, batches in hand finish, producers flush,
acknowledged offsets commit).
"""

from __future__ import annotations

import os
import shutil

import uvloop
from aiohttp import web

from agents.runtime.versions import check_runtime
from connectors.kafka.access import check_access
from connectors.kafka.security import librdkafka_client
from infra.cli.wiring import console_app, ingress_app, worker_app
from infra.core.collector import tune_for_streams
from infra.core.logging import configure_logging
from infra.core.settings import Settings
from infra.core.supervisor import exit_with, supervise

_INGRESS_GRACE_S = 15.0
# Long enough to hear a refusal; a broker that is merely away is waited for by the processes themselves.
_ACCESS_CHECK_S = 3.0


def refuse_unless_kafka_lets_us_in(settings: Settings) -> None:
    """Raise KafkaAccessRefusedError before any process starts when the cluster refuses our SASL
    credentials or TLS certificate (a wrong password is named, not retried forever)."""
    check_access(librdkafka_client(settings), _ACCESS_CHECK_S)


def run_ingress(settings: Settings, parent_pid: int | None = None) -> None:
    """One ingress process: its own event loop (uvloop), producer and connection pool."""
    if parent_pid is not None:
        exit_with(parent_pid)
    configure_logging(settings.log_level)
    uvloop.install()
    web.run_app(
        ingress_app(settings),
        host=settings.ingress_host,
        port=settings.ingress_port,
        reuse_port=True,
        access_log=None,
        print=None,
        shutdown_timeout=_INGRESS_GRACE_S,
    )


def serve_ingress(settings: Settings) -> int:
    """Start ``ingress_workers`` processes and wait; the exit status says if one failed."""
    refuse_unless_kafka_lets_us_in(settings)
    if settings.ingress_workers == 1:
        run_ingress(settings)
        return 0
    metrics_dir = settings.state_path / "prometheus" / f"ingress-{settings.ingress_port}"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)  # inherited by the children
    return supervise(run_ingress, [(settings,)] * settings.ingress_workers, "crmbus-ingress")


def run_worker(settings: Settings, index: int = 0, parent_pid: int | None = None) -> None:
    """One worker process, in the foreground until SIGTERM or SIGINT."""
    import faust  # Faust is heavy: only the workers import it

    if parent_pid is not None:
        exit_with(parent_pid)
    configure_logging(settings.log_level)
    uvloop.install()
    app = worker_app(settings, index)
    tune_for_streams()
    worker = faust.Worker(app, loglevel="warn", quiet=True, redirect_stdouts=False, override_logging=False)
    worker.execute_from_commandline()


def serve_workers(settings: Settings) -> int:
    """Start the workers and wait; the exit status says whether one failed. A Faust runtime other
    than the tested one is refused before anything starts (``agents.runtime.versions``)."""
    check_runtime()
    refuse_unless_kafka_lets_us_in(settings)
    if settings.worker_processes == 1:
        run_worker(settings)
        return 0
    return supervise(run_worker, [(settings, i) for i in range(settings.worker_processes)], "crmbus-worker")


def serve_console(settings: Settings) -> None:
    """The console in the foreground until SIGINT or SIGTERM."""
    refuse_unless_kafka_lets_us_in(settings)
    app = console_app(settings)
    configure_logging(settings.log_level)
    web.run_app(app, host=settings.dashboard_host, port=settings.dashboard_port, access_log=None, print=None)
