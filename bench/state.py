"""state: a worker's memory and restart time with N idempotency keys in its tables, RocksDB vs memory.

For each store (``CRMBUS_WORKER_TABLE_STORE``: ``rocksdb`` with ``--entries`` keys, then
``memory`` with ``--baseline-entries``, by default fewer: ten million keys in a Python dict do not
fit beside the other benches) a fresh topic prefix and state directory, and ``crmbus worker
--roles router``:

1. the worker starts once (Faust creates the ``router-dedupe`` changelog) and stops;
2. the keys are written straight to that changelog in bulk, each as the router writes it
   (``agents.dedupe.dedupe_key`` of tenant ``bench``, an 8-byte time stamp, the partition spread
   round-robin): the fill, ``throughput_per_s``;
3. the worker starts and restores them; ``first_start_s``: from its start to its consuming again,
   that is its group committing the offset past a probe event written to a lane once it reports
   ready (``GET /health`` 200: tables restored);
4. after ``--settle`` seconds (the worker checkpoints its RocksDB tables every 5 s), its RSS
   (every process of its session) is read;
5. it is stopped (SIGTERM, or SIGKILL with ``--kill``) and started again, ``--restarts`` times
   (each followed by ``--settle`` seconds): ``restart_s`` is the median of those spans, and
   ``rss_mb`` the largest RSS of every start. The fill and the first start are set-up: only
   restarts repeat.

``lost``: fill records Kafka refused plus probes never consumed. ``ratio``: ``rss_mb`` over the
baseline's (entries differ unless ``--baseline-entries`` says otherwise); ``restart_ratio``: the
same for ``restart_s``; ``restarts_s``: every restart's span. No p50/p99: nothing here is a stream
of like rounds. ``--rate``, ``--duration`` and ``--runs`` do not apply (``--restarts`` repeats what
is measured).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import statistics
import struct
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from pydantic import SecretStr
from rich.table import Table
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from agents.dedupe import dedupe_key
from bench.lane_load import LEAD
from bench.report import console
from bench.router_systems import free_ports
from bench.stack import BenchError, Servers, infra, ingress_command
from bench.stats import json_line, ratio
from connectors.kafka.schema_registry import schema_ids
from infra.core.settings import Settings
from schemas.avro_schemas import load_schema
from schemas.catalogue import load_catalogue
from schemas.codec import AvroCodec
from schemas.event_types import built_in_catalogue
from schemas.topic_names import TopicNames
from streams.envelope import Envelope

_TENANT = "bench"
_PARTITION_OF_PROBE = 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--entries", type=int, default=10_000_000, help="keys in the RocksDB run (default 10000000)")
    parser.add_argument(
        "--baseline-entries", type=int, default=1_000_000, help="keys in the memory run (default 1000000)"
    )
    parser.add_argument("--kill", action="store_true", help="restart with SIGKILL rather than SIGTERM")
    parser.add_argument("--restarts", type=int, default=3, help="restarts timed after the first start (default 3)")
    parser.add_argument("--settle", type=float, default=8.0, help="seconds between consuming and the restart")
    parser.add_argument("--timeout", type=float, default=900.0, help="longest wait for one start (default 900)")


@dataclass(frozen=True, slots=True)
class _Run:
    entries: int
    fill_per_s: float
    first_start_s: float
    restarts_s: tuple[float, ...]
    rss_mb: float
    lost: int

    @property
    def restart_s(self) -> float:
        return statistics.median(self.restarts_s)


class _Worker(Servers):
    """``crmbus worker --roles router`` on ``port``; ``stop`` by ``signal`` only, then waits for it."""

    def __init__(self, port: int, log_dir: Path, env: dict[str, str]) -> None:
        command = [str(ingress_command()), "worker", "--processes", "1", "--roles", "router"]
        super().__init__("worker", [command], port, log_dir, env)

    def end(self, sig: signal.Signals, timeout_s: float) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
        self.stop(timeout_s)

    def rss_mb(self) -> float:
        """The resident memory of every process in the worker's session."""
        sessions = set(self.roots)
        total_kb = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                fields = stat[stat.rindex(")") + 2 :].split()
                if int(fields[3]) not in sessions:  # field 6 of stat: the session id
                    continue
                status = (entry / "status").read_text()
            except (OSError, ValueError):
                continue
            total_kb += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        return total_kb / 1024


def _fill(bootstrap: str, topic: str, partitions: int, entries: int) -> tuple[float, int]:
    """Write ``entries`` keys to the changelog ``topic``; returns (keys/s, keys Kafka refused)."""
    refused = 0

    def on_delivery(error: KafkaError | None, _message: Message) -> None:
        nonlocal refused
        refused += error is not None

    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 50, "batch.size": 1_000_000, "compression.type": "lz4",
         "queue.buffering.max.messages": 1_000_000, "acks": "all"}
    )  # fmt: skip
    stamp = struct.pack(">d", time.time())
    began = time.perf_counter()
    for seq in range(entries):
        key = dedupe_key(_TENANT, f"bench-{seq:010d}")
        while True:
            try:
                producer.produce(topic, stamp, key, partition=seq % partitions, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)
        if seq % 10_000 == 0:
            producer.poll(0)
    if producer.flush(300) != 0:
        raise BenchError(f"the fill of {topic} was not acknowledged in 300 s")
    return entries / (time.perf_counter() - began), refused


def _probe(bootstrap: str, lane: str) -> int:
    """Write one lead.created event to partition 0 of ``lane``; returns its offset."""
    codec = AvroCodec(load_schema("envelope.v1.avsc"), f"{lane}-value", schema_ids(None))
    payload = built_in_catalogue().validate(_TENANT, "lead.created", LEAD)
    now = datetime.now(UTC)
    value = codec.encode(Envelope(_TENANT, "lead.created", "site", payload, uuid.uuid4(), now, now).to_record())
    offsets: list[int] = []

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        offset = message.offset()
        offsets.append(offset if error is None and offset is not None else -1)

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    producer.produce(lane, value, _TENANT.encode(), partition=_PARTITION_OF_PROBE, on_delivery=on_delivery)
    producer.flush(30)
    if not offsets or offsets[0] < 0:
        raise BenchError(f"the probe event was not written to {lane}")
    return offsets[0]


def _consumed(bootstrap: str, group: str, lane: str, offset: int, deadline: float) -> bool:
    """Whether ``group`` commits past ``offset`` of ``lane`` partition 0 before ``deadline``."""
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        while time.monotonic() < deadline:
            (committed,) = reader.committed([TopicPartition(lane, _PARTITION_OF_PROBE)], timeout=10)
            if committed.offset > offset:
                return True
            time.sleep(0.05)
        return False
    finally:
        reader.close()


def _start_to_consuming(worker: _Worker, bootstrap: str, group: str, lane: str, timeout_s: float) -> tuple[float, int]:
    """Start ``worker``; returns (seconds from its start to consuming a probe, probes not consumed)."""
    began = time.monotonic()
    worker.start(timeout_s)
    offset = _probe(bootstrap, lane)
    if not _consumed(bootstrap, group, lane, offset, began + timeout_s):
        return time.monotonic() - began, 1
    return time.monotonic() - began, 0


def _one_store(store: str, entries: int, args: argparse.Namespace, base: Settings, log_dir: Path) -> _Run:
    prefix = f"bench.state.{store}.{secrets.token_hex(3)}."
    names = TopicNames(prefix)
    settings = base.model_copy(update={"topic_prefix": prefix})
    bootstrap = settings.kafka_bootstrap
    with infra(settings, log_dir / "infra.log"):
        port = free_ports(1)
        state_dir = Path(tempfile.mkdtemp(prefix=f"state-{store}-", dir=log_dir))
        env = {
            "CRMBUS_TOPIC_PREFIX": prefix, "CRMBUS_WORKER_WEB_PORT": str(port), "CRMBUS_STATE_DIR": str(state_dir),
            "CRMBUS_WORKER_TABLE_STORE": store, "CRMBUS_LOG_LEVEL": "warning",
            "CRMBUS_DATABASE_URL": settings.database_url.get_secret_value(),
        }  # fmt: skip
        worker = _Worker(port, log_dir, env)
        group, lane = f"{prefix}crmbus-worker-router", names.default
        try:
            worker.started(args.timeout)  # Faust declares the changelog
            worker.end(signal.SIGTERM, 60)
            partitions = load_catalogue()[TopicNames().default].partitions
            fill_per_s, refused = _fill(bootstrap, names.changelog("router-dedupe"), partitions, entries)
            first_s, missed = _start_to_consuming(worker, bootstrap, group, lane, args.timeout)
            time.sleep(args.settle)  # the worker checkpoints its RocksDB tables on a timer
            rss = worker.rss_mb()
            restarts: list[float] = []
            for _ in range(args.restarts):
                worker.end(signal.SIGKILL if args.kill else signal.SIGTERM, 60)
                restart_s, missed_again = _start_to_consuming(worker, bootstrap, group, lane, args.timeout)
                restarts.append(restart_s)
                missed += missed_again
                time.sleep(args.settle)
                rss = max(rss, worker.rss_mb())
        finally:
            worker.stop()
            shutil.rmtree(state_dir, ignore_errors=True)  # the logs stay in log_dir
            admin = AdminClient({"bootstrap.servers": bootstrap})
            mine = [name for name in admin.list_topics(timeout=10).topics if name.startswith(prefix)]
            for future in admin.delete_topics(mine, operation_timeout=30).values():
                with contextlib.suppress(Exception):
                    future.result(60)
    return _Run(entries, fill_per_s, first_s, tuple(restarts), rss, refused + missed)


def _table(ours: _Run, base: _Run) -> Table:
    table = Table(title="worker state: RocksDB tables vs memory tables", title_justify="left")
    for column in ("metric", "rocksdb", "memory"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    table.add_row("entries", f"{ours.entries:,}", f"{base.entries:,}")
    table.add_row("fill keys/s", f"{ours.fill_per_s:,.0f}", f"{base.fill_per_s:,.0f}")
    table.add_row("first start to consuming s", f"{ours.first_start_s:.1f}", f"{base.first_start_s:.1f}")
    table.add_row(
        f"restart to consuming s, median of {len(ours.restarts_s)}", f"{ours.restart_s:.1f}", f"{base.restart_s:.1f}"
    )
    spans = (", ".join(f"{span:.1f}" for span in run.restarts_s) for run in (ours, base))
    table.add_row("each restart s", *spans)
    table.add_row("RSS MB", f"{ours.rss_mb:.0f}", f"{base.rss_mb:.0f}")
    return table


def run(args: argparse.Namespace) -> int:
    if min(args.entries, args.baseline_entries, args.restarts) < 1 or args.settle < 0 or args.timeout <= 0:
        raise BenchError(
            "--entries, --baseline-entries and --restarts must be at least 1, --settle >= 0, --timeout > 0"
        )
    settings = Settings()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-state-"))
    schema = f"bench_state_{secrets.token_hex(4)}"  # its own: the shared database may be migrated past ours
    url = make_url(settings.database_url.get_secret_value())
    engine = create_engine(url, pool_size=1)
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    own = url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    settings = settings.model_copy(update={"database_url": SecretStr(own)})
    try:
        ours = _one_store("rocksdb", args.entries, args, settings, log_dir)
        base = _one_store("memory", args.baseline_entries, args, settings, log_dir)
    finally:
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()
    report: dict[str, Any] = {
        "scenario": "state",
        "entries": ours.entries,
        "throughput_per_s": ours.fill_per_s,
        "lost": ours.lost + base.lost,
        "rss_mb": ours.rss_mb,
        "first_start_s": ours.first_start_s,
        "restart_s": ours.restart_s,
        "restarts_s": list(ours.restarts_s),
        "restart": "SIGKILL" if args.kill else "SIGTERM",
        "baseline_entries": base.entries,
        "baseline_throughput_per_s": base.fill_per_s,
        "baseline_rss_mb": base.rss_mb,
        "baseline_first_start_s": base.first_start_s,
        "baseline_restart_s": base.restart_s,
        "baseline_restarts_s": list(base.restarts_s),
        "ratio": ratio(ours.rss_mb, base.rss_mb),
        "restart_ratio": ratio(ours.restart_s, base.restart_s),
    }
    console.print(_table(ours, base))
    print(json_line(report))
    return 0 if report["lost"] == 0 else 1
