"""Which delayed actions are due: an index over the scheduler's table, by due time.

The table (Kafka-backed) is the truth; this index is what lets a tick find the due entries
without scanning it. It is rebuilt from the table whenever the worker's partitions change, and
an entry popped here is only fired if the table still holds it.
"""

from __future__ import annotations

import heapq
import struct
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field


@dataclass(order=True, frozen=True, slots=True)
class DueEntry:
    due: float
    key: bytes = field(compare=True)
    partition: int = field(compare=False)


class DueIndex:
    """A min-heap of entries by due time (epoch seconds)."""

    def __init__(self, entries: Iterable[DueEntry] = ()) -> None:
        self._heap = list(entries)
        heapq.heapify(self._heap)

    def add(self, entry: DueEntry) -> None:
        heapq.heappush(self._heap, entry)

    def pop_due(self, now: float, partitions: Collection[int], limit: int = 10_000) -> list[DueEntry]:
        """Entries due at ``now`` on ``partitions``, earliest first; others' entries are dropped
        (a partition this worker lost is another worker's to fire)."""
        due: list[DueEntry] = []
        while self._heap and self._heap[0].due <= now and len(due) < limit:
            entry = heapq.heappop(self._heap)
            if entry.partition in partitions:
                due.append(entry)
        return due

    def next_due(self) -> float | None:
        return self._heap[0].due if self._heap else None

    def __len__(self) -> int:
        return len(self._heap)


_PENDING_HEAD = struct.Struct(">dHHH")


@dataclass(frozen=True, slots=True)
class Pending:
    """A delayed action as the scheduler's table stores it: when, where to, and the record."""

    due: float
    partition: int
    topic: str
    key: bytes
    value: bytes

    def pack(self) -> bytes:
        topic = self.topic.encode()
        return _PENDING_HEAD.pack(self.due, self.partition, len(topic), len(self.key)) + topic + self.key + self.value

    @classmethod
    def unpack(cls, data: bytes) -> Pending:
        due, partition, topic_len, key_len = _PENDING_HEAD.unpack_from(data)
        start = _PENDING_HEAD.size
        topic = data[start : start + topic_len].decode()
        key = data[start + topic_len : start + topic_len + key_len]
        return cls(due, partition, topic, key, data[start + topic_len + key_len :])
