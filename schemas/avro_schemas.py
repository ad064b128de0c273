"""The Avro schemas crmbus publishes, and the ids they carry on the wire.

Ids come from a schema registry when one is configured (connectors/kafka/schema_registry.py)
and otherwise from ``avro/ids.yaml``, a versioned, append-only catalogue in this folder.
Both honour the ``SchemaIds`` protocol, so the codec does not care which.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import fastavro
import yaml

from streams.errors import ConfigurationError, DecodeError

AVRO_DIR = Path(__file__).with_name("avro")
IDS_FILE = AVRO_DIR / "ids.yaml"


@dataclass(frozen=True, slots=True)
class AvroSchema:
    """One schema file: its full name, its JSON text and its fastavro-parsed form."""

    name: str
    text: str
    parsed: Any  # fastavro's parsed schema; opaque outside the codec

    @classmethod
    def from_file(cls, path: Path) -> AvroSchema:
        text = path.read_text(encoding="utf-8")
        try:
            raw = json.loads(text)
            parsed = fastavro.parse_schema(raw)
        except (ValueError, fastavro.schema.SchemaParseException) as exc:
            raise ConfigurationError(f"invalid Avro schema {path.name}: {exc}") from exc
        return cls(name=f"{raw['namespace']}.{raw['name']}", text=text, parsed=parsed)


@cache
def load_schema(file_name: str) -> AvroSchema:
    """A schema file of ``schemas/avro/`` by its file name, parsed once per process."""
    path = AVRO_DIR / file_name
    if not path.is_file():
        raise ConfigurationError(f"no Avro schema file {file_name!r} in {AVRO_DIR}")
    return AvroSchema.from_file(path)


class SchemaIds(Protocol):
    """Where wire-format schema ids come from: a registry or the local catalogue."""

    def id_for(self, subject: str, schema: AvroSchema) -> int:
        """The id under which ``schema`` is registered for ``subject``."""
        ...

    def schema_for(self, schema_id: int) -> AvroSchema:
        """The writer schema of an id met on the wire; unknown ids raise DecodeError."""
        ...


class CatalogueSchemaIds:
    """Schema ids from ``avro/ids.yaml``: one id per schema file version, for every subject."""

    def __init__(self, ids_file: Path = IDS_FILE) -> None:
        entries = yaml.safe_load(ids_file.read_text(encoding="utf-8")) or []
        self._by_id: dict[int, str] = {}
        self._by_file: dict[str, int] = {}
        for entry in entries:
            schema_id, file_name = int(entry["id"]), str(entry["file"])
            if schema_id in self._by_id or file_name in self._by_file:
                raise ConfigurationError(f"{ids_file.name}: id {schema_id} or {file_name} listed twice")
            self._by_id[schema_id] = file_name
            self._by_file[file_name] = schema_id

    def id_for(self, subject: str, schema: AvroSchema) -> int:
        for file_name, schema_id in self._by_file.items():
            if load_schema(file_name).text == schema.text:
                return schema_id
        raise ConfigurationError(f"schema {schema.name} has no id in {IDS_FILE.name}; append one")

    def schema_for(self, schema_id: int) -> AvroSchema:
        file_name = self._by_id.get(schema_id)
        if file_name is None:
            raise DecodeError(f"unknown schema id {schema_id}")
        return load_schema(file_name)
