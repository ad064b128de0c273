"""Apply the topic catalogue to a Kafka cluster with confluent-kafka's AdminClient."""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    ResourceType,
)

from schemas.catalogue import Catalogue
from schemas.topic_plan import ExistingTopic, TopicPlan, plan_topics
from streams.deadlines import wait_until
from streams.errors import InfraError

_TIMEOUT_S = 30.0


def describe_topics(admin: AdminClient, names: Iterable[str]) -> dict[str, ExistingTopic]:
    """The listed topics that exist, with their partition counts and non-default configs."""
    wanted = set(names)
    metadata = admin.list_topics(timeout=_TIMEOUT_S)
    present = {name: len(topic.partitions) for name, topic in metadata.topics.items() if name in wanted}
    if not present:
        return {}
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in present]
    configs = {res.name: future.result(timeout=_TIMEOUT_S) for res, future in admin.describe_configs(resources).items()}
    return {
        name: ExistingTopic(
            name=name,
            partitions=count,
            configs={key: entry.value for key, entry in configs[name].items() if entry.value is not None},
        )
        for name, count in present.items()
    }


def apply_plan(admin: AdminClient, plan: TopicPlan, replication_factor: int) -> None:
    """Carry out a plan made by ``plan_topics``; Kafka errors become InfraError."""
    futures = {}
    if plan.create:
        new = [
            NewTopic(spec.name, spec.partitions, replication_factor, config=spec.kafka_configs())
            for spec in plan.create
        ]
        futures.update(admin.create_topics(new, request_timeout=_TIMEOUT_S))
    if plan.add_partitions:
        grow = [NewPartitions(name, total) for name, total in plan.add_partitions.items()]
        futures.update(admin.create_partitions(grow, request_timeout=_TIMEOUT_S))
    if plan.alter_configs:
        resources = [
            ConfigResource(
                ResourceType.TOPIC,
                name,
                incremental_configs=[
                    ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
                    for key, value in changes.items()
                ],
            )
            for name, changes in plan.alter_configs.items()
        ]
        futures.update({res.name: f for res, f in admin.incremental_alter_configs(resources).items()})
    failures = []
    for name, future in futures.items():
        try:
            future.result(timeout=_TIMEOUT_S)
        except KafkaException as exc:
            failures.append(f"{name}: {exc.args[0].str() if exc.args else exc}")
    if failures:
        raise InfraError("Kafka refused topic changes:\n  " + "\n  ".join(failures))
    _wait_for_metadata(admin, {spec.name: spec.partitions for spec in plan.create} | dict(plan.add_partitions))


def _wait_for_metadata(admin: AdminClient, expected: dict[str, int]) -> None:
    """Wait until the broker's metadata shows the new topics and partitions, each with a leader.

    The controller acknowledges a creation before every broker's metadata cache has it; a
    producer (or a second apply) that came straight after could otherwise not see the topic.
    """
    if not expected:
        return

    def visible() -> bool:
        topics = admin.list_topics(timeout=_TIMEOUT_S).topics
        return all(
            name in topics
            and len(topics[name].partitions) == n
            and all(partition.leader >= 0 for partition in topics[name].partitions.values())
            for name, n in expected.items()
        )

    wait_until(visible, _TIMEOUT_S, "topic metadata after apply")


def apply_catalogue(admin: AdminClient, catalogue: Catalogue, replication_factor: int) -> TopicPlan:
    """Make the cluster match the catalogue; conflicts raise before anything changes."""
    plan = plan_topics(catalogue, describe_topics(admin, catalogue.topics))
    apply_plan(admin, plan, replication_factor)
    return plan
