"""What ``crmbus topics apply`` must do to make Kafka match the catalogue. Pure: no I/O.

The plan only ever grows partitions and changes configs crmbus owns; anything that
would lose data or break key ordering silently is a conflict, reported all at once
before anything is changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from schemas.catalogue import Catalogue, TopicSpec
from streams.errors import TopicConflictError


@dataclass(frozen=True, slots=True)
class ExistingTopic:
    """A topic as the broker describes it."""

    name: str
    partitions: int
    configs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TopicPlan:
    create: tuple[TopicSpec, ...] = ()
    add_partitions: Mapping[str, int] = field(default_factory=dict)  # name -> new total
    alter_configs: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # name -> changed keys
    unchanged: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (self.create or self.add_partitions or self.alter_configs)


def _conflicts(spec: TopicSpec, existing: ExistingTopic) -> list[str]:
    found = []
    if existing.partitions > spec.partitions:
        found.append(
            f"{spec.name}: has {existing.partitions} partitions, catalogue says {spec.partitions};"
            " Kafka cannot shrink a topic (recreate it or raise the catalogue's count)"
        )
    if "compact" in existing.configs.get("cleanup.policy", "") and not spec.is_compacted:
        found.append(
            f"{spec.name}: is compacted, catalogue says {spec.cleanup_policy!r};"
            " turning compaction off would start deleting the latest value of each key"
        )
    return found


def plan_topics(catalogue: Catalogue, existing: Mapping[str, ExistingTopic]) -> TopicPlan:
    """The changes that make ``existing`` match ``catalogue``; raises on any conflict."""
    create: list[TopicSpec] = []
    grow: dict[str, int] = {}
    alter: dict[str, dict[str, str]] = {}
    unchanged: list[str] = []
    conflicts: list[str] = []
    for spec in catalogue:
        current = existing.get(spec.name)
        if current is None:
            create.append(spec)
            continue
        conflicts.extend(_conflicts(spec, current))
        if current.partitions < spec.partitions:
            grow[spec.name] = spec.partitions
        changed = {k: v for k, v in spec.kafka_configs().items() if current.configs.get(k) != v}
        if changed:
            alter[spec.name] = changed
        if spec.name not in grow and not changed:
            unchanged.append(spec.name)
    if conflicts:
        raise TopicConflictError("topic catalogue conflicts, nothing changed:\n  " + "\n  ".join(conflicts))
    return TopicPlan(tuple(create), grow, alter, tuple(unchanged))
