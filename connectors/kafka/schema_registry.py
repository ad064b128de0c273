"""Schema ids from a Confluent-compatible schema registry (Confluent, Apicurio ccompat, Karapace).

Confluent's ``SchemaRegistryClient`` does the talking: HTTP Basic auth, TLS with our CA and an
optional client certificate, retries of 429/5xx and dropped connections, and its own cache beside
ours. The registry is asked at start-up and when an unknown id arrives, never per record. Its
exceptions become ``streams.errors`` here; nothing above this module sees one. Credentials never
appear in a message: URLs are shown without their userinfo.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import fastavro
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient, SchemaRegistryError

from schemas.avro_schemas import AvroSchema, CatalogueSchemaIds, SchemaIds
from streams.errors import ConfigurationError, DecodeError, ServiceUnreachableError


class _Secret(Protocol):
    def get_secret_value(self) -> str: ...


class RegistrySettings(Protocol):
    """The settings this module reads; ``infra.core.settings.Settings`` has them."""

    @property
    def schema_registry_url(self) -> str | None: ...
    @property
    def schema_registry_basic_auth(self) -> _Secret | None: ...
    @property
    def schema_registry_ca_file(self) -> Path | None: ...
    @property
    def schema_registry_cert_file(self) -> Path | None: ...
    @property
    def schema_registry_key_file(self) -> Path | None: ...


def display_url(url: str) -> str:
    """``url`` without the ``user:password@`` a registry URL may carry: safe to print and log."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True, slots=True)
class RegistryAccess:
    """Where the registry is and how to reach it: credentials, CA, client certificate."""

    url: str
    basic_auth: str | None = field(default=None, repr=False)  # "user:password"
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    @classmethod
    def of(cls, source: RegistrySettings | str | None) -> RegistryAccess | None:
        """From the settings, or from a bare URL (no credentials); None when no registry is named."""
        if source is None or isinstance(source, str):
            return cls(source) if source else None
        if not source.schema_registry_url:
            return None
        secret = source.schema_registry_basic_auth
        return cls(
            source.schema_registry_url,
            basic_auth=secret.get_secret_value() if secret is not None else None,
            ca_file=source.schema_registry_ca_file,
            cert_file=source.schema_registry_cert_file,
            key_file=source.schema_registry_key_file,
        )

    @property
    def shown(self) -> str:
        return display_url(self.url)

    def client_config(self, timeout_s: float, retries: int) -> dict[str, Any]:
        """The configuration of Confluent's client. It holds the password: never log it."""
        if urlsplit(self.url).scheme not in ("http", "https"):
            raise ConfigurationError(f"schema registry URL {self.shown!r} is not http:// or https://")
        config: dict[str, Any] = {
            "url": self.url,
            "timeout": timeout_s,
            "max.retries": retries,
            # Short waits: an unknown id is fetched on a worker's event loop, which the client's
            # defaults (1 s, doubling) would stall for seconds.
            "retries.wait.ms": 250,
            "retries.max.wait.ms": 2000,
        }
        optional = {
            "basic.auth.user.info": self.basic_auth,
            "ssl.ca.location": self.ca_file,
            "ssl.certificate.location": self.cert_file,
            "ssl.key.location": self.key_file,
        }
        config.update({key: str(value) for key, value in optional.items() if value is not None})
        return config

    def client(self, timeout_s: float, retries: int) -> SchemaRegistryClient:
        """Confluent's client; a setting it refuses (a missing file, a bad key) is a ConfigurationError."""
        try:
            return SchemaRegistryClient(self.client_config(timeout_s, retries))
        except (ValueError, TypeError, OSError) as exc:  # its messages name keys and files, never secrets
            raise ConfigurationError(f"schema registry {self.shown}: {type(exc).__name__}: {exc}") from exc


class RegistrySchemaIds:
    """``SchemaIds`` from a registry (TopicNameStrategy subjects); writer schemas are parsed once per id."""

    def __init__(self, access: RegistryAccess, timeout_s: float = 5.0, retries: int = 2) -> None:
        self._shown = access.shown
        self._client = access.client(timeout_s, retries)
        # Ours as well as the client's: it keys its cache by the text the registry answers with,
        # which need not be the text we sent.
        self._ids: dict[tuple[str, str], int] = {}
        self._schemas: dict[int, AvroSchema] = {}

    def id_for(self, subject: str, schema: AvroSchema) -> int:
        known = self._ids.get((subject, schema.text))
        if known is not None:
            return known
        compact = json.dumps(json.loads(schema.text), separators=(",", ":"))
        try:
            schema_id = self._client.register_schema(subject, Schema(compact, "AVRO"))
        except SchemaRegistryError as exc:
            if exc.http_status_code == 409:
                raise ConfigurationError(
                    f"registry refused {schema.name} for {subject}: incompatible with its history"
                ) from exc
            raise self._error(exc) from exc
        except Exception as exc:  # the rest: see _unreachable
            raise self._unreachable(exc) from exc
        self._ids[(subject, schema.text)] = schema_id
        self._schemas.setdefault(schema_id, schema)
        return schema_id

    def schema_for(self, schema_id: int) -> AvroSchema:
        if schema_id not in self._schemas:
            self._schemas[schema_id] = self._fetch(schema_id)
        return self._schemas[schema_id]

    def ping(self) -> None:
        """Ask for the list of subjects: a round trip with this client's credentials and TLS."""
        try:
            self._client.get_subjects()
        except SchemaRegistryError as exc:
            raise self._error(exc) from exc
        except Exception as exc:  # the rest: see _unreachable
            raise self._unreachable(exc) from exc

    def close(self) -> None:
        self._client.close()

    def _fetch(self, schema_id: int) -> AvroSchema:
        try:
            registered = self._client.get_schema(schema_id)
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                raise DecodeError(f"unknown schema id {schema_id}") from exc
            raise self._error(exc) from exc
        except Exception as exc:  # the rest: see _unreachable
            raise self._unreachable(exc) from exc
        if registered.schema_type not in (None, "AVRO") or registered.schema_str is None:
            raise DecodeError(f"schema id {schema_id} is {registered.schema_type}, not Avro")
        try:
            raw = json.loads(registered.schema_str)
            parsed = fastavro.parse_schema(raw)
        except (ValueError, TypeError, KeyError, fastavro.schema.SchemaParseException) as exc:
            raise DecodeError(f"schema id {schema_id} is not a valid Avro schema: {type(exc).__name__}") from exc
        name = f"{raw.get('namespace', '')}.{raw.get('name', '')}".lstrip(".") if isinstance(raw, dict) else ""
        return AvroSchema(name, json.dumps(raw), parsed)

    def _error(self, exc: SchemaRegistryError) -> Exception:
        """An answer that is not the one asked for: bad credentials are ours to fix, the rest the registry's."""
        status, message = exc.http_status_code, str(exc.error_message)[:200]
        if status in (401, 403):
            return ConfigurationError(f"schema registry {self._shown} refused our credentials (HTTP {status})")
        return ServiceUnreachableError(f"schema registry {self._shown} answered {status}: {message}")

    def _unreachable(self, exc: Exception) -> ServiceUnreachableError:
        # The client raises the transport errors of whichever HTTP library it was built on (httpx or
        # httpx2), ssl errors, and JSON errors on a body that is not the registry's: whatever it is,
        # no usable answer came back.
        return ServiceUnreachableError(f"schema registry {self._shown}: {type(exc).__name__}")


def schema_ids(source: RegistrySettings | str | None) -> SchemaIds:
    """The registry the settings name, else the versioned catalogue in ``schemas/avro/ids.yaml``.

    A bare URL is a registry without credentials (the benchmarks pass one to their processes)."""
    access = RegistryAccess.of(source)
    return RegistrySchemaIds(access) if access else CatalogueSchemaIds()


def check_registry(settings: RegistrySettings, timeout_s: float) -> None:
    """One round trip to the registry the settings name, with no retries (for health checks).

    Raises ServiceUnreachableError, or ConfigurationError when it refuses our credentials."""
    access = RegistryAccess.of(settings)
    if access is None:
        raise ConfigurationError("no schema registry is configured")
    ids = RegistrySchemaIds(access, timeout_s=timeout_s, retries=0)
    try:
        ids.ping()
    finally:
        ids.close()
