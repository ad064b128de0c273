"""A redis-server of the bench's own for the Celery and Dramatiq baselines: loopback, no persistence.

Debian's ``redis-server`` is installed with apt-get when it is missing and the bench runs as
root; otherwise the bench stops and says what to install.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

from bench.stack import HOST, BenchError, Servers, free_port

_APT_TIMEOUT_S = 600.0


def redis_binary() -> str:
    """The redis-server to run, installed first if it is missing and we may."""
    found = shutil.which("redis-server")
    if found:
        return found
    if os.geteuid() != 0:
        raise BenchError("redis-server is not installed: run `apt-get install -y redis-server` as root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "redis-server"]):
        try:
            done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=_APT_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as error:
            raise BenchError(f"`{' '.join(command)}` took over {_APT_TIMEOUT_S:.0f} s") from error
        if done.returncode != 0:
            raise BenchError(f"`{' '.join(command)}` failed:\n{done.stderr[-2000:]}")
    return shutil.which("redis-server") or "/usr/bin/redis-server"


class _Redis(Servers):
    def _healthy(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=1.0) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False


def redis_server(log_dir: Path, timeout_s: float) -> Servers:
    """A started redis-server on a free loopback port (``servers.port``): no RDB, no AOF."""
    port = free_port()
    command = [
        redis_binary(), "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no",
        "--dir", str(log_dir), "--daemonize", "no",
    ]  # fmt: skip
    return _Redis("redis", [command], port, log_dir).started(timeout_s)
