"""The destinations of the e2e bench: every system, crmbus and baselines alike, delivers here.

It is the deliver bench's fast destination (``bench.deliver_destination``: a raw asyncio server
that answers every ``POST /<system>/…`` as the sandbox answers a success and honours
``Idempotency-Key``), plus a journal keyed by event: each successful request's system, the tag
and sequence number its body's phone carries (``bench.e2e_events``) and its ``time.monotonic()``
arrival, the clock the generator's schedule is in. ``GET /_control/e2e/<tag>/progress`` counts a
phase's complete events cheaply while the bench waits; ``GET /_control/e2e/<tag>`` returns its
rows ``[system, seq, at]`` once.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from types import TracebackType

import httpx
import orjson

from bench.deliver_destination import State, _Connection
from bench.e2e_accounting import Arrival
from bench.e2e_events import tag_and_seq

DESTINATIONS = ("crm", "zapi", "marketing")  # what the seed flows make of a consenting lead
_BITS = {name: 1 << index for index, name in enumerate(DESTINATIONS)}
_ALL = (1 << len(DESTINATIONS)) - 1


class Journal(State):
    """The fast destination's state, and per tag the arrivals and each event's destinations so far."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: dict[int, list[tuple[str, int, float]]] = {}
        self.seen: dict[int, dict[int, int]] = {}  # tag -> seq -> bit mask of destinations
        self.complete: dict[int, int] = {}

    def clear(self) -> None:
        super().clear()
        self.arrivals.clear()
        self.seen.clear()
        self.complete.clear()

    def answer(self, method: bytes, path: str, key: str | None, body: bytes) -> tuple[int, bytes, bytes]:
        at = time.monotonic()
        if path.startswith("/_control/e2e/"):
            return self._e2e(path.split("/")[3:])
        status, extra, answer = super().answer(method, path, key, body)
        system = path.split("/", 2)[1]
        found = tag_and_seq(body) if 200 <= status < 300 and system in _BITS else None
        if found is not None:
            tag, seq = found
            self.arrivals.setdefault(tag, []).append((system, seq, at))
            seen = self.seen.setdefault(tag, {})
            before = seen.get(seq, 0)
            seen[seq] = before | _BITS[system]
            if seen[seq] == _ALL and before != _ALL:
                self.complete[tag] = self.complete.get(tag, 0) + 1
        return status, extra, answer

    def _e2e(self, parts: list[str]) -> tuple[int, bytes, bytes]:
        if not parts or not parts[0].isdigit():
            return 404, b"", b'{"error":"not_found"}'
        tag = int(parts[0])
        if parts[1:] == ["progress"]:
            progress = {"complete": self.complete.get(tag, 0), "arrivals": len(self.arrivals.get(tag, []))}
            return 200, b"", orjson.dumps(progress)
        return 200, b"", orjson.dumps({"arrivals": self.arrivals.get(tag, [])})


async def serve(host: str, port: int, ready_file: Path) -> None:
    journal = Journal()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Connection(journal), host, port, backlog=1024)
    ready_file.write_text("ready")
    async with server:
        await server.serve_forever()


class ReceiverClient:
    """What the bench asks the receiver: a phase's progress and arrivals, and a fresh journal."""

    def __init__(self, url: str, timeout_s: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout_s)

    def progress(self, tag: int) -> tuple[int, int]:
        """(complete events, successful requests) of phase ``tag`` so far."""
        response = self._http.get(f"/_control/e2e/{tag}/progress")
        response.raise_for_status()
        found = response.json()
        return int(found["complete"]), int(found["arrivals"])

    def arrivals(self, tag: int) -> list[Arrival]:
        response = self._http.get(f"/_control/e2e/{tag}")
        response.raise_for_status()
        return [Arrival(system, seq, at) for system, seq, at in orjson.loads(response.content)["arrivals"]]

    def clear(self) -> None:
        self._http.delete("/_control/requests").raise_for_status()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ReceiverClient:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.e2e_receiver")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ready-file", type=Path, required=True)
    args = parser.parse_args()
    import uvloop

    uvloop.run(serve(args.host, args.port, args.ready_file))


if __name__ == "__main__":
    main()
