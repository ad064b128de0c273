"""The error tree of crmbus.

Every failure that crosses a layer boundary is one of these; third-party
exceptions are translated at the edge that meets them (connectors/, infra/).

    CrmbusError
    ├── ConfigurationError              a setting or catalogue entry is wrong; fix the config
    │   ├── UnsupportedRuntimeError     faust-streaming, aiokafka or mode-streaming is not the tested version
    │   └── KafkaAccessRefusedError     Kafka refused our SASL credentials or TLS certificate
    ├── InfraError                      a local service could not be brought up or reached
    │   ├── MissingToolError            java, mvn or PostgreSQL binaries are absent
    │   ├── PortInUseError              a port we must bind is taken by someone else
    │   ├── StartTimeoutError           a service did not answer in time (names its log)
    │   ├── ServiceUnreachableError     a configured server does not answer
    │   ├── StoreError                  PostgreSQL answered with an error
    │   │   └── StoreRefusedError       ... that trying again cannot cure (bad data, a broken constraint)
    │   └── ProduceError                Kafka did not acknowledge a record; ``retriable`` says if retrying helps
    ├── TopicConflictError              the catalogue asks for a change Kafka cannot make safely
    ├── InvalidEventError               an inbound event or webhook is malformed (names the field); HTTP 422
    ├── SignatureError                  a webhook's signature is missing, wrong, expired or replayed; HTTP 401
    ├── NotFoundError                   no such resource, or another tenant's; HTTP 404
    ├── NothingToReplayError            none of the deliveries asked for is dead-lettered; HTTP 409
    ├── ReplayRunningError              the replay to resume is running, its heartbeat fresh; HTTP 409
    ├── PoisonMessageError              a record that can never be processed; to the DLQ, not a retry
    │   ├── DecodeError                 not our wire format, unknown schema id, bad Avro
    │   ├── SchemaMismatchError         decodes, but not into the expected record
    │   └── MappingError                a route's mapping cannot build its request (names the output field)
    ├── InvalidRouteError               a route's filter or mapping is invalid; refused when saved
    ├── InvalidOutboxRowError           an outbox row no topic can be named for; the relay stops at it
    ├── InvalidEventTypeError           an event type's definition is invalid; refused when registered
    │   └── IncompatibleSchemaError     a new revision breaks the current one (names the field)
    └── DeliveryError                   a destination did not take a delivery (``status``, ``retry_after_s``)
        ├── TransientDeliveryError      408, 429, 5xx, timeouts, reset connections; retried
        └── PermanentDeliveryError      other 4xx, a request we cannot build; to the DLQ
            └── UnsafeDestinationError  refused by the SSRF guard, or not https
"""

from __future__ import annotations


class CrmbusError(Exception):
    """Base of every error crmbus raises on purpose."""


class ConfigurationError(CrmbusError):
    """A setting, catalogue file or schema is invalid. ``field``, when known, names where in a
    definition (``schedule.cron``, ``pagination.style``), so an API's answer can name it without
    reading the message."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnsupportedRuntimeError(ConfigurationError):
    """An installed package of the Faust runtime is not the version the workers were tested with:
    they override its private members, which another version may have moved. Names the package,
    the installed version (None: not installed) and the tested one."""

    def __init__(self, package: str, *, installed: str | None, tested: str) -> None:
        found = f"{package} {installed} is installed" if installed is not None else f"{package} is not installed"
        super().__init__(
            f"{found}, but crmbus's workers are tested with {package}=={tested} only: "
            "install the versions in requirements.lock"
        )
        self.package = package
        self.installed = installed
        self.tested = tested


class KafkaAccessRefusedError(ConfigurationError):
    """Kafka answered, and refused the configured SASL credentials or TLS certificate (or we refused
    its certificate): trying again cannot help until the settings change."""


class InfraError(CrmbusError):
    """A local service (Kafka, PostgreSQL, registry) could not be managed."""


class MissingToolError(InfraError):
    """A program crmbus needs is not installed; the message says what to install."""


class PortInUseError(InfraError):
    """A port crmbus must bind is already taken by a process that is not ours."""


class StartTimeoutError(InfraError):
    """A service did not become ready before its deadline; the message names its log."""


class ServiceUnreachableError(InfraError):
    """A configured server (not one crmbus runs) does not answer."""


class StoreError(InfraError):
    """PostgreSQL answered a repository's query with an error (it did answer: when it does not,
    that is ``ServiceUnreachableError``)."""


class StoreRefusedError(StoreError):
    """PostgreSQL refused the query for good: data it cannot take, a broken constraint, a table or
    column it lacks. The same query fails again until someone changes the data or the schema."""


class ProduceError(InfraError):
    """Kafka did not acknowledge a record; nothing may be reported as accepted."""

    def __init__(self, message: str, *, retriable: bool, code: str = "") -> None:
        super().__init__(message)
        self.retriable = retriable
        self.code = code


class TopicConflictError(CrmbusError):
    """The topic catalogue conflicts with a topic that exists; nothing was changed."""


class InvalidEventError(CrmbusError):
    """An inbound event does not match its type's schema; ``field`` names the offending field.

    Messages name fields and rules, never the values: a value may be personal data.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class SignatureError(CrmbusError):
    """A signed webhook failed verification; ``reason`` is missing, mismatch, expired, replayed
    or unsupported_algorithm."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class NotFoundError(CrmbusError):
    """No such resource for this tenant: it does not exist, or it is another tenant's (which is
    not told apart). ``kind`` names what was looked for, e.g. ``dead_letter``."""

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class NothingToReplayError(CrmbusError):
    """A retry of deliveries none of which is dead-lettered and open: nothing would be sent."""


class ReplayRunningError(CrmbusError):
    """A resume of a replay some process is running (it marked a page lately): both runs would
    send its pages."""


class PoisonMessageError(CrmbusError):
    """A record that can never be processed; it belongs in the DLQ, not in a retry."""


class DecodeError(PoisonMessageError):
    """The bytes are not a valid Confluent-framed Avro record we know."""


class SchemaMismatchError(PoisonMessageError):
    """The record decoded but does not have the shape the consumer expects."""


class MappingError(PoisonMessageError):
    """A route's mapping cannot turn this event into a request; ``field`` names the output field.

    Like every message here it names fields and rules, never values.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidRouteError(CrmbusError):
    """A route's filter or mapping is not valid; refused when saved. ``field`` names where."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidEventTypeError(CrmbusError):
    """An event type's definition (name, version, lane, schema, example...) is not valid; refused
    when registered. ``field`` names where in the definition."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class IncompatibleSchemaError(InvalidEventTypeError):
    """A new revision of a type's major version would break its consumers (a field removed,
    retyped, narrowed or newly required); ``field`` names the payload field. Register a new major
    version instead."""


class DeliveryError(CrmbusError):
    """A destination did not take a delivery. ``status`` is its HTTP status when it answered;
    ``retry_after_s`` what it asked us to wait (Retry-After), if anything."""

    def __init__(self, message: str, *, status: int | None = None, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


class TransientDeliveryError(DeliveryError):
    """Worth trying again later: 408, 429, 5xx, timeouts, refused or reset connections."""


class PermanentDeliveryError(DeliveryError):
    """Trying again cannot help (other 4xx, a request we cannot build): straight to the DLQ."""


class UnsafeDestinationError(PermanentDeliveryError):
    """The destination resolves to an address we refuse to call (SSRF guard), or is not https."""


class InvalidOutboxRowError(CrmbusError):
    """An outbox row the relay cannot route (its aggregate type makes no Kafka topic name): the
    relay stops at it rather than skip it, since skipping would break its aggregate's order."""
