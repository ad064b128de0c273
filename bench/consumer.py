"""consumer: CPU of the workers' Kafka client, aiokafka, against confluent-kafka's, on the same topics.

A worker's consumer is Faust's aiokafka driver: fetch requests built and parsed in Python, each over
every partition the process holds. The e2e and router ceilings consume with confluent-kafka
(librdkafka, in C). Both clients run here, one after the other, in this process, with no agent
behind them, so what is measured is the client alone, in two phases:

- **drain**: a backlog of ``--records`` records of 400 bytes in 6 partitions, read to its end in
  batches of up to 1,000 (aiokafka's ``getmany``, confluent-kafka's ``consume``): records/s, CPU per
  record, and each batch call's time (p50 / p99).
- **fetch**: ``--seconds`` with nothing arriving, with the workers' fetch batching
  (``CRMBUS_WORKER_FETCH_MIN_BYTES``, ``CRMBUS_WORKER_FETCH_MAX_WAIT_MS``): the broker holds each
  fetch for the wait, as it does at a few hundred events/s, when the bytes never gather. The CPU
  is what one consumer's fetch loop costs per second at low rates.

Each client is assigned ``--partitions`` partitions (6 holding the backlog, the rest of a second,
empty topic: a worker process of a two-process deployment holds 66 of the catalogue's 132).
Topics are made under a fresh prefix on ``CRMBUS_KAFKA_BOOTSTRAP`` and deleted at the end.
``--rate`` and ``--duration`` do not apply.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import resource
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer  # type: ignore[import-untyped]
from aiokafka import TopicPartition as AioPartition
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from rich.table import Table

from bench.deliver_topics import delete_topics
from bench.report import console
from bench.stack import BenchError
from bench.stats import Latency, Report, head_to_head, json_line, ratio
from infra.core.settings import Settings

OURS, BASELINE = "aiokafka", "confluent"
_FULL = 6
_VALUE_BYTES = 400
_BATCH = 1000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--records", type=int, default=200_000, help="records in the backlog (default 200000)")
    parser.add_argument("--partitions", type=int, default=66, help="partitions assigned (default 66, at least 7)")
    parser.add_argument("--seconds", type=float, default=6.0, help="seconds of the fetch phase (default 6)")


@dataclass(frozen=True, slots=True)
class Measured:
    """One client's run: the drain (records read, CPU and wall time, batch calls) and the fetch loop."""

    read: int
    cpu_s: float
    wall_s: float
    batch_ms: Latency
    fetch_cpu_s: float
    fetch_wall_s: float

    def figures(self, records: int) -> Report:
        return {
            "throughput_per_s": self.read / self.wall_s if self.wall_s else math.nan,
            "cpu_us_per_record": 1e6 * self.cpu_s / self.read if self.read else math.nan,
            "p50_ms": self.batch_ms.p50_ms,
            "p99_ms": self.batch_ms.p99_ms,
            "lost": records - self.read,
            "fetch_core_pct": 100 * self.fetch_cpu_s / self.fetch_wall_s,
        }


@dataclass(frozen=True, slots=True)
class Topics:
    full: str
    empty: str
    empty_partitions: int

    def assignment(self) -> list[tuple[str, int]]:
        return [(self.full, p) for p in range(_FULL)] + [(self.empty, p) for p in range(self.empty_partitions)]


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread: librdkafka's work is in its own
    return usage.ru_utime + usage.ru_stime


def _make(admin: AdminClient, settings: Settings, prefix: str, partitions: int, records: int) -> Topics:
    topics = Topics(prefix + "full", prefix + "empty", partitions - _FULL)
    created = admin.create_topics([NewTopic(topics.full, _FULL, 1), NewTopic(topics.empty, topics.empty_partitions, 1)])
    for future in created.values():
        future.result()
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 20, "acks": "all"})
    value = os.urandom(_VALUE_BYTES)
    for n in range(records):
        while True:
            try:
                producer.produce(topics.full, value, partition=n % _FULL)
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(60):
        raise BenchError("the backlog was not acknowledged within 60 s")
    return topics


def _confluent(settings: Settings, topics: Topics, records: int, seconds: float) -> Measured:
    consumer = Consumer({
        "bootstrap.servers": settings.kafka_bootstrap, "group.id": f"bench-consumer-{uuid.uuid4().hex}",
        "enable.auto.commit": False, "fetch.min.bytes": settings.worker_fetch_min_bytes,
        "fetch.wait.max.ms": settings.worker_fetch_max_wait_ms,
    })  # fmt: skip
    try:
        consumer.assign([TopicPartition(topic, p, 0) for topic, p in topics.assignment()])
        read, calls = 0, []
        cpu, wall = _cpu_s(), time.perf_counter()
        while read < records and time.perf_counter() - wall < 120:
            started = time.perf_counter()
            read += sum(message.error() is None for message in consumer.consume(_BATCH, 0.5))
            calls.append((time.perf_counter() - started) * 1000)
        cpu, wall = _cpu_s() - cpu, time.perf_counter() - wall
        fetch_cpu, fetch_wall = _cpu_s(), time.perf_counter()
        while time.perf_counter() - fetch_wall < seconds:
            consumer.consume(_BATCH, 0.1)
        fetch_cpu, fetch_wall = _cpu_s() - fetch_cpu, time.perf_counter() - fetch_wall
    finally:
        consumer.close()
    return Measured(read, cpu, wall, Latency.of(calls), fetch_cpu, fetch_wall)


async def _aiokafka(settings: Settings, topics: Topics, records: int, seconds: float) -> Measured:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False,
        fetch_min_bytes=settings.worker_fetch_min_bytes, fetch_max_wait_ms=settings.worker_fetch_max_wait_ms,
    )  # fmt: skip
    await consumer.start()
    try:
        assigned = [AioPartition(topic, p) for topic, p in topics.assignment()]
        consumer.assign(assigned)
        for partition in assigned:
            consumer.seek(partition, 0)
        read, calls = 0, []
        cpu, wall = _cpu_s(), time.perf_counter()
        while read < records and time.perf_counter() - wall < 120:
            started = time.perf_counter()
            batch = await consumer.getmany(timeout_ms=500, max_records=_BATCH)
            read += sum(len(batch_records) for batch_records in batch.values())
            calls.append((time.perf_counter() - started) * 1000)
        cpu, wall = _cpu_s() - cpu, time.perf_counter() - wall
        fetch_cpu, fetch_wall = _cpu_s(), time.perf_counter()
        while time.perf_counter() - fetch_wall < seconds:
            await consumer.getmany(timeout_ms=100, max_records=_BATCH)
        fetch_cpu, fetch_wall = _cpu_s() - fetch_cpu, time.perf_counter() - fetch_wall
    finally:
        await consumer.stop()
    return Measured(read, cpu, wall, Latency.of(calls), fetch_cpu, fetch_wall)


_CLIENTS: dict[str, Callable[[Settings, Topics, int, float], Measured]] = {
    OURS: lambda settings, topics, records, seconds: asyncio.run(_aiokafka(settings, topics, records, seconds)),
    BASELINE: _confluent,
}


def summary(reports: Sequence[Report]) -> Report:
    """Medians of the runs, records lost summed over them, and the headline figures (ours) first."""
    headline, merged = head_to_head(reports, _CLIENTS, OURS, BASELINE)
    return {
        **headline,
        "cpu_per_record_ratio": ratio(merged[f"{OURS}_cpu_us_per_record"], merged[f"{BASELINE}_cpu_us_per_record"]),
        "fetch_cpu_ratio": ratio(merged[f"{OURS}_fetch_core_pct"], merged[f"{BASELINE}_fetch_core_pct"]),
        **merged,
    }


def _table(title: str, report: Report) -> Table:
    table = Table(title=title, title_justify="left", caption="p50 / p99: one batch call", caption_justify="left")
    columns = ("client", "records/s", "CPU µs/record", "p50 ms", "p99 ms", "lost", "fetch loop, % of a core")
    for column in columns:
        table.add_column(column, justify="left" if column == "client" else "right", no_wrap=True)
    for name in _CLIENTS:
        table.add_row(
            name, f"{report[f'{name}_throughput_per_s']:,.0f}", f"{report[f'{name}_cpu_us_per_record']:.2f}",
            f"{report[f'{name}_p50_ms']:.2f}", f"{report[f'{name}_p99_ms']:.2f}", str(report[f"{name}_lost"]),
            f"{report[f'{name}_fetch_core_pct']:.1f}",
        )  # fmt: skip
    return table


def run(args: argparse.Namespace) -> int:
    if args.records < 1 or args.partitions <= _FULL or args.seconds <= 0:
        raise BenchError(f"--records must be at least 1, --partitions more than {_FULL}, --seconds above 0")
    settings = Settings()
    console.print(
        f"bench consumer: {args.records:,} records, {args.partitions} partitions assigned, "
        f"fetch {settings.worker_fetch_min_bytes:,} bytes or {settings.worker_fetch_max_wait_ms} ms, {args.runs} run(s)"
    )
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    prefix = f"bench-consumer-{uuid.uuid4().hex[:8]}."
    reports: list[Report] = []
    try:
        topics = _make(admin, settings, prefix, args.partitions, args.records)
        for number in range(1, args.runs + 1):
            report: Report = {}
            for name, client in _CLIENTS.items():
                figures = client(settings, topics, args.records, args.seconds).figures(args.records)
                report |= {f"{name}_{figure}": value for figure, value in figures.items()}
            reports.append(report)
            console.print(_table(f"run {number}", reports[-1]))
    finally:
        delete_topics(admin, prefix)
    merged = summary(reports)
    console.print(_table(f"summary ({args.runs} run(s), medians)", merged))
    print(json_line(merged))
    return 0 if merged["lost"] == 0 and merged[f"{BASELINE}_lost"] == 0 else 1
