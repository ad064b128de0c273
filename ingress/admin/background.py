"""The sync runs the admin API was asked for, running in the background of its process."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from infra.db.sync_jobs import SyncJobView

log = logging.getLogger(__name__)

RunClaimed = Callable[[SyncJobView, datetime], Coroutine[Any, Any, str]]
"""Run a job for the tick this process claimed; its outcome (``agents.sync.SyncRunner.run_claimed``)."""


class BackgroundRuns:
    """The runs asked for over the admin API, each a task of this process; stopped at shutdown."""

    def __init__(self, run_claimed: RunClaimed) -> None:
        self._run_claimed = run_claimed
        self._tasks: set[asyncio.Task[str]] = set()

    def start(self, job: SyncJobView, tick: datetime) -> None:
        task = asyncio.create_task(self._run_claimed(job, tick))
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[str]) -> None:
        """A run records its own outcome; one that could not (PostgreSQL gone) has only the log."""
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("sync run not recorded: %s", type(task.exception()).__name__)

    async def close(self) -> None:
        """Stop every run under way: each resumes, at its next run, from its last stored page."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
