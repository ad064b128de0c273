"""The admin API's background replays: a resume answers once the replay runs again, and a replay
the process is running is not resumed alongside it (both would send its pages)."""

import asyncio
import threading
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from infra.db.dead_letters import ReplayRun
from ingress.admin.replays import Replays
from ingress.http.problems import Problem
from streams.replay_filter import ReplayFilter

RUN = ReplayRun(
    uuid.uuid4(), "acme", ReplayFilter(status="open"), "key:1", "running", 3, 0, datetime(2026, 12, 5, tzinfo=UTC), None
)


class Held:
    """A replay engine whose runs say they began, then wait for ``release``."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def _run(self, started: Callable[[ReplayRun], None] | None) -> ReplayRun:
        assert started is not None
        started(RUN)
        await self.release.wait()
        return replace(RUN, state="done", sent=3)

    async def start(
        self, tenant_id: str, selection: ReplayFilter, *, stop: threading.Event, started: Callable[[ReplayRun], None]
    ) -> ReplayRun:
        return await self._run(started)

    async def resume(
        self, replay_id: uuid.UUID, *, tenant_id: str, stop: threading.Event, started: Callable[[ReplayRun], None]
    ) -> ReplayRun:
        return await self._run(started)


def test_a_replay_is_not_resumed_while_this_process_runs_it_and_is_once_it_stopped():
    async def scenario() -> None:
        engine = Held()
        replays = Replays(lambda actor: engine)  # type: ignore[arg-type,return-value]
        assert (await replays.start("key:1", "acme", ReplayFilter())).state == "running"
        with pytest.raises(Problem) as refused:
            await replays.resume("key:1", "acme", RUN.id)
        assert refused.value.status == 409
        engine.release.set()
        await replays.close()  # waits for it to end
        engine.release.clear()
        resumed = await replays.resume("key:1", "acme", RUN.id)  # answered before it ends
        assert resumed.state == "running"
        with pytest.raises(Problem):
            await replays.resume("key:1", "acme", RUN.id)
        engine.release.set()
        await replays.close()

    asyncio.run(scenario())
