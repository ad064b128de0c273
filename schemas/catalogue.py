"""The topic catalogue: one YAML file per topic (or per family of topics) in ``topics/``.

It is the single place that topic creation, producers, consumers and the docs read
topic names and shapes from. A file may name a family with ``for_each``:

    name: crmbus.deliver.{destination}
    for_each: {destination: [crm, financeiro]}
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import yaml

from streams.errors import ConfigurationError

TOPICS_DIR = Path(__file__).with_name("topics")
RAW_VALUE = "raw"  # the value is whatever bytes the original record had (the DLQ)
TYPED_VALUE = "typed"  # generated from the event type's JSON Schema (schemas/public_topics.py)

CleanupPolicy = Literal["delete", "compact", "compact,delete"]
_CLEANUP_POLICIES: tuple[str, ...] = ("delete", "compact", "compact,delete")
_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d)$")
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


def parse_duration_ms(text: str) -> int:
    """``"7d"`` -> 604800000; ``"forever"`` -> -1 (Kafka's infinite retention)."""
    if text == "forever":
        return -1
    match = _DURATION.match(text.strip())
    if match is None:
        raise ConfigurationError(f"not a duration: {text!r} (use e.g. 500ms, 5s, 2m, 1h, 7d, forever)")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """What one topic must look like."""

    name: str
    partitions: int
    retention_ms: int
    cleanup_policy: CleanupPolicy
    key: str
    value_schema: str
    purpose: str
    configs: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _TOPIC_NAME.match(self.name):
            raise ConfigurationError(f"invalid topic name {self.name!r}")
        if self.partitions < 1:
            raise ConfigurationError(f"{self.name}: partitions must be at least 1")
        if self.cleanup_policy not in _CLEANUP_POLICIES:
            raise ConfigurationError(f"{self.name}: cleanup_policy must be one of {_CLEANUP_POLICIES}")
        if self.retention_ms < -1 or self.retention_ms == 0:
            raise ConfigurationError(f"{self.name}: retention must be positive or 'forever'")

    @property
    def is_compacted(self) -> bool:
        return "compact" in self.cleanup_policy

    def kafka_configs(self) -> dict[str, str]:
        """The topic-level configs crmbus owns for this topic."""
        return {
            "cleanup.policy": self.cleanup_policy,
            "retention.ms": str(self.retention_ms),
            **self.configs,
        }


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Every topic crmbus uses, by name."""

    topics: Mapping[str, TopicSpec]

    def __iter__(self) -> Iterator[TopicSpec]:
        return iter(self.topics.values())

    def __len__(self) -> int:
        return len(self.topics)

    def __getitem__(self, name: str) -> TopicSpec:
        try:
            return self.topics[name]
        except KeyError:
            raise ConfigurationError(f"topic {name!r} is not in the catalogue") from None

    def with_prefix(self, prefix: str) -> Catalogue:
        """The same catalogue with every name prefixed (shared clusters, isolated tests)."""
        if not prefix:
            return self
        renamed = (dataclasses.replace(spec, name=prefix + spec.name) for spec in self)
        return Catalogue({spec.name: spec for spec in renamed})


def _expand(entry: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for_each = entry.get("for_each")
    if not for_each:
        yield dict(entry)
        return
    if not isinstance(for_each, Mapping) or len(for_each) != 1:
        raise ConfigurationError(f"{entry.get('name')}: for_each must map one placeholder to a list")
    ((placeholder, values),) = for_each.items()
    for value in values:
        expanded = {k: v for k, v in entry.items() if k != "for_each"}
        expanded["name"] = str(entry["name"]).replace("{" + placeholder + "}", str(value))
        yield expanded


def _spec(raw: Mapping[str, Any], source: str) -> TopicSpec:
    try:
        return TopicSpec(
            name=str(raw["name"]),
            partitions=int(raw["partitions"]),
            retention_ms=parse_duration_ms(str(raw["retention"])),
            cleanup_policy=cast(CleanupPolicy, raw["cleanup_policy"]),
            key=str(raw["key"]),
            value_schema=str(raw["value_schema"]),
            purpose=str(raw["purpose"]).strip(),
            configs={str(k): str(v) for k, v in (raw.get("configs") or {}).items()},
        )
    except KeyError as exc:
        raise ConfigurationError(f"{source}: missing field {exc.args[0]!r}") from None


def load_catalogue(directory: Path = TOPICS_DIR) -> Catalogue:
    """Read every ``*.yaml`` under ``directory``; a name defined twice is an error."""
    topics: dict[str, TopicSpec] = {}
    for path in sorted(directory.glob("*.yaml")):
        entry = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(entry, Mapping):
            raise ConfigurationError(f"{path.name}: expected a mapping")
        for raw in _expand(entry):
            spec = _spec(raw, path.name)
            if spec.name in topics:
                raise ConfigurationError(f"{path.name}: topic {spec.name} is defined twice")
            topics[spec.name] = spec
    if not topics:
        raise ConfigurationError(f"no topic files in {directory}")
    return Catalogue(topics)
