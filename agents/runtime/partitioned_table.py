"""A Faust table whose changes the agent writes itself, to an explicit changelog partition.

Faust writes a table change to the changelog partition of "the current event", which a
batching agent (``agents.runtime.take``) cannot give: one batch mixes partitions. And Faust's own send
path costs far more per record than the confluent producer the agents already use. So ``put``
and ``delete`` change this worker's copy and return the changelog record; the agent writes it
with its other outputs (``OutputWriter``), acknowledged by Kafka before the batch is. Faust
still owns the changelog topic and restores the table from it after a restart or a rebalance.
Keys and values are bytes; a deleted key leaves a tombstone.

Faust's memory store remembers the partition of each key it restored and, once a rebalance's
recovery completes, drops the keys of partitions the worker no longer holds. A key changed here
is marked with its partition the same way, or the worker would keep (and later act on) state of a
partition another worker now owns.
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
        store = self._store
        store[key] = value
        if isinstance(store, MemoryStore):
            store._key_partition[key] = partition
        return Output(self._table.changelog_topic.get_topic_name(), key, value, partition=partition)

    def delete(self, partition: int, key: bytes) -> Output:
        self.forget(key)
        return Output(self._table.changelog_topic.get_topic_name(), key, None, partition=partition)

    def forget(self, key: bytes) -> None:
        """Drop ``key`` from this worker's memory only; the changelog keeps it until its retention."""
        store = self._store
        store.pop(key, None)
        if isinstance(store, MemoryStore):
            store._key_partition.pop(key, None)

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        return iter(list(self._store.items()))

    def __len__(self) -> int:
        return len(self._store)
