"""The records a sink writes for a delivery: back into a retry tier, to the DLQ, and the
``DeliveryOutcome`` of an attempt (or of its skipping) on the deliveries topic."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from agents.outputs import Output, dead_letter
from agents.records import Consumed
from connectors.destinations import Delivered
from infra.core.metrics import DEAD_LETTERS
from infra.db.endpoints import Destination
from schemas.codec import AvroCodec
from schemas.topic_names import TopicNames
from streams.dead_letter import dead_letter_headers
from streams.errors import DeliveryError
from streams.retry_policy import Tier
from streams.sink_decisions import Outcome, outcome_record


class SinkOutputs:
    """The records of the sink of destination ``kind``."""

    def __init__(
        self, *, kind: str, deliveries: Callable[[str], AvroCodec], outcomes: AvroCodec, topics: TopicNames
    ) -> None:
        self._kind, self._codec_for, self._outcomes, self._topics = kind, deliveries, outcomes, topics

    def wait(self, record: Consumed, delivery: Mapping[str, Any], tier: Tier, not_before: datetime) -> Output:
        """``delivery`` into ``tier``'s topic, not to come back before ``not_before``."""
        topic = self._topics.retry(tier.name)
        return Output(topic, record.key, self._codec_for(topic).encode({**delivery, "not_before": not_before}))

    def dead_letter(
        self, record: Consumed, delivery: Mapping[str, Any] | None, error: BaseException, at: datetime, *, stage: str
    ) -> Output:
        """``record``'s original bytes to the DLQ, its headers saying why (and counted)."""
        DEAD_LETTERS.labels(stage=stage, error_class=type(error).__name__).inc()
        status = error.status if isinstance(error, DeliveryError) else None
        headers = dead_letter_headers(
            record.origin, error, at, stage=stage, destination=self._kind,
            route_id=delivery["route_id"] if delivery else None,
            attempts=delivery["attempt"] if delivery else None,
            status_code=status,
            first_failure_at=delivery["first_failure_at"] if delivery else None,
            tenant_id=delivery["tenant_id"] if delivery else None,
            event_id=delivery["event_id"] if delivery else None,
            delivery_id=delivery["delivery_id"] if delivery else None,
        )  # fmt: skip
        return dead_letter(self._topics.dlq, record, headers)

    def outcome(
        self,
        delivery: Mapping[str, Any],
        destination: Destination | None,
        outcome: Outcome,
        attempt: int,
        latency_ms: float,
        at: datetime,
        error: DeliveryError | None = None,
        answer: Delivered | None = None,
    ) -> Output:
        """The ``DeliveryOutcome`` of an attempt of ``delivery`` at ``destination`` (None: it has none)."""
        record = outcome_record(
            delivery, outcome,
            # the destination actually called: a fallback is recorded as itself (e.g. waha)
            destination=destination.kind if destination is not None else self._kind,
            endpoint_id=destination.id if destination is not None else None,
            attempt=attempt, latency_ms=latency_ms, at=at, error=error,
            status=answer.status if answer is not None else None,
            response=answer.response_excerpt if answer is not None else None,
        )  # fmt: skip
        return Output(self._topics.deliveries, delivery["tenant_id"].encode(), self._outcomes.encode(record))
