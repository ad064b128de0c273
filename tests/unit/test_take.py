"""What an agent's batches hold, and what becomes of the events it never gets."""

import asyncio
import tempfile

import pytest
from faust.events import Event
from faust.types.tuples import ConsumerMessage

from agents.runtime.take import acknowledge, take, window_end
from infra.cli.wiring import worker_app
from infra.core.settings import Settings

TOPIC = "crmbus.deliver.crm"


def event(app, offset, *, generation=None):
    message = ConsumerMessage(
        TOPIC, offset % 6, offset, 0.0, 0, {}, b"tenant", b"delivery", None,
        generation_id=app.consumer_generation_id if generation is None else generation,
    )  # fmt: skip
    message.incref(1)  # one stream holds it, as the conductor counts
    return Event(app, b"tenant", b"delivery", {}, message)


async def worker_stream(*queued):
    """A worker's app (built inside the running loop, as its consumer must be) and a stream whose
    channel queue already holds ``queued`` (offsets, or events made with ``event``)."""
    with tempfile.TemporaryDirectory() as state_dir:
        app = worker_app(Settings(state_dir=state_dir))
    app.flow_control.resume()
    stream = app.stream(app.channel(maxsize=1000))
    for item in queued:
        stream.channel.queue.put_nowait(event(app, item) if isinstance(item, int) else item(app))
    return app, stream


async def until(condition, limit_s=10.0):
    deadline = asyncio.get_running_loop().time() + limit_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.001)


def offsets(batch):
    return [e.message.offset for e in batch]


def test_what_is_already_queued_is_taken_at_once_up_to_the_batch_limit():
    async def scenario():
        _, stream = await worker_stream(0, 1, 2, 3, 4)
        batches = take(stream, max_records=3, within_s=3600, natural=True)
        return offsets(await asyncio.wait_for(anext(batches), 10))

    assert asyncio.run(scenario()) == [0, 1, 2]


def test_a_quiet_agent_hands_over_what_is_queued_at_once_without_waiting_for_its_window():
    async def scenario():
        _, stream = await worker_stream(0, 1)
        batches = take(stream, max_records=100, within_s=3600, natural=True)
        return offsets(await asyncio.wait_for(anext(batches), 10))

    assert asyncio.run(scenario()) == [0, 1]


def test_an_event_that_arrives_after_a_quiet_batch_was_handed_over_starts_the_next_one():
    async def scenario():
        app, stream = await worker_stream(0)
        batches = take(stream, max_records=2, within_s=3600, natural=True)
        first = offsets(await asyncio.wait_for(anext(batches), 10))
        stream.channel.queue.put_nowait(event(app, 1))
        return first, offsets(await asyncio.wait_for(anext(batches), 10))

    assert asyncio.run(scenario()) == ([0], [1])


def test_after_a_full_batch_an_event_that_arrives_within_the_window_joins_the_next_batch():
    async def scenario():
        app, stream = await worker_stream(0, 1, 2)
        batches = take(stream, max_records=2, within_s=3600, natural=True)
        full = offsets(await asyncio.wait_for(anext(batches), 10))
        pending = asyncio.ensure_future(anext(batches))
        await until(lambda: stream.channel.queue.empty() and stream.channel.queue._getters)  # took 2, waits
        handed_over_early = pending.done()
        stream.channel.queue.put_nowait(event(app, 3))
        return full, handed_over_early, offsets(await asyncio.wait_for(pending, 10))

    assert asyncio.run(scenario()) == ([0, 1], False, [2, 3])


def test_after_a_full_batch_one_short_of_the_limit_is_handed_over_once_its_window_ends():
    async def scenario():
        _, stream = await worker_stream(0, 1, 2)
        batches = take(stream, max_records=2, within_s=0.05, natural=True)
        full = offsets(await asyncio.wait_for(anext(batches), 10))
        return full, offsets(await asyncio.wait_for(anext(batches), 10))

    assert asyncio.run(scenario()) == ([0, 1], [2])


def test_an_agent_that_is_not_natural_fills_its_batch_for_the_window():
    async def scenario():
        app, stream = await worker_stream(0)
        batches = take(stream, max_records=2, within_s=3600, natural=False)
        pending = asyncio.ensure_future(anext(batches))
        await until(lambda: stream.channel.queue.empty() and stream.channel.queue._getters)  # took 0, waits
        handed_over_early = pending.done()
        stream.channel.queue.put_nowait(event(app, 1))
        return handed_over_early, offsets(await asyncio.wait_for(pending, 10))

    assert asyncio.run(scenario()) == (False, [0, 1])


def test_an_agent_that_is_not_natural_hands_a_short_batch_over_once_its_window_ends():
    async def scenario():
        _, stream = await worker_stream(0, 1)
        batches = take(stream, max_records=100, within_s=0.05, natural=False)
        return offsets(await asyncio.wait_for(anext(batches), 10))

    assert asyncio.run(scenario()) == [0, 1]


def test_events_fetched_before_a_rebalance_are_dropped_and_acknowledged():
    async def scenario():
        stale = []

        def older_generation(app):
            stale.append(event(app, 0, generation=app.consumer_generation_id - 1))
            return stale[-1]

        _, stream = await worker_stream(older_generation, 1)
        batch = await asyncio.wait_for(anext(take(stream, max_records=1, within_s=3600, natural=True)), 10)
        return offsets(batch), stale[0].message.acked

    taken, stale_acked = asyncio.run(scenario())
    assert taken == [1]
    assert stale_acked


def test_events_read_while_the_flow_is_suspended_are_dropped_and_acknowledged():
    async def scenario():
        app, stream = await worker_stream(0, 1)
        queued = list(stream.channel.queue._queue)
        app.flow_control.suspend()
        pending = asyncio.ensure_future(anext(take(stream, max_records=2, within_s=3600, natural=True)))
        await until(stream.channel.queue.empty)
        handed_over = pending.done()  # both taken would fill the batch and hand it over at once
        pending.cancel()
        return stream.channel.queue.empty(), handed_over, [e.message.acked for e in queued]

    drained, handed_over, acked = asyncio.run(scenario())
    assert drained
    assert not handed_over
    assert acked == [True, True]


def test_an_error_thrown_into_the_channel_reaches_the_agent():
    async def scenario():
        _, stream = await worker_stream()
        await stream.channel.queue.throw(RuntimeError("decoder failed"))
        await anext(take(stream, max_records=10, within_s=3600, natural=True))

    with pytest.raises(RuntimeError, match="decoder failed"):
        asyncio.run(scenario())


def test_an_actor_told_to_stop_reading_gets_no_more_batches_and_what_it_took_stays_unacknowledged():
    async def scenario():
        _, stream = await worker_stream(0, 1, 2)
        queue = stream.channel.queue
        taken = list(queue._queue)[2:]
        batches = take(stream, max_records=2, within_s=3600, natural=True)
        await asyncio.wait_for(anext(batches), 10)  # a full batch: the next one waits out its window
        pending = asyncio.ensure_future(anext(batches))
        await until(lambda: queue.empty() and queue._getters)  # took offset 2, waits for a second
        queue._throw(StopAsyncIteration())  # what Faust's Actor.cancel does
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(pending, 10)
        return [e.message.acked for e in taken]

    assert asyncio.run(scenario()) == [False]


def test_a_message_of_an_acking_topic_is_pending_until_its_batch_is_acknowledged():
    async def scenario():
        app, stream = await worker_stream(0)
        app.topics.acking_topics.add(TOPIC)
        batch = await asyncio.wait_for(anext(take(stream, max_records=1, within_s=3600, natural=True)), 10)
        message = batch[0].message
        pending_before = message in app.consumer.unacked
        acknowledge(stream, batch)
        return pending_before, message in app.consumer.unacked, message.acked

    pending_before, pending_after, acked = asyncio.run(scenario())
    assert pending_before
    assert not pending_after
    assert acked


@pytest.mark.parametrize(
    ("now", "end"),
    [(0.0, 0.02), (0.005, 0.02), (0.02, 0.04), (0.031, 0.04), (1.0, 1.02), (1.013, 1.02)],
)
def test_an_event_after_an_idle_wait_closes_its_batch_where_its_window_ends(now, end):
    assert window_end(0.0, now, 0.02) == pytest.approx(end)


def test_an_idle_taker_waits_on_one_get_across_many_windows_and_takes_the_next_event():
    async def scenario():
        app, stream = await worker_stream()
        getters = stream.channel.queue._getters
        pending = asyncio.ensure_future(anext(take(stream, max_records=1, within_s=0.001, natural=True)))
        await until(lambda: getters)
        first = getters[0]
        await asyncio.sleep(0.05)  # fifty windows pass with nothing queued: none of them wakes the taker
        still = list(getters) == [first]
        stream.channel.queue.put_nowait(event(app, 7))
        return still, offsets(await asyncio.wait_for(pending, 10))

    still, taken = asyncio.run(scenario())
    assert still
    assert taken == [7]
