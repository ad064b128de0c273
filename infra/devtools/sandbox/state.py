"""Everything a running sandbox holds in memory, shared by its systems and its control API."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from infra.devtools.sandbox.faults import Faults
from infra.devtools.sandbox.idempotency import IdempotencyMemory
from infra.devtools.sandbox.journal import Journal
from infra.devtools.sandbox.systems import Systems
from infra.devtools.sandbox.tokens import Tokens
from streams.errors import ConfigurationError

WORKING = "WORKING"
STATES = frozenset({WORKING, "STARTING", "SCAN_QR_CODE", "STOPPED", "FAILED"})


class Sessions:
    """Each (system, instance)'s session state, WORKING unless set."""

    def __init__(self) -> None:
        self._states: dict[tuple[str, str], str] = {}

    def set(self, system: str, name: str, state: str) -> None:
        if state not in STATES:
            raise ConfigurationError(f"a session's status is one of {', '.join(sorted(STATES))}")
        self._states[(system, name)] = state

    def state(self, system: str, name: str) -> str:
        return self._states.get((system, name), WORKING)


@dataclass(slots=True)
class SandboxState:
    journal: Journal = field(default_factory=Journal)
    memory: IdempotencyMemory = field(default_factory=IdempotencyMemory)
    faults: Faults = field(default_factory=Faults)
    systems: Systems = field(default_factory=Systems)
    sessions: Sessions = field(default_factory=Sessions)
    """The WhatsApp providers' sessions (``sessions``): kept by ``clear``, like faults."""
    tokens: Tokens = field(default_factory=Tokens)
    """Cuidadores' OAuth2 tokens: kept by ``clear``, so a worker's cached token stays valid."""

    def clear(self) -> None:
        """Forget every request, key and lead and the REST systems' changes (back to their seeded
        records), so the next test starts from nothing; faults, sessions and tokens stay."""
        self.journal.clear()
        self.memory.clear()
        self.systems.clear()


STATE = web.AppKey("sandbox_state", SandboxState)
