"""How every Kafka client reaches the cluster: bootstrap servers, SASL and TLS, from one set of settings.

Two client families connect: librdkafka (confluent-kafka: the ingress's and the workers' producers,
the admin client, the dashboard's lag reader, the DLQ replay) and aiokafka under Faust (the
workers' consumers, Faust's own producer and topic creation). Each gets its configuration from one
pure function here, so that no client can be built with less than the operator configured.

The settings arrive as anything shaped like ``KafkaConnection`` (``infra.core.settings.Settings``
is), and were validated there; these functions only translate.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Protocol

from pydantic import SecretStr


class KafkaConnection(Protocol):
    """The Kafka connection settings (``CRMBUS_KAFKA_*``), validated together at start-up."""

    @property
    def kafka_bootstrap(self) -> str: ...
    @property
    def kafka_security_protocol(self) -> str: ...
    @property
    def kafka_sasl_mechanism(self) -> str | None: ...
    @property
    def kafka_sasl_username(self) -> str | None: ...
    @property
    def kafka_sasl_password(self) -> SecretStr | None: ...
    @property
    def kafka_ssl_ca_file(self) -> Path | None: ...
    @property
    def kafka_ssl_cert_file(self) -> Path | None: ...
    @property
    def kafka_ssl_key_file(self) -> Path | None: ...
    @property
    def kafka_ssl_key_password(self) -> SecretStr | None: ...


def uses_sasl(connection: KafkaConnection) -> bool:
    return connection.kafka_security_protocol.startswith("SASL_")


def uses_tls(connection: KafkaConnection) -> bool:
    return connection.kafka_security_protocol.endswith("SSL")


def librdkafka_client(connection: KafkaConnection) -> dict[str, Any]:
    """The connection part of a confluent-kafka Producer, Consumer or AdminClient configuration."""
    config: dict[str, Any] = {
        "bootstrap.servers": connection.kafka_bootstrap,
        "security.protocol": connection.kafka_security_protocol.lower(),
    }
    if uses_sasl(connection):
        config["sasl.mechanism"] = connection.kafka_sasl_mechanism
        config["sasl.username"] = connection.kafka_sasl_username
        config["sasl.password"] = _secret(connection.kafka_sasl_password)
    if uses_tls(connection):
        # librdkafka verifies the broker's certificate and host name by default; nothing here turns that off.
        files = {
            "ssl.ca.location": connection.kafka_ssl_ca_file,
            "ssl.certificate.location": connection.kafka_ssl_cert_file,
            "ssl.key.location": connection.kafka_ssl_key_file,
        }
        config.update({key: str(path) for key, path in files.items() if path is not None})
        if connection.kafka_ssl_key_password is not None:
            config["ssl.key.password"] = _secret(connection.kafka_ssl_key_password)
    return config


def client_ssl_context(connection: KafkaConnection) -> ssl.SSLContext | None:
    """The TLS context of an asyncio client (aiokafka), or None when the protocol has no TLS: trusts
    the configured CA (else the system's), checks host names, presents the client certificate if any."""
    if not uses_tls(connection):
        return None
    ca = connection.kafka_ssl_ca_file
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca) if ca is not None else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if connection.kafka_ssl_cert_file is not None:
        password = connection.kafka_ssl_key_password
        context.load_cert_chain(
            connection.kafka_ssl_cert_file,
            connection.kafka_ssl_key_file,
            password.get_secret_value() if password is not None else None,
        )
    return context


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None
