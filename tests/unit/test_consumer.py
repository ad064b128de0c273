"""The workers' consumer fetches in batches and commits only offsets agents acknowledged, one
after the other from the committed offset: never over a record Faust dropped."""

import asyncio
from types import SimpleNamespace

import pytest
from aiokafka.structs import TopicPartition  # type: ignore[import-untyped]
from faust.types import TP

from agents.runtime.consumer import FetchBatching, commit_point, long_poll_when_idle
from agents.worker_app import fetch_batching
from infra.cli.wiring import worker_app
from infra.core.settings import Settings

LANE = TP("crmbus.events", 0)


def test_the_workers_kafka_consumer_asks_the_broker_to_gather_the_configured_fetch(tmp_path):
    settings = Settings(worker_fetch_min_bytes=1234, worker_fetch_max_wait_ms=77, state_dir=tmp_path)

    async def built() -> tuple[int, int]:
        thread = worker_app(settings).consumer._thread  # Faust's consumer thread, not started
        consumer = thread._create_worker_consumer(thread.transport)  # what its start() would open
        try:
            return consumer._fetch_min_bytes, consumer._fetch_max_wait_ms
        finally:
            await consumer.stop()
            thread.thread_loop.close()

    assert asyncio.run(built()) == (1234, 77)


def test_a_held_partition_resumed_by_a_messages_own_partition_object_leaves_faust_able_to_fetch(tmp_path):
    consumer = worker_app(Settings(state_dir=tmp_path)).consumer
    consumer._active_partitions = set()
    held, buffered = TP("crmbus.retry.30s", 1), TP("crmbus.retry.30s", 2)
    consumer.pause_partitions([held])
    consumer.on_buffer_full(buffered)

    # A message's tp is aiokafka's TopicPartition: equal to Faust's TP, but not one.
    consumer.resume_partitions([TopicPartition(held.topic, held.partition)])
    consumer.on_buffer_drop(TopicPartition(buffered.topic, buffered.partition))

    active = consumer._get_active_partitions()  # Faust asserts every active partition is a TP
    assert active == {held, buffered}
    assert all(type(tp) is TP for tp in active)


@pytest.mark.parametrize(
    ("roles", "expected_wait_ms"),
    [
        (("router", "scheduler", "sinks", "retry", "archive"), 20),
        (("sinks",), 20),
        (("router", "scheduler"), 20),
        (("retry", "archive"), 500),
        (("scheduler",), 500),
    ],
)
def test_only_a_process_without_routing_or_delivery_lets_the_broker_gather_as_long_as_its_batches(
    tmp_path, roles, expected_wait_ms
):
    settings = Settings(
        worker_roles=roles,
        worker_fetch_max_wait_ms=20,
        worker_background_batch_wait_s=0.5,
        worker_fetch_min_bytes=4096,
        worker_idle_fetch_wait_ms=700,
        state_dir=tmp_path,
    )

    assert fetch_batching(settings) == FetchBatching(4096, expected_wait_ms, 700)


@pytest.mark.parametrize(("min_bytes", "max_wait_ms", "idle_wait_ms"), [(0, 50, 0), (1, -1, 0), (1, 50, -1)])
def test_fetch_batching_refuses_values_kafka_would_not_take(min_bytes, max_wait_ms, idle_wait_ms):
    with pytest.raises(ValueError, match="fetch batching"):
        FetchBatching(min_bytes, max_wait_ms, idle_wait_ms)


def test_a_fetch_that_brought_nothing_is_followed_by_a_long_poll_answered_at_the_first_record():
    batching = FetchBatching(65_536, 20, 500)

    assert batching.next_fetch(brought_records=False) == (1, 500)
    assert batching.next_fetch(brought_records=True) == (65_536, 20)


@pytest.mark.parametrize("idle_wait_ms", [0, 20, 10])
def test_no_long_poll_when_it_would_not_wait_longer_than_the_batching(idle_wait_ms):
    batching = FetchBatching(65_536, 20, idle_wait_ms)

    assert not batching.polls_when_idle
    assert batching.next_fetch(brought_records=False) == (65_536, 20)


def test_the_fetcher_sizes_each_fetch_by_what_the_one_before_brought():
    class Fetcher:  # the two fields and the method of aiokafka's Fetcher that the long poll uses
        def __init__(self):
            self._fetch_min_bytes, self._fetch_max_wait_ms = 65_536, 20
            self.answers = [False, True]

        async def _proc_fetch_request(self, assignment, node_id, request):
            return self.answers.pop(0)

    fetcher = Fetcher()
    long_poll_when_idle(fetcher, FetchBatching(65_536, 20, 500))
    sizes = []
    for _ in range(2):
        assert asyncio.run(fetcher._proc_fetch_request(None, 0, None)) in (True, False)
        sizes.append((fetcher._fetch_min_bytes, fetcher._fetch_max_wait_ms))

    assert sizes == [(1, 500), (65_536, 20)]


@pytest.mark.parametrize(
    ("acked", "committed", "expected"),
    [
        ([10, 11, 12], 10, 13),
        ([11, 12, 13], 10, 10),  # the record at 10 was never acknowledged (faust-streaming#606)
        ([10, 11, 40, 41], 10, 12),  # a jump is a dropped record, not a gap to skip
        ([], 10, 10),
        ([7, 8, 10, 11], 10, 12),  # offsets below the committed one were read again
    ],
)
def test_the_commit_point_moves_only_over_acknowledged_offsets_without_a_hole(acked, committed, expected):
    assert commit_point(acked, committed) == expected


@pytest.fixture
def consumer(tmp_path):
    """The consumer a worker builds, not started: its acknowledgement bookkeeping is Faust's own."""
    consumer = worker_app(Settings(state_dir=tmp_path)).consumer
    yield consumer
    consumer._thread.thread_loop.close()


def _acknowledge(consumer, *offsets: int) -> None:
    for offset in offsets:
        consumer._acked[LANE].append(offset)
        consumer._acked_index[LANE].add(offset)


def _commit(consumer) -> int | None:
    """What Faust's commit does, short of the broker: pick the offsets and take them as committed."""
    offsets = consumer._filter_committable_offsets([LANE])
    consumer._committed_offset.update(offsets)
    return offsets.get(LANE)


def test_a_jump_faust_reports_as_a_gap_is_not_committed_over(consumer):
    consumer._committed_offset[LANE] = 201
    _acknowledge(consumer, 201)
    asyncio.run(consumer._add_gap(LANE, 202, 1006))  # what Faust calls when it dropped 202..1006
    _acknowledge(consumer, 1007, 1008)
    assert _commit(consumer) == 202
    assert _commit(consumer) is None
    assert consumer.head_hole(LANE) == 202
    _acknowledge(consumer, *range(202, 1007))  # the dropped records, read again and handled
    assert _commit(consumer) == 1009
    assert consumer.head_hole(LANE) is None and consumer._acked[LANE] == []


def test_nothing_is_committed_before_the_partition_has_a_base(consumer):
    _acknowledge(consumer, 5, 6)
    assert _commit(consumer) is None
    consumer._committed_offset[LANE] = 0  # settled: the partition's earliest offset
    assert _commit(consumer) is None and consumer.head_hole(LANE) == 0
    consumer._committed_offset[LANE] = 5  # retention removed 0..4
    assert _commit(consumer) == 7


def test_bases_come_from_the_earliest_offset_where_nothing_was_committed_or_retention_passed_it(consumer, monkeypatch):
    fresh, trimmed, steady = LANE, TP("crmbus.events", 1), TP("crmbus.events", 2)
    monkeypatch.setattr(consumer, "assignment", lambda: {fresh, trimmed, steady})
    asked: list[set[TP]] = []

    async def earliest_offsets(*partitions: TP) -> dict[TP, int]:
        asked.append(set(partitions))
        return {tp: 100 for tp in partitions}

    monkeypatch.setattr(consumer, "earliest_offsets", earliest_offsets)
    monkeypatch.setattr(consumer.app.topics, "acks_enabled_for", lambda topic: True)
    consumer._committed_offset[trimmed] = 0  # records 0..99 removed by retention, 150 handled since
    consumer._acked[trimmed].append(150)
    consumer._committed_offset[steady] = 120
    asyncio.run(consumer.settle_commit_bases())
    assert asked == [{fresh, trimmed}]
    assert [consumer._committed_offset[tp] for tp in (fresh, trimmed, steady)] == [100, 100, 120]


class _Fetches:
    """Stands in for Faust's ``getmany``: one fetch per call, then the fetcher stops. Like Faust's,
    it yields nothing more of a fetch once the flow is stopped."""

    def __init__(self, consumer, *fetches: list[int]) -> None:
        self.consumer = consumer
        self.fetches = list(fetches)
        self.fetcher = SimpleNamespace(_stopped=asyncio.Event())

    async def getmany(self, timeout: float):
        offsets = self.fetches.pop(0)
        if not self.fetches:
            self.fetcher._stopped.set()
        for offset in offsets:
            if not self.consumer.flow_active:
                return
            yield LANE, SimpleNamespace(offset=offset)


def _drain(tmp_path, fetches: list[list[int]], callback_for) -> dict[TP, int | None]:
    """Run the worker consumer's fetch loop over ``fetches``, handing each record to the callback
    ``callback_for(consumer)`` makes; returns the read offsets it leaves."""

    async def drain() -> dict[TP, int | None]:
        consumer = worker_app(Settings(state_dir=tmp_path)).consumer  # built in the loop its tasks run on
        try:
            source = _Fetches(consumer, *fetches)
            consumer.getmany = source.getmany
            consumer.callback = callback_for(consumer)
            await consumer._drain_messages(source.fetcher)
            return dict(consumer._read_offset)
        finally:
            consumer._thread.thread_loop.close()

    return asyncio.run(drain())


def test_every_fetched_record_reaches_the_agents_in_order_except_those_below_the_read_offset(tmp_path):
    handed: list[int] = []

    def callback_for(consumer):
        async def callback(message) -> None:
            handed.append(message.offset)

        return callback

    read = _drain(tmp_path, [[0, 1, 2], [3, 4], [2, 5]], callback_for)  # 2 again: fetched twice around a seek
    assert handed == [0, 1, 2, 3, 4, 5]
    assert read[LANE] == 5


def test_a_suspended_flow_abandons_the_record_in_hand_marks_it_read_and_hands_over_no_more_of_its_fetch(tmp_path):
    handed: list[int] = []
    abandoned: list[int] = []

    def callback_for(consumer):
        async def callback(message) -> None:
            if message.offset == 1:  # a full stream buffer while a rebalance begins
                consumer.stop_flow()
                try:
                    await asyncio.Event().wait()
                except asyncio.CancelledError:
                    abandoned.append(message.offset)
                    consumer.resume_flow()  # the rebalance over
                    raise
            handed.append(message.offset)

        return callback

    read = _drain(tmp_path, [[0, 1, 2, 3], [4]], callback_for)
    assert abandoned == [1]
    assert handed == [0, 4]
    assert read[LANE] == 4


def test_a_workers_health_and_metrics_listen_on_loopback_unless_told_otherwise(tmp_path):
    assert worker_app(Settings(state_dir=tmp_path)).conf.web_bind == "127.0.0.1"
    assert worker_app(Settings(state_dir=tmp_path, worker_web_host="0.0.0.0")).conf.web_bind == "0.0.0.0"
