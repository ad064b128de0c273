"""Sealing secrets that must be read back (webhook signing secrets) before they reach PostgreSQL.

Fernet (AES-128-CBC + HMAC-SHA256, from the ``cryptography`` package): a leaked database
yields no usable secret without the key, which lives in the environment or a 0600 file.
"""

from __future__ import annotations

import os

from cryptography.fernet import Fernet, InvalidToken

from infra.core.settings import Settings
from streams.errors import ConfigurationError


class SecretBox:
    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except ValueError as exc:
            raise ConfigurationError("CRMBUS_SECRET_KEY must be a Fernet key (32 bytes, url-safe base64)") from exc

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        if settings.secret_key is not None:
            return cls(settings.secret_key.get_secret_value().encode())
        path = settings.state_path / "secret.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as file:
                file.write(Fernet.generate_key())
        return cls(path.read_bytes().strip())

    def seal(self, secret: bytes) -> bytes:
        return self._fernet.encrypt(secret)

    def open(self, sealed: bytes) -> bytes:
        try:
            return self._fernet.decrypt(sealed)
        except InvalidToken as exc:
            raise ConfigurationError("a stored secret cannot be opened with this CRMBUS_SECRET_KEY") from exc
