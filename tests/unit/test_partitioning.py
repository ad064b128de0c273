"""How a tenant's events are keyed in Kafka, by tenant or by tenant and entity."""

import pytest

from streams.partitioning import PARTITIONINGS, keyed_entity, partitioning_named, record_key


def test_by_tenant_every_event_is_keyed_by_the_tenant():
    assert record_key("acme", "lead_id:L-1", "tenant") == record_key("acme", None, "tenant") == b"acme"


def test_by_entity_an_event_with_an_ordering_key_is_keyed_by_tenant_and_entity_and_one_without_by_tenant():
    assert record_key("acme", "lead_id:L-1", "entity") == b"acme:lead_id:L-1"
    assert record_key("acme", None, "entity") == record_key("acme", "", "entity") == b"acme"


def test_the_entity_a_record_was_keyed_by_is_read_back_only_from_its_own_entity_key():
    assert keyed_entity("acme", "lead_id:L-1", b"acme:lead_id:L-1") == "lead_id:L-1"
    assert keyed_entity("acme", "lead_id:L-1", b"acme") is None  # a tenant-partitioned record
    assert keyed_entity("acme", "lead_id:L-1", None) is None
    assert keyed_entity("acme", None, b"acme") is None
    assert keyed_entity("acme", "lead_id:L-1", b"beta:lead_id:L-1") is None  # not this tenant's key


def test_a_partitioning_is_one_of_two_names():
    assert PARTITIONINGS == ("tenant", "entity")
    assert partitioning_named("entity") == "entity"
    with pytest.raises(ValueError, match="one of tenant, entity, not 'lead'"):
        partitioning_named("lead")
