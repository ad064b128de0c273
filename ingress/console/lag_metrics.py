"""The console's ``/metrics``: consumer lag per group and topic, read from Kafka at each scrape.

The console already reads the lag for its page; Prometheus gets the same reading. When Kafka does
not answer, the lag series are dropped rather than left at their last values: a stale figure
would hide that the lag is unknown (``absent()`` and the scrape's own ``up`` say so instead).
"""

from __future__ import annotations

from collections.abc import Sequence

from connectors.kafka.lag import ConsumerLag
from infra.core.metrics import CONSUMER_LAG, exposition
from ingress.console.gather import KAFKA_FAILURES, bounded
from streams.bus_health import GroupLag


def lag_by_topic(groups: Sequence[GroupLag]) -> dict[tuple[str, str], int]:
    """Each (group, topic)'s records yet to read, zeros kept (a lag back to 0 is news too)."""
    lags: dict[tuple[str, str], int] = {}
    for group in groups:
        for partition in group.partitions:
            key = (group.group, partition.topic)
            lags[key] = lags.get(key, 0) + partition.lag
    return lags


async def consumer_lag_exposition(lag: ConsumerLag) -> tuple[bytes, str]:
    reading = await bounded(lag.read, *KAFKA_FAILURES)
    CONSUMER_LAG.clear()
    if isinstance(reading, list):
        for (group, topic), records in lag_by_topic(reading).items():
            CONSUMER_LAG.labels(group=group, topic=topic).set(records)
    return exposition()
