"""A fast loopback destination for the deliver bench, and the client that drives it.

The sandbox (``crmbus sandbox``) checks every contract and logs every request, and costs
about 0.4 ms of CPU per request: on two cores shared with Kafka and the system under test it
would be the bottleneck long before the sinks. This one answers every POST under
``/<system>/…`` the way the sandbox answers a success, on a raw ``asyncio.Protocol`` (keep-alive
HTTP/1.1, about 30 µs per request), and keeps what the bench needs:

- each request's ``Idempotency-Key``, system and arrival time (``time.time()``);
- Stripe-like idempotency: the first success per (system, key) acts, a repeat is answered again
  with ``Idempotent-Replayed: true`` and recorded as a replay (``duplicate``);
- failures on demand: ``{"mode": "status", "status": 503}`` makes a system answer that status
  without acting until ``{"mode": "ok"}``.

Control API (same paths as the sandbox's): ``GET /_control/health``, ``POST
/_control/{system}/failures``, ``GET /_control/{system}/requests`` (compact rows
``[key, at, applied, duplicate, status]``), ``DELETE /_control/requests``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import httpx
import orjson

_OK = b'{"id":"bench-1","status":"created","zaapId":"z","messageId":"m"}'
_REASONS = {200: b"OK", 201: b"Created", 204: b"No Content", 404: b"Not Found", 400: b"Bad Request"}
_HEAD_END = b"\r\n\r\n"

Row = tuple[str | None, float, bool, bool, int]


class State:
    def __init__(self) -> None:
        self.rows: dict[str, list[Row]] = {}
        self.applied: set[tuple[str, str]] = set()
        self.failing: dict[str, int] = {}

    def clear(self) -> None:
        self.rows.clear()
        self.applied.clear()

    def answer(self, method: bytes, path: str, key: str | None, body: bytes) -> tuple[int, bytes, bytes]:
        """(status, extra header lines, body) for one request."""
        parts = path.split("/", 3)
        system = parts[1] if len(parts) > 1 else ""
        if system == "_control":
            return self._control(method, parts[2:], body)
        at = time.time()
        status = self.failing.get(system)
        if status is not None:
            self.rows.setdefault(system, []).append((key, at, False, False, status))
            body = b'{"error":"injected_failure","message":"the bench destination was told to fail"}'
            return status, b"", body
        if key is not None and (system, key) in self.applied:
            self.rows.setdefault(system, []).append((key, at, False, True, 201))
            return 201, b"Idempotent-Replayed: true\r\n", _OK
        if key is not None:
            self.applied.add((system, key))
        self.rows.setdefault(system, []).append((key, at, True, False, 201))
        return 201, b"", _OK

    def delay_s(self, path: str) -> float:
        """How long to hold the answer to a request for ``path`` (a slow destination); none here."""
        return 0.0

    def _control(self, method: bytes, parts: list[str], body: bytes) -> tuple[int, bytes, bytes]:
        if parts == ["health"]:
            return 200, b"", b'{"status":"ok"}'
        if method == b"DELETE" and parts == ["requests"]:
            self.clear()
            return 204, b"", b""
        if len(parts) == 2 and parts[1] == "requests":
            return 200, b"", orjson.dumps({"requests": self.rows.get(parts[0], [])})
        if method == b"POST" and len(parts) == 2 and parts[1] == "failures":
            failure = orjson.loads(body)
            if failure.get("mode") == "status":
                self.failing[parts[0]] = int(failure["status"])
            else:
                self.failing.pop(parts[0], None)
            return 204, b"", b""
        return 404, b"", b'{"error":"not_found"}'


class _Connection(asyncio.Protocol):
    def __init__(self, state: State) -> None:
        self.state = state
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(_HEAD_END)) >= 0:
            head = self.buffer[:end].split(b"\r\n")
            length, key = 0, None
            for line in head[1:]:
                name, _, value = line.partition(b":")
                lowered = name.strip().lower()
                if lowered == b"content-length":
                    length = int(value)
                elif lowered == b"idempotency-key":
                    key = value.strip().decode()
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            method, path, _ = head[0].split(b" ", 2)
            status, extra, answer = self.state.answer(method, path.decode(), key, body)
            reason = _REASONS.get(status, b"Error")
            reply = b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (
                status, reason, len(answer), extra, answer,
            )  # fmt: skip
            delay = self.state.delay_s(path.decode())
            if delay > 0:  # the client sends its next request on this connection only after this answer
                asyncio.get_running_loop().call_later(delay, self._write, reply)
            else:
                self._write(reply)

    def _write(self, reply: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(reply)


async def serve(host: str, port: int, ready_file: Path, state: State | None = None) -> None:
    state = state or State()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Connection(state), host, port, backlog=1024)
    ready_file.write_text("ready")
    async with server:
        await server.serve_forever()


@dataclass(frozen=True, slots=True)
class Received:
    """One request as the destination recorded it (the fields the bench reads of the sandbox's)."""

    idempotency_key: str | None
    system: str
    at: float
    applied: bool
    duplicate: bool
    status: int


def _received(system: str, row: Any) -> Received:
    """A compact row of this destination, or a sandbox journal entry (``infra.devtools.sandbox.journal``)."""
    if isinstance(row, dict):
        key, at, applied, duplicate = row["idempotency_key"], row["at"], row["applied"], row["duplicate"]
        return Received(key, system, at, applied, duplicate, row["status"] or 0)
    return Received(row[0], system, row[1], row[2], row[3], row[4])


class DestinationClient:
    """Drive a running fast destination, or a sandbox (``crmbus sandbox``: the same control paths)."""

    def __init__(self, url: str, timeout_s: float = 120.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout_s)

    def fail(self, system: str, status: int = 503) -> None:
        self._http.post(f"/_control/{system}/failures", json={"mode": "status", "status": status}).raise_for_status()

    def heal(self, system: str) -> None:
        self._http.post(f"/_control/{system}/failures", json={"mode": "ok"}).raise_for_status()

    def requests(self, system: str) -> list[Received]:
        response = self._http.get(f"/_control/{system}/requests")
        response.raise_for_status()
        return [_received(system, row) for row in response.json()["requests"]]

    def clear(self) -> None:
        self._http.delete("/_control/requests").raise_for_status()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> DestinationClient:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


def main(state: Callable[[], State] = State, prog: str = "python -m bench.deliver_destination") -> None:
    """Serve ``state()`` until killed (also the entry point of destinations built on ``State``)."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ready-file", type=Path, required=True)
    args = parser.parse_args()
    import uvloop

    uvloop.run(serve(args.host, args.port, args.ready_file, state()))


if __name__ == "__main__":
    main()
