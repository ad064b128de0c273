"""The guard that accepts each webhook signature once across every ingress process.

Credential look-ups are ``ingress.http.credentials.CachedLookup``'s (shared with the admin API).
Signatures are different: no cache can say that *another* process has not accepted one, so
every fresh signature is claimed in PostgreSQL, and while PostgreSQL is unreachable a signed
webhook is answered 503 with ``Retry-After`` (nothing accepted, the sender retries) rather than
accepted on this process's word alone. Requests with an API key and unsigned webhooks are not
affected.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from streams.errors import ServiceUnreachableError, SignatureError
from streams.signatures import ReplayGuard


class SignatureGuard:
    """A signature accepted once across processes and hosts: this process's ``ReplayGuard`` first
    (a replay that comes back to this process costs no round trip), then a claim in PostgreSQL.

    ``claim(tenant_id, signature)`` is True when this call claimed it and False for a replay;
    ``release`` forgets a claim. Both block (the composition root gives
    ``infra.db.signature_claims.SignatureClaims``'s) and raise ``ServiceUnreachableError``.
    """

    def __init__(
        self,
        claim: Callable[[str, str], bool],
        release: Callable[[str, str], None],
        local: ReplayGuard | None = None,
    ) -> None:
        self._claim, self._release = claim, release
        self._local = local if local is not None else ReplayGuard()

    async def check(self, tenant_id: str, signature: str, now: float) -> None:
        """Return when ``signature`` is fresh everywhere; ``SignatureError`` (replayed) if it was used."""
        self._local.check(signature, now)
        try:
            claimed = await asyncio.to_thread(self._claim, tenant_id, signature)
        except ServiceUnreachableError:
            self._local.forget(signature)  # not accepted: the sender's retry must not look like a replay
            raise
        if not claimed:
            raise SignatureError("this signature was already used", reason="replayed")

    async def release(self, tenant_id: str, signature: str) -> None:
        """The request bearing ``signature`` was not accepted (Kafka refused it): let it be retried."""
        self._local.forget(signature)
        await asyncio.to_thread(self._release, tenant_id, signature)
