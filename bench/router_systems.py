"""The systems the router bench measures, started in their own sessions and stopped by the bench.

- the ceiling: ``python -m bench.router_ceiling``, ready once its consumer has partitions;
- ``crmbus worker --processes N --roles router,scheduler`` (the router alone, as an operator
  would deploy it for throughput: no sinks take the fan-out records, so their work is not in the
  figures), ready once every process i answers 200 on ``GET /health`` at
  ``CRMBUS_WORKER_WEB_PORT + i`` (it has its partitions and its routes).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.stack import HOST, BenchError, Servers, answers_health, free_port, ingress_command

# The router and the scheduler it hands delayed actions to; sinks, retry tiers and archive are
# left to other processes (none here), so Faust's conductor cannot stall routing on their buffers.
ROUTER_ROLES = "router,scheduler"


class _WorkerServers(Servers):
    """``crmbus worker``: one health port per process, counted up from ``port``."""

    def __init__(self, command: list[str], port: int, processes: int, log_dir: Path, env: dict[str, str]) -> None:
        super().__init__("worker", [command], port, log_dir, env)
        self.ports = [port + index for index in range(processes)]

    def _healthy(self) -> bool:
        return all(answers_health(port) for port in self.ports)


class _CeilingServers(Servers):
    """The ceiling has no HTTP side: its ready file is the whole check."""

    def _healthy(self) -> bool:
        return True


def free_ports(count: int) -> int:
    """A port such that it and the ``count - 1`` after it are free now."""
    for _ in range(50):
        base = free_port()
        try:
            for offset in range(1, count):
                with socket.socket() as probe:
                    probe.bind((HOST, base + offset))
        except OSError:
            continue
        return base
    raise BenchError(f"found no {count} consecutive free ports on {HOST}")


def ceiling_router(bootstrap: str, prefix: str, log_dir: Path, timeout_s: float, registry_url: str | None) -> Servers:
    ready = Path(tempfile.mkdtemp(prefix="router-ceiling-", dir=log_dir)) / "ready"
    command = [
        sys.executable, "-m", "bench.router_ceiling", "--bootstrap", bootstrap, "--prefix", prefix,
        "--group", f"{prefix}bench-ceiling", "--ready-file", str(ready),
    ]  # fmt: skip
    if registry_url:
        command += ["--registry-url", registry_url]
    return _CeilingServers("router-ceiling", [command], 0, log_dir).started(timeout_s, [ready])


def crmbus_workers(processes: int, prefix: str, log_dir: Path, timeout_s: float) -> Servers:
    port = free_ports(processes)
    command = [str(ingress_command()), "worker", "--processes", str(processes), "--roles", ROUTER_ROLES]
    env = {"CRMBUS_TOPIC_PREFIX": prefix, "CRMBUS_WORKER_WEB_PORT": str(port)}
    return _WorkerServers(command, port, processes, log_dir, env).started(timeout_s)


def worker_available() -> bool:
    probe = subprocess.run([str(ingress_command()), "worker", "--help"], capture_output=True, check=False)
    return probe.returncode == 0
