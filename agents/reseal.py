"""The ``reseal`` job: after a key rotation, the values older keys sealed are sealed again under
the newest, a few pages each tick, in the background of the archive role (``infra.db.sealed_columns``).

It also seals the dead letters archived before dead letters were sealed. A worker reseals under
the newest key of the ring it started with: after a rotation every process must be restarted
with the new ring before one of them reseals, or the others could not open what it sealed.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from functools import partial
from typing import Any

from agents.jobs import Job
from infra.db.sealed_columns import Resealer
from streams.ticks import tick_of


def reseal_job(resealer: Resealer, every_s: float, pages: int) -> Job:
    """Every ``every_s``, at most ``pages`` pages of sealed values looked at and re-sealed."""

    # Where the last run stopped, per column: the next goes on from there (in this process; a run in
    # another starts over, which costs reads, not correctness).
    cursors: dict[str, object] = {}

    async def run(tick: datetime) -> dict[str, Any]:
        done = await asyncio.to_thread(resealer.run, max_pages=pages, start=dict(cursors))
        cursors.clear()
        cursors.update({item.column: item.after for item in done if not item.done})
        return {
            "resealed": sum(item.resealed for item in done),
            "unreadable": sum(item.unreadable for item in done),
            "finished": all(item.done for item in done),
        }

    return Job("reseal", partial(tick_of, every_s=every_s), run)
