"""Idempotency keys the router has acted on, per tenant, remembered for ``dedupe_ttl_s``.

The key is (tenant, the producer's idempotency key or else the event id), so two tenants can
never collide and a re-read record (after a crash, before its offset was committed) is seen as
what it is. A key is remembered only after the event's outputs were acknowledged by Kafka, so
a key can never hide work that was not done.

Expiry has two halves: a lookup ignores a key older than the TTL, and the changelog topic's
retention (compact + delete, slightly over the TTL) lets Kafka drop old keys, so a restarted
worker restores only live ones. ``sweep`` frees this worker's memory of expired keys.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

from agents.outputs import Output
from agents.runtime.partitioned_table import PartitionedTable

_STAMP = struct.Struct(">d")


def dedupe_key(tenant_id: str, key: str) -> bytes:
    return f"{tenant_id}\x1f{key}".encode()


class DedupeStore:
    def __init__(self, table: PartitionedTable, ttl_s: float, clock: Callable[[], float] = time.time) -> None:
        self._table, self._ttl_s, self._clock = table, ttl_s, clock

    def seen(self, key: bytes) -> bool:
        stamp = self._table.get(key)
        return stamp is not None and self._clock() - _STAMP.unpack(stamp)[0] < self._ttl_s

    def remember(self, partition: int, key: bytes) -> Output:
        """Remember ``key``; the returned changelog record must be written for it to last."""
        return self._table.put(partition, key, _STAMP.pack(self._clock()))

    def sweep(self) -> int:
        """Forget expired keys held in memory; returns how many."""
        horizon = self._clock() - self._ttl_s
        expired = [key for key, stamp in self._table.items() if _STAMP.unpack(stamp)[0] < horizon]
        for key in expired:
            self._table.forget(key)
        return len(expired)
