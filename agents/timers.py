"""The worker's background work: what runs on a timer beside the agents.

- ``release_due``: the scheduler's delayed actions that fell due (every ``scheduler_tick_s``);
- ``keep_routes_fresh``: routes and destinations reloaded from PostgreSQL when they change;
- ``sweep_dedupe``, ``sweep_finished``: idempotency keys and finished delivery ids past their
  TTL dropped from memory (a table in RocksDB expires them itself);
- ``checkpoint_tables``: each RocksDB table records the changelog offset it holds up to, so a
  restart reads only the changelog past it (every ``_CHECKPOINT_S``);
- ``archive_events``: accepted events into the event archive, from a consumer group of its own
  on the lanes (``agents.event_archive``);
- ``run_jobs``: the periodic jobs whose tick is due and unclaimed (``agents.jobs``);
- ``refresh_dlq_depth``: the DLQ depth gauge read again from PostgreSQL, which replays and
  discards change from outside the workers (every ``_DLQ_DEPTH_S``);
- ``refresh_health``: the destination probe and WhatsApp session gauges read again from
  PostgreSQL, where the probe job (run by any worker) and the session webhooks write them;
- ``unblock_stalls``: partitions whose fetched records Faust dropped, read again
  (``agents.runtime.stall_guard``; every ``worker_stall_check_s``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

import faust

from agents.archive import refresh_depth
from agents.fatal import or_exit
from agents.probes import refresh_gauges
from agents.runtime.consumer import StrictConsumer
from agents.runtime.offsets import committed_offsets, read_again
from agents.runtime.stall_guard import Reading, StallDetector

if TYPE_CHECKING:
    from agents.app import Wiring

_DEDUPE_SWEEP_S = 600.0
_CHECKPOINT_S = 5.0  # a restart reads at most about this long of the tables' changes again
_DLQ_DEPTH_S = 15.0


def add_timers(app: faust.App, wiring: Wiring) -> None:
    """The background work of the process's roles; call it once its agents are added (the stall
    guard watches their topics)."""
    settings = wiring.settings
    roles = settings.worker_roles

    async def release_due() -> None:
        if not wiring.ready:
            return
        scheduler = await wiring.the_scheduler()
        mine = {tp.partition for tp in app.consumer.assignment() if tp.topic == wiring.topics.scheduled}
        await or_exit(scheduler.release_due(mine))

    async def keep_routes_fresh() -> None:
        await wiring.routes.run()

    async def keep_types_fresh() -> None:
        await wiring.resources.types.run()

    async def sweep_dedupe() -> None:
        wiring.dedupe.sweep()

    async def sweep_finished() -> None:
        wiring.finished.sweep()

    async def checkpoint_tables() -> None:
        for table in wiring.tables.values():
            await table.checkpoint(app)

    async def run_jobs() -> None:
        await wiring.resources.jobs.run_due()

    async def archive_events() -> None:
        await wiring.event_archiver().run()

    async def refresh_dlq_depth() -> None:
        await refresh_depth(wiring.resources.delivery_log)

    async def refresh_health() -> None:
        await refresh_gauges(wiring.resources.health)

    app.task(keep_routes_fresh)
    if wiring.tables:
        app.timer(_CHECKPOINT_S)(checkpoint_tables)
    app.timer(settings.worker_stall_check_s)(_stall_guard(app, wiring))
    if "scheduler" in roles:
        app.timer(settings.scheduler_tick_s)(release_due)
    if "router" in roles or "archive" in roles:  # the archiver reads each type's entity key and personal paths
        app.task(keep_types_fresh)
    if "router" in roles:
        app.timer(_DEDUPE_SWEEP_S)(sweep_dedupe)
    if "sinks" in roles:
        app.timer(_DEDUPE_SWEEP_S)(sweep_finished)
    if "archive" in roles:
        app.task(archive_events)
        app.timer(_DLQ_DEPTH_S)(refresh_dlq_depth)
        app.timer(_DLQ_DEPTH_S)(refresh_health)
        app.timer(settings.jobs_check_s)(run_jobs)


def _stall_guard(app: faust.App, wiring: Wiring) -> Callable[[], Awaitable[None]]:
    """The look at every source partition that seeks back those whose fetched records Faust dropped."""
    sources = {topic for agent in app.agents.values() for topic in agent.channel.topics}
    detector: StallDetector[Any] = StallDetector()
    generation = [app.consumer_generation_id]
    prefix = wiring.settings.topic_prefix

    async def unblock_stalls() -> None:
        """Seek back partitions whose fetched records Faust dropped (see ``agents.runtime.stall_guard``)."""
        consumer = cast(StrictConsumer, app.consumer)
        await consumer.settle_commit_bases()
        if not wiring.ready or generation[0] != app.consumer_generation_id:
            generation[0] = app.consumer_generation_id
            detector.forget()
            return
        committed = committed_offsets(app)
        mine = [tp for tp in app.consumer.assignment() if tp.topic in sources]
        ends = await app.consumer.highwaters(*mine) if mine else {}
        readings = {}
        for tp in mine:
            position = await app.consumer.position(tp)
            known = [o for o in (wiring.progress.handled_next(tp), committed.get(tp)) if o is not None]
            if position is not None:
                idle = wiring.progress.idle(tp.topic)
                readings[tp] = Reading(position, max(known, default=None), idle, ends.get(tp), consumer.head_hole(tp))
        await read_again(app, detector.observe(readings), "left records its agent never got", prefix)

    return unblock_stalls
