"""Whether the cluster lets us in: a start-up check that turns refused credentials or certificates
into ``KafkaAccessRefusedError`` at once, instead of clients that retry them forever.

librdkafka reports a refused SASL login or TLS handshake only through its error callback, while
the call that was waiting simply times out as if the broker were away. This check listens to that
callback while it asks for metadata, so a wrong password is named within a second or two; a broker
that does not answer at all is not refused (the bus waits for it, as it does at any other time).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from streams.errors import KafkaAccessRefusedError

_ASK_S = 0.5
# Codes librdkafka uses for a refused login or handshake; a handshake the broker aborts because it
# wanted a client certificate arrives as a transport error naming the TLS alert.
_REFUSED = frozenset({KafkaError._AUTHENTICATION, KafkaError._SSL})
_TLS_ALERT = "SSL routines"


def refused(error: KafkaError) -> bool:
    """Whether this client error means the cluster will not let these settings in."""
    return error.code() in _REFUSED or (error.code() == KafkaError._TRANSPORT and _TLS_ALERT in error.str())


def check_access(client: Mapping[str, Any], timeout_s: float = 10.0) -> bool:
    """True when the cluster answered a metadata request within ``timeout_s``, False when it did
    not answer; raises KafkaAccessRefusedError when it refused the login or the TLS handshake."""
    errors: list[KafkaError] = []
    config: dict[str, Any] = {**client, "log_level": 0, "error_cb": errors.append}
    admin = AdminClient(config)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin.list_topics(timeout=_ASK_S)
        except KafkaException:
            admin.poll(0)  # serves the error callback
        else:
            return True
        denial = next((error for error in errors if refused(error)), None)
        if denial is not None:
            raise KafkaAccessRefusedError(
                f"Kafka at {client.get('bootstrap.servers')} refused the connection: {denial.str()}; "
                "check CRMBUS_KAFKA_SECURITY_PROTOCOL and the SASL and TLS settings"
            )
        if time.monotonic() >= deadline:
            return False
