"""Keys acted on, remembered for a TTL: the router's idempotency keys (per tenant, for
``dedupe_ttl_s``) and the sinks' finished delivery ids (for ``sink_finished_ttl_s``).

The key is (tenant, the producer's idempotency key or else the event id), so two tenants can
never collide and a re-read record (after a crash, before its offset was committed) is seen as
what it is. A record keyed by entity (``entity`` partitioning, ``streams.partitioning``) adds its
ordering key: the key's entry then lives on the one partition that entity's events take, so it is
found whichever worker holds that partition, and an idempotency key is unique per entity (the
same key on events of two entities is two events, deterministically, rather than one or two
depending on which workers hold which partitions).

A key is remembered only after the event's outputs were acknowledged by Kafka, so a key can never
hide work that was not done.

Expiry has two halves: a lookup ignores a key older than the TTL, and the changelog topic's
retention (compact + delete, slightly over the TTL) lets Kafka drop old keys, so a restarted
worker restores only live ones. In memory, ``sweep`` frees this worker's memory of expired keys;
without it a table's memory grows with every key for as long as the process runs. In RocksDB,
compaction drops them (the databases are opened with the table's retention as TTL).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

from agents.outputs import Output
from agents.runtime.partitioned_table import PartitionedTable

_STAMP = struct.Struct(">d")


def dedupe_key(tenant_id: str, key: str, entity: str | None = None) -> bytes:
    """The table key of ``key`` in ``tenant_id`` (and, for a record keyed by entity, ``entity``)."""
    if entity is None:
        return f"{tenant_id}\x1f{key}".encode()
    return f"{tenant_id}\x1f{entity}\x1f{key}".encode()


class DedupeStore:
    def __init__(self, table: PartitionedTable, ttl_s: float, clock: Callable[[], float] = time.time) -> None:
        self._table, self._ttl_s, self._clock = table, ttl_s, clock
        # Values written before keys were stamped (the sinks' finished ids were a bare b"1") count
        # as stamped when this store was made: they live one TTL more, then are swept like the others.
        self._unstamped_at = clock()

    def _stamped_at(self, value: bytes) -> float:
        return _STAMP.unpack(value)[0] if len(value) == _STAMP.size else self._unstamped_at

    def seen(self, key: bytes) -> bool:
        stamp = self._table.get(key)
        return stamp is not None and self._clock() - self._stamped_at(stamp) < self._ttl_s

    def remember(self, partition: int, key: bytes) -> Output:
        """Remember ``key``; the returned changelog record must be written for it to last."""
        return self._table.put(partition, key, _STAMP.pack(self._clock()))

    def sweep(self) -> int:
        """Forget expired keys held in memory; returns how many (none when the store expires
        them itself, ``agents.runtime.table_stores``: reading every key there is the cost avoided)."""
        if self._table.expires_by_itself:
            return 0
        horizon = self._clock() - self._ttl_s
        expired = [key for key, stamp in self._table.items() if self._stamped_at(stamp) < horizon]
        for key in expired:
            self._table.forget(key)
        return len(expired)
