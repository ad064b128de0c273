"""Webhook signatures. Pure: secrets, bodies and clocks come in; a SignatureError comes out.

Two schemes arrive at the ingress:

* WAHA: ``X-Webhook-Hmac`` is the hex HMAC-SHA512 of the raw body, and WAHA names the algorithm
  in ``X-Webhook-Hmac-Algorithm: sha512``. Any other algorithm is refused, never ignored: a sender
  that signs otherwise is misconfigured. Without the header, sha512 (WAHA's) is meant.
* crmbus (CRM, Operacao, Financeiro): ``X-Crmbus-Timestamp`` (Unix seconds) and
  ``X-Crmbus-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>">``; the timestamp must be
  within ±5 minutes and a signature is accepted once: ``ReplayGuard`` within one process, and
  a claim in PostgreSQL across processes and hosts (``infra.db.signature_claims``).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from streams.errors import SignatureError

TOLERANCE_S = 300
REPLAY_WINDOW_S = TOLERANCE_S * 2
"""How long a used signature is remembered: its timestamp can be up to TOLERANCE_S either side of now."""
SCHEME = "v1"
WAHA_ALGORITHMS = ("sha512",)


def waha_signature(secret: bytes, body: bytes) -> str:
    return hmac.new(secret, body, hashlib.sha512).hexdigest()


def verify_waha(secret: bytes, body: bytes, header: str | None, algorithm: str | None = None) -> None:
    if algorithm is not None and algorithm.strip().lower() not in WAHA_ALGORITHMS:
        raise SignatureError(
            f"X-Webhook-Hmac-Algorithm is not supported; supported: {', '.join(WAHA_ALGORITHMS)}",
            reason="unsupported_algorithm",
        )
    if not header:
        raise SignatureError("X-Webhook-Hmac is missing", reason="missing")
    if not hmac.compare_digest(waha_signature(secret, body), header.strip().lower()):
        raise SignatureError("X-Webhook-Hmac does not match the body", reason="mismatch")


def crmbus_signature(secret: bytes, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"{SCHEME}={digest}"


def verify_crmbus(
    secret: bytes, body: bytes, timestamp_header: str | None, signature_header: str | None, now: float
) -> str:
    """Check a timestamped signature; returns the signature (for the replay guard)."""
    if not timestamp_header or not signature_header:
        raise SignatureError("X-Crmbus-Timestamp and X-Crmbus-Signature are required", reason="missing")
    try:
        timestamp = int(timestamp_header)
    except ValueError:
        raise SignatureError("X-Crmbus-Timestamp must be Unix seconds", reason="missing") from None
    if abs(now - timestamp) > TOLERANCE_S:
        raise SignatureError("X-Crmbus-Timestamp is more than 5 minutes away from now", reason="expired")
    expected = crmbus_signature(secret, timestamp, body)
    # Several signatures may be sent (one per secret during a rotation), comma-separated.
    offered = [part.strip() for part in signature_header.split(",")]
    if not any(hmac.compare_digest(expected, candidate) for candidate in offered):
        raise SignatureError("X-Crmbus-Signature does not match the body", reason="mismatch")
    return expected


@dataclass(slots=True)
class ReplayGuard:
    """Remembers signatures for the tolerance window; the same one twice is a replay."""

    window_s: float = REPLAY_WINDOW_S
    max_entries: int = 200_000
    _seen: dict[str, float] = field(default_factory=dict)

    def check(self, signature: str, now: float) -> None:
        if len(self._seen) >= self.max_entries:
            self._seen = {sig: until for sig, until in self._seen.items() if until > now}
        until = self._seen.get(signature)
        if until is not None and until > now:
            raise SignatureError("this signature was already used", reason="replayed")
        self._seen[signature] = now + self.window_s

    def forget(self, signature: str) -> None:
        """Let ``signature`` be presented again: its request was not accepted after all."""
        self._seen.pop(signature, None)
