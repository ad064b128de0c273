"""The transactional outbox relay: a producer's ``outbox`` rows to Kafka, in ``seq`` order (so in
order per aggregate), each exactly once for ``read_committed`` consumers, a restart included.

One batch is one round: read the first rows in ``seq`` order, publish them and a progress record
(their ids, on the relay's own progress topic) in one Kafka transaction, then delete them. A relay
killed between the commit and the delete left rows that Kafka already holds: on start, after
fencing its predecessor (same transactional id), it reads the last committed progress record and
deletes those rows before anything else, so they are not sent twice. A relay killed before the
commit left an open transaction, aborted by that fencing: its rows are still in the table and go
in the next batch. One relay per table at a time (a PostgreSQL advisory lock; a second one waits).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from connectors.kafka.producer import Record
from connectors.kafka.transactional import TransactionalProducer
from infra.core.metrics import OUTBOX_LAG, OUTBOX_RELAYED
from infra.db.outbox import OutboxTable
from schemas.topic_names import TopicNames
from streams.errors import ProduceError
from streams.outbox import OutboxRow, checked_topic, headers_of, progress_ids, progress_value

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RelayConfig:
    """Where rows go and how many at a time."""

    relay: str
    names: TopicNames
    template: str
    batch: int = 500
    idle_s: float = 0.2


class OutboxRelay:
    """Call ``recover(last_progress)`` once after the producer started, then ``run()``."""

    def __init__(self, table: OutboxTable, producer: TransactionalProducer, config: RelayConfig) -> None:
        self._table = table
        self._producer = producer
        self._config = config

    @property
    def progress_topic(self) -> str:
        return self._config.names.outbox_progress(self._config.relay)

    def recover(self, last_progress: bytes | None) -> int:
        """Delete the rows the last committed transaction published; how many were still there."""
        recovered = self._table.delete(progress_ids(last_progress))
        if recovered:
            log.info("outbox relay: %d rows of its last committed batch deleted on start", recovered)
        return recovered

    def relay_batch(self) -> int:
        """Publish and delete the next batch; how many rows it held (0: the table is empty)."""
        rows = self._table.batch(self._config.batch)
        OUTBOX_LAG.set(self._table.lag_s() if rows else 0.0)
        if not rows:
            return 0
        ids = [row.id for row in rows]
        records = [self._record(row) for row in rows]
        records.append((self.progress_topic, progress_value(ids), self._config.relay.encode(), None, None))
        self._producer.publish(records)
        self._table.delete(ids)
        OUTBOX_RELAYED.inc(len(rows))
        return len(rows)

    def run(self, *, once: bool, stop: threading.Event) -> int:
        """Relay until ``stop`` is set (``once``: until the table is empty); rows relayed.
        Kafka errors worth retrying are retried with a backoff; others raise."""
        relayed, backoff_s = 0, 0.5
        while not stop.is_set():
            try:
                done = self.relay_batch()
            except ProduceError as exc:
                if not exc.retriable:
                    raise
                log.warning("outbox relay: Kafka did not take a batch (%s); trying again", exc.code)
                stop.wait(backoff_s)
                backoff_s = min(backoff_s * 2, 10.0)
                continue
            backoff_s = 0.5
            relayed += done
            if done == 0:
                if once:
                    break
                stop.wait(self._config.idle_s)
        return relayed

    def _record(self, row: OutboxRow) -> Record:
        topic = checked_topic(self._config.names.outbox_event(row.aggregatetype, self._config.template), row.id)
        return (topic, row.payload, row.aggregateid.encode(), headers_of(row), None)
