"""Keys remembered for a TTL: the router's idempotency keys, the sinks' finished delivery ids."""

from agents.dedupe import DedupeStore, dedupe_key


class FakeTable:
    expires_by_itself = False

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


def test_a_key_written_before_keys_were_stamped_lives_one_ttl_then_is_swept():
    """The sinks' finished ids were a bare b"1": an upgraded worker still honours them, for a TTL."""
    table = FakeTable()
    table.data[b"delivery-1"] = b"1"
    now = [1000.0]
    store = DedupeStore(table, ttl_s=60, clock=lambda: now[0])
    assert store.seen(b"delivery-1")
    assert store.sweep() == 0
    now[0] += 120
    assert not store.seen(b"delivery-1")
    assert store.sweep() == 1
    assert table.data == {}


def test_sweeping_frees_what_expired_and_keeps_what_is_live():
    now = [1000.0]
    table = FakeTable()
    store = DedupeStore(table, ttl_s=60, clock=lambda: now[0])
    store.remember(0, b"old")
    now[0] += 50
    store.remember(0, b"new")
    now[0] += 20
    assert store.sweep() == 1
    assert list(table.data) == [b"new"]


def test_an_idempotency_key_is_scoped_by_the_entity_its_record_was_keyed_by():
    by_tenant = dedupe_key("acme", "site:form:42")
    assert by_tenant == b"acme\x1fsite:form:42"  # unchanged: tables written before entity keys still hold
    assert dedupe_key("acme", "site:form:42", "lead_id:L-1") != by_tenant
    assert dedupe_key("acme", "site:form:42", "lead_id:L-1") != dedupe_key("acme", "site:form:42", "lead_id:L-2")
    assert dedupe_key("acme", "site:form:42", "lead_id:L-1") == dedupe_key("acme", "site:form:42", "lead_id:L-1")


def test_a_store_that_expires_keys_itself_is_not_swept_key_by_key():
    """A RocksDB table drops them at compaction: a sweep would read every key the table holds."""
    table = FakeTable()
    table.expires_by_itself = True
    now = [0.0]
    store = DedupeStore(table, ttl_s=10, clock=lambda: now[0])
    store.remember(0, b"old")
    now[0] = 12.0
    assert store.sweep() == 0
    assert not store.seen(b"old")  # past its TTL all the same
