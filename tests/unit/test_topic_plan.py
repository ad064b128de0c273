import pytest

from schemas.catalogue import Catalogue, TopicSpec
from schemas.topic_plan import ExistingTopic, plan_topics
from streams.errors import TopicConflictError


def spec(name="a", partitions=6, policy="delete", retention_ms=86_400_000):
    return TopicSpec(name, partitions, retention_ms, policy, "tenant_id", "envelope.v1.avsc", "a test topic")


def catalogue(*specs):
    return Catalogue({s.name: s for s in specs})


def existing(s, partitions=None, **configs):
    return ExistingTopic(s.name, partitions or s.partitions, {**s.kafka_configs(), **configs})


def test_missing_topics_are_created():
    plan = plan_topics(catalogue(spec("a"), spec("b")), {})
    assert [s.name for s in plan.create] == ["a", "b"]


def test_a_matching_cluster_needs_nothing():
    a = spec("a")
    plan = plan_topics(catalogue(a), {"a": existing(a)})
    assert plan.is_empty
    assert plan.unchanged == ("a",)


def test_fewer_partitions_than_the_catalogue_are_grown():
    a = spec("a", partitions=12)
    plan = plan_topics(catalogue(a), {"a": existing(a, partitions=6)})
    assert plan.add_partitions == {"a": 12}


def test_only_the_configs_that_differ_are_altered():
    a = spec("a", retention_ms=3_600_000)
    plan = plan_topics(catalogue(a), {"a": existing(a, **{"retention.ms": "1000"})})
    assert plan.alter_configs == {"a": {"retention.ms": "3600000"}}


def test_shrinking_partitions_is_refused():
    a = spec("a", partitions=3)
    with pytest.raises(TopicConflictError, match="cannot shrink"):
        plan_topics(catalogue(a), {"a": existing(a, partitions=6)})


def test_turning_a_compacted_topic_into_delete_is_refused():
    a = spec("a", policy="delete")
    with pytest.raises(TopicConflictError, match="compacted"):
        plan_topics(catalogue(a), {"a": existing(a, **{"cleanup.policy": "compact"})})


def test_adding_delete_to_a_compacted_topic_keeps_compaction_and_is_allowed():
    a = spec("a", policy="compact,delete")
    plan = plan_topics(catalogue(a), {"a": existing(a, **{"cleanup.policy": "compact"})})
    assert plan.alter_configs == {"a": {"cleanup.policy": "compact,delete"}}


def test_every_conflict_is_reported_at_once():
    a, b = spec("a", partitions=1), spec("b", policy="delete")
    with pytest.raises(TopicConflictError) as raised:
        plan_topics(
            catalogue(a, b, spec("c")),
            {"a": existing(a, partitions=2), "b": existing(b, **{"cleanup.policy": "compact"})},
        )
    assert "a: has 2 partitions" in str(raised.value)
    assert "b: is compacted" in str(raised.value)
