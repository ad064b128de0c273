"""What a bench needs running: Kafka, PostgreSQL, topics, schema, an API key, and servers.

Everything goes through the project's own bring-up code, and on the way out only what
this bench started is stopped.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from confluent_kafka.admin import AdminClient

from bench.events import tenant_type_document
from connectors.kafka.admin import apply_catalogue
from infra.core.settings import Settings
from infra.db.api_keys import ApiKeys
from infra.db.engine import database_url, make_engine
from infra.db.event_types import EventTypes
from infra.db.migrate import upgrade
from infra.local.kafka_node import LocalKafka
from infra.local.postgres_node import LocalPostgres
from schemas.catalogue import Catalogue, load_catalogue
from streams.errors import ConfigurationError

HOST = "127.0.0.1"
INGRESS_TOPICS = ("crmbus.events", "crmbus.events.high", "crmbus.events.low")


class BenchError(Exception):
    """The bench could not run: a server would not start, or answered in a way it cannot use."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Infra:
    settings: Settings
    catalogue: Catalogue
    api_secret: str
    broker_pid: int | None  # known only when crmbus started the broker
    postgres_pid: int | None = None  # the postmaster of crmbus's own cluster, when that is the one used

    @property
    def ingress_topics(self) -> list[str]:
        return [self.catalogue[self.settings.topic_prefix + name].name for name in INGRESS_TOPICS]


@contextlib.contextmanager
def infra(settings: Settings, log: Path) -> Iterator[Infra]:
    """Kafka and PostgreSQL up (reused when they answer), catalogue applied, schema migrated, a fresh key."""
    if settings.kafka_security_protocol != "PLAINTEXT":
        # The benches' own readers and writers speak PLAINTEXT to the broker crmbus runs on loopback.
        raise ConfigurationError("the benches run on the local PLAINTEXT broker: unset CRMBUS_KAFKA_SECURITY_PROTOCOL")
    kafka, postgres = LocalKafka(settings), LocalPostgres(settings)
    started_kafka = kafka.up()
    started_postgres = False
    engine = None
    try:
        started_postgres = postgres.up()
        catalogue = load_catalogue().with_prefix(settings.topic_prefix)
        apply_catalogue(
            AdminClient({"bootstrap.servers": settings.kafka_bootstrap}), catalogue, settings.kafka_replication_factor
        )
        engine = make_engine(database_url(settings))
        upgrade(engine)
        keys = ApiKeys(engine, actor="bench")
        view, secret = keys.create("bench", "bench")
        EventTypes(engine, actor="bench").add("bench", tenant_type_document())  # the same again changes nothing
        with log.open("a") as out:
            out.write(f"kafka started by bench: {started_kafka}; postgres: {started_postgres}; key {view.id}\n")
        try:
            yield Infra(settings, catalogue, secret, kafka.our_pid(), postgres.our_pid())
        finally:
            with contextlib.suppress(Exception):  # the database may already be gone; the key dies with it
                keys.revoke(view.id)
    finally:
        if engine is not None:
            engine.dispose()
        if started_postgres:
            postgres.down()
        if started_kafka:
            kafka.down()


class Servers:
    """Server processes on one loopback port, each in its own session; ready when /health says 200.

    Several processes share the port with SO_REUSEPORT (the ceiling), or one process
    starts its own workers (the ingress): either way ``pids`` follows the whole trees.
    """

    def __init__(
        self, name: str, commands: list[list[str]], port: int, log_dir: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.env = {**os.environ, **(env or {})}
        self.commands = commands
        self.port = port
        self.log_file = log_dir / f"{name}.log"
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def roots(self) -> list[int]:
        return [p.pid for p in self.processes if p.poll() is None]

    def started(self, timeout_s: float, ready_files: list[Path] | None = None) -> Servers:
        """``start``, stopping whatever did start if it fails; returns self."""
        try:
            self.start(timeout_s, ready_files)
        except BaseException:
            self.stop()
            raise
        return self

    def start(self, timeout_s: float, ready_files: list[Path] | None = None) -> None:
        with self.log_file.open("ab") as log:
            for command in self.commands:
                self.processes.append(
                    subprocess.Popen(
                        command, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
                    )
                )
        deadline = time.monotonic() + timeout_s
        while not (all(f.exists() for f in ready_files or []) and self._healthy()):
            if any(p.poll() is not None for p in self.processes):
                raise BenchError(f"{self.name} exited during start-up; last lines of {self.log_file}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise BenchError(
                    f"{self.name} not healthy after {timeout_s:.0f} s; see {self.log_file}:\n{self.tail()}"
                )
            time.sleep(0.1)

    def _healthy(self) -> bool:
        return answers_health(self.port)

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def stop(self, timeout_s: float = 10.0) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for process in self.processes:
                if process.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, sig)
            deadline = time.monotonic() + timeout_s
            while any(p.poll() is None for p in self.processes) and time.monotonic() < deadline:
                time.sleep(0.05)
        self.processes.clear()

    def __enter__(self) -> Servers:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


def ceiling_servers(workers: int, log_dir: Path, timeout_s: float) -> Servers:
    port = free_port()
    ready_dir = Path(tempfile.mkdtemp(prefix="ceiling-", dir=log_dir))
    ready = [ready_dir / f"worker-{i}" for i in range(workers)]
    command = [sys.executable, "-m", "bench.ceiling", "--host", HOST, "--port", str(port), "--ready-file"]
    return Servers("ceiling", [[*command, str(path)] for path in ready], port, log_dir).started(timeout_s, ready)


def ingress_command() -> Path:
    return Path(sys.executable).with_name("crmbus")


def ingress_available() -> bool:
    probe = subprocess.run([str(ingress_command()), "ingress", "--help"], capture_output=True, check=False)
    return probe.returncode == 0


# The bench measures capacity, so the bench tenant's buckets never run dry; the limiter
# still runs on every request and is part of what is measured.
UNLIMITED = {
    f"CRMBUS_RATE_LIMIT_{scope}_{what}": "1000000000" for scope in ("TENANT", "KEY") for what in ("PER_S", "BURST")
}


def ingress_servers(workers: int, log_dir: Path, timeout_s: float) -> Servers:
    port = free_port()
    command = [str(ingress_command()), "ingress", "--host", HOST, "--port", str(port), "--workers", str(workers)]
    return Servers("ingress", [command], port, log_dir, env=UNLIMITED).started(timeout_s)


def answers_health(port: int, path: str = "/health", host: str = HOST) -> bool:
    """Whether the process on ``host:port`` answers ``GET path`` with 200 now."""
    connection = http.client.HTTPConnection(host, port, timeout=1.0)
    try:
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()
