"""How a sink batch's calls are shared out: each (tenant, destination) of the batch gets its own
share of the calls open at once (``streams.sink_decisions.in_flight_budgets``) under the sink's
hard cap (``max_in_flight`` slots), so one tenant's slow destination ties up its own share while
the other tenants' deliveries go on beside it.

Within a group, the deliveries of an order go one after another, and one that does not get
through holds the rest of its order behind it; any other delivery goes alone. Once one of a
group's calls ran past the attempt deadline, the rest of that group is parked instead of waiting
on a slow destination call after call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

from agents.sink_attempts import Attempt
from connectors.destinations import Delivered
from streams.errors import PermanentDeliveryError
from streams.sink_decisions import in_flight_budgets


@dataclass(slots=True)
class _Pace:
    """Shared by the callers of one (tenant, destination) in a batch."""

    slow_until: float | None = None  # a call ran out of time: the group's other deliveries park until then


class BatchBudgets:
    def __init__(
        self,
        *,
        attempt: Callable[[Attempt], Awaitable[None]],
        max_in_flight: int,
        slow_for_s: float,
        clock: Callable[[], float],
    ) -> None:
        """``attempt`` makes one attempt; ``slow_for_s`` is how long a group stays parked once one
        of its calls ran out of time (the attempt deadline)."""
        self._attempt, self._max_in_flight, self._slow_for_s, self._clock = attempt, max_in_flight, slow_for_s, clock
        # The hard cap over every group's callers (more groups than max_in_flight get one each).
        self._slots = asyncio.Semaphore(max_in_flight)

    async def call(self, items: list[Attempt]) -> None:
        """Attempt (or park, or hold) every one of ``items``, each group within its share."""
        groups: dict[tuple[bytes, str], dict[object, list[Attempt]]] = {}
        for item in items:
            queues = groups.setdefault((item.circuit_key, item.destination.id), {})
            queues.setdefault(item.order if item.order is not None else id(item), []).append(item)
        budgets = in_flight_budgets({key: len(queues) for key, queues in groups.items()}, self._max_in_flight)
        runs: list[Awaitable[None]] = []
        for key, queues in groups.items():
            # A few callers share the group's queues: a task per item cost more than its call.
            pending, pace = iter(queues.values()), _Pace()
            runs.extend(self._caller(pending, pace) for _ in range(budgets[key]))
        await asyncio.gather(*runs)

    async def _caller(self, pending: Iterator[list[Attempt]], pace: _Pace) -> None:
        """Call the group's queues one after another. In a queue, a delivery that does not get
        through (a permanent failure aside, which goes to the DLQ) holds the rest behind it."""
        for queue in pending:
            for index, item in enumerate(queue):
                async with self._slots:
                    if pace.slow_until is not None:  # the destination got slow meanwhile
                        item.parked_until = pace.slow_until
                    else:
                        await self._attempt(item)
                if item.timed_out and pace.slow_until is None:
                    pace.slow_until = self._clock() + self._slow_for_s
                if not isinstance(item.outcome, Delivered | PermanentDeliveryError):
                    for later in queue[index + 1 :]:
                        later.held = True
                    break
