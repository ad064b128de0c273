"""The workers' Faust (aiokafka) credentials from the Kafka connection settings: the same SASL and
TLS that ``connectors.kafka.security`` gives the confluent-kafka clients. Faust hands them to its
consumers, its producer and its topic creation alike."""

from __future__ import annotations

import faust
from faust.types.auth import CredentialsT

from connectors.kafka.security import KafkaConnection, client_ssl_context, uses_sasl


def broker_credentials(connection: KafkaConnection) -> CredentialsT | None:
    """SASLCredentials (over TLS for SASL_SSL), SSLCredentials for SSL, None for PLAINTEXT."""
    context = client_ssl_context(connection)
    if uses_sasl(connection):
        password = connection.kafka_sasl_password
        return faust.SASLCredentials(
            username=connection.kafka_sasl_username,
            password=password.get_secret_value() if password is not None else None,
            ssl_context=context,
            mechanism=connection.kafka_sasl_mechanism,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None
