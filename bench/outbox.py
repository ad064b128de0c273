"""outbox: outbox rows relayed per second to Kafka, beside a plain ``FOR UPDATE SKIP LOCKED`` loop.

``--rows`` rows (``--size`` bytes of JSON payload, ``--aggregates`` aggregates of one type) are
inserted into an outbox table in database ``crmbus_bench20`` (created on the PostgreSQL of
``CRMBUS_DATABASE_URL`` when missing; a fresh schema, dropped at the end). Then the relay
(``infra.control.outbox_relay.OutboxRelay``, ``--batch`` rows per Kafka transaction with its
progress record, rows deleted after the commit) empties it. The baseline, in the same run, empties
the same rows again with the plain loop: ``BEGIN; SELECT … ORDER BY seq LIMIT n FOR UPDATE SKIP
LOCKED``, send the batch through the project's acks=all idempotent producer, wait for the
acknowledgements, ``DELETE``, ``COMMIT`` (no transaction on Kafka, so no exactly-once across a
crash). ``p50_ms``/``p99_ms``: a batch's round trip. ``lost``: rows left in the table plus rows
missing on the topics (read back ``read_committed``). ``--rate`` and ``--duration`` do not apply.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
import uuid
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from bench.baseline_table import baseline_table
from bench.report import console
from bench.stack import BenchError
from bench.stats import Latency, Report, json_line, median_report, ratio
from connectors.kafka.producer import AsyncProducer, Record, producer_config
from connectors.kafka.security import librdkafka_client
from connectors.kafka.transactional import TransactionalProducer, ensure_progress_topic
from infra.control.outbox_relay import OutboxRelay, RelayConfig
from infra.core.settings import Settings
from infra.db.outbox import OutboxTable, ddl
from schemas.topic_names import TopicNames

_DATABASE = "crmbus_bench20"
_PARTITIONS = 6


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", type=int, default=20_000, help="outbox rows relayed per run (default 20000)")
    parser.add_argument("--size", type=int, default=300, help="bytes of each row's JSON payload (default 300)")
    parser.add_argument("--batch", type=int, default=500, help="rows per batch (default 500)")
    parser.add_argument("--aggregates", type=int, default=200, help="aggregates the rows belong to (default 200)")


def _bench_engine(settings: Settings) -> Engine:
    url = make_url(settings.database_url.get_secret_value())
    admin = create_engine(url, isolation_level="AUTOCOMMIT", pool_size=1)
    with admin.connect() as connection:
        exists = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": _DATABASE}).first()
        if exists is None:
            connection.execute(text(f'CREATE DATABASE "{_DATABASE}"'))
    admin.dispose()
    return create_engine(url.set(database=_DATABASE, query={}), pool_size=3)


def _fill(engine: Engine, table: str, args: argparse.Namespace) -> None:
    payload = '{"blob": "' + "x" * max(0, args.size - 12) + '"}'
    with engine.begin() as connection:
        connection.execute(
            text(
                f"INSERT INTO {table} (id, aggregatetype, aggregateid, type, payload) "  # noqa: S608
                "SELECT gen_random_uuid(), 'order', 'o-' || (g % :aggregates), 'order.changed', CAST(:p AS jsonb) "
                "FROM generate_series(1, :rows) AS g"
            ),
            {"aggregates": args.aggregates, "p": payload, "rows": args.rows},
        )


def _relay(client: dict[str, Any], engine: Engine, table: str, prefix: str, batch: int) -> tuple[float, list[float]]:
    names = TopicNames(prefix)
    producer = TransactionalProducer(producer_config(client, 30, 5), f"{prefix}crmbus-outbox-bench", 30)
    producer.start()
    relay = OutboxRelay(
        OutboxTable(engine, table), producer, RelayConfig("bench", names, "outbox.event.{aggregatetype}", batch)
    )
    ensure_progress_topic(client, relay.progress_topic)
    batches_ms, relayed = [], 0
    start = time.perf_counter()
    while True:
        began = time.perf_counter()
        done = relay.relay_batch()
        if done == 0:
            break
        relayed += done
        batches_ms.append((time.perf_counter() - began) * 1000)
    elapsed = time.perf_counter() - start
    producer.close()
    return relayed / elapsed, batches_ms


async def _skip_locked(
    client: dict[str, Any], engine: Engine, table: str, topic: str, batch: int
) -> tuple[float, list[float]]:
    select = text(
        f"SELECT id::text, aggregateid, type, payload::text FROM {table} "  # noqa: S608
        "ORDER BY seq LIMIT :n FOR UPDATE SKIP LOCKED"
    )
    delete = text(f"DELETE FROM {table} WHERE id = ANY(CAST(:ids AS uuid[]))")  # noqa: S608
    batches_ms, relayed = [], 0
    async with AsyncProducer(producer_config(client, 30, 5)) as producer:
        await producer.ping()  # connected before the clock starts, as the relay's producer is
        start = time.perf_counter()
        while True:
            began = time.perf_counter()
            with engine.begin() as connection:
                rows = connection.execute(select, {"n": batch}).all()
                if not rows:
                    break
                records: list[Record] = [
                    (topic, payload.encode(), key.encode(), [("id", id_.encode()), ("type", type_.encode())], None)
                    for id_, key, type_, payload in rows
                ]
                errors = await producer.send_many(records)
                if any(errors):
                    raise BenchError(f"Kafka refused a baseline batch: {next(e for e in errors if e)}")
                connection.execute(delete, {"ids": [row[0] for row in rows]})
            relayed += len(rows)
            batches_ms.append((time.perf_counter() - began) * 1000)
        elapsed = time.perf_counter() - start
    return relayed / elapsed, batches_ms


def _committed(client: dict[str, Any], topic: str) -> int:
    consumer = Consumer(
        {**client, "group.id": f"bench-outbox-{uuid.uuid4()}", "enable.auto.commit": False,
         "isolation.level": "read_committed", "enable.partition.eof": True}
    )  # fmt: skip
    consumer.assign([TopicPartition(topic, p, 0) for p in range(_PARTITIONS)])
    count, deadline = 0, time.monotonic() + 120
    ended: set[int] = set()
    try:
        while len(ended) < _PARTITIONS and time.monotonic() < deadline:
            for message in consumer.consume(5000, 1.0):
                error = message.error()
                if error is None:
                    count += 1
                elif error.code() == KafkaError._PARTITION_EOF and (partition := message.partition()) is not None:
                    ended.add(partition)
        return count
    finally:
        consumer.close()


def _waiting(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608


def _one_run(args: argparse.Namespace, client: dict[str, Any], engine: Engine, table: str, prefix: str) -> Report:
    topic = TopicNames(prefix).outbox_event("order")
    base_topic = topic + ".baseline"
    before, base_before = _committed(client, topic), _committed(client, base_topic)
    _fill(engine, table, args)
    rate, batches = _relay(client, engine, table, prefix, args.batch)
    left = _waiting(engine, table)
    _fill(engine, table, args)
    base_rate, base_batches = asyncio.run(_skip_locked(client, engine, table, base_topic, args.batch))
    left += _waiting(engine, table)
    missing = (
        args.rows - (_committed(client, topic) - before) + args.rows - (_committed(client, base_topic) - base_before)
    )
    ours, base = Latency.of(batches), Latency.of(base_batches)
    return {
        "throughput_per_s": rate,
        "p50_ms": ours.p50_ms,
        "p99_ms": ours.p99_ms,
        "lost": left + max(0, missing),
        "baseline_throughput_per_s": base_rate,
        "baseline_p50_ms": base.p50_ms,
        "baseline_p99_ms": base.p99_ms,
        "ratio": ratio(rate, base_rate),
    }


def run(args: argparse.Namespace) -> int:
    if min(args.rows, args.batch, args.aggregates) < 1:
        raise BenchError("--rows, --batch and --aggregates must be at least 1")
    settings = Settings()
    client = librdkafka_client(settings)
    admin = AdminClient(client)
    tag = secrets.token_hex(4)
    prefix, schema = f"bench.outbox.{tag}.", f"bench_outbox_{tag}"
    topic = TopicNames(prefix).outbox_event("order")
    for future in admin.create_topics([NewTopic(t, _PARTITIONS, 1) for t in (topic, topic + ".baseline")]).values():
        future.result(30)
    engine = _bench_engine(settings)
    table = f"{schema}.outbox"
    try:
        with engine.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
            connection.execute(text(ddl(table)))
        reports = [_one_run(args, client, engine, table, prefix) for _ in range(args.runs)]
    finally:
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()
        mine = [name for name in admin.list_topics(timeout=10).topics if name.startswith(prefix)]
        for future in admin.delete_topics(mine, operation_timeout=30).values():
            future.result(60)
    report = {"scenario": "outbox", "rows": args.rows, "batch": args.batch, **median_report(reports)}
    report["lost"] = sum(r["lost"] for r in reports)
    console.print(
        baseline_table(
            "outbox relay (Kafka transactions) vs a plain SKIP LOCKED loop",
            report,
            ours="relay",
            baseline="SKIP LOCKED loop",
            unit="rows",
            round_="batch",
        )
    )
    print(json_line(report))
    return 0 if report["lost"] == 0 else 1
