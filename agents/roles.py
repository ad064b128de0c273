"""The agents of each worker role, one per source topic (or pair of topics):

- ``router``: one per lane, fanning events out to deliveries, delayed actions and public topics;
- ``sinks``: one per destination kind, delivering;
- ``retry``: one per retry tier, sending deliveries back when due;
- ``scheduler``: holding delayed actions until due;
- ``archive``: delivery outcomes and DLQ records into PostgreSQL.

Each agent is thin: it hands each batch to its handler (``Router``, ``Sink``, ``RetryReleaser``,
``Scheduler``, ``Archive``, made once the loop runs) and acknowledges the batch only once the
handler returns, that is once every output is acknowledged by Kafka
(``agents.runtime.batch_agent``). If a handler fails, the process stops unacknowledged
(``agents.fatal``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Protocol

import faust

from agents.fatal import or_exit
from agents.records import Consumed
from agents.runtime.batch_agent import Handle, batch_agent
from schemas.topic_names import TopicNames
from streams.retry_policy import TIERS
from streams.routes import DESTINATIONS

if TYPE_CHECKING:
    from agents.app import Wiring


class _Handler(Protocol):
    async def handle(self, batch: Sequence[Consumed]) -> None: ...


def add_agents(app: faust.App, wiring: Wiring) -> None:
    """The agents of the process's roles."""
    settings = wiring.settings
    roles = settings.worker_roles
    names = wiring.topics
    # Routing and delivery are on every event's way: they hand over what is queued at once
    # (natural batching, ``agents.runtime.take``). The retry tiers, the scheduler and the archive
    # hold records for seconds anyway: they fill batches for a window, and fuller batches cost
    # less (one PostgreSQL transaction per archive batch).
    hot = settings.worker_batch_wait_s
    background = settings.worker_background_batch_wait_s
    if "router" in roles:
        # A lane's agent and its metrics are named without the prefix.
        for lane, topic in zip(TopicNames().lanes, names.lanes, strict=True):
            _agent(app, wiring, (topic,), f"router:{lane}", partial(wiring.router, lane), hot, natural=True)
    if "sinks" in roles:
        for kind in DESTINATIONS:
            _agent(app, wiring, (names.deliver(kind),), f"sink:{kind}", partial(wiring.sink, kind), hot, natural=True)
    if "retry" in roles:
        for tier in TIERS:
            topic = names.retry(tier.name)
            _agent(
                app, wiring, (topic,), f"retry:{tier.name}", partial(wiring.releaser, tier), background, natural=False
            )
    if "scheduler" in roles:
        _agent(app, wiring, (names.scheduled,), "scheduler", wiring.the_scheduler, background, natural=False)
    if "archive" in roles:
        _agent(app, wiring, (names.deliveries, names.dlq), "archive", wiring.archive, background, natural=False)


def _agent(
    app: faust.App,
    wiring: Wiring,
    topics: tuple[str, ...],
    name: str,
    make: Callable[[], Awaitable[_Handler]],
    within_s: float,
    *,
    natural: bool,
) -> None:
    """An agent on ``topics`` whose handler ``make`` makes once the agent starts."""

    async def start() -> Handle:
        handler = await make()
        return lambda batch: or_exit(handler.handle(batch))

    settings = wiring.settings
    batch_agent(
        app, topics, name, start,
        max_records=settings.worker_batch_max, within_s=within_s, natural=natural, progress=wiring.progress,
        prefix=settings.topic_prefix,
    )  # fmt: skip
