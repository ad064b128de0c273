"""The router's memory of idempotency keys: per tenant, for a TTL."""

from agents.dedupe import DedupeStore, dedupe_key


class FakeTable:
    def __init__(self):
        self.data, self.changelog = {}, []

    def get(self, key):
        return self.data.get(key)

    def put(self, partition, key, value):
        self.data[key] = value
        self.changelog.append((partition, key))

    def forget(self, key):
        self.data.pop(key, None)

    def items(self):
        return iter(list(self.data.items()))


def test_a_key_is_seen_once_remembered_until_its_ttl_passes():
    now = [1000.0]
    table = FakeTable()
    store = DedupeStore(table, ttl_s=60, clock=lambda: now[0])
    key = dedupe_key("acme", "site:form:42")
    assert not store.seen(key)
    store.remember(4, key)
    assert store.seen(key)
    assert table.changelog == [(4, key)]  # on the input record's partition
    now[0] += 59
    assert store.seen(key)
    now[0] += 2
    assert not store.seen(key)


def test_the_same_key_of_two_tenants_never_collides():
    store = DedupeStore(FakeTable(), ttl_s=60)
    store.remember(0, dedupe_key("acme", "k"))
    assert not store.seen(dedupe_key("globex", "k"))


def test_a_sweep_forgets_only_expired_keys():
    now = [0.0]
    store = DedupeStore(FakeTable(), ttl_s=10, clock=lambda: now[0])
    store.remember(0, b"old")
    now[0] = 8.0
    store.remember(0, b"new")
    now[0] = 12.0
    assert store.sweep() == 1
    assert not store.seen(b"old") and store.seen(b"new")
