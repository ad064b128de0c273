"""Run real `crmbus worker` processes against the session's Kafka and PostgreSQL, feed their lanes
and read what they write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from sqlalchemy.engine import Engine

from connectors.kafka.producer import producer_config
from infra.core.secret_box import SecretBox
from infra.core.settings import Settings
from infra.db.routes import Routes
from schemas.avro_schemas import CatalogueSchemaIds, load_schema
from schemas.codec import AvroCodec
from streams.envelope import Envelope
from streams.partitioning import Partitioning, record_key
from streams.routes import Route
from tests.builtin_types import example as type_example

CRMBUS = str(Path(sys.executable).with_name("crmbus"))
DESTINATIONS = (
    "crm", "financeiro", "zapi", "waha", "email", "marketing", "webhook", "sms_twilio", "sms_zenvia", "rest",
)  # fmt: skip
PARTITIONS = 6


SANDBOX = "http://127.0.0.1:18100"


def example(name: str, **changes: object) -> dict[str, object]:
    payload = type_example(name)
    payload.update(changes)
    return payload


@dataclass
class Bus:
    settings: Settings
    engine: Engine
    tenant: str
    lane: LaneWriter
    tmp: Path
    port: int

    secret_key: str

    def workers(self, processes: int = 1, **env: str) -> Workers:
        log = self.tmp / f"worker-{uuid.uuid4().hex[:6]}.log"
        env = {"CRMBUS_SECRET_KEY": self.secret_key, **env}
        return Workers(worker_env(self.settings, self.tmp / "state", self.port, **env), processes, log)

    def routes_of(self, event_type: str) -> list[Route]:
        """This tenant's enabled routes for ``event_type``, as workers load them."""
        loaded = Routes(self.engine, actor="test").load_enabled(self.tenant, event_type)
        return sorted(loaded, key=lambda route: route.id)

    def box(self) -> SecretBox:
        return SecretBox(self.secret_key.encode())

    def reader(self, *extra: str) -> TopicReader:
        return deliveries_reader(self.settings.kafka_bootstrap, self.settings.topic_prefix, extra)

    def topic(self, name: str) -> str:
        return self.settings.topic_prefix + name

    def group(self) -> str:
        return f"{self.settings.topic_prefix}crmbus-worker"


def by_destination(seen: list[Read], event_id: uuid.UUID) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for read in seen:
        if read.record is not None and read.record["event_id"] == event_id and ".deliver." in read.topic:
            found.setdefault(read.record["destination"], []).append(read.record)
    return found


def worker_env(settings: Settings, state_dir: Path, web_port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMBUS_")}
    env.update(
        CRMBUS_KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
        CRMBUS_DATABASE_URL=settings.database_url.get_secret_value(),
        CRMBUS_TOPIC_PREFIX=settings.topic_prefix,
        CRMBUS_STATE_DIR=str(state_dir),
        CRMBUS_WORKER_WEB_PORT=str(web_port),
        CRMBUS_ROUTES_POLL_S="0.5",
        CRMBUS_SCHEDULER_TICK_S="0.2",
        CRMBUS_WORKER_BATCH_WAIT_S="0.02",
        CRMBUS_LOG_LEVEL="warning",
    )
    env.update(extra)
    return env


@dataclass
class Workers:
    """``crmbus worker --processes N`` in its own session, its output in a log file."""

    env: dict[str, str]
    processes: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    _log: Any = None

    def start(self, timeout_s: float = 90) -> Workers:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [CRMBUS, "worker", "--processes", str(self.processes)],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        port = int(self.env["CRMBUS_WORKER_WEB_PORT"])
        deadline = time.monotonic() + timeout_s
        try:
            for index in range(self.processes):
                while not _healthy(port + index):
                    assert self.proc.poll() is None, f"worker exited with {self.proc.returncode}: {self.log()}"
                    assert time.monotonic() < deadline, f"worker not ready in {timeout_s} s: {self.log()}"
                    time.sleep(0.2)
        except BaseException:
            self.kill()  # never leave a half-started worker behind
            raise
        return self

    def stop(self) -> int | None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()
        return self._finish()

    def kill(self) -> int | None:
        """SIGKILL the whole process group: no shutdown code runs anywhere."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        return self._finish()

    def _finish(self) -> int | None:
        if self._log is not None:
            self._log.close()
            self._log = None
        return None if self.proc is None else self.proc.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def envelope_codec(topic: str) -> AvroCodec:
    return AvroCodec(load_schema("envelope.v1.avsc"), f"{topic}-value", CatalogueSchemaIds())


def delivery_codec(topic: str) -> AvroCodec:
    return AvroCodec(load_schema("delivery.v1.avsc"), f"{topic}-value", CatalogueSchemaIds())


def event(tenant: str, type_: str, payload: Mapping[str, Any], **fields: Any) -> Envelope:
    return Envelope(tenant_id=tenant, type=type_, source="api", payload=dict(payload), **fields)


class LaneWriter:
    """Writes envelopes (or raw bytes) to a lane as the ingress does: Avro, keyed as a tenant of
    ``partitioning`` is (by tenant unless told), acks=all."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self._codec = envelope_codec(topic)
        self._producer = Producer(producer_config({"bootstrap.servers": bootstrap}, delivery_timeout_s=10, linger_ms=5))

    def send(self, envelopes: Iterable[Envelope], partitioning: Partitioning = "tenant") -> None:
        for envelope in envelopes:
            key = record_key(envelope.tenant_id, envelope.ordering_key, partitioning)
            self._producer.produce(self.topic, self._codec.encode(envelope.to_record()), key)
            self._producer.poll(0)
        assert self._producer.flush(15) == 0

    def send_raw(self, key: bytes | None, value: bytes | None) -> None:
        self._producer.produce(self.topic, value, key)
        assert self._producer.flush(15) == 0


@dataclass
class Read:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None  # None: a tombstone
    headers: dict[str, str]
    timestamp_ms: int
    record: dict[str, Any] | None = None


@dataclass
class TopicReader:
    """Reads topics from their beginning, decoding Delivery records; keeps everything it saw."""

    bootstrap: str
    topics: list[str]
    decode: Callable[[str, bytes], dict[str, Any] | None] | None = None
    seen: list[Read] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._consumer = Consumer(
            {"bootstrap.servers": self.bootstrap, "group.id": f"reader-{uuid.uuid4()}", "enable.auto.commit": False}
        )
        self._consumer.assign([TopicPartition(t, p, 0) for t in self.topics for p in range(PARTITIONS)])

    def poll_until(self, done: Callable[[list[Read]], bool], timeout_s: float, what: str) -> list[Read]:
        deadline = time.monotonic() + timeout_s
        while not done(self.seen):
            assert time.monotonic() < deadline, f"timed out waiting for {what}; saw {len(self.seen)} records"
            for message in self._consumer.consume(1000, timeout=0.2):
                if message.error() is not None:
                    continue
                value = message.value()
                headers = {k: (v or b"").decode() for k, v in (message.headers() or [])}
                record = self.decode(message.topic(), value) if self.decode and value is not None else None
                self.seen.append(
                    Read(
                        message.topic(),
                        message.partition(),
                        message.offset(),
                        message.key(),
                        value,
                        headers,
                        message.timestamp()[1],
                        record,
                    )
                )
        return self.seen

    def close(self) -> None:
        self._consumer.close()


def deliveries_reader(bootstrap: str, prefix: str, extra: Iterable[str] = ()) -> TopicReader:
    topics = [f"{prefix}crmbus.deliver.{d}" for d in DESTINATIONS] + list(extra)

    def decode(topic: str, value: bytes) -> dict[str, Any] | None:
        if ".deliver." in topic or topic.endswith("crmbus.scheduled"):
            return delivery_codec(topic).decode(value)
        return None

    return TopicReader(bootstrap, topics, decode)


def committed(bootstrap: str, group: str, topic: str) -> int:
    """Offsets the group committed on ``topic``, summed over partitions."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=10)
        return sum(max(tp.offset, 0) for tp in found)
    finally:
        consumer.close()


def utcnow() -> datetime:
    return datetime.now(UTC)
