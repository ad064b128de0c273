"""Batches taken straight from an agent's channel queue, and acknowledged after their handler.

faust-streaming's ``Stream.noack_take`` fills its batch through the stream's passive drainer:
one event per event-loop iteration, each through the stream's processor chain, while the agent
waits out the batch window. Under load a batch is then cut by the window long before
``max_records``: measured on a sink draining a backlog (``bench run deliver``), two batches in
three held 16 events or fewer.

``take`` reads the queue the conductor fills, the same one the stream would have read, and takes
what is already there at once. It keeps every check Faust's stream makes per event: an error
thrown into the channel is raised; an event fetched before a rebalance (older generation, or
read while the flow is suspended) is skipped and acknowledged, as the stream skips and
acknowledges it; a message of an acking topic is tracked as unacknowledged, so a rebalance
waits for it; and the monitor hears of each event, so Faust's slow-stream diagnostics stay
right.

**Natural batching.** A batch is handed over once ``max_records`` are taken, or as soon as the
queue is empty with at least one taken: what arrived while the handler ran is the next batch, so
a quiet agent hands each fetch over at once and a busy one gets batches as large as its handler
is slow (as the LMAX disruptor's batching and Kafka's producer send what is there). The consumer's
fetch already gathers records (``agents.runtime.consumer``): a window here only added its wait to
every hop. Only while events come faster than the agent takes them (the previous batch was full)
does a batch short of the limit keep ``noack_take``'s window, waiting until ``within_s`` has
passed since the agent came back for more. Agents that are not ``natural`` (those no delivery
waits on, whose fuller batches cost less) always keep the window.

While nothing is queued and nothing taken, the taker waits for the next event without a timer
(an idle worker's agents would otherwise wake every ``within_s``, 50 times a second each); in a
window, that event then closes its batch where the window open at its arrival ends.
When Faust tells the actor to stop reading, the batches end; what was taken and not handed
over is not acknowledged, so it is read again, as with ``noack_take``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Sequence
from typing import Any

from faust.types import EventT, StreamT


async def take(
    stream: StreamT[Any], max_records: int, within_s: float, *, natural: bool
) -> AsyncIterator[list[EventT[Any]]]:
    """Batches of at most ``max_records`` events from ``stream``'s channel, none of them
    acknowledged; ``natural``: handed over once the queue is empty unless the previous was full."""
    app = stream.app
    channel: Any = stream.channel  # the iterator the conductor fills (``App.stream`` made it)
    queue = channel.queue  # a ThrowableQueue: get and get_nowait raise what was thrown in
    consumer = app.consumer
    acking_topics = app.topics.acking_topics
    flow_active = app.flow_control.is_active
    on_stream_event_in = app.sensors.on_stream_event_in
    clock = asyncio.get_running_loop().time
    busy = not natural  # True: batches wait out their window (events come faster than they are taken)
    while True:
        batch: list[EventT[Any]] = []
        opened = clock()
        deadline = opened + within_s
        while len(batch) < max_records:
            try:
                if not queue.empty():
                    event = queue.get_nowait()
                elif not batch:
                    event = await queue.get()  # nothing to hand over: no timer runs while idle
                    deadline = window_end(opened, clock(), within_s)
                elif busy and (left := deadline - clock()) > 0:
                    async with asyncio.timeout(left):
                        event = await queue.get()
                else:
                    break
            except TimeoutError:
                continue
            except StopAsyncIteration:  # the actor was told to stop reading (``Actor.cancel``)
                return
            message = event.message
            if not flow_active() or message.generation_id != app.consumer_generation_id:
                event.ack()  # read before a rebalance: dropped, as Faust's stream drops it
                continue
            if message.topic in acking_topics and not message.tracked:
                message.tracked = True
                consumer.track_message(message)
            on_stream_event_in(message.tp, message.offset, stream, event)
            batch.append(event)
        busy = not natural or len(batch) >= max_records
        yield batch


def window_end(opened: float, now: float, within_s: float) -> float:
    """The end of the window open at ``now`` when windows of ``within_s`` follow each other from
    ``opened``: where an event that ends an idle wait closes its batch, as if every empty window
    had been timed."""
    return opened + within_s * (math.floor((now - opened) / within_s) + 1)


def acknowledge(stream: StreamT[Any], events: Sequence[EventT[Any]]) -> None:
    """Acknowledge ``events``: the consumer may commit each offset once nothing before it is pending."""
    on_message_out = stream.app.sensors.on_message_out
    for event in events:
        if event.ack():
            message = event.message
            on_message_out(message.tp, message.offset, message)
