"""Re-reads records Faust fetched but never handed to an agent.

faust-streaming drops records it has already fetched in some races around a rebalance: a batch
being drained when the consumer generation changes or flow control is suspended is cut short
(``Consumer.getmany``, ``Consumer._drain_messages`` and ``Stream._py_aiter`` skip the rest; see
faust-streaming#216, #221, #223). Those records were never acknowledged, and the workers'
consumer never commits over them (``agents.runtime.consumer``), so nothing is lost; but the consumer's
position is already past them and Faust only reads them again after the next rebalance: until
then the partition's commits are stalled, and so may its agent be. It happened here after a
worker was restarted following a ``kill -9``: once the lane's position stood at 200 while its
agent, idle, had handled 12; another time the agent got offsets 0-4 and then 160-199.

Two guards. Each batch an agent handles is checked for a hole before or inside it (an offset past
the one expected next): the hole is read again at once. And every few seconds each source
partition is looked at: a partition whose position is ahead of what its idle agent handled, whose
commit waits on a record never acknowledged while later ones were, or whose records wait while
nothing is fetched (Faust can leave a partition out of its fetches after a full buffer), with
nothing changed since the previous look, is sought back and resumed. Either guard reads a given
hole again once. Records read again are absorbed downstream like any redelivery (dedupe,
delivery ids).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

P = TypeVar("P")


@dataclass(frozen=True, slots=True)
class Reading:
    """One partition at one look: the consumer's next fetch offset, the offset after the last
    record handled (None: not known yet), whether its agent was waiting for records, the
    partition's end offset (not compared between looks: producers may keep writing), and the
    committed offset if later records were acknowledged but the one there never was."""

    position: int
    handled_next: int | None
    idle: bool
    end: int | None = field(default=None, compare=False)
    hole: int | None = None

    def read_from(self) -> int | None:
        """Where to read again if this partition is stuck, else None: a record its commit waits
        for, records fetched past the last one handled, or records waiting that are not being
        fetched at all."""
        if self.hole is not None:
            return self.hole
        if self.handled_next is not None and self.position > self.handled_next:
            return self.handled_next
        if self.end is not None and self.end > max(self.position, self.handled_next or 0):
            return self.position
        return None


class StallDetector(Generic[P]):
    def __init__(self) -> None:
        self._previous: dict[P, Reading] = {}
        self._sought: dict[P, Reading] = {}

    def observe(self, now: Mapping[P, Reading]) -> dict[P, int]:
        """The partitions to seek back, each with the offset to read again from."""
        stalled = {}
        for partition, reading in now.items():
            offset = reading.read_from()
            if (
                offset is not None
                and reading.idle
                and self._previous.get(partition) == reading
                and self._sought.get(partition) != reading
            ):
                stalled[partition] = offset
                self._sought[partition] = reading
        self._previous = dict(now)
        return stalled

    def forget(self) -> None:
        """After a rebalance: positions and handled offsets start afresh."""
        self._previous.clear()
        self._sought.clear()


class Progress(Generic[P]):
    """What each agent is doing, as the guard needs it: busy or idle per topic, and per partition
    the offset after the last record handled in this consumer generation.

    It also finds holes: an offset in a batch past the one expected next (the last handled + 1,
    or Faust's committed offset for a partition's first batch) means Faust skipped the records in
    between. Each hole is reported once.
    """

    def __init__(self) -> None:
        self._busy: dict[str, int] = {}
        self._handled_next: dict[P, int] = {}
        self._generation: int | None = None
        self._reported: set[tuple[P, int, int]] = set()

    def begin(self, topics: tuple[str, ...]) -> None:
        for topic in topics:
            self._busy[topic] = self._busy.get(topic, 0) + 1

    def end(
        self,
        topics: tuple[str, ...],
        offsets: Mapping[P, Sequence[int]],
        generation: int,
        committed: Mapping[P, int | None],
    ) -> dict[P, int]:
        """Record a handled batch (``offsets``: its records' offsets per partition, in the order
        read); returns the partitions with a hole before or inside it, each with the offset to
        read again from."""
        if generation != self._generation:  # a rebalance: what was handled before says nothing now
            self._generation = generation
            self._handled_next.clear()
            self._reported.clear()
        for topic in topics:
            self._busy[topic] -= 1
        holes = {}
        for partition, read in offsets.items():
            expected = self._handled_next.get(partition, committed.get(partition))
            hole = _first_hole(read, expected)
            if hole is not None and (partition, *hole) not in self._reported:
                self._reported.add((partition, *hole))
                holes[partition] = hole[0]
            self._handled_next[partition] = max(self._handled_next.get(partition, 0), max(read) + 1)
        return holes

    def idle(self, topic: str) -> bool:
        return self._busy.get(topic, 0) == 0

    def handled_next(self, partition: P) -> int | None:
        return self._handled_next.get(partition)


def _first_hole(offsets: Sequence[int], expected: int | None) -> tuple[int, int] | None:
    """(first missing offset, the offset read after it) if ``offsets``, read in this order after
    ``expected`` (None: unknown), skip one; offsets at or below those already read are re-reads."""
    for offset in offsets:
        if expected is not None and offset > expected:
            return expected, offset
        expected = max(expected if expected is not None else offset, offset + 1)
    return None
