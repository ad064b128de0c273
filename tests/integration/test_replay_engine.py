"""The replay engine against the real Kafka and PostgreSQL (no workers): what it sends back, what
it marks, and that it remembers, resumes and is audited."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.kafka.producer import AsyncProducer, producer_config
from infra.control.replay import Replayer
from infra.db.dead_letters import DeadLetters
from infra.db.delivery_log import DeliveryLog
from infra.db.models import AuditLog
from streams.dead_letter import REPLAY, ROUTE_ID
from streams.deadlines import wait_until
from streams.errors import NotFoundError, NothingToReplayError, ReplayRunningError
from streams.replay_filter import ReplayFilter
from tests.integration.worker_harness import CRMBUS, Bus, TopicReader

AT = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


def archive(bus: Bus, count: int, tenant: str | None = None, start: int = 0, destination: str = "crm") -> None:
    topic = bus.topic(f"crmbus.deliver.{destination}")
    tenant = tenant or bus.tenant
    rows = [
        {
            "tenant_id": tenant,
            "destination": destination,
            "delivery_id": f"d-{n}",
            "event_id": uuid.uuid4(),
            "original_topic": topic,
            "original_partition": 0,
            "original_offset": n,
            "error_class": "PermanentDeliveryError",
            "error_message": "400",
            "status_code": 400,
            "attempts": 1,
            "first_failure_at": AT,
            "last_failure_at": AT,
            "key": tenant.encode(),
            "value": f"delivery {n}".encode(),
            "headers": {ROUTE_ID: f"route-{n}"},
        }
        for n in range(start, start + count)
    ]
    DeliveryLog(bus.engine, bus.box()).record([], rows)


def replay(bus: Bus, act, page: int = 500, wrap=lambda producer: producer):
    async def run():
        config = producer_config({"bootstrap.servers": bus.settings.kafka_bootstrap}, 30, 5)
        async with AsyncProducer(config) as producer:
            return await act(Replayer(DeadLetters(bus.engine, box=bus.box()), wrap(producer), "key:op-1", page=page))

    return asyncio.run(run())


def sent_back(bus: Bus, expected: int) -> TopicReader:
    reader = TopicReader(bus.settings.kafka_bootstrap, [bus.topic("crmbus.deliver.crm")])
    reader.poll_until(lambda seen: len(seen) >= expected, 30, f"{expected} replayed records")
    return reader


@pytest.fixture
def engine_bus(bus: Bus) -> Bus:
    archive(bus, 12)
    archive(bus, 3, tenant="other", start=100)
    return bus


def test_a_replay_sends_each_open_letter_back_unchanged_and_marks_it(engine_bus):
    run = replay(engine_bus, lambda r: r.start(engine_bus.tenant, ReplayFilter(destination="crm")))
    assert (run.state, run.selected, run.sent) == ("done", 12, 12)
    reader = sent_back(engine_bus, 12)
    try:
        got = sorted(reader.seen, key=lambda read: int(read.value.split()[1]))
    finally:
        reader.close()
    assert [(r.key, r.value) for r in got][:2] == [
        (engine_bus.tenant.encode(), b"delivery 0"),
        (engine_bus.tenant.encode(), b"delivery 1"),
    ]
    assert {r.headers[REPLAY] for r in got} == {str(run.id)}
    assert got[5].headers[ROUTE_ID] == "route-5"
    letters = DeadLetters(engine_bus.engine, box=engine_bus.box())
    assert {(v.status, v.replay_id) for v in letters.list(engine_bus.tenant, ReplayFilter())} == {("replayed", run.id)}
    assert letters.count("other", ReplayFilter(status="open")) == 3  # another tenant's letters stay


def test_a_second_replay_of_the_same_selection_sends_nothing(engine_bus):
    replay(engine_bus, lambda r: r.start(engine_bus.tenant, ReplayFilter()))
    again = replay(engine_bus, lambda r: r.start(engine_bus.tenant, ReplayFilter()))
    assert (again.state, again.selected, again.sent) == ("done", 0, 0)
    preview = replay(engine_bus, lambda r: r.preview(engine_bus.tenant, ReplayFilter()))
    assert (preview.count, preview.sample) == (0, [])


def test_a_preview_counts_and_samples_and_writes_nothing(engine_bus):
    preview = replay(engine_bus, lambda r: r.preview(None, ReplayFilter()))
    assert preview.count == 15 and len(preview.sample) == 5
    assert DeadLetters(engine_bus.engine).open_count() == 15


def test_a_stopped_replay_is_interrupted_between_pages_and_resumed_sends_only_the_rest(engine_bus):
    stop = threading.Event()

    class StopAfterFirstPage:
        """The producer, setting ``stop`` once it sent a page: the run stops before the next."""

        def __init__(self, producer):
            self.producer = producer

        async def send_many(self, records):
            errors = await self.producer.send_many(records)
            stop.set()
            return errors

    async def act(replayer: Replayer):
        return await replayer.start(engine_bus.tenant, ReplayFilter(), stop=stop)

    stopped = replay(engine_bus, act, page=5, wrap=StopAfterFirstPage)
    assert (stopped.state, stopped.selected, stopped.sent) == ("interrupted", 12, 5)
    archive(engine_bus, 2, start=50)  # dead-lettered after the replay started: not its business
    resumed = replay(engine_bus, lambda r: r.resume(stopped.id), page=5)
    assert (resumed.id, resumed.state, resumed.sent) == (stopped.id, "done", 12)
    reader = sent_back(engine_bus, 12)
    try:
        values = [r.value for r in reader.seen]
    finally:
        reader.close()
    assert len(values) == len(set(values)) == 12
    assert DeadLetters(engine_bus.engine).count(engine_bus.tenant, ReplayFilter(status="open")) == 2


def test_another_tenants_replay_cannot_be_resumed(engine_bus):
    run = replay(engine_bus, lambda r: r.start("other", ReplayFilter()))
    with pytest.raises(NotFoundError):
        replay(engine_bus, lambda r: r.resume(run.id, tenant_id=engine_bus.tenant))


def test_a_retry_replays_the_dead_lettered_ones_of_the_deliveries_named(engine_bus):
    run = replay(engine_bus, lambda r: r.retry(engine_bus.tenant, ["d-3", "d-4", "never-failed"]))
    assert (run.state, run.sent) == ("done", 2)
    with pytest.raises(NothingToReplayError):
        replay(engine_bus, lambda r: r.retry(engine_bus.tenant, ["d-3", "never-failed"]))
    with pytest.raises(NothingToReplayError):
        replay(engine_bus, lambda r: r.retry(engine_bus.tenant, ["d-100"]))  # another tenant's


def test_every_run_is_audited_with_its_actor(engine_bus):
    run = replay(engine_bus, lambda r: r.start(engine_bus.tenant, ReplayFilter(destination="crm")))
    replay(engine_bus, lambda r: r.retry(None, ["d-100"]))
    with Session(engine_bus.engine) as session:
        rows = session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
    mine = [(r.actor, r.action, r.tenant_id) for r in rows if r.target_type == "replay"]
    assert mine == [("key:op-1", "dlq.replay", engine_bus.tenant), ("key:op-1", "deliveries.retry", None)]
    assert rows[-2].target_id == str(run.id) and rows[-2].details["destination"] == "crm"


def cli(bus: Bus, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMBUS_")}
    env.update(
        CRMBUS_KAFKA_BOOTSTRAP=bus.settings.kafka_bootstrap, CRMBUS_TOPIC_PREFIX=bus.settings.topic_prefix,
        CRMBUS_DATABASE_URL=bus.settings.database_url.get_secret_value(), CRMBUS_SECRET_KEY=bus.secret_key,
        COLUMNS="200",
    )  # fmt: skip
    return subprocess.run([CRMBUS, "dlq", *args], env=env, capture_output=True, text=True, timeout=120)


def test_the_cli_lists_a_page_of_letters_and_discards_with_a_reason(engine_bus):
    listed = cli(engine_bus, "list", "--tenant", engine_bus.tenant, "--limit", "10")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 11 and lines[-1].startswith("more: --after ")
    first = lines[0].split()
    assert first[1:5] == [engine_bus.tenant, "crm", "PermanentDeliveryError", "open"]
    discarded = cli(engine_bus, "discard", first[0], "--reason", "a test lead")
    assert discarded.returncode == 0 and "discarded 1 of 1" in discarded.stdout
    assert DeadLetters(engine_bus.engine, box=engine_bus.box()).get(None, int(first[0])).discard_reason == "a test lead"
    refused = cli(engine_bus, "discard", first[0], "--reason", "x", "--tenant", "other")
    assert refused.returncode == 1 and "NotFoundError" in refused.stderr


def test_a_replay_only_ever_sends_open_letters_whatever_status_it_is_given(engine_bus):
    preview = replay(engine_bus, lambda r: r.preview(engine_bus.tenant, ReplayFilter(status="replayed")))
    run = replay(engine_bus, lambda r: r.start(engine_bus.tenant, ReplayFilter(status="replayed")))
    assert preview.count == run.selected == run.sent == 12


def test_a_replay_left_running_is_resumed_only_once_its_heartbeat_is_older_than_the_lease(engine_bus):
    letters = DeadLetters(engine_bus.engine, lease=timedelta(seconds=1), box=engine_bus.box())
    # Running, its heartbeat now: what a run killed with SIGKILL leaves behind, or one still going.
    run = letters.create_replay(engine_bus.tenant, ReplayFilter(), action="dlq.replay")
    with pytest.raises(ReplayRunningError, match="is running"):
        letters.resume_replay(run.id)

    def resumed() -> bool:
        try:
            return letters.resume_replay(run.id).state == "running"
        except ReplayRunningError:
            return False

    wait_until(resumed, 10, "the lease of the run left behind to lapse")
    with pytest.raises(ReplayRunningError):
        letters.resume_replay(run.id)  # the resume's own run holds it now
