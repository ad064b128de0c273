"""replay: dead letters replayed per second from the PostgreSQL archive back to Kafka.

``--records`` dead letters (``--size`` bytes each, keyed by one of six tenants, with the headers
a sink's letter carries) are archived in a fresh schema, then replayed by the engine
(``infra.control.replay.Replayer``, pages of ``--page``): read a page of open letters, send it
(acks=all), wait until Kafka acknowledged all of it, mark it replayed. The baseline, in the same
invocation, is the raw produce of the same records in the same pages through the same producer,
no PostgreSQL at all: ``ratio`` says what reading and marking the archive costs. ``p50_ms`` and
``p99_ms`` are a page's round trip (read, send, acknowledged, marked), the baseline's a page's
send. ``lost``: records the replay counted as sent that did not land on the topic, plus letters
left open. Kafka and PostgreSQL are those of ``CRMBUS_KAFKA_BOOTSTRAP`` and
``CRMBUS_DATABASE_URL``, which must answer; the topic and the schema are dropped on the way out.
``--rate`` and ``--duration`` do not apply.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from cryptography.fernet import Fernet
from sqlalchemy import Engine, text, update

from bench.baseline_table import baseline_table
from bench.report import console
from bench.stack import BenchError
from bench.stats import Latency, Report, json_line, median_report, ratio
from connectors.kafka.producer import AsyncProducer, Record, producer_config
from connectors.kafka.security import librdkafka_client
from infra.control.replay import Replayer
from infra.core.secret_box import SecretBox
from infra.core.settings import Settings
from infra.db.dead_letters import DeadLetters
from infra.db.delivery_log import DeliveryLog
from infra.db.engine import database_url, make_engine
from infra.db.migrate import upgrade
from infra.db.models import DeadLetter
from streams.replay_filter import ReplayFilter

_PARTITIONS = 6
_TENANTS = [f"bench-{n}" for n in range(_PARTITIONS)]
_AT = datetime(2026, 12, 5, tzinfo=UTC)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--records", type=int, default=20_000, help="dead letters replayed per run (default 20000)")
    parser.add_argument("--size", type=int, default=600, help="bytes of each letter's value (default 600)")
    parser.add_argument("--page", type=int, default=500, help="letters per page (default 500)")


def _letters(topic: str, records: int, size: int) -> list[dict[str, Any]]:
    body = secrets.token_bytes(size)
    return [
        {
            "tenant_id": _TENANTS[n % _PARTITIONS],
            "destination": "crm",
            "delivery_id": str(uuid.uuid4()),
            "event_id": uuid.uuid4(),
            "original_topic": topic,
            "original_partition": n % _PARTITIONS,
            "original_offset": n,
            "error_class": "PermanentDeliveryError",
            "error_message": "422 from crm",
            "status_code": 422,
            "attempts": 1,
            "first_failure_at": _AT,
            "last_failure_at": _AT,
            "key": _TENANTS[n % _PARTITIONS].encode(),
            "value": body,
            "headers": {"crmbus-route-id": "route-1", "crmbus-stage": "sink.permanent"},
        }
        for n in range(records)
    ]


_BOX = SecretBox(Fernet.generate_key())
"""Seals the bench's letters, as the archive agent would (the schema is the bench's own)."""


class _PageClock(DeadLetters):
    """The archive, noting when each page is read and when it is marked."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine, "bench", box=_BOX)
        self.started: float = 0.0
        self.pages_ms: list[float] = []

    def open_page(self, *args: Any, **kwargs: Any) -> Any:
        self.started = time.perf_counter()
        return super().open_page(*args, **kwargs)

    def mark_replayed(self, replay_id: uuid.UUID, ids: Any) -> int:
        marked = super().mark_replayed(replay_id, ids)
        self.pages_ms.append((time.perf_counter() - self.started) * 1000)
        return marked


async def _baseline(config: dict[str, Any], records: list[Record], page: int) -> tuple[float, list[float], int]:
    pages_ms, failed = [], 0
    async with AsyncProducer(config) as producer:
        start = time.perf_counter()
        for index in range(0, len(records), page):
            began = time.perf_counter()
            errors = await producer.send_many(records[index : index + page])
            failed += sum(error is not None for error in errors)
            pages_ms.append((time.perf_counter() - began) * 1000)
        return len(records) / (time.perf_counter() - start), pages_ms, failed


async def _replay(config: dict[str, Any], engine: Engine, page: int) -> tuple[float, list[float], int]:
    clock = _PageClock(engine)
    async with AsyncProducer(config) as producer:
        start = time.perf_counter()
        run = await Replayer(clock, producer, "bench", page=page).start(None, ReplayFilter())
        elapsed = time.perf_counter() - start
    return run.sent / elapsed, clock.pages_ms, run.sent


def _landed(bootstrap: dict[str, Any], topic: str) -> int:
    consumer = Consumer({**bootstrap, "group.id": f"bench-replay-{uuid.uuid4()}", "enable.auto.commit": False})
    try:
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(_PARTITIONS))
    finally:
        consumer.close()


def _one_run(args: argparse.Namespace, client: dict[str, Any], engine: Engine, topic: str) -> Report:
    config = producer_config(client, 60, 5)
    with engine.begin() as connection:  # every letter open again: each run replays them all
        connection.execute(update(DeadLetter).values(status="open", replay_id=None, replayed_at=None))
    archived = DeadLetters(engine, box=_BOX)
    letters = archived.list(None, ReplayFilter(), limit=args.records)
    records: list[Record] = [(topic, v.value, v.key, [("crmbus-replay", b"baseline")], None) for v in letters]
    base_rate, base_pages, base_failed = asyncio.run(_baseline(config, records, args.page))
    before = _landed(client, topic)
    rate, pages, sent = asyncio.run(_replay(config, engine, args.page))
    landed = _landed(client, topic) - before
    left_open = archived.count(None, ReplayFilter(status="open"))
    base, ours = Latency.of(base_pages), Latency.of(pages)
    return {
        "throughput_per_s": rate,
        "p50_ms": ours.p50_ms,
        "p99_ms": ours.p99_ms,
        "lost": max(0, sent - landed) + left_open + base_failed,
        "baseline_throughput_per_s": base_rate,
        "baseline_p50_ms": base.p50_ms,
        "baseline_p99_ms": base.p99_ms,
        "ratio": ratio(rate, base_rate),
    }


def run(args: argparse.Namespace) -> int:
    if args.records < 1 or args.page < 1:
        raise BenchError("--records and --page must be at least 1")
    settings = Settings()
    client = librdkafka_client(settings)
    admin = AdminClient(client)
    topic = f"bench.replay.{secrets.token_hex(4)}"
    schema = f"bench_replay_{secrets.token_hex(4)}"
    for future in admin.create_topics([NewTopic(topic, _PARTITIONS, 1)]).values():
        future.result(30)
    engine = make_engine(database_url(settings), schema=schema, pool_size=2)
    try:
        upgrade(engine, schema=schema)
        letters = _letters(topic, args.records, args.size)
        log = DeliveryLog(engine, _BOX)
        for index in range(0, len(letters), 5000):
            log.record([], letters[index : index + 5000])
        reports = [_one_run(args, client, engine, topic) for _ in range(args.runs)]
    finally:
        engine.dispose()
        dropper = make_engine(database_url(settings), pool_size=1)
        with dropper.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        dropper.dispose()
        for future in admin.delete_topics([topic], operation_timeout=30).values():
            future.result(60)
    report = {"scenario": "replay", "records": args.records, "page": args.page, **median_report(reports)}
    report["lost"] = sum(r["lost"] for r in reports)  # any run's loss counts
    console.print(
        baseline_table(
            "DLQ replay from the archive vs raw produce of the same records",
            report,
            ours="replay",
            baseline="raw produce",
            unit="records",
            round_="page",
        )
    )
    print(json_line(report))
    return 0 if report["lost"] == 0 else 1
