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

Faust's RocksDB store (``agents.runtime.table_stores``) keeps one database per partition and
writes to "the current event's" partition too; here a change goes straight to its partition's
database. That store records in each database the changelog offset it holds up to only for
changes Faust sent itself, so ``checkpoint`` records it for the changes written here: a restart
then reads only the changelog past it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

from faust.stores.memory import Store as MemoryStore
from faust.stores.rocksdb import Store as RocksStore
from faust.types import TP, AppT, TableT

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
        if isinstance(store, RocksStore):  # not by the current event's partition: a batch mixes them
            for db in store._dbs_for_key(key):
                value = db.get(key)
                if value is not None:
                    return cast(bytes, value)
            return None
        return cast(bytes | None, store.get(key))

    def put(self, partition: int, key: bytes, value: bytes) -> Output:
        store = self._store
        if isinstance(store, RocksStore):
            store._db_for_partition(partition).put(key, value)
        else:
            store[key] = value
        if isinstance(store, MemoryStore):
            store._key_partition[key] = partition
        return Output(self._table.changelog_topic.get_topic_name(), key, value, partition=partition)

    def delete(self, partition: int, key: bytes) -> Output:
        self.forget(key)
        return Output(self._table.changelog_topic.get_topic_name(), key, None, partition=partition)

    def forget(self, key: bytes) -> None:
        """Drop ``key`` from this worker's copy only; the changelog keeps it until its retention."""
        store = self._store
        if isinstance(store, RocksStore):
            for db in store._dbs_for_key(key):
                db.delete(key)
            return
        store.pop(key, None)
        if isinstance(store, MemoryStore):
            store._key_partition.pop(key, None)

    @property
    def expires_by_itself(self) -> bool:
        """Whether the store drops entries past the table's retention without being asked."""
        store = self._store
        return isinstance(store, RocksStore) and store.rocksdb_options.ttl is not None

    async def checkpoint(self, app: AppT) -> int:
        """Record in each of this worker's RocksDB databases the changelog offset it holds up to
        (every change is put here before it is sent), so a restart reads only the changelog past
        it; returns how many partitions were recorded. Nothing while a rebalance or a recovery
        runs (a partition being restored does not hold its changelog yet), nor for other stores."""
        store = self._store
        if not isinstance(store, RocksStore) or app.rebalancing or app.in_recovery:
            return 0
        topic = self._table.changelog_topic.get_topic_name()
        ends = await app.consumer.highwaters(*(TP(topic, partition) for partition in list(store._dbs)))
        if app.rebalancing or app.in_recovery:
            return 0
        recorded = 0
        for tp, end in ends.items():
            if end > 0 and tp.partition in store._dbs:
                store.set_persisted_offset(tp, end - 1)
                recorded += 1
        return recorded

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        return iter(list(self._store.items()))

    def __len__(self) -> int:
        return len(self._store)
