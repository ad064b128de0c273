"""Keyed digests of data subjects' identifiers: how a store finds a person's rows without keeping
their phone, e-mail or CPF in the clear.

HMAC-SHA256 under a key of its own (``CRMBUS_SUBJECT_KEY``, else ``<state_dir>/subject.key``,
generated once), not the secret box's: the secret box's keys rotate, and a digest must stay the
same for as long as the rows it finds are kept. Without the key a digest cannot be tested
against a list of phone numbers.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable

from infra.core.settings import Settings
from streams.subjects import Subject


class SubjectIndex:
    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def from_settings(cls, settings: Settings) -> SubjectIndex:
        if settings.subject_key is not None:
            return cls(settings.subject_key.get_secret_value().encode())
        path = settings.state_path / "subject.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return cls(path.read_bytes().strip())
            with os.fdopen(descriptor, "wb") as file:
                file.write(secrets.token_urlsafe(32).encode())
        return cls(path.read_bytes().strip())

    def digest(self, subject: Subject) -> str:
        """``<kind>:<hex>``: the kind stays readable, so an export can say what matched."""
        mac = hmac.new(self._key, f"{subject.kind}:{subject.value}".encode(), hashlib.sha256)
        return f"{subject.kind}:{mac.hexdigest()}"

    def digests(self, subjects: Iterable[Subject]) -> list[str]:
        return sorted({self.digest(item) for item in subjects})
