import asyncio

import pytest

from ingress.http.credentials import CachedLookup
from streams.errors import ServiceUnreachableError


class Database:
    def __init__(self):
        self.owners = {"good": "acme"}
        self.calls = 0
        self.down = False

    def lookup(self, presented):
        self.calls += 1
        if self.down:
            raise ServiceUnreachableError("database down")
        return self.owners.get(presented)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def lookup(db, clock, **kwargs):
    return CachedLookup(db.lookup, ttl_s=30, stale_s=600, clock=clock, **kwargs)


def test_a_credential_is_looked_up_once_per_ttl():
    db, clock = Database(), Clock()
    cache = lookup(db, clock)
    assert asyncio.run(cache.get("good")) == "acme"
    assert asyncio.run(cache.get("good")) == "acme"
    assert db.calls == 1
    clock.now = 31
    asyncio.run(cache.get("good"))
    assert db.calls == 2


def test_a_revoked_credential_stops_working_after_the_ttl():
    db, clock = Database(), Clock()
    cache = lookup(db, clock)
    asyncio.run(cache.get("good"))
    del db.owners["good"]
    clock.now = 31
    assert asyncio.run(cache.get("good")) is None


def test_while_the_database_is_down_known_credentials_work_until_stale():
    db, clock = Database(), Clock()
    cache = lookup(db, clock)
    asyncio.run(cache.get("good"))
    db.down = True
    clock.now = 300
    assert asyncio.run(cache.get("good")) == "acme"
    clock.now = 601
    with pytest.raises(ServiceUnreachableError):
        asyncio.run(cache.get("good"))


def test_while_the_database_is_down_an_unknown_credential_is_an_outage_not_a_refusal():
    db, clock = Database(), Clock()
    db.down = True
    with pytest.raises(ServiceUnreachableError):
        asyncio.run(lookup(db, clock).get("never-seen"))


def test_unknown_credentials_are_remembered_briefly_to_shield_the_database():
    db, clock = Database(), Clock()
    cache = lookup(db, clock)
    for _ in range(100):
        assert asyncio.run(cache.get("bad")) is None
    assert db.calls == 1


def test_a_cached_credential_that_is_no_longer_valid_is_asked_again():
    db, clock = Database(), Clock()
    valid = {"acme": True}
    cache = lookup(db, clock, still_valid=lambda owner: valid[owner])
    asyncio.run(cache.get("good"))
    valid["acme"] = False
    asyncio.run(cache.get("good"))
    assert db.calls == 2


def test_the_cache_is_bounded():
    db, clock = Database(), Clock()
    cache = lookup(db, clock, max_entries=10)
    for i in range(50):
        asyncio.run(cache.get(f"k{i}"))
    assert len(cache._cache) == 10
