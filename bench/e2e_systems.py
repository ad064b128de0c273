"""The systems the e2e bench runs, each started for its turn and stopped after it.

- **crmbus**: a fresh topic prefix (the whole catalogue, deleted afterwards), ``crmbus ingress``
  and the worker's parts in processes of their own as an operator would run them for throughput
  (``--roles router,scheduler``, ``--roles sinks``, ``--roles retry,archive``; see the deliver
  bench), or with ``--worker-processes N`` the worker as deployed by default (``crmbus worker
  --processes N``, every role in each process), all allowed to call loopback, the bench tenant's
  destinations at the receiver.
- **celery** / **dramatiq**: a redis-server of their own, the worker pool, and the aiohttp front
  end (``bench.baselines``).
- **ceiling**: a topic of its own, the front end with a Kafka producer and one consumer process.

Every system is a ``Running``: the port and key to post to, and its processes by part, each
measured on its own (CPU, peak RSS). The broker counts for crmbus and the ceiling when crmbus
started it; crmbus's own PostgreSQL cluster counts for crmbus, as Redis does for the queues (its
peak RSS sums the backends, so shared buffers count once per backend).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from confluent_kafka.admin import AdminClient, NewTopic

from bench.baselines.redis_server import redis_server
from bench.deliver_systems import ROUTER_ROLES, SINK_ROLES, workers
from bench.deliver_topics import create_topics, delete_topics
from bench.stack import UNLIMITED, BenchError, Servers, free_port, ingress_command
from infra.core.settings import WORKER_ROLES, Settings

SYSTEMS = ("crmbus", "celery", "dramatiq", "ceiling")
BACKGROUND_ROLES = ("retry", "archive")
_CEILING_PARTITIONS = 6  # as many as crmbus's lane


@dataclass(frozen=True, slots=True)
class Options:
    """What every system is started with."""

    settings: Settings
    log_dir: Path
    receiver_url: str
    timeout_s: float
    cores: int  # worker processes of the baselines' pools
    threads: int  # Dramatiq's threads per process
    ingress_workers: int
    sink_processes: int
    worker_processes: int  # > 0: `crmbus worker --processes N` with every role, not a process per part
    key: str  # the deployment's secret key, for crmbus's workers to open the destinations' credentials


@dataclass(frozen=True, slots=True)
class Running:
    name: str
    port: int  # where the front end listens
    secret: str  # the API key to post with
    parts: Mapping[str, Callable[[], list[int]]]  # part -> its root pids now
    servers: Sequence[Servers]

    def describe(self) -> str:
        """The last log lines of every process: what the bench shows when the system does not deliver."""
        return "\n".join(f"-- {s.name} ({s.log_file}):\n{s.tail()}" for s in self.servers)


class _Processes(Servers):
    """Processes without an HTTP side: the warm-up tells whether they work."""

    def _healthy(self) -> bool:
        return True


def _all_started(stack: contextlib.ExitStack, starts: Sequence[Callable[[], Servers]]) -> list[Servers]:
    """Start every part at once (Faust workers take seconds each), all stopped with ``stack``."""
    with ThreadPoolExecutor(len(starts)) as pool:
        futures = [pool.submit(start) for start in starts]
    started: list[Servers] = []
    failure: BaseException | None = None
    for future in futures:
        try:
            started.append(stack.enter_context(future.result()))
        except BaseException as error:  # noqa: BLE001 - the first failure is raised once the rest are accounted for
            failure = failure or error
    if failure is not None:
        raise failure
    return started


def _pids(servers: Servers) -> Callable[[], list[int]]:
    return lambda: servers.roots


def _server(part: str, pid: int | None) -> dict[str, Callable[[], list[int]]]:
    """A shared server's process tree as a part of the system measured (none when not ours)."""
    return {part: lambda: [pid]} if pid else {}


@contextlib.contextmanager
def crmbus(
    options: Options, prefix: str, secret: str, broker_pid: int | None, postgres_pid: int | None
) -> Iterator[Running]:
    settings = options.settings
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    create_topics(admin, prefix, settings.kafka_replication_factor)
    try:
        with contextlib.ExitStack() as stack:
            port = free_port()
            command = [
                str(ingress_command()), "ingress", "--host", "127.0.0.1", "--port", str(port),
                "--workers", str(options.ingress_workers),
            ]  # fmt: skip
            env = {**UNLIMITED, "CRMBUS_TOPIC_PREFIX": prefix}
            start = partial(
                workers, prefix=prefix, log_dir=options.log_dir, timeout_s=options.timeout_s, key=options.key,
                sandbox_url=options.receiver_url, max_in_flight=None,
            )  # fmt: skip
            ingress = partial(Servers("ingress", [command], port, options.log_dir, env).started, options.timeout_s)
            if options.worker_processes:
                started = _all_started(stack, [ingress, partial(start, options.worker_processes, WORKER_ROLES)])
                names: tuple[str, ...] = ("ingress", "worker")
            else:
                started = _all_started(
                    stack,
                    [
                        ingress,
                        partial(start, 1, ROUTER_ROLES),
                        partial(start, options.sink_processes, SINK_ROLES),
                        partial(start, 1, BACKGROUND_ROLES),
                    ],
                )
                names = ("ingress", "router", "sinks", "retry_archive")
            parts = {name: _pids(servers) for name, servers in zip(names, started, strict=True)}
            # PostgreSQL counts as the queues' Redis does: the archive writes every outcome there.
            shared = {**_server("kafka", broker_pid), **_server("postgres", postgres_pid)}
            yield Running("crmbus", port, secret, {**parts, **shared}, started)
    finally:
        delete_topics(admin, prefix)


def _front(backend: str, secret: str, options: Options, env: dict[str, str], extra: Sequence[str] = ()) -> Servers:
    port = free_port()
    command = [
        sys.executable, "-m", "bench.baselines.front", "--backend", backend, "--port", str(port), "--secret", secret,
        *extra,
    ]  # fmt: skip
    return Servers(f"{backend}-front", [command], port, options.log_dir, env).started(options.timeout_s)


@contextlib.contextmanager
def queue_baseline(name: str, options: Options, secret: str) -> Iterator[Running]:
    """Celery or Dramatiq on a redis-server of its own."""
    if name == "celery":
        pool = [
            sys.executable, "-m", "celery", "-A", "bench.baselines.celery_app", "worker", "--pool", "prefork",
            "--concurrency", str(options.cores), "--loglevel", "WARNING", "--without-heartbeat", "--without-gossip",
            "--without-mingle",
        ]  # fmt: skip
    elif name == "dramatiq":
        pool = [
            sys.executable, "-m", "dramatiq", "bench.baselines.dramatiq_app", "--processes", str(options.cores),
            "--threads", str(options.threads),
        ]  # fmt: skip
    else:
        raise BenchError(f"no queue baseline {name!r}")
    with redis_server(options.log_dir, options.timeout_s) as redis:
        env = {"BENCH_REDIS_URL": f"redis://127.0.0.1:{redis.port}/0", "BENCH_DESTINATION_URL": options.receiver_url}
        workers_ = _Processes(f"{name}-worker", [pool], 0, options.log_dir, env).started(options.timeout_s)
        with workers_, _front(name, secret, options, env) as front:
            parts = {"front": _pids(front), "worker": _pids(workers_), "redis": _pids(redis)}
            yield Running(name, front.port, secret, parts, (front, workers_, redis))


@contextlib.contextmanager
def ceiling(options: Options, prefix: str, secret: str, broker_pid: int | None) -> Iterator[Running]:
    settings = options.settings
    topic = f"{prefix}events"
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    created = admin.create_topics([NewTopic(topic, _CEILING_PARTITIONS, settings.kafka_replication_factor)])
    for future in created.values():
        future.result(timeout=30)
    try:
        consumer_command = [
            sys.executable, "-m", "bench.baselines.kafka_chain", "--bootstrap", settings.kafka_bootstrap,
            "--topic", topic, "--group", f"{prefix}consumer", "--destination-url", options.receiver_url,
        ]  # fmt: skip
        consumer = _Processes("ceiling-consumer", [consumer_command], 0, options.log_dir).started(options.timeout_s)
        kafka = ["--bootstrap", settings.kafka_bootstrap, "--topic", topic]
        with consumer, _front("kafka", secret, options, {}, kafka) as front:
            parts = {"front": _pids(front), "consumer": _pids(consumer), **_server("kafka", broker_pid)}
            yield Running("ceiling", front.port, secret, parts, (front, consumer))
    finally:
        delete_topics(admin, prefix)
