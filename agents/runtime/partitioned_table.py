"""A Faust table whose changes the agent writes itself, to an explicit changelog partition.

Faust writes a table change to the changelog partition of "the current event", which a
batching agent (``agents.runtime.take``) cannot give: one batch mixes partitions. And Faust's own send
path costs far more per record than the confluent producer the agents already use. So ``put``
and ``delete`` change this worker's copy and return the changelog record; the agent writes it
with its other outputs (``OutputWriter``), acknowledged by Kafka before the batch is. Faust
still owns the changelog topic and restores the table from it after a restart or a rebalance.
Keys and values are bytes; a deleted key leaves a tombstone.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

from faust.stores.memory import Store as MemoryStore
from faust.types import TableT

from agents.outputs import Output


class PartitionedTable:
    def __init__(self, table: TableT[bytes, bytes]) -> None:
        self._table = table

    @property
    def _store(self) -> Any:
        return self._table.data

    def get(self, key: bytes) -> bytes | None:
        store = self._store
        if isinstance(store, MemoryStore):  # a dict underneath: a miss costs no KeyError (Mapping.get)
            return cast(bytes | None, store.data.get(key))
        return cast(bytes | None, store.get(key))

    def put(self, partition: int, key: bytes, value: bytes) -> Output:
        self._store[key] = value
        return Output(self._table.changelog_topic.get_topic_name(), key, value, partition=partition)

    def delete(self, partition: int, key: bytes) -> Output:
        self._store.pop(key, None)
        return Output(self._table.changelog_topic.get_topic_name(), key, None, partition=partition)

    def forget(self, key: bytes) -> None:
        """Drop ``key`` from this worker's memory only; the changelog keeps it until its retention."""
        self._store.pop(key, None)

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        return iter(list(self._store.items()))

    def __len__(self) -> int:
        return len(self._store)
