"""Sealing what must be read back (webhook signing secrets, dead letters' payloads) before it
reaches PostgreSQL.

Fernet (AES-128-CBC + HMAC-SHA256, from the ``cryptography`` package) over a key ring
(``MultiFernet``): a leaked database yields nothing without the keys, which live in the
environment or a 0600 file. The ring seals with its newest key and opens with any, so a key is
rotated without a moment where stored values cannot be read: ``crmbus keys rotate`` puts a new
key first, ``crmbus keys reseal`` (and the ``reseal`` job) re-seals what the older keys sealed,
and only then may an old key leave the ring.

``CRMBUS_SECRET_KEY`` holds the ring comma-separated, newest first; ``<state_dir>/secret.key``
one key a line, newest first.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from infra.core.settings import Settings
from streams.errors import ConfigurationError


class SecretBox:
    def __init__(self, key: bytes, *older: bytes) -> None:
        """A ring of ``key`` (the newest: it seals) and ``older`` keys (they only open)."""
        try:
            self._keys = [Fernet(item) for item in (key, *older)]
        except ValueError as exc:
            raise ConfigurationError("CRMBUS_SECRET_KEY must be Fernet keys (32 bytes, url-safe base64)") from exc
        self._ring = MultiFernet(self._keys)
        self.size = len(self._keys)

    @classmethod
    def of(cls, keys: Sequence[bytes]) -> SecretBox:
        """A ring of ``keys``, newest first."""
        if not keys:
            raise ConfigurationError("a secret box needs at least one key")
        return cls(keys[0], *keys[1:])

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        return cls.of(ring_of(settings))

    def seal(self, secret: bytes) -> bytes:
        return self._ring.encrypt(secret)

    def open(self, sealed: bytes) -> bytes:
        try:
            return self._ring.decrypt(sealed)
        except InvalidToken as exc:
            raise ConfigurationError("a stored secret cannot be opened with the keys of CRMBUS_SECRET_KEY") from exc

    def is_current(self, sealed: bytes) -> bool:
        """Whether the newest key sealed ``sealed`` (else an older one did, or no key of the ring)."""
        try:
            self._keys[0].decrypt(sealed)
        except InvalidToken:
            return False
        return True

    def reseal(self, sealed: bytes) -> bytes:
        """``sealed`` sealed again under the newest key; ``ConfigurationError`` when no key opens it."""
        try:
            return self._ring.rotate(sealed)
        except InvalidToken as exc:
            raise ConfigurationError("a stored secret cannot be opened with the keys of CRMBUS_SECRET_KEY") from exc


def ring_of(settings: Settings) -> list[bytes]:
    """The keys, newest first: ``CRMBUS_SECRET_KEY``'s, else the key file's (created with one new
    key the first time)."""
    if settings.secret_key is not None:
        return _keys(settings.secret_key.get_secret_value().replace(",", "\n"))
    path = key_file(settings)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            return _keys(path.read_text())
        with os.fdopen(descriptor, "wb") as file:
            file.write(Fernet.generate_key() + b"\n")
    return _keys(path.read_text())


def key_file(settings: Settings) -> Path:
    return settings.state_path / "secret.key"


def add_key(settings: Settings) -> list[bytes]:
    """A new key first in the ring: written to the key file, or (with ``CRMBUS_SECRET_KEY`` set,
    which this process cannot change) only returned, for the operator to set everywhere."""
    ring = [Fernet.generate_key(), *ring_of(settings)]
    if settings.secret_key is None:
        path = key_file(settings)
        temporary = path.with_suffix(".new")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(b"\n".join(ring) + b"\n")
        temporary.replace(path)
    return ring


def _keys(text: str) -> list[bytes]:
    keys = [line.strip().encode() for line in text.splitlines() if line.strip()]
    if not keys:
        raise ConfigurationError("CRMBUS_SECRET_KEY (or the secret.key file) holds no key")
    return keys
