"""Read every source of the dashboard at once, each on its own deadline: one that is down or slow
becomes an ``Unavailable`` reading, and the rest of the page still shows."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TypeVar

import aiohttp

from connectors.kafka.lag import ConsumerLag
from infra.db.delivery_stats import DeliveryStats
from infra.db.errors import error_name
from ingress.console.document import WINDOWS, Readings, Unavailable, Window
from ingress.console.workers import scrape
from streams.delivery_sla import DeliverySla
from streams.errors import ServiceUnreachableError, StoreError

SOURCE_TIMEOUT_S = 5.0
LONG_WINDOW = timedelta(hours=1)
LONG_WINDOW_EVERY_S = 60.0
"""A window longer than ``LONG_WINDOW`` (the day) is aggregated at most once a minute: the page
refreshes every 5 s, and a day's percentiles are the costliest query it makes. Its ``as_of``
says how old it is."""

T = TypeVar("T")


class Gather:
    def __init__(
        self,
        stats: DeliveryStats,
        lag: ConsumerLag,
        session: aiohttp.ClientSession,
        workers: Sequence[str],
        sla: DeliverySla,
    ) -> None:
        self.stats, self.lag, self.session, self.sla = stats, lag, session, sla
        self.workers = tuple(workers)
        self._windows: dict[str, tuple[float, Window]] = {}

    async def readings(self) -> Readings:
        now = datetime.now(UTC)
        deliveries, dead_letters, workers, lag = await asyncio.gather(
            self._deliveries(now),
            bounded(self.stats.open_dead_letters, *_POSTGRES),
            asyncio.gather(*(scrape(self.session, address) for address in self.workers)),
            bounded(self.lag.read, *KAFKA_FAILURES),
        )
        return Readings(now, self.sla, deliveries, dead_letters, list(workers), lag)

    async def _deliveries(self, now: datetime) -> dict[str, Window] | Unavailable:
        windows = {}
        for name, span in WINDOWS.items():
            cached = self._windows.get(name)
            every_s = LONG_WINDOW_EVERY_S if span > LONG_WINDOW else 0.0
            if cached is not None and time.monotonic() - cached[0] < every_s:
                windows[name] = cached[1]
                continue
            figures = await bounded(partial(self.stats.figures_since, now - span), *_POSTGRES)
            if isinstance(figures, Unavailable):
                return figures
            windows[name] = Window(now, figures)
            self._windows[name] = (time.monotonic(), windows[name])
        return windows


Failures = tuple[type[Exception], ...]
_POSTGRES: tuple[Failures, Failures] = ((ServiceUnreachableError,), (StoreError,))
KAFKA_FAILURES: tuple[Failures, Failures] = ((ServiceUnreachableError,), ())


async def bounded(read: Callable[[], T], unreachable: Failures, failing: Failures) -> T | Unavailable:
    """``read()`` in a thread. No answer within ``SOURCE_TIMEOUT_S``, or an ``unreachable`` error,
    is ``unreachable``; a ``failing`` error (it answered, with an error) is ``failing``. Any
    other exception is a bug of ours and propagates."""
    unanswered: Failures = (*unreachable, TimeoutError)
    try:
        return await asyncio.wait_for(asyncio.to_thread(read), SOURCE_TIMEOUT_S)
    except unanswered as exc:
        return Unavailable("unreachable", error_name(exc))
    except failing as exc:
        return Unavailable("failing", error_name(exc))
