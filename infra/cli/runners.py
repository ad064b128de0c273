"""How the bus's long-running processes run: the ingress and the workers, N processes each, and
the console, one, each under the supervisor (``infra.core.supervisor``), which restarts a process
that crashes; each app is built by ``infra.cli.wiring``.

The ingress runs on every core: its processes share one port through SO_REUSEPORT, the kernel
spreads connections across them, and each has its own producer and event loop, so no lock or
queue is shared. The workers are ``worker_processes`` Faust workers in one consumer group, each
on its own web port; Kafka shares the partitions among them. The parent only supervises: a signal
stops the children gracefully (in-flight requests finish, batches in hand finish, producers flush,
acknowledged offsets commit). Even one process runs under a parent, so that a crash (a librdkafka
abort in the console, a SIGKILL) is restarted within seconds rather than waiting for an operator.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import structlog
import uvloop
from aiohttp import web

from agents.runtime.versions import check_runtime
from connectors.kafka.access import check_access
from connectors.kafka.security import librdkafka_client
from infra.cli.wiring import dashboard_app, ingress_app, worker_app
from infra.core.collector import tune_for_streams
from infra.core.logging import configure_logging
from infra.core.settings import Settings
from infra.core.supervisor import exit_with, status_file, supervise
from infra.devtools.sandbox import serve
from streams.errors import CrmbusError

log = structlog.get_logger("crmbus")
_INGRESS_GRACE_S = 15.0
# Long enough to hear a refusal; a broker that is merely away is waited for by the processes themselves.
_ACCESS_CHECK_S = 3.0


@contextmanager
def announced(settings: Settings, process: str, **where: object) -> Iterator[None]:
    """A long-running command's own lines are JSON, like its processes': one saying where it
    serves, and a typed error that stops it (a refused login) as one error line, exit status 1."""
    configure_logging(settings.log_level)
    log.info("starting", process=process, **where)
    try:
        yield
    except CrmbusError as exc:
        log.error("stopped", process=process, error=type(exc).__name__, reason=str(exc))
        raise SystemExit(1) from None


@contextmanager
def crash_logged(process: str) -> Iterator[None]:
    """An exception that ends a process is one JSON error line with its traceback, not
    multiprocessing's raw traceback on stderr; the supervisor sees exit status 1, as before."""
    try:
        yield
    except Exception:
        log.exception("crashed", process=process)
        raise SystemExit(1) from None


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
    with crash_logged("ingress"):
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
    """Run ``ingress_workers`` processes until SIGTERM or SIGINT; the exit status says whether
    one failed to stop cleanly."""
    refuse_unless_kafka_lets_us_in(settings)
    if settings.ingress_workers > 1:
        metrics_dir = settings.state_path / "prometheus" / f"ingress-{settings.ingress_port}"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)  # inherited by the children
    return _supervise(settings, run_ingress, [(settings,)] * settings.ingress_workers, "ingress", settings.ingress_port)


def run_worker(settings: Settings, index: int = 0, parent_pid: int | None = None) -> None:
    """One worker process, in the foreground until SIGTERM or SIGINT."""
    from agents.runtime.quiet_worker import run_worker as run  # Faust is heavy: only the workers import it

    if parent_pid is not None:
        exit_with(parent_pid)
    configure_logging(settings.log_level)
    uvloop.install()
    with crash_logged("worker"):
        app = worker_app(settings, index)
        tune_for_streams()
        run(app)


def serve_workers(settings: Settings) -> int:
    """Run the workers until SIGTERM or SIGINT; the exit status says whether one failed to stop
    cleanly. A Faust runtime other than the tested one is refused before anything starts
    (``agents.runtime.versions``)."""
    check_runtime()
    refuse_unless_kafka_lets_us_in(settings)
    args = [(settings, i) for i in range(settings.worker_processes)]
    return _supervise(
        settings,
        run_worker,
        args,
        "worker",
        settings.worker_web_port,
        preload=("faust", "agents.app", "agents.runtime.quiet_worker"),
    )


def run_console(settings: Settings, parent_pid: int | None = None) -> None:
    """The console, and the admin API at ``/v1/``, in one process until SIGINT or SIGTERM."""
    if parent_pid is not None:
        exit_with(parent_pid)
    configure_logging(settings.log_level)  # first: building the app may log already
    with crash_logged("dashboard"):
        app = dashboard_app(settings)
        web.run_app(app, host=settings.dashboard_host, port=settings.dashboard_port, access_log=None, print=None)


def serve_console(settings: Settings) -> int:
    """Run the console until SIGINT or SIGTERM, restarted if it crashes (a librdkafka abort in
    its admin client, confluentinc/librdkafka#4605, ends the whole process)."""
    refuse_unless_kafka_lets_us_in(settings)
    return _supervise(settings, run_console, [(settings,)], "dashboard", settings.dashboard_port)


def run_sandbox(host: str, port: int, log_level: str, parent_pid: int | None = None) -> None:
    """The sandbox destinations in one process until SIGINT or SIGTERM."""
    if parent_pid is not None:
        exit_with(parent_pid)
    configure_logging(log_level)
    with crash_logged("sandbox"):
        serve(host, port)


def serve_sandbox(settings: Settings, host: str, port: int) -> int:
    """Run the sandbox until SIGINT or SIGTERM, restarted if it crashes."""
    return _supervise(settings, run_sandbox, [(host, port, settings.log_level)], "sandbox", port)


def _supervise(
    settings: Settings,
    target: Callable[..., None],
    args: Sequence[tuple[Any, ...]],
    name: str,
    port: int,
    preload: Sequence[str] = (),
) -> int:
    configure_logging(settings.log_level)
    status_path = status_file(settings.state_path, name, port)
    return supervise(target, args, f"crmbus-{name}", status_path=status_path, preload=preload)
