"""Webhook signatures claimed in PostgreSQL, so that each is accepted once by every ingress process
on every host together (an in-process memory only stops a replay that reaches the same process).

A claim is one autocommitted ``INSERT ... ON CONFLICT`` on the primary key (tenant, SHA-256 of
the signature): a row comes back when this call claimed it, none when a live claim was there. A
claim outlives the window in which its timestamp could be presented again (twice the tolerance,
so clocks a little apart on two hosts still agree); an expired row is taken over by the same
statement, and rows are deleted in one cheap statement at most every ``purge_every_s``, by
whichever call comes first after that, so no task has to run beside the ingress.

``SignatureClaims.at`` opens its own small pool, tuned for a write on every signed request: no
ping before each use (a dropped connection fails one request with a 503, which its sender
retries), and ``synchronous_commit=off``: a claim does not wait for its WAL to reach the disk.
If PostgreSQL itself crashes, the claims of its last moments (about 0.6 s, three times
``wal_writer_delay``) are lost and those signatures could be accepted once more within their
5 minutes; a clean restart or a replica promoted after the WAL was shipped loses none.
``bench run signatures`` measures what each costs (docs/performance.md).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Engine, delete, func
from sqlalchemy.dialects.postgresql import insert

from infra.db.engine import URL, make_engine
from infra.db.errors import translated
from infra.db.models import SignatureClaim

_PURGE_EVERY_S = 60.0


class SignatureClaims:
    def __init__(
        self,
        engine: Engine,
        window_s: float,
        purge_every_s: float = _PURGE_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = engine
        # One statement per call: autocommit spares the BEGIN and COMMIT round trips.
        self.engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.window = timedelta(seconds=window_s)
        self._purge_every_s, self._clock = purge_every_s, clock
        self._purged_at = clock()

    @classmethod
    def at(cls, url: URL, window_s: float, pool_size: int = 4, schema: str | None = None) -> SignatureClaims:
        """Claims over a pool of their own at ``url`` (see the module's docstring)."""
        engine = make_engine(url, schema, pool_size, pre_ping=False, parameters={"synchronous_commit": "off"})
        return cls(engine, window_s)

    def close(self) -> None:
        """Close the pool's connections."""
        self._pool.dispose()

    @translated("claiming a webhook signature")
    def claim(self, tenant_id: str, signature: str) -> bool:
        """Whether this call claimed ``signature`` for ``tenant_id``: False when it was claimed
        within the window (a replay). Raises ``ServiceUnreachableError`` when PostgreSQL does not answer."""
        self._purge_when_due()
        expires_at = func.now() + self.window
        statement = (
            insert(SignatureClaim)
            .values(tenant_id=tenant_id, signature=_digest(signature), expires_at=expires_at)
            .on_conflict_do_update(
                index_elements=[SignatureClaim.tenant_id, SignatureClaim.signature],
                set_={"expires_at": expires_at},
                where=SignatureClaim.expires_at <= func.now(),
            )
            .returning(SignatureClaim.tenant_id)
        )
        with self.engine.connect() as connection:
            return connection.execute(statement).first() is not None

    @translated("releasing a webhook signature")
    def release(self, tenant_id: str, signature: str) -> None:
        """Forget a claim whose request was not accepted after all, so its sender may retry it."""
        with self.engine.connect() as connection:
            connection.execute(
                delete(SignatureClaim).where(
                    SignatureClaim.tenant_id == tenant_id, SignatureClaim.signature == _digest(signature)
                )
            )

    @translated("purging expired webhook signatures")
    def purge(self) -> int:
        """Delete the expired claims; how many there were."""
        with self.engine.connect() as connection:
            return connection.execute(delete(SignatureClaim).where(SignatureClaim.expires_at <= func.now())).rowcount

    def _purge_when_due(self) -> None:
        now = self._clock()
        if now - self._purged_at >= self._purge_every_s:
            self._purged_at = now  # first: a concurrent call does not purge as well
            self.purge()


def _digest(signature: str) -> bytes:
    return hashlib.sha256(signature.encode()).digest()
