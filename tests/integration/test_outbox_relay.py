"""The transactional outbox relay as a real `crmbus outbox relay` process: eight writers commit
and roll back outbox rows of several aggregates at once, the relay is killed with SIGKILL five times
mid-run, and what ``read_committed`` consumers read back is every committed row once, in each
aggregate's order, and no rolled-back row. A second relay of the same table waits, and takes over
once the first is killed."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import NewTopic
from sqlalchemy import Engine, create_engine, text

from infra.db.outbox import ddl
from streams.deadlines import wait_until
from tests.integration.worker_harness import CRMBUS

pytestmark = pytest.mark.integration

_WRITERS = 8
_TRANSACTIONS = 150  # per writer
_AGGREGATES = {"order": [f"o-{n}" for n in range(4)], "invoice": [f"i-{n}" for n in range(3)]}
_PARTITIONS = 3


class Relay:
    """`crmbus outbox relay` in its own session, its output in a log file."""

    def __init__(self, env: dict[str, str], url: str, table: str, log_path: Path) -> None:
        self._args = [CRMBUS, "outbox", "relay", "--database-url", url, "--table", table, "--batch", "20"]
        self._env, self._log_path = env, log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._runs_before = 0

    def start(self) -> None:
        self._runs_before = self._runs()
        with self._log_path.open("ab") as log:
            self.proc = subprocess.Popen(self._args, env=self._env, stdout=log, stderr=log, start_new_session=True)

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def running(self) -> bool:
        """Whether the process last started says it relays (its SIGTERM handler is in place)."""
        return self._runs() > self._runs_before

    def _runs(self) -> int:
        return self.log().count("outbox relay running") if self._log_path.exists() else 0

    def stop(self) -> int:
        assert self.proc is not None
        wait_until(self.running, 60, "the relay running")
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)

    def log(self) -> str:
        return self._log_path.read_text(errors="replace")


def _write(engine: Engine, table: str, seed: int, committed: list[dict[str, object]], lock: threading.Lock) -> None:
    """One writer: per transaction, lock an aggregate (as a producer's own write would), bump its
    version and write the outbox row in the same transaction; a quarter are rolled back."""
    rng = random.Random(seed)
    for _ in range(_TRANSACTIONS):
        kind = rng.choice(sorted(_AGGREGATES))
        aggregate = rng.choice(_AGGREGATES[kind])
        row_id = str(uuid.uuid4())
        with engine.connect() as connection:
            version = connection.execute(
                text(f"UPDATE {table}_aggregates SET version = version + 1 WHERE id = :id RETURNING version"),
                {"id": aggregate},
            ).scalar_one()
            connection.execute(
                text(
                    f"INSERT INTO {table} (id, aggregatetype, aggregateid, type, payload) "
                    "VALUES (:id, :kind, :aggregate, 'changed', CAST(:payload AS jsonb))"
                ),
                {"id": row_id, "kind": kind, "aggregate": aggregate, "payload": json.dumps({"version": version})},
            )
            if rng.random() < 0.25:
                connection.rollback()
                continue
            connection.commit()
        with lock:
            committed.append({"id": row_id, "aggregate": aggregate, "version": version})


def _read_all(bootstrap: str, topics: list[str]) -> list[dict[str, object]]:
    """Every committed record of ``topics``, read to their ends."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"outbox-test-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
        }
    )
    consumer.assign([TopicPartition(topic, p, 0) for topic in topics for p in range(_PARTITIONS)])
    ended: set[tuple[str, int]] = set()
    seen: list[dict[str, object]] = []

    def drained() -> bool:
        for message in consumer.consume(1000, 0.5):
            error = message.error()
            if error is not None:
                assert error.code() == KafkaError._PARTITION_EOF, error.str()
                ended.add((message.topic(), message.partition()))
                continue
            headers = dict(message.headers() or [])
            seen.append(
                {
                    "id": headers["id"].decode(),
                    "aggregate": message.key().decode(),
                    "version": json.loads(message.value()).get("version"),
                }
            )
        return len(ended) == len(topics) * _PARTITIONS

    try:
        wait_until(drained, 60, "the outbox topics read to their ends")
    finally:
        consumer.close()
    return seen


def test_every_committed_row_reaches_kafka_once_in_aggregate_order_across_kill_9(
    kafka_bootstrap, kafka_admin, database_url, unique, topic_prefix, tmp_path
):
    table = f"{unique}.outbox"
    engine = create_engine(database_url, pool_size=_WRITERS + 2)
    topics = [f"{topic_prefix}outbox.event.{kind}" for kind in sorted(_AGGREGATES)]
    for future in kafka_admin.create_topics([NewTopic(t, _PARTITIONS, 1) for t in topics]).values():
        future.result(30)
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{unique}"'))
        connection.execute(text(ddl(table)))
        connection.execute(text(f"CREATE TABLE {table}_aggregates (id text PRIMARY KEY, version int NOT NULL)"))
        for ids in _AGGREGATES.values():
            for aggregate in ids:
                connection.execute(text(f"INSERT INTO {table}_aggregates VALUES (:id, 0)"), {"id": aggregate})
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMBUS_")}
    env.update(
        CRMBUS_KAFKA_BOOTSTRAP=kafka_bootstrap, CRMBUS_DATABASE_URL=database_url, CRMBUS_TOPIC_PREFIX=topic_prefix
    )
    relay = Relay(env, database_url, table, tmp_path / "relay.log")
    committed: list[dict[str, object]] = []
    lock = threading.Lock()

    def relayed() -> int:
        assert relay.proc is not None
        assert relay.proc.poll() is None, f"the relay exited: {relay.log()}"
        with engine.connect() as connection:
            waiting = connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
        with lock:
            return len(committed) - waiting

    try:
        relay.start()
        writers = [
            threading.Thread(target=_write, args=(engine, table, seed, committed, lock)) for seed in range(_WRITERS)
        ]
        for writer in writers:
            writer.start()
        for at_least in (40, 120, 240, 360, 480):  # kill -9 while rows are being relayed, start anew
            wait_until(lambda n=at_least: relayed() >= n, 60, f"{at_least} rows relayed")
            relay.kill()
            relay.start()
        for writer in writers:
            writer.join(120)
        wait_until(lambda: relayed() == len(committed), 60, "the outbox emptied")
        assert relay.stop() == 0, relay.log()
        seen = _read_all(kafka_bootstrap, topics)
    finally:
        if relay.proc is not None and relay.proc.poll() is None:
            relay.kill()
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{unique}" CASCADE'))
        engine.dispose()

    assert len(committed) > _WRITERS * _TRANSACTIONS // 2
    assert sorted(r["id"] for r in seen) == sorted(r["id"] for r in committed)  # each once, none rolled back
    by_aggregate: dict[object, list[object]] = defaultdict(list)
    for record in seen:
        by_aggregate[record["aggregate"]].append(record["version"])
    expected: dict[object, int] = defaultdict(int)
    for row in committed:
        expected[row["aggregate"]] += 1
    assert {a: versions for a, versions in by_aggregate.items()} == {
        a: list(range(1, n + 1)) for a, n in expected.items()
    }


def test_a_second_relay_waits_and_takes_over_when_the_first_is_killed(
    kafka_bootstrap, kafka_admin, database_url, unique, topic_prefix, tmp_path
):
    table = f"{unique}.outbox"
    engine = create_engine(database_url, pool_size=2)
    topic = f"{topic_prefix}outbox.event.order"
    for future in kafka_admin.create_topics([NewTopic(topic, _PARTITIONS, 1)]).values():
        future.result(30)
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{unique}"'))
        connection.execute(text(ddl(table)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMBUS_")}
    env.update(
        CRMBUS_KAFKA_BOOTSTRAP=kafka_bootstrap, CRMBUS_DATABASE_URL=database_url, CRMBUS_TOPIC_PREFIX=topic_prefix
    )
    first = Relay(env, database_url, table, tmp_path / "first.log")
    second = Relay(env, database_url, table, tmp_path / "second.log")

    def insert_and_wait_until_relayed(rows: int) -> None:
        with engine.begin() as connection:
            for n in range(rows):
                connection.execute(
                    text(f"INSERT INTO {table} (id, aggregatetype, aggregateid, type, payload) "
                         "VALUES (:id, 'order', :a, 'changed', '{}')"),
                    {"id": str(uuid.uuid4()), "a": f"o-{n}"},
                )  # fmt: skip

        def empty() -> bool:
            with engine.connect() as connection:
                return connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0

        wait_until(empty, 60, "the outbox emptied")

    try:
        first.start()
        insert_and_wait_until_relayed(5)  # the first relay holds the table
        second.start()
        insert_and_wait_until_relayed(5)
        first.kill()
        insert_and_wait_until_relayed(5)  # only the second is left to relay these
        assert second.stop() == 0, second.log()
        seen = _read_all(kafka_bootstrap, [topic])
    finally:
        for relay in (first, second):
            if relay.proc is not None and relay.proc.poll() is None:
                relay.kill()
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{unique}" CASCADE'))
        engine.dispose()

    assert len(seen) == 15
    assert "relayed 5 rows" in second.log()
