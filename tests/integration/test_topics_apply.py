"""``crmbus topics apply`` makes the real cluster match the catalogue, idempotently and safely."""

import shutil
import subprocess

import pytest
from confluent_kafka.admin import NewTopic

from connectors.kafka.admin import apply_catalogue, describe_topics
from schemas.catalogue import Catalogue, load_catalogue
from streams.deadlines import wait_until
from streams.errors import TopicConflictError


def test_applying_twice_creates_every_topic_once_and_then_changes_nothing(kafka_admin, topic_prefix):
    catalogue = load_catalogue().with_prefix(topic_prefix)
    first = apply_catalogue(kafka_admin, catalogue, replication_factor=1)
    second = apply_catalogue(kafka_admin, catalogue, replication_factor=1)
    assert len(first.create) == len(catalogue)
    assert second.is_empty
    assert set(second.unchanged) == set(catalogue.topics)
    described = describe_topics(kafka_admin, catalogue.topics)
    for spec in catalogue:
        assert described[spec.name].partitions == spec.partitions
        assert described[spec.name].configs["retention.ms"] == str(spec.retention_ms)


@pytest.mark.skipif(shutil.which("kcat") is None, reason="Debian's kcat is not installed (.ci/run installs it)")
def test_kcat_lists_the_catalogue_topics_with_their_partition_counts(kafka_bootstrap, kafka_admin, topic_prefix):
    catalogue = load_catalogue().with_prefix(topic_prefix)
    apply_catalogue(kafka_admin, catalogue, replication_factor=1)
    listing = subprocess.run(
        ["kcat", "-b", kafka_bootstrap, "-L"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    for spec in catalogue:
        assert f'topic "{spec.name}" with {spec.partitions} partitions' in listing


def test_a_conflicting_topic_stops_the_apply_before_anything_changes(kafka_admin, topic_prefix):
    catalogue = load_catalogue().with_prefix(topic_prefix)
    dlq = catalogue[f"{topic_prefix}crmbus.dlq"]
    create_by_hand(kafka_admin, NewTopic(dlq.name, dlq.partitions + 2, 1))

    with pytest.raises(TopicConflictError, match="cannot shrink"):
        apply_catalogue(kafka_admin, catalogue, replication_factor=1)
    assert set(describe_topics(kafka_admin, catalogue.topics)) == {dlq.name}, "no other topic was created"


def test_a_compacted_topic_is_never_switched_to_delete(kafka_admin, topic_prefix):
    catalogue = load_catalogue().with_prefix(topic_prefix)
    spec = catalogue[f"{topic_prefix}crmbus.scheduled"]
    create_by_hand(kafka_admin, NewTopic(spec.name, spec.partitions, 1, config={"cleanup.policy": "compact"}))

    with pytest.raises(TopicConflictError, match="compacted"):
        apply_catalogue(kafka_admin, Catalogue({spec.name: spec}), replication_factor=1)
    assert describe_topics(kafka_admin, [spec.name])[spec.name].configs["cleanup.policy"] == "compact"


def test_growing_the_catalogue_grows_the_topic(kafka_admin, topic_prefix):
    spec = load_catalogue().with_prefix(topic_prefix)[f"{topic_prefix}crmbus.deliveries"]
    apply_catalogue(kafka_admin, Catalogue({spec.name: spec}), replication_factor=1)
    bigger = Catalogue({spec.name: type(spec)(**{**_fields(spec), "partitions": spec.partitions + 3})})
    plan = apply_catalogue(kafka_admin, bigger, replication_factor=1)
    assert plan.add_partitions == {spec.name: spec.partitions + 3}
    assert describe_topics(kafka_admin, [spec.name])[spec.name].partitions == spec.partitions + 3


def create_by_hand(admin, topic):
    admin.create_topics([topic])[topic.topic].result(30)
    wait_until(lambda: topic.topic in admin.list_topics(timeout=10).topics, 30, "hand-made topic in metadata")


def _fields(spec):
    return {name: getattr(spec, name) for name in spec.__slots__}
