"""Replays run in the background of the process that serves operators (the admin API and the
console): the request is answered once the replay has fixed its selection (a resumed one: once
it runs again), and the replay goes on a page at a time (``infra.control.replay``). At shutdown
every replay under way stops between two pages, ``interrupted``; a resume goes on from there to
the end, sending nothing twice.

Two runs of one replay would both send its pages: a resume is refused (``ReplayRunningError``)
while the replay's heartbeat is fresh, whichever process runs it (``DeadLetters.resume_replay``).
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
from streams.replay_filter import ReplayFilter

log = logging.getLogger(__name__)


class Replays:
    def __init__(self, replayer: Callable[[str], Replayer]) -> None:
        """``replayer``: the engine acting for an audit actor."""
        self._replayer = replayer
        self._stop = threading.Event()
        self._tasks: set[asyncio.Task[ReplayRun]] = set()

    def engine(self, actor: str) -> Replayer:
        return self._replayer(actor)

    async def start(self, actor: str, tenant_id: str | None, selection: ReplayFilter) -> ReplayRun:
        """Start replaying ``selection`` of ``tenant_id`` (None: every tenant's); the replay as it
        stands once it began."""
        return await self._background(
            lambda started: self._replayer(actor).start(tenant_id, selection, stop=self._stop, started=started)
        )

    async def resume(self, actor: str, tenant_id: str | None, replay_id: uuid.UUID) -> ReplayRun:
        """Go on with ``replay_id`` to its end (a finished one is returned as it is); the replay as
        it stands once it runs again. ``ReplayRunningError`` while a run of it is alive."""
        return await self._background(
            lambda started: self._replayer(actor).resume(
                replay_id, tenant_id=tenant_id, stop=self._stop, started=started
            )
        )

    async def _background(
        self, run: Callable[[Callable[[ReplayRun], None]], Coroutine[Any, Any, ReplayRun]]
    ) -> ReplayRun:
        """``run`` as a task; the replay as it stands once it began (or the task's error, if it
        failed before that)."""
        began: asyncio.Future[ReplayRun] = asyncio.get_running_loop().create_future()

        def started(replay: ReplayRun) -> None:
            if not began.done():
                began.set_result(replay)

        task = asyncio.create_task(run(started))
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._finished(done, answered=began.done()))
        await asyncio.wait({task, began}, return_when=asyncio.FIRST_COMPLETED)
        return began.result() if began.done() else task.result()

    def _finished(self, task: asyncio.Task[ReplayRun], *, answered: bool) -> None:
        """A run that failed after its caller was answered has nobody to tell but the log (its
        replay says how far it got); one that failed before, its caller was told."""
        self._tasks.discard(task)
        if answered and not task.cancelled() and task.exception() is not None:
            log.warning("replay stopped: %s", type(task.exception()).__name__)

    async def close(self) -> None:
        """Stop every replay under way between two pages, and wait for them."""
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
