"""Where Faust's consumer stands on each partition, and sending it back to read records again.

``committed_offsets`` reads ``Consumer._committed_offset``: Faust keeps its record of each
partition's committed offset there and offers no public way to read it, and the stall guard
(``agents.runtime.stall_guard``) counts from it to find records Faust fetched but never handed
over. ``read_again`` seeks such a partition back: Faust drops fetched records in races around a
rebalance (faust-streaming#216, #221, #223) and only reads them again after the next one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, cast

import faust

from infra.core.metrics import STALLS_UNBLOCKED

log = logging.getLogger(__name__)


def committed_offsets(app: faust.App) -> Mapping[Any, int | None]:
    """Faust's own record of each partition's committed offset."""
    committed: Mapping[Any, int | None] = cast(Any, app.consumer)._committed_offset
    return committed


async def read_again(app: faust.App, partitions: Mapping[Any, int], what: str, prefix: str) -> None:
    """Seek each partition back to its offset: records Faust fetched never reached the agent
    (``what`` says how it was found; ``prefix`` is left out of the metric's topic label)."""
    for tp, offset in partitions.items():
        log.warning("Faust %s on %s[%d]; reading again from offset %d", what, tp.topic, tp.partition, offset)
        STALLS_UNBLOCKED.labels(topic=tp.topic.removeprefix(prefix)).inc()
        app.consumer.on_buffer_drop(tp)  # back among the partitions Faust fetches, if a full buffer took it out
        app.consumer.resume_partitions([tp])
        await app.consumer.seek(tp, offset)
