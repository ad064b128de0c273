"""What the console's handlers share: the repositories the composition root opened for it, and
how it sets cookies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from infra.control.replay import Replayer
from infra.control.replays import Replays
from infra.db.api_keys import Principal
from infra.db.console_sessions import ConsoleSessions
from infra.db.dead_letters import DeadLetters
from infra.db.delivery_log import DeliveryLog
from infra.db.endpoints import Endpoints
from infra.db.event_trail import EventTrail
from infra.db.health_checks import HealthChecks
from ingress.console.gather import Gather


@dataclass(frozen=True, slots=True)
class ConsoleState:
    gather: Gather
    sessions: ConsoleSessions
    principal: Callable[[str], Principal | None]
    """Who a presented API key is (``ApiKeys.principal``), or None."""
    history: DeliveryLog
    trail: EventTrail
    dead_letters: DeadLetters
    """The DLQ archive, to read (its acts go through ``replayer``)."""
    endpoints: Callable[[str], Endpoints]
    """The destinations, acting as the actor given (``key:<id>`` in the audit log)."""
    replayer: Callable[[str], Replayer]
    """Retries and DLQ replays, acting as the actor given."""
    replays: Replays
    """Group replays, run in the background."""
    health: HealthChecks
    """The proactive checks' latest results (``infra.db.health_checks``)."""
    secure_cookies: bool


STATE = web.AppKey("state", ConsoleState)
