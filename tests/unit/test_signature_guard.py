"""The ingress's signature guard: this process's memory first, then the shared claim."""

import asyncio

import pytest

from ingress.api.auth import SignatureGuard
from streams.errors import ServiceUnreachableError, SignatureError

pytestmark = pytest.mark.unit

NOW = 1_760_000_000.0


class Claims:
    """Claims as PostgreSQL keeps them, or a PostgreSQL that does not answer."""

    def __init__(self) -> None:
        self.held: set[tuple[str, str]] = set()
        self.calls = 0
        self.reachable = True

    def claim(self, tenant_id: str, signature: str) -> bool:
        self.calls += 1
        if not self.reachable:
            raise ServiceUnreachableError("PostgreSQL unreachable while claiming a webhook signature")
        fresh = (tenant_id, signature) not in self.held
        self.held.add((tenant_id, signature))
        return fresh

    def release(self, tenant_id: str, signature: str) -> None:
        self.held.discard((tenant_id, signature))


def replayed(guard: SignatureGuard, signature: str) -> bool:
    """Whether ``guard`` refuses ``signature`` as a replay (any other refusal fails the test)."""
    try:
        asyncio.run(guard.check("acme", signature, NOW))
    except SignatureError as exc:
        return exc.reason == "replayed" or pytest.fail(f"refused for another reason: {exc.reason}")
    return False


def test_a_signature_claimed_by_another_process_is_a_replay_here():
    claims = Claims()
    here, there = SignatureGuard(claims.claim, claims.release), SignatureGuard(claims.claim, claims.release)
    assert not replayed(there, "v1=a")
    assert replayed(here, "v1=a")


def test_a_replay_this_process_saw_costs_no_round_trip():
    claims = Claims()
    guard = SignatureGuard(claims.claim, claims.release)
    assert not replayed(guard, "v1=a")
    assert replayed(guard, "v1=a")
    assert claims.calls == 1


def test_a_signature_that_could_not_be_claimed_is_not_remembered_so_its_retry_is_accepted():
    claims = Claims()
    guard = SignatureGuard(claims.claim, claims.release)
    claims.reachable = False
    with pytest.raises(ServiceUnreachableError):
        asyncio.run(guard.check("acme", "v1=a", NOW))
    claims.reachable = True
    assert not replayed(guard, "v1=a")


def test_a_released_signature_may_be_presented_again_anywhere():
    claims = Claims()
    guard = SignatureGuard(claims.claim, claims.release)
    assert not replayed(guard, "v1=a")
    asyncio.run(guard.release("acme", "v1=a"))
    assert not replayed(guard, "v1=a")
