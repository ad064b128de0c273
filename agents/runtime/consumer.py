"""The workers' Kafka consumer: Faust's aiokafka driver, with fetch batching and strict commits.

**Fetch batching.** faust-streaming creates aiokafka's consumer with ``fetch_min_bytes=1`` (fixed
in its driver), so the broker answers a fetch as soon as one record waits. Below saturation each
hop then fetches a handful of records at a time, and every fetch is a request over every
assigned partition (a sink process holds 42), encoded and decoded in pure Python by aiokafka and
served by the broker: at 100 events/s that cost more CPU than the routing itself. Asking for at
least ``CRMBUS_WORKER_FETCH_MIN_BYTES``, waited for at most ``CRMBUS_WORKER_FETCH_MAX_WAIT_MS``,
trades up to that wait of latency per hop at low rates for far fewer fetches; under load the
bytes are there at once and nothing waits. Measured with ``python -m bench run e2e`` (docs/performance.md).
A fetch that brought nothing is followed by a long poll (``CRMBUS_WORKER_IDLE_FETCH_WAIT_MS``,
at least one byte): the broker holds it until a record arrives, so an idle worker fetches twice a
second instead of fifty times, and the first record after a quiet spell is answered at once
rather than after the batching wait; the fetch after a record batches again. Measured with
``python -m bench run idle``.

**Strict commits.** Faust commits, per partition, the run of acknowledged offsets that follows
the committed one, with two exceptions that lose records:

- a jump in the offsets it hands to agents is taken as a gap (compaction, transaction markers)
  and counted as acknowledged (``Consumer._add_gap``). But Faust also makes such jumps itself when
  it drops records it fetched (see ``agents.runtime.stall_guard``): measured here, a sink's partition
  went from offset 201 to 1007 and Faust counted the 805 records between as done;
- a single unacknowledged record at the head is committed over (faust-streaming#606: the check
  is ``min(acked) - committed > 1``).

The stall guard reads dropped records again, but a commit made before that, followed by a crash,
loses them for good: the ``kill -9`` specification caught it. Here a commit only ever moves over
offsets an agent acknowledged, one after the other from the committed offset; a record that is
missing holds the commit until it is read again. crmbus's agents read no compacted topic and no
transactional producer writes to crmbus's topics, so on them a jump in offsets is always a
dropped record, never a gap. Were it one, commits on that partition would stay put (the lag
would show it) and a restart would read the rest again: a delay, never a loss.

**One guarded hand-over per fetch.** Faust hands each fetched record to the agents' streams inside
``Service.wait_first``, so that a hand-over blocked while the flow is suspended (a rebalance) or
the service stops is abandoned: four tasks and an ``asyncio.wait`` per record, about a tenth of a
sink's CPU under load (py-spy under ``bench run deliver``). Here one guarded task hands over a
whole fetch, record after record, with the checks Faust makes per record; a suspended flow
abandons it at the record in hand, which is marked read as Faust marks it, and the rest of the
fetch is not handed over, as Faust's ``getmany`` yields nothing more once the flow is stopped: the
same records are dropped, left to the stall guard. Faust's drop of records below the read offset
(re-fetched after a seek) is kept. Measured by ``python -m bench run drain``.

A partition with no committed offset yet has nothing to count from: its first commit waits until
``settle_commit_bases`` (called by the stall guard's timer) sets its base to the partition's
earliest offset, where a new consumer group starts reading. The same call moves a base that
retention left behind the partition's start, where the records are gone anyway.
"""

from __future__ import annotations

import asyncio
import logging
from bisect import bisect_left
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import faust
from aiokafka.errors import KafkaError  # type: ignore[import-untyped]
from faust.transport.consumer import CONSUMER_FETCHING, ensure_TPset
from faust.transport.drivers import aiokafka as driver
from faust.types import TP, Message, TransportT
from mode import Service, ServiceT


@dataclass(frozen=True, slots=True)
class FetchBatching:
    """What a fetch asks the broker for: at least ``min_bytes``, waiting at most ``max_wait_ms``;
    after a fetch that brought nothing, a long poll of up to ``idle_wait_ms`` that the broker
    answers at the first record (0: none)."""

    min_bytes: int
    max_wait_ms: int
    idle_wait_ms: int = 0

    def __post_init__(self) -> None:
        if self.min_bytes < 1 or self.max_wait_ms < 0 or self.idle_wait_ms < 0:
            raise ValueError("fetch batching needs min_bytes >= 1, max_wait_ms >= 0 and idle_wait_ms >= 0")

    @property
    def polls_when_idle(self) -> bool:
        return self.idle_wait_ms > self.max_wait_ms

    def next_fetch(self, brought_records: bool) -> tuple[int, int]:
        """``(min_bytes, max_wait_ms)`` of the fetch after one that did or did not bring records."""
        if brought_records or not self.polls_when_idle:
            return self.min_bytes, self.max_wait_ms
        return 1, self.idle_wait_ms


def long_poll_when_idle(fetcher: Any, batching: FetchBatching) -> None:
    """Make aiokafka's ``fetcher`` size each fetch by whether the one before brought records."""
    fetch = fetcher._proc_fetch_request

    async def fetch_then_size_the_next(assignment: Any, node_id: int, request: Any) -> bool:
        brought_records = bool(await fetch(assignment, node_id, request))
        fetcher._fetch_min_bytes, fetcher._fetch_max_wait_ms = batching.next_fetch(brought_records)
        return brought_records

    fetcher._proc_fetch_request = fetch_then_size_the_next


def commit_point(acked: Sequence[int], committed: int) -> int:
    """The offset to commit: ``committed`` moved past each offset of ``acked`` (sorted) that
    continues it, stopping at the first one missing."""
    next_offset = committed
    for offset in acked:
        if offset > next_offset:
            break
        if offset == next_offset:
            next_offset += 1
    return next_offset


_YIELD_EVERY = 100

# Loggers under faust.*, which the workers quiet: mode would name them after this module.
_LOGGER = logging.getLogger("faust.transport.crmbus_consumer")
log = logging.getLogger(__name__)


class _ConsumerThread(driver.AIOKafkaConsumerThread):
    logger = _LOGGER

    def _create_worker_consumer(self, transport: driver.Transport) -> Any:  # aiokafka.AIOKafkaConsumer
        consumer = super()._create_worker_consumer(transport)
        batching = getattr(self.app, "fetch_batching", None)
        if isinstance(batching, FetchBatching):
            # Read by aiokafka when start() builds its Fetcher; there is no public setter.
            consumer._fetch_min_bytes = batching.min_bytes
            consumer._fetch_max_wait_ms = batching.max_wait_ms
        return consumer

    async def on_start(self) -> None:
        await super().on_start()  # builds and starts aiokafka's consumer, and with it its Fetcher
        batching = getattr(self.app, "fetch_batching", None)
        if isinstance(batching, FetchBatching) and batching.polls_when_idle and self._consumer is not None:
            long_poll_when_idle(self._consumer._fetcher, batching)

    async def on_thread_stop(self) -> None:
        """Leave the consumer group on a graceful stop, a static member too.

        aiokafka sends no LeaveGroup for a member with a ``group.instance.id`` (KIP-345: a
        rolling restart should not rebalance), so a worker stopped for good, or one of the
        processes dropped by a smaller ``CRMBUS_WORKER_PROCESSES``, would hold its partitions
        until the session timeout. A stop that runs this code is never the crash that static
        membership is for, so the member leaves (a LeaveGroup by member id, which the broker
        takes from a static member as well) and the others take its partitions at once.

        The id is cleared only as the leave is sent, after the coordinator's last round, so that
        round (a rebalance can start while the consumer closes: another process of the same
        worker has just left) still joins and syncs as the static member it is."""
        coordinator = getattr(self._consumer, "_coordinator", None)
        if coordinator is not None:
            leave_as_static = coordinator._maybe_leave_group

            async def leave() -> None:
                if coordinator.generation > 0:
                    log.info("leaving consumer group %s", coordinator.group_id)
                else:  # refused mid-rebalance: aiokafka sends nothing
                    log.warning(
                        "stopping outside a generation of consumer group %s: no LeaveGroup; the others take "
                        "this process's partitions after the session timeout",
                        coordinator.group_id,
                    )
                coordinator._group_instance_id = None
                await leave_as_static()

            coordinator._maybe_leave_group = leave
        await super().on_thread_stop()


class StrictConsumer(driver.Consumer):
    """Faust's aiokafka consumer, committing only what agents acknowledged, without holes."""

    logger = _LOGGER

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.held: set[TP] = set()  # paused on purpose by an agent waiting for a record to fall due
        super().__init__(*args, **kwargs)

    def hold_partitions(self, tps: Iterable[TP]) -> None:
        """Pause ``tps`` while their agent waits with a record in hand (a retry tier until its
        delivery is due): no fetching, and no stall alarm (``verify_event_path``)."""
        held = ensure_TPset(tps)
        self.held.update(held)
        self.pause_partitions(held)

    def release_partitions(self, tps: Iterable[TP]) -> None:
        released = ensure_TPset(tps)
        self.held.difference_update(released)
        self.resume_partitions(released)

    def verify_event_path(self, now: float, tp: TP) -> None:
        """Faust's stall check, every 2.5 commit intervals for each partition, logs an error when a
        partition's stream has taken nothing or its commit has not moved for
        ``stream_processing_timeout`` / ``broker_commit_livelock_soft_timeout``. A partition an
        agent holds on purpose is exactly that, for as long as a retry tier's delay (up to 6 h):
        it is skipped. A real stall is the stall guard's (``agents.runtime.stall_guard``), which
        looks at every partition, held ones included."""
        if tp in self.held:
            log.debug("stall check skipped on %s[%d]: held until a record is due", tp.topic, tp.partition)
            return
        super().verify_event_path(now, tp)

    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def resume_partitions(self, tps: Iterable[TP]) -> None:
        """Faust adds ``tps`` to its active partitions as given, but a message's ``tp`` is aiokafka's
        TopicPartition, not Faust's TP, and the next fetch then fails Faust's assertion that every
        active partition is a TP, crashing the worker (it did, in the retry worker, when the stall
        guard resumed a partition the releaser held)."""
        super().resume_partitions(ensure_TPset(tps))

    def on_buffer_drop(self, tp: TP) -> None:
        super().on_buffer_drop(TP(tp.topic, tp.partition))

    async def _drain_messages(self, fetcher: ServiceT) -> None:
        """Faust's fetch loop, guarding each fetch's hand-over rather than each record's (see the module)."""
        consumer_stopped = cast(Service, self)._stopped.is_set
        fetcher_stopped = cast(Service, fetcher)._stopped.is_set
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                self.diag.set_flag(CONSUMER_FETCHING)
                await self.sleep(0)
                if not self.should_stop:
                    fetched = self.getmany(timeout=1.0)
                    first = await anext(fetched, None)  # the wait for records stays outside the guard
                    if first is not None:
                        in_hand: list[tuple[TP, int]] = []
                        await self.wait_first(self._hand_over(first, fetched, in_hand), self.suspend_flow.wait())
                        for tp, offset in in_hand:  # abandoned: Faust marks the record in hand read
                            self._read_offset[tp] = offset
                    await cast(Any, fetched).aclose()
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if not self.transport.app.should_stop:
                raise
            self.log.info("Broker stopped consumer, shutting down...")
        except asyncio.CancelledError:
            if not self.transport.app.should_stop:
                raise
            self.log.info("Consumer shutting down for user cancel.")
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    async def _hand_over(
        self,
        first: tuple[TP, Message],
        rest: AsyncIterator[tuple[TP, Message]],
        in_hand: list[tuple[TP, int]],
    ) -> None:
        """Give the agents' streams each record of a fetch that is not below its partition's read
        offset, keeping in ``in_hand`` the record being given while that waits."""
        callback, read_offset, commit_every = self.callback, self._read_offset, self._commit_every
        fetched: tuple[TP, Message] | None = first
        since_yield = 0
        while fetched is not None:
            tp, message = fetched
            since_yield += 1
            if since_yield > _YIELD_EVERY:  # as Faust does: let the loop breathe in a long fetch
                await asyncio.sleep(0)
                since_yield = 0
            offset = message.offset
            last_read = read_offset[tp]
            if last_read is None or offset >= last_read:
                if commit_every is not None and self._n_acked >= commit_every:
                    self._n_acked = 0
                    await self.commit()
                in_hand.append((tp, offset))
                await callback(message)
                in_hand.pop()
                read_offset[tp] = offset
            fetched = await anext(rest, None)

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        """Faust's hook for a jump in offsets: here it acknowledges nothing (see the module)."""

    def _new_offset(self, tp: TP) -> int | None:
        committed = self._committed_offset[tp]
        acked = self._acked[tp]
        if committed is None or not acked:
            return None
        acked.sort()
        new = commit_point(acked, committed)
        settled = bisect_left(acked, new)  # acked[:settled] are at or below the new commit
        self._acked_index[tp].difference_update(acked[:settled])
        del acked[:settled]
        return new if new > committed else None

    def head_hole(self, tp: TP) -> int | None:
        """The committed offset of ``tp`` if acknowledged records wait past a record there that
        was never acknowledged, else None."""
        committed = self._committed_offset.get(tp)
        if committed is None:
            return None
        waiting = min((offset for offset in self._acked.get(tp, ()) if offset >= committed), default=None)
        return committed if waiting is not None and waiting > committed else None

    async def settle_commit_bases(self) -> None:
        """Count commits from the partition's earliest offset where none was committed yet, or
        where retention removed the records the committed offset points at."""
        acking = self.app.topics.acks_enabled_for
        partitions = [tp for tp in self.assignment() if acking(tp.topic)]
        unsettled = [
            tp for tp in partitions if self._committed_offset.get(tp) is None or self.head_hole(tp) is not None
        ]
        if not unsettled:
            return
        try:
            earliest = await self.earliest_offsets(*unsettled)
        except (KafkaError, OSError) as exc:  # the broker away: no base, so no commit, until next time
            self.log.warning("could not read the earliest offsets: %s", type(exc).__name__)
            return
        assigned = self.assignment()  # again: a rebalance may have come while we waited
        for tp, offset in earliest.items():
            committed = self._committed_offset.get(tp)
            if tp in assigned and (committed is None or committed < offset):
                self._committed_offset[tp] = offset


class _Transport(driver.Transport):
    Consumer = StrictConsumer


class WorkerApp(faust.App):
    """A Faust app whose consumer fetches as ``fetch_batching`` says and commits strictly."""

    logger = _LOGGER

    def __init__(self, *args: Any, fetch_batching: FetchBatching, **kwargs: Any) -> None:
        self.fetch_batching = fetch_batching
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> TransportT:
        return _Transport(self.conf.broker_consumer, self)
