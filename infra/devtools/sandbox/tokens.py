"""Cuidadores' OAuth2 tokens: issued by ``contracts.TOKEN_PATH``, live for ``lifetime_s``, then refused."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

DEFAULT_LIFETIME_S = 3600.0


class Tokens:
    """The access tokens issued and when each expires; ``lifetime_s`` is settable (tests shorten it)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.lifetime_s = DEFAULT_LIFETIME_S
        self._clock = clock
        self._expiry: dict[str, float] = {}

    def issue(self) -> tuple[str, float]:
        """A new token and its lifetime in seconds (``expires_in``)."""
        now = self._clock()
        # Expired tokens are forgotten here, so a long-running sandbox keeps only live ones.
        self._expiry = {token: at for token, at in self._expiry.items() if at > now}
        token = f"cg_{secrets.token_urlsafe(24)}"
        self._expiry[token] = now + self.lifetime_s
        return token, self.lifetime_s

    def live(self, token: str) -> bool:
        return self._expiry.get(token, 0.0) > self._clock()

    def set_lifetime(self, seconds: float) -> None:
        if not 0 < seconds <= 86400:
            raise ValueError("a token's lifetime is from 0 to 86400 seconds")
        self.lifetime_s = seconds
