"""Schema ids from a Confluent-compatible schema registry (Confluent, Apicurio ccompat, Karapace).

Ids are looked up once per (subject, schema) and per id, then served from memory: the
registry is asked at start-up and when an unknown id arrives, never per record.
"""

from __future__ import annotations

import json
from typing import Any

import fastavro
import httpx

from schemas.avro_schemas import AvroSchema, CatalogueSchemaIds, SchemaIds
from streams.errors import ConfigurationError, DecodeError, ServiceUnreachableError

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class RegistrySchemaIds:
    """``SchemaIds`` backed by the registry's REST API (TopicNameStrategy subjects)."""

    def __init__(self, base_url: str, client: httpx.Client | None = None, timeout_s: float = 5.0) -> None:
        self._client = client or httpx.Client(timeout=timeout_s)
        self._base = base_url.rstrip("/")
        self._ids: dict[tuple[str, str], int] = {}
        self._schemas: dict[int, AvroSchema] = {}

    def id_for(self, subject: str, schema: AvroSchema) -> int:
        key = (subject, schema.text)
        if key not in self._ids:
            body = {"schema": json.dumps(json.loads(schema.text), separators=(",", ":")), "schemaType": "AVRO"}
            reply = self._call("POST", f"/subjects/{subject}/versions", body)
            if reply.status_code == 409:
                raise ConfigurationError(f"registry refused {schema.name} for {subject}: incompatible with its history")
            self._ids[key] = int(self._checked(reply)["id"])
            self._schemas.setdefault(self._ids[key], schema)
        return self._ids[key]

    def schema_for(self, schema_id: int) -> AvroSchema:
        if schema_id not in self._schemas:
            reply = self._call("GET", f"/schemas/ids/{schema_id}")
            if reply.status_code == 404:
                raise DecodeError(f"unknown schema id {schema_id}")
            raw = json.loads(self._checked(reply)["schema"])
            name = f"{raw.get('namespace', '')}.{raw.get('name', '')}".lstrip(".")
            self._schemas[schema_id] = AvroSchema(name, json.dumps(raw), fastavro.parse_schema(raw))
        return self._schemas[schema_id]

    def _call(self, method: str, path: str, body: dict[str, str] | None = None) -> httpx.Response:
        headers = {"Accept": CONTENT_TYPE, "Content-Type": CONTENT_TYPE}
        try:
            return self._client.request(method, self._base + path, headers=headers, json=body)
        except httpx.HTTPError as exc:
            raise ServiceUnreachableError(f"schema registry {self._base}: {type(exc).__name__}") from exc

    def _checked(self, reply: httpx.Response) -> dict[str, Any]:
        if reply.status_code >= 400:
            raise ServiceUnreachableError(
                f"schema registry {self._base} answered {reply.status_code}: {reply.text[:200]}"
            )
        body = reply.json()
        if not isinstance(body, dict):
            raise ServiceUnreachableError(f"schema registry {self._base} answered an unexpected body")
        return body


def schema_ids(registry_url: str | None) -> SchemaIds:
    """The registry when one is configured, else the versioned catalogue in ``schemas/avro/ids.yaml``."""
    return RegistrySchemaIds(registry_url) if registry_url else CatalogueSchemaIds()
