"""Avro in the Confluent wire format: magic byte 0, 4-byte big-endian schema id, Avro body.

Any Confluent-compatible consumer (Kafka UI, ksqlDB, the Java and Go serdes) can read
what we write, as long as it sees the same schema ids (a shared registry).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Mapping
from typing import Any

import fastavro

from schemas.avro_schemas import AvroSchema, SchemaIds
from streams.errors import DecodeError

MAGIC_BYTE = 0
_HEADER = struct.Struct(">bI")


class AvroCodec:
    """Encodes records with one writer schema and decodes any schema the ids source knows."""

    def __init__(self, schema: AvroSchema, subject: str, ids: SchemaIds) -> None:
        self.schema = schema
        self.schema_id = ids.id_for(subject, schema)
        self._ids = ids
        self._header = _HEADER.pack(MAGIC_BYTE, self.schema_id)

    def encode(self, record: Mapping[str, Any]) -> bytes:
        buffer = io.BytesIO()
        buffer.write(self._header)
        fastavro.schemaless_writer(buffer, self.schema.parsed, record)
        return buffer.getvalue()

    def decode(self, data: bytes | None) -> dict[str, Any]:
        """The record in ``data``, read into this codec's schema; bad bytes, or none at all (a
        tombstone), raise DecodeError."""
        schema_id, body = _framed(data)
        # Same schema: no resolution step. Another version: fastavro resolves writer -> reader.
        if schema_id == self.schema_id:
            return _read(body, schema_id, self.schema, None)
        return _read(body, schema_id, self._ids.schema_for(schema_id), self.schema)


def decode_written(data: bytes | None, ids: SchemaIds) -> dict[str, Any]:
    """The record in ``data`` as its writer schema reads it, whichever schema that is (an operator
    looking at a dead letter: an envelope, a delivery record); DecodeError when it cannot be read."""
    schema_id, body = _framed(data)
    return _read(body, schema_id, ids.schema_for(schema_id), None)


def _framed(data: bytes | None) -> tuple[int, bytes]:
    """The schema id and Avro body of the wire-format ``data``; DecodeError for a tombstone or a
    bad header."""
    if data is None:
        raise DecodeError("record has no value (a tombstone)")
    if len(data) < _HEADER.size:
        raise DecodeError(f"record of {len(data)} bytes is shorter than the wire-format header")
    magic, schema_id = _HEADER.unpack_from(data)
    if magic != MAGIC_BYTE:
        raise DecodeError(f"unknown magic byte {magic}")
    return int(schema_id), data[_HEADER.size :]


def _read(body: bytes, schema_id: int, writer: AvroSchema, reader: AvroSchema | None) -> dict[str, Any]:
    resolved = reader.parsed if reader is not None else None
    try:
        record = fastavro.schemaless_reader(io.BytesIO(body), writer.parsed, resolved)
    except (EOFError, ValueError, IndexError, UnicodeDecodeError, TypeError) as exc:
        raise DecodeError(f"invalid Avro body for schema id {schema_id}: {type(exc).__name__}") from exc
    if not isinstance(record, dict):
        raise DecodeError(f"schema id {schema_id} does not describe a record")
    return record
