"""The worker's way out when a batch can neither be written nor dead-lettered.

The process exits at once with status 70 without acknowledging: the batch is read again after a
restart. Carrying on would let later acknowledgements commit past it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable

log = logging.getLogger(__name__)

EXIT_FATAL = 70


async def or_exit(work: Awaitable[object]) -> None:
    """Await ``work``; on any failure, stop the process now, leaving the batch unacknowledged."""
    try:
        await work
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure here must stop the process unacknowledged
        log.critical("worker stopping without acknowledging its batch: %s: %s", type(exc).__name__, exc)
        logging.shutdown()
        os._exit(EXIT_FATAL)
