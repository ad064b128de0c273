"""The order holds of one sink process (``streams.order_holds``), read from and written back to a
changelog-backed table. Nothing is cached beyond the batch's own changes, so after a rebalance the
restored table is what is read."""

from __future__ import annotations

import logging
from datetime import datetime

from agents.outputs import Output
from agents.runtime.partitioned_table import PartitionedTable
from streams.order_holds import Hold, after_settling, waits_behind
from streams.retry_policy import Tier

log = logging.getLogger(__name__)


class OrderHolds:
    def __init__(self, table: PartitionedTable) -> None:
        self._table = table
        self._changed: dict[bytes, tuple[int, Hold | None]] = {}

    def get(self, key: bytes) -> Hold | None:
        if key in self._changed:
            return self._changed[key][1]
        stored = self._table.get(key)
        if stored is None:
            return None
        try:
            return Hold.from_bytes(stored)
        except ValueError as error:  # a hold that cannot be read must not stop the order for good
            log.warning("order hold ignored: %s", error)
            return None

    def set(self, partition: int, key: bytes, hold: Hold | None) -> None:
        """``key``'s hold from now on (None: cleared), written by the next ``changelog``."""
        self._changed[key] = (partition, hold)

    def ahead(self, key: bytes, delivery_id: str, now: float) -> Hold | None:
        """The hold ``delivery_id`` must wait behind in ``key``'s order, if any (``waits_behind``)."""
        return waits_behind(self.get(key), delivery_id, now)

    def settle(
        self, partition: int, key: bytes | None, delivery_id: str, waiting: tuple[Tier, datetime] | None, now: float
    ) -> None:
        """Keep ``key``'s hold as settling ``delivery_id`` leaves it (``after_settling``); ``waiting``
        is the tier and due time it now waits for, None when it is through. No order (None): nothing."""
        if key is None:
            return
        hold = self.get(key)
        settled = after_settling(hold, delivery_id, waiting, now)
        if settled != hold:
            self.set(partition, key, settled)

    def changelog(self) -> list[Output]:
        """The changelog records of the holds changed since the last call (a cleared one: a tombstone)."""
        changed, self._changed = self._changed, {}
        return [
            self._table.put(partition, key, hold.to_bytes()) if hold is not None else self._table.delete(partition, key)
            for key, (partition, hold) in changed.items()
        ]
