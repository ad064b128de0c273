"""The idempotent destination of the chaos suite and ``bench run chaos``, and the client that drives it.

It is the e2e receiver (``bench.e2e_receiver.Journal``: the deliver bench's fast destination,
which applies each ``Idempotency-Key`` once and answers a repeat as a replay, plus a journal of
complete events per tag) that also keeps, per tag, every successful request's system, the event's
sequence number (from the lead's phone, ``bench.e2e_events``), its ``Idempotency-Key``, its
``time.monotonic()`` arrival and whether it was a replay, so that the harness can tell an
*effective* duplicate (one event applied under two keys) from a harmless redelivery (the same key
again). It misbehaves on demand, per system:

- ``{"mode": "status", "status": 503}`` at ``/_control/{system}/failures``: fails every request;
- ``{"mode": "slow", "delay_s": 2}`` at ``/_control/chaos/{system}``: answers after the delay;
- ``{"mode": "throttle", "per_s": 20, "retry_after_s": 1}``: over ``per_s`` requests in a second,
  answers 429 with ``Retry-After``;
- ``{"mode": "ok"}`` at either: behaves again.

``GET /_control/chaos/ledger/<tag>`` returns the rows ``[system, seq, key, at, replay]``;
``GET /_control/chaos/attempts`` the requests answered per system and status.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass

import orjson

from bench.deliver_destination import DestinationClient, main
from bench.e2e_events import tag_and_seq
from bench.e2e_receiver import Journal


@dataclass(frozen=True, slots=True)
class Application:
    """One successful request as the ledger saw it (``at_s``: its ``time.monotonic()``)."""

    system: str
    seq: int
    key: str | None
    at_s: float
    replay: bool  # the key had been applied before: answered again, not applied again


@dataclass(slots=True)
class _Throttle:
    per_s: int
    retry_after_s: int
    window: int = -1
    used: int = 0

    def admits(self, now: float) -> bool:
        if math.floor(now) != self.window:
            self.window, self.used = math.floor(now), 0
        self.used += 1
        return self.used <= self.per_s


class Ledger(Journal):
    def __init__(self) -> None:
        super().__init__()
        self.ledger: dict[int, list[tuple[str, int, str | None, float, bool]]] = {}
        self.slow: dict[str, float] = {}
        self.throttles: dict[str, _Throttle] = {}
        self.attempts: Counter[tuple[str, int]] = Counter()

    def clear(self) -> None:
        super().clear()
        self.ledger.clear()
        self.attempts.clear()

    def answer(self, method: bytes, path: str, key: str | None, body: bytes) -> tuple[int, bytes, bytes]:
        if path.startswith("/_control/chaos/"):
            return self._chaos(method, path.split("/")[3:], body)
        system = path.split("/", 2)[1]
        throttle = self.throttles.get(system)
        if throttle is not None and not throttle.admits(time.monotonic()):
            self.attempts[(system, 429)] += 1
            return 429, b"Retry-After: %d\r\n" % throttle.retry_after_s, b'{"error":"rate_limited"}'
        at = time.monotonic()
        status, extra, answer = super().answer(method, path, key, body)
        if system != "_control":
            self.attempts[(system, status)] += 1
        found = tag_and_seq(body) if 200 <= status < 300 and system != "_control" else None
        if found is not None:
            tag, seq = found
            self.ledger.setdefault(tag, []).append((system, seq, key, at, bool(extra)))
        return status, extra, answer

    def delay_s(self, path: str) -> float:
        return self.slow.get(path.split("/", 2)[1], 0.0)

    def _chaos(self, method: bytes, parts: list[str], body: bytes) -> tuple[int, bytes, bytes]:
        if len(parts) == 2 and parts[0] == "ledger" and parts[1].isdigit():
            return 200, b"", orjson.dumps({"rows": self.ledger.get(int(parts[1]), [])})
        if parts == ["attempts"]:
            rows = [[system, status, count] for (system, status), count in self.attempts.items()]
            return 200, b"", orjson.dumps({"attempts": rows})
        if method == b"POST" and len(parts) == 1:
            mode = orjson.loads(body)
            system = parts[0]
            self.slow.pop(system, None)
            self.throttles.pop(system, None)
            if mode.get("mode") == "slow":
                self.slow[system] = float(mode["delay_s"])
            elif mode.get("mode") == "throttle":
                self.throttles[system] = _Throttle(int(mode["per_s"]), int(mode.get("retry_after_s", 1)))
            return 204, b"", b""
        return 404, b"", b'{"error":"not_found"}'


class LedgerClient(DestinationClient):
    """Drive a running ledger: make a system fail, slow down or throttle, read what was applied."""

    def slow(self, system: str, delay_s: float) -> None:
        self._http.post(f"/_control/chaos/{system}", json={"mode": "slow", "delay_s": delay_s}).raise_for_status()

    def throttle(self, system: str, per_s: int, retry_after_s: int = 1) -> None:
        mode = {"mode": "throttle", "per_s": per_s, "retry_after_s": retry_after_s}
        self._http.post(f"/_control/chaos/{system}", json=mode).raise_for_status()

    def heal(self, system: str) -> None:
        super().heal(system)
        self._http.post(f"/_control/chaos/{system}", json={"mode": "ok"}).raise_for_status()

    def complete(self, tag: int) -> int:
        """Events of ``tag`` every destination has got so far."""
        response = self._http.get(f"/_control/e2e/{tag}/progress")
        response.raise_for_status()
        return int(response.json()["complete"])

    def applications(self, tag: int) -> list[Application]:
        response = self._http.get(f"/_control/chaos/ledger/{tag}")
        response.raise_for_status()
        return [Application(*row) for row in orjson.loads(response.content)["rows"]]

    def attempts(self) -> Counter[tuple[str, int]]:
        response = self._http.get("/_control/chaos/attempts")
        response.raise_for_status()
        return Counter({(system, status): count for system, status, count in response.json()["attempts"]})


if __name__ == "__main__":
    main(Ledger, "python -m bench.chaos_ledger")
