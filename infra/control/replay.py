"""Replays: dead letters sent back from the PostgreSQL archive to where they failed.

A replay is a row of ``replays`` that fixes its selection, bounded by the newest letter it found
when it started (letters dead-lettered while it runs, its own failures again among them, wait
for the next replay). It then takes the selection's open letters a page at a time, by id: each
goes back to its original topic with key and bytes unchanged, a ``crmbus-replay`` header naming
the replay and, for a route's failure, its ``crmbus-route-id``; once Kafka has acknowledged the
whole page (acks=all), the page is marked replayed and counted, in one transaction.

Nothing is delivered twice. A letter is marked only after it was sent, so a replay killed in
between sends that page again when resumed (``resume``): the same delivery record under the same
deterministic delivery id (an event's letter re-runs only its failed route, whose delivery ids
are deterministic too), which a sink that delivered it once remembers (its finished-deliveries
table) and skips. A letter marked replayed is never selected again: a second replay of the same
selection sends nothing.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from connectors.kafka.producer import Record
from infra.db.dead_letters import DeadLetters, DeadLetterView, ReplayRun
from streams.dead_letter import REPLAY, ROUTE_ID
from streams.errors import NothingToReplayError, ProduceError
from streams.replay_filter import ReplayFilter

PAGE = 500
_SAMPLE = 5


class PageProducer(Protocol):
    """What the engine needs of ``connectors.kafka.producer.AsyncProducer``."""

    def send_many(self, records: Sequence[Record]) -> Awaitable[list[ProduceError | None]]: ...


@dataclass(frozen=True, slots=True)
class ReplayPreview:
    """What a replay of a selection would send: how many letters, and the first few."""

    count: int
    sample: list[DeadLetterView]


class Replayer:
    """Replays acting for ``actor`` (written to the audit log and to each replay's row)."""

    def __init__(self, dead_letters: DeadLetters, producer: PageProducer, actor: str, *, page: int = PAGE) -> None:
        self._letters, self._producer, self._actor, self._page = dead_letters, producer, actor, page

    async def preview(self, tenant_id: str | None, selection: ReplayFilter) -> ReplayPreview:
        """The open letters of ``selection`` a replay would send now; writes nothing."""
        selection = replace(selection, status="open")
        count = await asyncio.to_thread(self._letters.count, tenant_id, selection)
        sample = await asyncio.to_thread(self._letters.list, tenant_id, selection, limit=_SAMPLE)
        return ReplayPreview(count, sample)

    async def start(
        self,
        tenant_id: str | None,
        selection: ReplayFilter,
        *,
        stop: threading.Event | None = None,
        started: Callable[[ReplayRun], None] | None = None,
    ) -> ReplayRun:
        """Replay the open letters of ``selection`` of ``tenant_id`` (None: every tenant's), all of
        them, unless ``stop`` is set (checked between pages: the run is then interrupted).
        ``started`` is told the replay before its first page, e.g. to say its id for a resume."""
        run = await asyncio.to_thread(
            self._letters.create_replay, tenant_id, replace(selection, status="open"), action="dlq.replay",
            actor=self._actor,
        )  # fmt: skip
        if started is not None:
            started(run)
        return await self._run(run, stop)

    async def resume(
        self,
        replay_id: uuid.UUID,
        *,
        tenant_id: str | None = None,
        stop: threading.Event | None = None,
        started: Callable[[ReplayRun], None] | None = None,
    ) -> ReplayRun:
        """Go on with replay ``replay_id`` (of ``tenant_id``, if given): its selection's letters
        still open are sent, those a killed run sent but did not mark among them. A finished
        replay is returned as it is. ``started`` is told the replay once it runs again (or, a
        finished one, as it is), before its first page."""
        await asyncio.to_thread(self._letters.replay, tenant_id, replay_id)  # NotFoundError for another tenant's
        run = await asyncio.to_thread(self._letters.resume_replay, replay_id, actor=self._actor)
        if started is not None:
            started(run)
        return run if run.state == "done" else await self._run(run, stop)

    async def retry(self, tenant_id: str | None, delivery_ids: Sequence[str]) -> ReplayRun:
        """Replay the open dead letters of ``delivery_ids``; ``NothingToReplayError`` when none of
        them is dead-lettered and open."""
        selection = ReplayFilter(status="open", delivery_ids=frozenset(delivery_ids))
        if not await asyncio.to_thread(self._letters.count, tenant_id, selection):
            raise NothingToReplayError("none of these deliveries is dead-lettered and open")
        run = await asyncio.to_thread(
            self._letters.create_replay, tenant_id, selection, action="deliveries.retry", actor=self._actor
        )
        return await self._run(run, None)

    async def _run(self, run: ReplayRun, stop: threading.Event | None) -> ReplayRun:
        after: int | None = None
        while True:
            if stop is not None and stop.is_set():
                return await asyncio.to_thread(self._letters.finish_replay, run.id, "interrupted")
            page = await asyncio.to_thread(
                self._letters.open_page, run.tenant_id, run.selection, after_id=after, limit=self._page
            )
            if not page:
                return await asyncio.to_thread(self._letters.finish_replay, run.id, "done")
            errors = await self._producer.send_many([_record(letter, run.id) for letter in page])
            failed = [error for error in errors if error is not None]
            if failed:
                await asyncio.to_thread(self._letters.finish_replay, run.id, "interrupted")
                raise ProduceError(
                    f"Kafka did not acknowledge {len(failed)} replayed records ({failed[0].code}); "
                    f"resume replay {run.id}",
                    retriable=True,
                    code=failed[0].code,
                )
            await asyncio.to_thread(self._letters.mark_replayed, run.id, [letter.id for letter in page])
            after = page[-1].id


def _record(letter: DeadLetterView, replay_id: uuid.UUID) -> Record:
    """``letter`` as it goes back: to its original topic, key and bytes as they were; a keyless
    one to the partition it was read from."""
    headers = [(REPLAY, str(replay_id).encode())]
    route = letter.headers.get(ROUTE_ID)
    if route is not None:
        headers.append((ROUTE_ID, route.encode()))
    partition = letter.original_partition if letter.key is None else None
    return (letter.original_topic, letter.value, letter.key, headers, partition)
