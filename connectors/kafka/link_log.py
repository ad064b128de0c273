"""Saying once that a librdkafka client lost the cluster, and once that it is back.

librdkafka logs each failed connection (several a second while a broker is away); our clients
turn its own log off and log state changes from its error callback instead (``streams.link_state``).
"""

from __future__ import annotations

import logging

from confluent_kafka import KafkaError

from streams.link_state import LinkChange

CLUSTER_LOST = frozenset({KafkaError._ALL_BROKERS_DOWN, KafkaError._AUTHENTICATION, KafkaError._SSL})
"""The errors that mean no broker can be reached."""


def log_change(log: logging.Logger, change: LinkChange | None) -> None:
    if change is None:
        return
    if change.state == "lost":
        log.warning("kafka_unreachable", extra={"reason": change.reason})
    else:
        log.warning("kafka_reachable_again", extra={"down_s": round(change.down_s, 1), "errors": change.failures})
