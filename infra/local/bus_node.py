"""The bus's own processes under ``crmbus up``: the sandbox destinations, the ingress, the workers
and the operator dashboard.

Each runs detached in its own session, like the broker, with its pid file and log under
``<state_dir>/bus/``, so ``crmbus down`` from another terminal stops it as surely as Ctrl-C in
the one running ``crmbus up``. A process answering its health URL is reused by a second ``up``.
Each is a supervisor (``infra.core.supervisor``) that restarts its children when they crash and
writes their state beside the pid file, which ``status`` reads.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
from yarl import URL

from infra.core.processes import (
    port_accepts,
    process_cmdline,
    read_pid,
    spawn_detached,
    stop_process_group,
    tail,
)
from infra.core.settings import Settings
from infra.core.supervisor import read_status, status_file
from streams.deadlines import wait_until
from streams.errors import InfraError, PortInUseError, StartTimeoutError
from streams.restarts import ChildStatus

_START_TIMEOUT_S = 120.0  # workers join the group and restore their tables before they answer 200
_CRASHES_AT_START = 3  # one crash during start-up is restarted and waited for; three are a crash loop


@dataclass(frozen=True, slots=True)
class BusProcess:
    """One ``crmbus <command>`` the bus runs, and how to tell it is ready."""

    name: str
    command: tuple[str, ...]
    health_url: str
    port: int
    port_setting: str
    env: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class ProcessStatus:
    process: BusProcess
    pid: int | None
    healthy: bool
    log_file: Path
    children: tuple[ChildStatus, ...] = ()  # as its supervisor last wrote them


def bus_processes(settings: Settings) -> tuple[BusProcess, ...]:
    """Sandbox, ingress, workers and the dashboard, in the order they start (destinations before
    senders, the dashboard that watches them last).

    The workers may call loopback destinations: the sandbox is one. A deployment with real
    destinations runs ``crmbus worker`` itself, where ``CRMBUS_OUTBOUND_ALLOW_LOOPBACK`` keeps its
    default (off).
    """
    sandbox = URL(settings.sandbox_url)
    sandbox_port = sandbox.port or 80
    return (
        BusProcess(
            "sandbox",
            ("sandbox", "--host", sandbox.host or "127.0.0.1", "--port", str(sandbox_port)),
            str(sandbox.with_path("/_control/health")),
            sandbox_port,
            "CRMBUS_SANDBOX_URL",
            {},
        ),
        BusProcess(
            "ingress",
            ("ingress",),
            f"http://{settings.ingress_host}:{settings.ingress_port}/health",
            settings.ingress_port,
            "CRMBUS_INGRESS_PORT",
            {},
        ),
        BusProcess(
            "worker",
            ("worker",),
            f"http://127.0.0.1:{settings.worker_web_port}/health",
            settings.worker_web_port,
            "CRMBUS_WORKER_WEB_PORT",
            {"CRMBUS_OUTBOUND_ALLOW_LOOPBACK": os.environ.get("CRMBUS_OUTBOUND_ALLOW_LOOPBACK", "true")},
        ),
        BusProcess(
            "dashboard",
            ("dashboard",),
            str(URL.build(scheme="http", host=_reachable(settings.dashboard_host), port=settings.dashboard_port))
            + "/health",
            settings.dashboard_port,
            "CRMBUS_DASHBOARD_PORT",
            {},
        ),
    )


def _reachable(host: str) -> str:
    """Where to reach a server listening on ``host``: a wildcard address is reached on loopback."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - compared, not bound


def healthy(url: str, timeout_s: float = 1.0) -> bool:
    try:
        return httpx.get(url, timeout=timeout_s).status_code == 200
    except httpx.HTTPError:
        return False


class LocalBus:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.state_path / "bus"
        self.processes = bus_processes(settings)

    def pid_file(self, process: BusProcess) -> Path:
        return self.home / f"{process.name}.pid"

    def log_file(self, process: BusProcess) -> Path:
        return self.home / f"{process.name}.log"

    def our_pid(self, process: BusProcess) -> int | None:
        """The pid of ``process`` as this state directory started it, if it still runs."""
        pid = read_pid(self.pid_file(process))
        if pid is None:
            return None
        cmdline = process_cmdline(pid)
        if cmdline is None or f"-m infra {process.command[0]}" not in cmdline:
            return None
        return pid

    def up_one(self, process: BusProcess) -> bool:
        """Start ``process`` unless it already runs, and wait until it answers; True when started."""
        self.home.mkdir(parents=True, exist_ok=True)
        if self.our_pid(process) is not None and healthy(process.health_url):
            return False
        self._start(process)
        return True

    def _start(self, process: BusProcess) -> None:
        pid = self.our_pid(process)
        if pid is None:
            if port_accepts("127.0.0.1", process.port):
                raise PortInUseError(
                    f"port {process.port} is taken by a process that is not crmbus's {process.name}; "
                    f"stop it or set {process.port_setting}"
                )
            command = [sys.executable, "-m", "infra", *process.command]
            env = {**os.environ, **process.env}
            pid = spawn_detached(command, self.log_file(process), env)
            self.pid_file(process).write_text(f"{pid}\n")

        def ready() -> bool:
            if process_cmdline(pid) is None:
                self.pid_file(process).unlink(missing_ok=True)
                raise InfraError(
                    f"crmbus {process.name} exited during start-up; see {self.log_file(process)}:\n"
                    f"{tail(self.log_file(process))}"
                )
            crashing = [child for child in self._children(process, pid) if child.restarts >= _CRASHES_AT_START]
            if crashing:  # a crash loop, not a crash: say so now rather than at the deadline
                raise InfraError(
                    f"crmbus {process.name} keeps crashing during start-up ({crashing[0].last_exit}, "
                    f"{crashing[0].restarts} restarts); see {self.log_file(process)}:\n{tail(self.log_file(process))}"
                )
            return healthy(process.health_url)

        try:
            wait_until(ready, _START_TIMEOUT_S, f"crmbus {process.name} at {process.health_url}", interval_s=0.25)
        except StartTimeoutError as error:
            raise StartTimeoutError(f"{error}; see {self.log_file(process)}:\n{tail(self.log_file(process))}") from None

    def down(self, only: Collection[str] | None = None) -> list[str]:
        """Stop every process this state directory started (or those of them named in ``only``),
        senders first. Returns those stopped."""
        stopped = []
        for process in reversed(self.processes):
            if only is not None and process.name not in only:
                continue
            pid = self.our_pid(process)
            self.pid_file(process).unlink(missing_ok=True)
            if pid is not None:
                stop_process_group(pid, timeout_s=30)
                stopped.append(process.name)
        return stopped

    def exited(self) -> list[BusProcess]:
        """The processes started by this state directory that are no longer running."""
        return [p for p in self.processes if self.pid_file(p).exists() and self.our_pid(p) is None]

    def status(self) -> list[ProcessStatus]:
        return [
            ProcessStatus(p, pid, healthy(p.health_url, timeout_s=0.5), self.log_file(p), self._children(p, pid))
            for p in self.processes
            for pid in (self.our_pid(p),)
        ]

    def _children(self, process: BusProcess, pid: int | None) -> tuple[ChildStatus, ...]:
        found = read_status(status_file(self.settings.state_path, process.name, process.port))
        if pid is None or found is None or found[0] != pid:  # a status left by a supervisor now gone
            return ()
        return tuple(found[1])
