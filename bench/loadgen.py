"""The open-loop HTTP/1.1 load generator that runs inside one process.

Open loop: request ``i`` is due at ``start + i / rate`` whatever the server does, and its
latency is measured from that scheduled instant, so a stalled server is charged for every
request it delayed (no coordinated omission). Each keep-alive connection carries one
request at a time (no pipelining); the connections are the in-flight cap, and a request
that is due while every connection is busy is counted as an ``overflow`` error instead of
being queued. Raw ``asyncio.Protocol`` rather than an HTTP client library: aiohttp's client
costs several times more CPU per request, and on two cores the generator's CPU is taken
from the server under test.
"""

from __future__ import annotations

import asyncio
import time
from array import array
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Protocol, cast

# A send this much behind its schedule means the generator itself could not keep up.
LATE_SEND_S = 0.005
_TICK_S = 0.001
_CONNECT_WAVE = 64  # connections opened at once, to stay inside the server's listen backlog
_SAMPLE_CHARS = 300


class Workload(Protocol):
    """What to send and how to judge the answer; picklable, it travels to the generator processes."""

    @property
    def events_per_request(self) -> int: ...

    def request(self, seq: int) -> bytes:
        """The whole HTTP/1.1 request number ``seq`` of this load (unique idempotency keys)."""
        ...

    def judge(self, status: int, body: bytes) -> tuple[int, str | None]:
        """Events accepted by this answer, and an error kind when the answer is not a full success."""
        ...


@dataclass(frozen=True, slots=True)
class LoadSpec:
    host: str
    port: int
    workload: Workload
    rate: float  # requests per second, for this process
    duration_s: float
    max_in_flight: int  # keep-alive connections this process opens
    drain_s: float = 3.0

    @property
    def total(self) -> int:
        return round(self.rate * self.duration_s)


@dataclass(slots=True)
class LoadResult:
    """What one open-loop run saw; results of several processes merge into one."""

    duration_s: float = 0.0
    events_per_request: int = 1
    scheduled: int = 0
    sent: int = 0
    accepted_events: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    samples: dict[str, str] = field(default_factory=dict)  # first answer body seen per error kind
    latencies_ms: array[float] = field(default_factory=lambda: array("d"))  # answers that accepted everything
    late_sends: int = 0
    cpu_s: float = 0.0

    @property
    def scheduled_events(self) -> int:
        return self.scheduled * self.events_per_request

    @property
    def error_rate(self) -> float:
        """Share of scheduled events not accepted: rejected, failed, timed out or never sent."""
        if self.scheduled_events == 0:
            return 0.0
        return 1.0 - self.accepted_events / self.scheduled_events

    @property
    def accepted_per_s(self) -> float:
        return self.accepted_events / self.duration_s if self.duration_s else 0.0

    @property
    def late_share(self) -> float:
        return self.late_sends / self.sent if self.sent else 0.0

    def merge(self, other: LoadResult) -> LoadResult:
        merged = LoadResult(
            duration_s=max(self.duration_s, other.duration_s),
            events_per_request=other.events_per_request,
            scheduled=self.scheduled + other.scheduled,
            sent=self.sent + other.sent,
            accepted_events=self.accepted_events + other.accepted_events,
            errors=self.errors + other.errors,
            samples={**other.samples, **self.samples},
            latencies_ms=array("d", self.latencies_ms),
            late_sends=self.late_sends + other.late_sends,
            cpu_s=self.cpu_s + other.cpu_s,
        )
        merged.latencies_ms.extend(other.latencies_ms)
        return merged


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request in flight at most, answers parsed by hand."""

    def __init__(self, owner: _OpenLoop) -> None:
        self.owner = owner
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.scheduled_at = 0.0
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def send(self, request: bytes, scheduled_at: float) -> None:
        assert self.transport is not None
        self.scheduled_at = scheduled_at
        self.busy = True
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        parsed = _parse_response(self.buffer)
        if parsed is None:
            return
        status, body, consumed, closing = parsed
        del self.buffer[:consumed]
        self.busy = False
        self.owner.answered(self, status, body, closing)

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner.lost(self)


def _parse_response(buffer: bytearray) -> tuple[int, bytes, int, bool] | None:
    """(status, body, bytes consumed, server closes) of one complete response, or None if partial."""
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = bytes(buffer[:head_end]).lower()
    status = int(head[9:12])
    closing = b"\r\nconnection: close" in head
    at = head.find(b"\r\ncontent-length:")
    if at >= 0:
        line_end = head.find(b"\r\n", at + 2)
        length = int(head[at + 17 : line_end if line_end >= 0 else len(head)])
        end = head_end + 4 + length
        if len(buffer) < end:
            return None
        return status, bytes(buffer[head_end + 4 : end]), end, closing
    if b"\r\ntransfer-encoding: chunked" in head:
        return _parse_chunked(buffer, head_end + 4, status, closing)
    return status, b"", head_end + 4, closing


def _parse_chunked(buffer: bytearray, pos: int, status: int, closing: bool) -> tuple[int, bytes, int, bool] | None:
    body = bytearray()
    while True:
        size_end = buffer.find(b"\r\n", pos)
        if size_end < 0:
            return None
        size = int(bytes(buffer[pos:size_end]).split(b";")[0], 16)
        if size == 0:
            if len(buffer) < size_end + 4:
                return None
            return status, bytes(body), size_end + 4, closing
        if len(buffer) < size_end + 2 + size + 2:
            return None
        body += buffer[size_end + 2 : size_end + 2 + size]
        pos = size_end + 2 + size + 2


class _OpenLoop:
    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        self.loop = asyncio.get_running_loop()
        self.idle: deque[_Connection] = deque()  # FIFO: spreads load over every connection, so every worker
        self.connections: set[_Connection] = set()
        self.in_flight = 0
        self.running = True
        self.reconnects: set[asyncio.Task[None]] = set()
        self.result = LoadResult(duration_s=spec.duration_s, events_per_request=spec.workload.events_per_request)

    async def open(self, count: int) -> None:
        for wave in range(0, count, _CONNECT_WAVE):
            opened = await asyncio.gather(
                *(self._connect() for _ in range(min(_CONNECT_WAVE, count - wave))), return_exceptions=True
            )
            for outcome in opened:
                if isinstance(outcome, BaseException):
                    self._error("connect", repr(outcome))

    async def _connect(self) -> None:
        _, protocol = await self.loop.create_connection(lambda: _Connection(self), self.spec.host, self.spec.port)
        self.connections.add(protocol)
        self.idle.append(protocol)

    async def drive(self) -> None:
        spec, result, loop = self.spec, self.result, self.loop
        total = spec.total
        result.scheduled = total
        start = loop.time() + 0.01
        seq = 0
        while seq < total:
            now = loop.time()
            due = min(total, int((now - start) * spec.rate) + 1)
            while seq < due:
                scheduled_at = start + seq / spec.rate
                if self.idle:
                    connection = self.idle.popleft()
                    self.in_flight += 1
                    result.sent += 1
                    if now - scheduled_at > LATE_SEND_S:
                        result.late_sends += 1
                    connection.send(spec.workload.request(seq), scheduled_at)
                else:
                    result.errors["overflow"] += 1
                seq += 1
            # The event loop's timers tick in milliseconds: a shorter sleep would spin a core the
            # server needs. Latency counts from the schedule, so this tick is charged, not hidden.
            await asyncio.sleep(max(_TICK_S, start + seq / spec.rate - loop.time()))
        deadline = loop.time() + spec.drain_s
        while self.in_flight and loop.time() < deadline:
            await asyncio.sleep(0.005)
        self.running = False
        if self.in_flight:
            result.errors["timeout"] += self.in_flight
        for connection in self.connections:
            if connection.transport is not None:
                connection.transport.close()

    def answered(self, connection: _Connection, status: int, body: bytes, closing: bool) -> None:
        self.in_flight -= 1
        latency_ms = (self.loop.time() - connection.scheduled_at) * 1000.0
        accepted, error = self.spec.workload.judge(status, body)
        self.result.accepted_events += accepted
        if error is None:
            self.result.latencies_ms.append(latency_ms)
        else:
            self._error(error, body.decode("utf-8", "replace"))
        if closing:
            self._retire(connection)
        else:
            self.idle.append(connection)

    def lost(self, connection: _Connection) -> None:
        if connection.busy:
            connection.busy = False
            self.in_flight -= 1
            self._error("disconnect", "connection closed with a request in flight")
        self._retire(connection)

    def _retire(self, connection: _Connection) -> None:
        if connection not in self.connections:
            return
        self.connections.discard(connection)
        if connection in self.idle:
            self.idle.remove(connection)
        if connection.transport is not None:
            connection.transport.close()
        if self.running:
            task = self.loop.create_task(self.open(1))
            self.reconnects.add(task)
            task.add_done_callback(self.reconnects.discard)

    def _error(self, kind: str, sample: str) -> None:
        self.result.errors[kind] += 1
        self.result.samples.setdefault(kind, sample[:_SAMPLE_CHARS])


async def run_open_loop(spec: LoadSpec) -> LoadResult:
    """Open the connections, send ``rate × duration`` requests on schedule, wait for the answers."""
    cpu_before = time.process_time()
    load = _OpenLoop(spec)
    await load.open(spec.max_in_flight)
    await load.drive()
    load.result.cpu_s = time.process_time() - cpu_before
    return load.result
