"""Standard Webhooks signatures (https://www.standardwebhooks.com) for the webhooks we send.

A secret is ``whsec_`` + base64 of random bytes; the HMAC key is those bytes. The signed content
is ``"{webhook-id}.{webhook-timestamp}.{body}"`` and the header value ``v1,<base64 HMAC-SHA256>``.

Rotation: while a tenant moves to a new secret, we sign with every secret still valid and send the
signatures space-separated in one ``webhook-signature`` header. A receiver still on the old secret
and one already on the new secret both find their match, so neither side has to switch at the
same instant. The stored secret of a webhook destination holds those secrets separated by
whitespace, newest first (``split_secrets``); a ``whsec_`` secret never contains whitespace.

Pure: secrets, ids, clocks and bytes come in. ``verify`` exists so our own ingress and tests can
check what we send by the same rules a receiver applies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from secrets import token_bytes

from streams.errors import ConfigurationError, SignatureError

PREFIX = "whsec_"
VERSION = "v1"
TOLERANCE_S = 300
_SECRET_BYTES = 32


def generate_secret() -> str:
    """A new signing secret: 32 random bytes (the spec asks for 24 to 64)."""
    return PREFIX + base64.b64encode(token_bytes(_SECRET_BYTES)).decode()


def split_secrets(stored: str) -> tuple[str, ...]:
    """The secrets in a destination's stored secret, newest first; at least one."""
    found = tuple(stored.split())
    if not found:
        raise ConfigurationError("a webhook destination needs a signing secret")
    return found


def _key(secret: str) -> bytes:
    encoded = secret.removeprefix(PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError("a webhook secret must be 'whsec_' followed by base64") from None
    if not key:
        raise ConfigurationError("a webhook secret must not be empty")
    return key


def _digest(key: bytes, msg_id: str, timestamp: int, body: bytes) -> bytes:
    return hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()


def sign(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value: one ``v1,<sig>`` per secret, space-separated."""
    if not secrets:
        raise ConfigurationError("signing needs at least one secret")
    return " ".join(
        f"{VERSION},{base64.b64encode(_digest(_key(secret), msg_id, timestamp, body)).decode()}" for secret in secrets
    )


def headers(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for one message."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secrets, msg_id, timestamp, body),
    }


def verify(
    secret: str,
    body: bytes,
    *,
    msg_id: str | None,
    timestamp: str | None,
    signature: str | None,
    now: float,
    tolerance_s: int = TOLERANCE_S,
) -> None:
    """Accept a message if any ``v1`` signature in the header was made with ``secret``; else SignatureError."""
    if not msg_id or not timestamp or not signature:
        raise SignatureError("webhook-id, webhook-timestamp and webhook-signature are required", reason="missing")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise SignatureError("webhook-timestamp must be Unix seconds", reason="missing") from None
    if abs(now - sent_at) > tolerance_s:
        raise SignatureError("webhook-timestamp is too far from now", reason="expired")
    expected = _digest(_key(secret), msg_id, sent_at, body)
    for candidate in signature.split():
        version, _, encoded = candidate.partition(",")
        if version != VERSION:
            continue
        try:
            offered = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(expected, offered):
            return
    raise SignatureError("webhook-signature does not match the body", reason="mismatch")
