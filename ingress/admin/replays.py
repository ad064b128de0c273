"""Replays the admin API starts run in the background of the dashboard process: the request is
answered (202, with the replay's id) once the replay has fixed its selection (a resumed one: once
it runs again), and the replay goes on a page at a time. At shutdown every replay under way stops
between two pages, ``interrupted``; ``POST .../replays/{id}/resume`` goes on from there to the
end, sending nothing twice (``infra.control.replay``). A replay this process is running is not
resumed alongside (409): both would send its pages.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from infra.control.replay import Replayer
from infra.db.dead_letters import ReplayRun
from ingress.http.problems import Problem
from streams.replay_filter import ReplayFilter

log = logging.getLogger(__name__)


class Replays:
    def __init__(self, replayer: Callable[[str], Replayer]) -> None:
        """``replayer``: the engine acting for an audit actor."""
        self._replayer = replayer
        self._stop = threading.Event()
        self._tasks: set[asyncio.Task[ReplayRun]] = set()
        self._running: set[uuid.UUID] = set()

    def engine(self, actor: str) -> Replayer:
        return self._replayer(actor)

    async def start(self, actor: str, tenant_id: str, selection: ReplayFilter) -> ReplayRun:
        """Start replaying ``selection``; the replay as it stands once it began."""
        return await self._background(
            lambda started: self._replayer(actor).start(tenant_id, selection, stop=self._stop, started=started)
        )

    async def resume(self, actor: str, tenant_id: str, replay_id: uuid.UUID) -> ReplayRun:
        """Go on with ``replay_id`` to its end (a finished one is returned as it is); the replay as
        it stands once it runs again. 409 while this process runs it."""
        if replay_id in self._running:
            raise Problem(409, "replay-running", "Replay running", "this replay is running: follow it")
        return await self._background(
            lambda started: self._replayer(actor).resume(
                replay_id, tenant_id=tenant_id, stop=self._stop, started=started
            ),
            replay_id,
        )

    async def _background(
        self,
        run: Callable[[Callable[[ReplayRun], None]], Coroutine[Any, Any, ReplayRun]],
        replay_id: uuid.UUID | None = None,
    ) -> ReplayRun:
        """``run`` as a task, its replay counted as running from now (``replay_id`` given) or once
        it says which; the replay as it stands once it began."""
        began: asyncio.Future[ReplayRun] = asyncio.get_running_loop().create_future()
        ids = [] if replay_id is None else [replay_id]
        self._running.update(ids)

        def started(replay: ReplayRun) -> None:
            if not ids:
                ids.append(replay.id)
                self._running.add(replay.id)
            if not began.done():
                began.set_result(replay)

        task = asyncio.create_task(run(started))
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._finished(done, ids))
        await asyncio.wait({task, began}, return_when=asyncio.FIRST_COMPLETED)
        return began.result() if began.done() else task.result()

    def _finished(self, task: asyncio.Task[ReplayRun], ids: list[uuid.UUID]) -> None:
        self._tasks.discard(task)
        self._running.difference_update(ids)
        if not task.cancelled() and task.exception() is not None:
            log.warning("replay stopped: %s", task.exception())

    async def close(self) -> None:
        """Stop every replay under way between two pages, and wait for them."""
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
