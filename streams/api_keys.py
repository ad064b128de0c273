"""API keys: how they look, how they are hashed, when they are usable. Pure: no storage here.

A key is ``crmb_<environment>_<43 url-safe characters>`` (256 random bits). Only its SHA-256 is
stored; the first characters (``display_prefix``) let people tell keys apart in listings.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

KEY_PREFIX = "crmb"
RANDOM_BYTES = 32
_SHAPE = re.compile(rf"^{KEY_PREFIX}_[a-z]{{2,10}}_[A-Za-z0-9_-]{{43}}$")


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new key: ``secret`` is shown to its owner once and never stored."""

    secret: str
    display_prefix: str
    digest: bytes


def digest_of(presented: str) -> bytes:
    """The SHA-256 under which a credential (API key, webhook token) is stored and cached.

    aiohttp decodes a header's bytes that are not UTF-8 to lone surrogates (``surrogateescape``);
    they are hashed as the bytes that were sent, so such a credential is merely unknown (401)."""
    return hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()


def issue_key(environment: str = "live") -> IssuedKey:
    if not re.fullmatch(r"[a-z]{2,10}", environment):
        raise ValueError("environment must be 2-10 lowercase letters")
    secret = f"{KEY_PREFIX}_{environment}_{secrets.token_urlsafe(RANDOM_BYTES)}"
    return IssuedKey(secret=secret, display_prefix=secret[: len(environment) + 6 + 8], digest=digest_of(secret))


def looks_like_key(presented: str) -> bool:
    """Cheap shape check before any lookup: garbage never reaches the database."""
    return bool(_SHAPE.match(presented))


def is_usable(revoked_at: datetime | None, expires_at: datetime | None, now: datetime) -> bool:
    """A key works until revoked, and a rotated key until its overlap window ends."""
    return revoked_at is None and (expires_at is None or now < expires_at)
