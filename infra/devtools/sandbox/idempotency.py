"""``Idempotency-Key`` as Stripe honours it, per sandbox system.

The first request with a key that succeeds is remembered with its answer; a later request with
the key gets that answer again and does not act. Failures are not remembered — a refusal or an
injected 503 did nothing, so trying again with the same key must be able to act. The same key
with a different request is a client bug, refused with 422 rather than silently replayed.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from infra.devtools.sandbox.contracts import REPLAYED
from infra.devtools.sandbox.systems import Answer, refusal


def fingerprint(action: str, params: dict[str, str], body: Any) -> str:
    """What makes two requests the same request: the operation, its path and its JSON (any key order)."""
    return json.dumps([action, params, body], sort_keys=True)


class IdempotencyMemory:
    """The first successful answer per (system, key)."""

    def __init__(self) -> None:
        self._first: dict[tuple[str, str], tuple[str, Answer]] = {}

    def recall(self, system: str, key: str, request: str) -> Answer | None:
        """The answer to send instead of acting, if ``key`` was used before on ``system``."""
        first = self._first.get((system, key))
        if first is None:
            return None
        seen, answer = first
        if seen != request:
            return refusal(422, "idempotency_key_reused", "this Idempotency-Key was used with another request")
        return dataclasses.replace(answer, headers={**answer.headers, REPLAYED: "true"}, replayed=True)

    def remember(self, system: str, key: str, request: str, answer: Answer) -> None:
        if answer.succeeded:
            self._first.setdefault((system, key), (request, answer))

    def clear(self) -> None:
        self._first.clear()
