"""Replays in the background of the operators' process: a start or a resume is answered once the
replay runs, the run goes on after the answer, and closing stops every run between two pages."""

import asyncio
import threading
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from infra.control.replays import Replays
from infra.db.dead_letters import ReplayRun
from streams.errors import ReplayRunningError
from streams.replay_filter import ReplayFilter

pytestmark = pytest.mark.unit

AT = datetime(2026, 12, 5, tzinfo=UTC)
RUN = ReplayRun(uuid.uuid4(), "acme", ReplayFilter(status="open"), "key:1", "running", 3, 0, AT, None, AT)


class Held:
    """A replay engine whose runs say they began, then wait for ``release`` or their stop."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.running_elsewhere = False
        self.ended: list[str] = []

    async def _run(self, started: Callable[[ReplayRun], None], stop: threading.Event) -> ReplayRun:
        started(RUN)
        state = "done"
        while not self.release.is_set():
            if stop.is_set():
                state = "interrupted"
                break
            await asyncio.sleep(0.01)  # a page being sent
        self.ended.append(state)
        return replace(RUN, state=state)

    async def start(self, tenant_id, selection, *, stop, started):
        return await self._run(started, stop)

    async def resume(self, replay_id, *, tenant_id, stop, started):
        if self.running_elsewhere:
            raise ReplayRunningError(f"replay {replay_id} is running")
        return await self._run(started, stop)


def test_a_start_is_answered_while_the_replay_goes_on_and_it_finishes_after_the_answer():
    engine = Held()

    async def scenario() -> tuple[str, list[str]]:
        replays = Replays(lambda actor: engine)
        answered = await replays.start("key:1", "acme", ReplayFilter())
        ended_when_answered = list(engine.ended)
        engine.release.set()
        await replays.close()  # waits for the run
        return answered.state, ended_when_answered

    assert asyncio.run(scenario()) == ("running", [])
    assert engine.ended == ["done"]


def test_closing_stops_every_replay_under_way_between_two_pages():
    engine = Held()

    async def scenario() -> None:
        replays = Replays(lambda actor: engine)
        await replays.start("key:1", "acme", ReplayFilter())
        await replays.resume("key:1", "acme", RUN.id)
        await replays.close()

    asyncio.run(scenario())
    assert engine.ended == ["interrupted", "interrupted"]


def test_a_resume_refused_because_the_replay_runs_elsewhere_is_the_callers_error():
    async def scenario() -> None:
        engine = Held()
        engine.running_elsewhere = True
        await Replays(lambda actor: engine).resume("key:1", "acme", RUN.id)

    with pytest.raises(ReplayRunningError):
        asyncio.run(scenario())
