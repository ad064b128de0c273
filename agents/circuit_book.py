"""The circuit breakers of one sink process: a state per (tenant, destination), read from and
written back to a changelog-backed table, with the open circuits counted per destination.

The states follow their partitions: the table is co-partitioned with the deliver topics, so the
worker that owns a tenant's deliveries owns its circuits. After a rebalance (or a restart) Faust
restores the table, dropping the keys of partitions handed away, and ``reload`` makes the book
read every state again from it: a worker never acts on a state another worker now keeps."""

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
        self._changed: dict[bytes, tuple[int, CircuitState]] = {}
        self._kinds: set[str] = set()  # destination kinds whose gauge was ever set, to zero after a reload

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
            self._changed[key] = (partition, state)

    def reload(self) -> None:
        """Forget the states read so far: the table was restored (a rebalance, a start-up), so
        each state is read from it again, and those of partitions handed away are gone. A change
        not yet written (a batch under way) is still written by the next ``changelog``."""
        self._states = {}
        self._count()

    def changelog(self) -> list[Output]:
        """The changelog records of the states changed since the last call."""
        changed, self._changed = self._changed, {}
        if changed:
            self._count()
        return [self._table.put(partition, key, state.to_bytes()) for key, (partition, state) in changed.items()]

    def _count(self) -> None:
        self._kinds |= {circuit_kind(key) for key in self._states}
        unwell = Counter(circuit_kind(key) for key, s in self._states.items() if s.state != "closed")
        for kind in self._kinds:
            CIRCUITS_OPEN.labels(destination=kind).set(unwell[kind])
