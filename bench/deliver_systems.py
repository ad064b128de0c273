"""What the deliver bench starts and asks: the sandbox, the systems, the tenants, a group's progress.

- the destinations: ``bench.deliver_destination`` (fast) or ``crmbus sandbox`` (every contract
  checked), ready when the control API answers;
- ``crmbus worker --roles ...`` on its own topic prefix, allowed to call loopback, with the
  key that opens the destinations' secrets, ready when every process answers 200 on /health;
  each part in processes of its own, as an operator would deploy them for throughput (Faust
  blocks every agent of a process when one agent's buffer is full): ``--processes N --roles
  sinks`` (what is measured), ``--processes 1 --roles retry`` (heals the failing backlog) and,
  for the lane phases only, ``--processes 1 --roles router,scheduler``. Each set of roles is
  its own consumer group (``worker_group``);
- the ceiling: ``python -m bench.deliver_ceiling``, ready once its consumer has partitions;
- bench tenants made with ``crmbus tenants create`` against the sandbox, their destinations
  given a credential (the sinks refuse a destination without one), and disabled again at the end
  so no other worker sharing the database has to open their secrets.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, TopicPartition

from bench.router_systems import free_ports
from bench.stack import HOST, BenchError, Servers, answers_health, free_port, ingress_command
from connectors.kafka.watermarks import high_watermark
from infra.core.secret_box import SecretBox
from infra.core.settings import WORKER_ROLES, Settings
from infra.db.endpoints import Endpoints
from infra.db.engine import database_url, make_engine

# Any non-empty credential: the sandbox checks that one is present, not its value.
BENCH_SECRET = "bench-token"  # noqa: S105 - a loopback placeholder, not a secret
_CLI_TIMEOUT_S = 120.0
SINK_ROLES = ("sinks",)
RETRY_ROLES = ("retry",)
ROUTER_ROLES = ("router", "scheduler")


def worker_group(prefix: str, roles: Sequence[str]) -> str:
    """The consumer group of ``crmbus worker --roles <roles>`` (as ``agents.worker_app.worker_app`` names it)."""
    ordered = [role for role in WORKER_ROLES if role in roles]
    return f"{prefix}crmbus-worker" + ("" if ordered == list(WORKER_ROLES) else "-" + "-".join(ordered))


class _Sandbox(Servers):
    def _healthy(self) -> bool:
        return answers_health(self.port, "/_control/health")


class _Workers(Servers):
    """``crmbus worker``: one health port per process, counted up from ``port``."""

    def __init__(
        self, name: str, command: list[str], port: int, processes: int, log_dir: Path, env: dict[str, str]
    ) -> None:
        super().__init__(name, [command], port, log_dir, env)
        self.ports = [port + index for index in range(processes)]

    def _healthy(self) -> bool:
        return all(answers_health(port) for port in self.ports)


class _ReadyFile(Servers):
    def _healthy(self) -> bool:
        return True


def sandbox(log_dir: Path, timeout_s: float) -> Servers:
    port = free_port()
    command = [str(ingress_command()), "sandbox", "--host", HOST, "--port", str(port)]
    return _Sandbox("sandbox", [command], port, log_dir).started(timeout_s)


def fast_destination(log_dir: Path, timeout_s: float) -> Servers:
    port = free_port()
    ready = Path(tempfile.mkdtemp(prefix="deliver-destination-", dir=log_dir)) / "ready"
    command = [sys.executable, "-m", "bench.deliver_destination", "--host", HOST, "--port", str(port)]
    servers = _Sandbox("destination", [[*command, "--ready-file", str(ready)]], port, log_dir)
    return servers.started(timeout_s, [ready])


def secret_key(settings: Settings) -> str:
    """The key this deployment seals destination secrets with (made once if there is none yet)."""
    SecretBox.from_settings(settings)  # creates <state_dir>/secret.key when no key is set
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    return (settings.state_path / "secret.key").read_text().strip()


def worker_env(prefix: str, port: int, key: str, sandbox_url: str, max_in_flight: int | None) -> dict[str, str]:
    env = {
        "CRMBUS_TOPIC_PREFIX": prefix,
        "CRMBUS_WORKER_WEB_PORT": str(port),
        "CRMBUS_OUTBOUND_ALLOW_LOOPBACK": "true",
        "CRMBUS_SECRET_KEY": key,
        "CRMBUS_SANDBOX_URL": sandbox_url,
    }
    if max_in_flight is not None:
        env["CRMBUS_SINK_MAX_IN_FLIGHT"] = str(max_in_flight)
    return env


def workers(
    processes: int, roles: Sequence[str], prefix: str, log_dir: Path, timeout_s: float, key: str, sandbox_url: str,
    max_in_flight: int | None,
) -> Servers:  # fmt: skip
    """``crmbus worker --processes <processes> --roles <roles>``, own health ports, log ``worker-<roles>.log``."""
    port = free_ports(processes)
    joined = ",".join(roles)
    command = [str(ingress_command()), "worker", "--processes", str(processes), "--roles", joined]
    env = worker_env(prefix, port, key, sandbox_url, max_in_flight)
    name = "worker-" + "-".join(roles)
    return _Workers(name, command, port, processes, log_dir, env).started(timeout_s)


def ceiling(
    bootstrap: str, topics: Sequence[str], group: str, sandbox_url: str, max_in_flight: int, processes: int,
    log_dir: Path, timeout_s: float, registry_url: str | None,
) -> Servers:  # fmt: skip
    """``processes`` ceiling processes in one consumer group, each with ``max_in_flight`` requests open."""
    ready_dir = Path(tempfile.mkdtemp(prefix="deliver-ceiling-", dir=log_dir))
    command = [
        sys.executable, "-m", "bench.deliver_ceiling", "--bootstrap", bootstrap, "--topics", ",".join(topics),
        "--group", group, "--sandbox-url", sandbox_url, "--secret", BENCH_SECRET,
        "--max-in-flight", str(max_in_flight),
    ]  # fmt: skip
    if registry_url:
        command += ["--registry-url", registry_url]
    ready = [ready_dir / f"ready-{index}" for index in range(processes)]
    commands = [[*command, "--ready-file", str(path)] for path in ready]
    return _ReadyFile("deliver-ceiling", commands, 0, log_dir).started(timeout_s, ready)


@contextlib.contextmanager
def tenants(
    names: Sequence[str], destinations: Sequence[str], settings: Settings, sandbox_url: str, log: Path
) -> Iterator[None]:
    """Bench tenants at ``sandbox_url`` whose ``destinations`` carry a credential; disabled on the way out."""
    env = {**os.environ, "CRMBUS_SANDBOX_URL": sandbox_url}
    engine = make_engine(database_url(settings))
    endpoints = Endpoints(engine, SecretBox.from_settings(settings), actor="bench")
    try:
        for name in names:
            try:
                done = subprocess.run(
                    [str(ingress_command()), "tenants", "create", name],
                    capture_output=True, text=True, check=False, timeout=_CLI_TIMEOUT_S, env=env,
                )  # fmt: skip
            except subprocess.TimeoutExpired as exc:
                raise BenchError(f"`crmbus tenants create {name}` took over {_CLI_TIMEOUT_S:.0f} s") from exc
            if done.returncode != 0:
                raise BenchError(f"`crmbus tenants create {name}` failed:\n{done.stderr or done.stdout}")
            with log.open("a") as out:
                out.write(done.stdout)
            for destination in destinations:
                endpoints.update(name, destination, secret=BENCH_SECRET)
        yield
    finally:
        for name in names:
            for destination in destinations:
                with contextlib.suppress(Exception):  # never made, or the database is gone
                    endpoints.update(name, destination, enabled=False)
        engine.dispose()


class GroupProgress:
    """Whether consumer groups have committed everything on some topics (it never joins them).

    ``group`` is the one that consumes every topic not in ``others`` (topic -> its own group):
    with the worker's roles split, the lane is the router's group's, the deliver topics the sinks'.
    """

    def __init__(self, bootstrap: str, group: str, others: Mapping[str, str] | None = None) -> None:
        self._bootstrap, self._group, self._others = bootstrap, group, dict(others or {})
        self._consumers: dict[str, Consumer] = {}

    def _consumer(self, group: str) -> Consumer:
        if group not in self._consumers:
            config = {"bootstrap.servers": self._bootstrap, "group.id": group, "log_level": 3}
            self._consumers[group] = Consumer(config)
        return self._consumers[group]

    def lag(self, topics: Sequence[str]) -> int:
        by_group: dict[str, list[str]] = {}
        for topic in topics:
            by_group.setdefault(self._others.get(topic, self._group), []).append(topic)
        lag = 0
        for group, mine in by_group.items():
            consumer = self._consumer(group)
            metadata = consumer.list_topics(timeout=10.0)
            partitions = [TopicPartition(t, p) for t in mine for p in metadata.topics[t].partitions]
            for tp in consumer.committed(partitions, timeout=10.0):
                high = high_watermark(consumer, tp.topic, tp.partition)
                lag += max(0, high - max(tp.offset, 0))
        return lag

    def wait(self, topics: Sequence[str], limit_s: float, idle_s: float, quiet_s: float = 1.0) -> bool:
        """Until the group's lag on ``topics`` stayed 0 for ``quiet_s``: True; False when it did not
        move for ``idle_s`` or ``limit_s`` passed."""
        deadline = time.monotonic() + limit_s
        last, moved_at, zero_since = -1, time.monotonic(), None
        while time.monotonic() < deadline:
            try:
                lag = self.lag(topics)
            except KafkaException:
                time.sleep(0.5)
                continue
            now = time.monotonic()
            if lag != last:
                last, moved_at = lag, now
            if lag == 0:
                zero_since = zero_since or now
                if now - zero_since >= quiet_s:
                    return True
            else:
                zero_since = None
                if now - moved_at >= idle_s:
                    return False
            time.sleep(0.25)
        return False

    def close(self) -> None:
        for consumer in self._consumers.values():
            consumer.close()
        self._consumers.clear()
