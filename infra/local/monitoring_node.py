"""Debian's Prometheus and Alertmanager on loopback, scraping the bus's processes with crmbus's
alert rules loaded (``crmbus monitoring up``), so that ``crmbus up`` users see alerts fire.

State lives under ``<state_dir>/monitoring``: ``prometheus/`` (``prometheus.yml``, ``data/``,
``prometheus.log``, ``prometheus.pid``) and ``alertmanager/`` likewise. The configurations are
written at each start from the templates in ``infra/monitoring/``; the rules are read in place from
``infra/monitoring/prometheus/rules.yml``. Targets: the ingress, every worker process
(``CRMBUS_WORKER_WEB_PORT`` + index) and the dashboard, as the settings place them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from string import Template

import httpx

from infra.core.processes import (
    port_accepts,
    process_cmdline,
    read_pid,
    require_tool,
    spawn_detached,
    stop_process_group,
    tail,
)
from infra.core.settings import Settings
from streams.deadlines import wait_until
from streams.errors import InfraError, PortInUseError, StartTimeoutError

MONITORING = Path(__file__).resolve().parents[1] / "monitoring"
RULES = MONITORING / "prometheus" / "rules.yml"
_HINT = "install Debian's packages: apt-get install prometheus prometheus-alertmanager"
_START_TIMEOUT_S = 30.0
_LOOPBACK = "127.0.0.1"
_ANY_ADDRESS = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 - recognised, never bound to


@dataclass(frozen=True, slots=True)
class MonitoringStatus:
    name: str
    url: str
    answering: bool
    pid: int | None  # set when it is one crmbus started
    log_file: Path


@dataclass(frozen=True, slots=True)
class _Server:
    """One of the two servers: where it keeps its files and how it is started."""

    name: str
    program: str
    port: int
    home: Path

    @property
    def config(self) -> Path:
        return self.home / f"{self.name}.yml"

    @property
    def pid_file(self) -> Path:
        return self.home / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.home / f"{self.name}.log"

    @property
    def url(self) -> str:
        return f"http://{_LOOPBACK}:{self.port}"


def scrape_targets(settings: Settings) -> dict[str, list[str]]:
    """The bus's processes Prometheus scrapes, by job; a process listening on every address is
    scraped on loopback."""

    def at(host: str, port: int) -> str:
        return f"{_LOOPBACK if host in _ANY_ADDRESS else host}:{port}"

    return {
        "ingress": [at(settings.ingress_host, settings.ingress_port)],
        "workers": [at(_LOOPBACK, settings.worker_web_port + i) for i in range(settings.worker_processes)],
        "dashboard": [at(settings.dashboard_host, settings.dashboard_port)],
    }


class LocalMonitoring:
    """Start, stop and inspect crmbus's Prometheus and Alertmanager."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        home = settings.state_path / "monitoring"
        self.prometheus = _Server("prometheus", "prometheus", settings.monitoring_prometheus_port, home / "prometheus")
        self.alertmanager = _Server(
            "alertmanager", "prometheus-alertmanager", settings.monitoring_alertmanager_port, home / "alertmanager"
        )

    def up(self) -> bool:
        """Make both answer; True when this call started at least one of them."""
        started = False
        for server in (self.alertmanager, self.prometheus):
            started = self._up(server) or started
        return started

    def down(self) -> bool:
        """Stop what crmbus started; True when something was running."""
        stopped = False
        for server in (self.prometheus, self.alertmanager):
            pid = self._our_pid(server)
            server.pid_file.unlink(missing_ok=True)
            if pid is not None:
                stop_process_group(pid, timeout_s=15)
                stopped = True
        return stopped

    def status(self) -> list[MonitoringStatus]:
        return [
            MonitoringStatus(s.name, s.url, self._ready(s), self._our_pid(s), s.log_file)
            for s in (self.prometheus, self.alertmanager)
        ]

    # -- details --------------------------------------------------------------------------
    def _up(self, server: _Server) -> bool:
        pid = self._our_pid(server)
        if pid is not None and self._ready(server):
            return False
        if pid is None and port_accepts(_LOOPBACK, server.port):
            raise PortInUseError(
                f"port {server.port} on {_LOOPBACK} is taken by a process crmbus did not start; stop it or set "
                f"CRMBUS_MONITORING_{'PROMETHEUS' if server is self.prometheus else 'ALERTMANAGER'}_PORT"
            )
        program = require_tool(server.program, _HINT)
        (server.home / "data").mkdir(parents=True, exist_ok=True)
        server.config.write_text(self._config(server))
        if pid is None:
            pid = spawn_detached([program, *self._arguments(server)], server.log_file)
            server.pid_file.write_text(str(pid))

        def ready() -> bool:
            if process_cmdline(pid) is None:
                server.pid_file.unlink(missing_ok=True)
                raise InfraError(
                    f"{server.name} exited during start-up; see {server.log_file}:\n{tail(server.log_file)}"
                )
            return self._ready(server)

        try:
            wait_until(ready, _START_TIMEOUT_S, server.name)
        except StartTimeoutError:
            stop_process_group(pid, timeout_s=10)
            server.pid_file.unlink(missing_ok=True)
            raise StartTimeoutError(
                f"{server.name} did not answer on {server.url} within {_START_TIMEOUT_S:.0f} s; "
                f"see {server.log_file}:\n{tail(server.log_file)}"
            ) from None
        return True

    def _arguments(self, server: _Server) -> list[str]:
        listen = f"--web.listen-address={_LOOPBACK}:{server.port}"
        if server is self.prometheus:
            return [
                f"--config.file={server.config}",
                f"--storage.tsdb.path={server.home / 'data'}",
                listen,
            ]
        return [
            f"--config.file={server.config}",
            f"--storage.path={server.home / 'data'}",
            listen,
            "--cluster.listen-address=",  # one Alertmanager, no gossip port
        ]

    def prometheus_config(self) -> str:
        """The Prometheus configuration ``up`` writes: the bus's processes, the rules, the Alertmanager."""
        interval = self.settings.monitoring_scrape_s
        targets = scrape_targets(self.settings)
        return Template((MONITORING / "prometheus" / "prometheus.yml.in").read_text()).substitute(
            interval=f"{interval:g}s",
            timeout=f"{min(interval, 10.0):g}s",
            rules=json.dumps(str(RULES)),
            alertmanager=f"{_LOOPBACK}:{self.alertmanager.port}",
            ingress=json.dumps(targets["ingress"]),
            workers=json.dumps(targets["workers"]),
            dashboard=json.dumps(targets["dashboard"]),
        )

    def _config(self, server: _Server) -> str:
        if server is self.prometheus:
            return self.prometheus_config()
        group_wait = min(self.settings.monitoring_scrape_s, 30.0)
        template = MONITORING / "alertmanager" / "alertmanager.yml.in"
        return Template(template.read_text()).substitute(group_wait=f"{group_wait:g}s")

    def _our_pid(self, server: _Server) -> int | None:
        pid = read_pid(server.pid_file)
        if pid is None:
            return None
        cmdline = process_cmdline(pid)
        if cmdline is None or f"--config.file={server.config}" not in cmdline:
            return None
        return pid

    @staticmethod
    def _ready(server: _Server) -> bool:
        try:
            return httpx.get(f"{server.url}/-/ready", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False
