"""A Faust table written with an explicit changelog partition.

Faust writes a table change to the changelog partition of "the current event", which a
batching agent (``noack_take``) cannot give: one batch mixes partitions. Here the caller
names the partition of the input record the change belongs to, so the change is restored on
whichever worker owns that partition after a restart or a rebalance. Keys and values are
bytes; a deleted key leaves a tombstone.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

from faust.types import TableT


class PartitionedTable:
    def __init__(self, table: TableT[bytes, bytes]) -> None:
        self._table = table

    @property
    def _store(self) -> Any:
        return self._table.data

    def get(self, key: bytes) -> bytes | None:
        return cast(bytes | None, self._store.get(key))

    def put(self, partition: int, key: bytes, value: bytes) -> None:
        self._store[key] = value
        self._table.send_changelog(partition, key, value)

    def delete(self, partition: int, key: bytes) -> None:
        self._store.pop(key, None)
        self._table.send_changelog(partition, key, None, value_serializer="raw")

    def forget(self, key: bytes) -> None:
        """Drop ``key`` from this worker's memory only; the changelog keeps it until its retention."""
        self._store.pop(key, None)

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        return iter(list(self._store.items()))

    def __len__(self) -> int:
        return len(self._store)
