"""Everything a running sandbox holds in memory, shared by its systems and its control API."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from infra.devtools.sandbox.faults import Faults
from infra.devtools.sandbox.idempotency import IdempotencyMemory
from infra.devtools.sandbox.journal import Journal
from infra.devtools.sandbox.systems import Systems


@dataclass(slots=True)
class SandboxState:
    journal: Journal = field(default_factory=Journal)
    memory: IdempotencyMemory = field(default_factory=IdempotencyMemory)
    faults: Faults = field(default_factory=Faults)
    systems: Systems = field(default_factory=Systems)

    def clear(self) -> None:
        """Forget every request, key and lead, so the next test starts from nothing; faults stay."""
        self.journal.clear()
        self.memory.clear()
        self.systems.clear()


STATE = web.AppKey("sandbox_state", SandboxState)
