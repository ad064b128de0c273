"""The circuit breakers of one sink process: a state per (tenant, destination), read from and
written back to a changelog-backed table, with the open circuits counted per destination."""

from __future__ import annotations

from collections import Counter

from agents.outputs import Output
from agents.runtime.partitioned_table import PartitionedTable
from infra.core.metrics import CIRCUITS_OPEN
from streams.circuit import CircuitConfig, CircuitState
from streams.sink_decisions import circuit_kind


class CircuitBook:
    """Circuit states per (tenant, destination), kept in a changelog-backed table."""

    def __init__(self, table: PartitionedTable, config: CircuitConfig) -> None:
        self._table, self.config = table, config
        self._states: dict[bytes, CircuitState] = {}
        self._changed: dict[bytes, int] = {}

    def get(self, key: bytes) -> CircuitState:
        state = self._states.get(key)
        if state is None:
            stored = self._table.get(key)
            state = CircuitState.from_bytes(stored) if stored is not None else CircuitState()
            self._states[key] = state
        return state

    def set(self, partition: int, key: bytes, state: CircuitState) -> None:
        if state != self._states.get(key):
            self._states[key] = state
            self._changed[key] = partition

    def changelog(self) -> list[Output]:
        """The changelog records of the states changed since the last call."""
        changed, self._changed = self._changed, {}
        if changed:
            unwell = Counter(circuit_kind(key) for key, s in self._states.items() if s.state != "closed")
            for kind in {circuit_kind(key) for key in self._states}:
                CIRCUITS_OPEN.labels(destination=kind).set(unwell[kind])
        return [self._table.put(partition, key, self._states[key].to_bytes()) for key, partition in changed.items()]
