"""An agent that takes batches from its channel's queue and acknowledges each once it is handled.

Faust's agents iterate a stream one event at a time, or in batches ``Stream.noack_take`` fills
too slowly under load (``agents.runtime.take``). Here a batch is taken with ``take``, handed to
the handler, acknowledged only once the handler returns, and then checked for records Faust
skipped before or inside it (``agents.runtime.stall_guard``), which are read again at once.
Concurrency is 1: with more, faust-streaming acknowledges out of order and leaves offset gaps.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import faust

from agents.records import Consumed
from agents.runtime.offsets import committed_offsets, read_again
from agents.runtime.stall_guard import Progress
from agents.runtime.take import acknowledge, take
from agents.runtime.topics import raw_topic

Handle = Callable[[Sequence[Consumed]], Awaitable[None]]


def batch_agent(
    app: faust.App,
    topics: tuple[str, ...],
    name: str,
    start: Callable[[], Awaitable[Handle]],
    *,
    max_records: int,
    within_s: float,
    natural: bool,
    progress: Progress[Any],
    prefix: str,
) -> None:
    """An agent ``name`` on ``topics`` that, once started (``start`` gives its handler), hands each
    batch (at most ``max_records``; ``natural``: what is queued, else filled for ``within_s``, see
    ``agents.runtime.take``) to the handler."""

    async def consume(stream: Any) -> None:
        handle = await start()
        async for events in take(stream, max_records, within_s, natural=natural):
            progress.begin(topics)
            await handle([Consumed.of(event) for event in events])
            acknowledge(stream, events)
            offsets: dict[Any, list[int]] = {}
            for event in events:
                offsets.setdefault(event.message.tp, []).append(event.message.offset)
            holes = progress.end(topics, offsets, app.consumer_generation_id, committed_offsets(app))
            await read_again(app, holes, "skipped records", prefix)

    app.agent(raw_topic(app, topics), name=name, concurrency=1)(consume)
