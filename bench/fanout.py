"""Matching fan-out records to the input events they came from: complete, lost, duplicated, how late.

Pure bookkeeping, no Kafka. Input events carry ids made by ``EventIds``: the high half says
which phase of which run sent them, the low bits their sequence number, so the scheduled
send time of an event follows from its id and nothing has to be remembered per event.
Output records are ``Delivery`` records (schemas/avro/delivery.v1.avsc) read only as far as
their first two fields, ``delivery_id`` and ``event_id``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

_SEQ_BITS = 62  # below the UUID's variant bits, which ``uuid.UUID(version=4)`` overwrites
_SEQ_MASK = (1 << _SEQ_BITS) - 1
_WIRE_HEADER = 5  # magic byte and schema id of the Confluent wire format


@dataclass(frozen=True, slots=True)
class EventIds:
    """Event ids of one phase: a random tag in the high 64 bits, the sequence number in the low ones."""

    tag: int

    @classmethod
    def fresh(cls) -> EventIds:
        return cls(uuid.uuid4().int >> 64)

    def make(self, seq: int) -> uuid.UUID:
        if not 0 <= seq <= _SEQ_MASK:
            raise ValueError(f"sequence number out of range: {seq}")
        return uuid.UUID(int=(self.tag << 64) | seq, version=4)

    def seq_of(self, event_id: str) -> int | None:
        """The sequence number of an id this phase made, None for any other id."""
        try:
            value = uuid.UUID(event_id).int
        except ValueError:
            return None
        if value >> 64 != self.make(0).int >> 64:
            return None
        return value & _SEQ_MASK


def _avro_string(data: bytes, pos: int) -> tuple[str, int]:
    """An Avro string at ``pos`` (zig-zag varint length, UTF-8 bytes) and the position after it."""
    shift = raw = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated Avro string length")
        byte = data[pos]
        pos += 1
        raw |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
    length = (raw >> 1) ^ -(raw & 1)
    if length < 0 or pos + length > len(data):
        raise ValueError("Avro string runs past the record")
    return data[pos : pos + length].decode(), pos + length


def delivery_ids(value: bytes) -> tuple[str, str]:
    """``(delivery_id, event_id)`` of a wire-format Delivery record, without decoding the rest."""
    delivery_id, pos = _avro_string(value, _WIRE_HEADER)
    event_id, _ = _avro_string(value, pos)
    return delivery_id, event_id


@dataclass(frozen=True, slots=True)
class Output:
    """One fan-out record as read back from a ``crmbus.deliver.<destination>`` topic."""

    event_id: str
    delivery_id: str
    destination: str
    at_ms: float  # the record's timestamp: when the broker appended it (LogAppendTime)


@dataclass(slots=True)
class Tally:
    """What one phase's outputs say about its ``sent`` input events."""

    sent: int
    fanout: int
    complete: int = 0
    outputs: int = 0
    duplicates: int = 0  # records beyond the first of each (event, delivery id)
    overfull: int = 0  # events with more distinct deliveries than the expected fan-out
    foreign: int = 0  # records of events this phase did not send (or whose send failed)
    destinations: dict[str, int] = field(default_factory=dict)  # distinct deliveries per destination
    latencies_ms: list[float] = field(default_factory=list)  # complete events, from the scheduled send
    completed_at_ms: list[float] = field(default_factory=list)  # complete events: their last fan-out record

    @property
    def lost(self) -> int:
        """Sent events that did not get their whole fan-out."""
        return self.sent - self.complete


def tally(
    outputs: Iterable[Output],
    ids: EventIds,
    sent: int,
    fanout: int,
    scheduled_ms: Callable[[int], float],
    failed: frozenset[int] = frozenset(),
) -> Tally:
    """Match ``outputs`` to events ``0 .. sent-1`` of ``ids`` (minus the ``failed`` sends).

    An event is complete when ``fanout`` distinct delivery ids reached it; it completed when
    the first copy of the last of them landed (a later duplicate changes nothing).
    """
    expected = sent - len(failed)
    result = Tally(sent=expected, fanout=fanout)
    first_seen: dict[int, dict[str, float]] = {}
    for output in outputs:
        result.outputs += 1
        seq = ids.seq_of(output.event_id)
        if seq is None or not 0 <= seq < sent or seq in failed:
            result.foreign += 1
            continue
        deliveries = first_seen.setdefault(seq, {})
        if output.delivery_id in deliveries:
            result.duplicates += 1
            deliveries[output.delivery_id] = min(deliveries[output.delivery_id], output.at_ms)
            continue
        deliveries[output.delivery_id] = output.at_ms
        result.destinations[output.destination] = result.destinations.get(output.destination, 0) + 1
    for seq, deliveries in first_seen.items():
        if len(deliveries) > fanout:
            result.overfull += 1
        if len(deliveries) >= fanout:
            done = max(deliveries.values())
            result.complete += 1
            result.completed_at_ms.append(done)
            result.latencies_ms.append(done - scheduled_ms(seq))
    return result


@dataclass(frozen=True, slots=True)
class Drain:
    """How fast a backlog was worked off once the generator had finished writing it."""

    events: int  # events completed after the backlog was fully written
    seconds: float
    share: float  # of the backlog's complete events: a small share means the generator was the limit

    @property
    def per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def drain(completed_at_ms: Iterable[float], written_at_ms: float) -> Drain:
    """Events/s completed between the end of the backlog's writing and the last completion.

    Counting only after the writing ended keeps the generator's CPU out of the figure: from
    then on the system under test had the machine, and work left, until its last completion.
    """
    times = list(completed_at_ms)
    after = [t for t in times if t > written_at_ms]
    seconds = (max(after) - written_at_ms) / 1000 if after else 0.0
    return Drain(events=len(after), seconds=seconds, share=len(after) / len(times) if times else 0.0)
