import re

import pytest

from schemas.catalogue import load_catalogue
from schemas.event_types import built_in_types
from schemas.topic_names import TopicNames
from streams.retry_policy import TIERS
from streams.routes import DESTINATIONS

pytestmark = pytest.mark.unit


def _every_name(names: TopicNames) -> list[str]:
    return [
        *names.lanes,
        *(names.deliver(kind) for kind in DESTINATIONS),
        *(names.retry(tier.name) for tier in TIERS),
        names.scheduled,
        names.deliveries,
        names.dlq,
        *(names.prefix + t.public_topic for t in built_in_types() if t.public_topic is not None),
        names.custom_events,
    ]


def test_every_name_the_code_uses_is_a_topic_of_the_catalogue():
    catalogue = load_catalogue()
    missing = [name for name in _every_name(TopicNames()) if name not in catalogue.topics]
    assert missing == []


def test_every_topic_of_the_catalogue_has_a_name_in_code():
    assert set(load_catalogue().topics) == set(_every_name(TopicNames()))


def test_a_prefix_is_put_before_every_name_including_changelogs():
    plain, prefixed = TopicNames(), TopicNames("staging.")
    assert _every_name(prefixed) == ["staging." + name for name in _every_name(plain)]
    assert prefixed.changelog("circuits") == "staging." + plain.changelog("circuits")


def test_a_tenant_types_typed_topic_is_named_by_tenant_and_type_and_later_majors_sit_beside_it():
    names = TopicNames("staging.")
    assert names.custom("acme", "pedido.criado") == "staging.custom.acme.pedido.criado"
    assert names.custom("acme", "pedido.criado", 2) == "staging.custom.acme.pedido.criado.v2"
    assert names.custom_events == "staging.custom.events"


def test_the_longest_tenant_and_type_names_make_a_valid_kafka_topic_name():
    topic = TopicNames("staging.").custom("a" * 64, "b." + "c" * 98, 1000)
    assert re.fullmatch(r"[A-Za-z0-9._-]{1,249}", topic)
