"""``crmbus outbox schema|relay``: the transactional outbox a producer writes in its own database,
and the relay that publishes its rows to Kafka (``infra/control/outbox_relay.py``)."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import typer
from prometheus_client import start_http_server

from connectors.kafka.producer import producer_config
from connectors.kafka.security import librdkafka_client
from connectors.kafka.transactional import TransactionalProducer, ensure_progress_topic, last_committed
from infra.control.outbox_relay import OutboxRelay, RelayConfig
from infra.core.logging import configure_logging
from infra.core.settings import Settings
from infra.db.outbox import OutboxTable, ddl, outbox_engine
from schemas.topic_names import OUTBOX_TOPIC_TEMPLATE, TopicNames
from streams.outbox import checked_relay_name

log = logging.getLogger(__name__)
app = typer.Typer(help="The transactional outbox: its table and its relay to Kafka.", no_args_is_help=True)
_TRANSACTION_TIMEOUT_S = 30.0


@app.command("schema")
def schema(table: str = typer.Option("outbox", help="The table's name, optionally schema.table.")) -> None:
    """Print the SQL that creates the outbox table (run it in the producer's database)."""
    typer.echo(ddl(table).rstrip("\n"))


@app.command("relay")
def relay(
    database_url: str = typer.Option(..., "--database-url", help="The producer's database (postgresql://…)."),
    once: bool = typer.Option(False, "--once", help="Stop once the table is empty."),
    table: str = typer.Option("outbox", help="The outbox table, optionally schema.table."),
    name: str = typer.Option("outbox", help="This relay's name: its transactional id and progress topic."),
    topic_template: str = typer.Option(
        OUTBOX_TOPIC_TEMPLATE, help="Where a row goes; {aggregatetype} is replaced (CRMBUS_TOPIC_PREFIX goes first)."
    ),
    batch: int = typer.Option(500, min=1, help="Rows per Kafka transaction."),
    metrics_port: int = typer.Option(0, help="Serve /metrics on 127.0.0.1:PORT (0: not at all)."),
) -> None:
    """Publish the outbox's rows to Kafka in order per aggregate, each once, then delete them."""
    configure_logging()
    settings = Settings()
    client = librdkafka_client(settings)
    relay_name = checked_relay_name(name)
    outbox = OutboxTable(outbox_engine(database_url), table)
    if metrics_port:
        start_http_server(metrics_port, addr="127.0.0.1")
    stop = threading.Event()

    def stopping(_signal: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)
    names = TopicNames(settings.topic_prefix)
    config = RelayConfig(relay_name, names, topic_template, batch=batch)
    relayed = 0
    with outbox.sole_relay(stop) as sole:
        if sole:
            producer = TransactionalProducer(
                producer_config(client, _TRANSACTION_TIMEOUT_S, linger_ms=5.0),
                f"{settings.topic_prefix}crmbus-outbox-{relay_name}",
                _TRANSACTION_TIMEOUT_S,
            )
            producer.start()
            engine = OutboxRelay(outbox, producer, config)
            ensure_progress_topic(client, engine.progress_topic)
            engine.recover(last_committed(client, engine.progress_topic))
            log.info("outbox relay running", extra={"relay": relay_name})
            relayed = engine.run(once=once, stop=stop)
            producer.close()
    typer.echo(f"relayed {relayed} rows")
