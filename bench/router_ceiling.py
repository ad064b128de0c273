"""The router's ceiling: a plain confluent-kafka consume → transform → produce loop, one process.

The same work per event as the router, minus its framework: decode the Avro envelope with
the project's codec, make the three Delivery records the seed routes make for a consenting
lead (crm, zapi, marketing; deterministic ids from ``streams.routes.delivery_id``, Avro
delivery.v1), copy the event to the public topic as the router does, and produce it all with
acks=all and idempotence. Offsets are committed only after every record of the batch was
acknowledged, so what it reports as done is as safe as what the router does.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, Message, Producer

from connectors.kafka.producer import producer_config
from connectors.kafka.schema_registry import schema_ids
from schemas.avro_schemas import load_schema
from schemas.codec import AvroCodec
from streams.envelope import Envelope
from streams.routes import delivery_id

LANE, PUBLIC = "crmbus.events", "crm.lead.created"
# (destination, route id, action, the fields of the lead the destination's request carries)
ROUTES = (
    ("crm", "ceiling-crm", "crm.upsert_lead", ("name", "phone", "email", "channel", "origin", "service_interest")),
    ("zapi", "ceiling-zapi", "zapi.send_text", ("name", "phone")),
    ("marketing", "ceiling-marketing", "marketing.subscribe", ("name", "email", "campaign")),
)
BATCH = 2000


class _Stop:
    requested = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True


def _deliveries(envelope: Envelope) -> list[tuple[str, dict[str, Any]]]:
    payload = envelope.payload
    return [
        (
            destination,
            {
                "delivery_id": delivery_id(envelope.event_id, route_id),
                "event_id": envelope.event_id,
                "tenant_id": envelope.tenant_id,
                "event_type": envelope.type,
                "destination": destination,
                "route_id": route_id,
                "action": action,
                "payload": orjson.dumps({name: payload.get(name) for name in fields}).decode(),
                "attempt": 0,
                "first_failure_at": None,
                "not_before": None,
                "correlation_id": envelope.correlation_id,
                "ordering_key": envelope.ordering_key,
            },
        )
        for destination, route_id, action, fields in ROUTES
    ]


def serve(bootstrap: str, prefix: str, group: str, ready_file: Path, registry_url: str | None) -> None:
    ids = schema_ids(registry_url)
    lane = prefix + LANE
    envelopes = AvroCodec(load_schema("envelope.v1.avsc"), f"{lane}-value", ids)
    deliver = {
        destination: (prefix + f"crmbus.deliver.{destination}", AvroCodec(
            load_schema("delivery.v1.avsc"), f"{prefix}crmbus.deliver.{destination}-value", ids
        ))
        for destination, *_ in ROUTES
    }  # fmt: skip
    failures: list[str] = []

    def on_error(error: KafkaError | None, _: Message) -> None:
        if error is not None:
            failures.append(error.str())

    producer = Producer(
        {
            **producer_config({"bootstrap.servers": bootstrap}, 30.0, 2.0),
            "delivery.report.only.error": True,
            "on_delivery": on_error,
        }
    )
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "log_level": 3,
        }
    )
    stop = _Stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def on_assign(*_: object) -> None:
        ready_file.write_text("ready")

    consumer.subscribe([lane], on_assign=on_assign)
    try:
        while not stop.requested:
            messages = consumer.consume(BATCH, 0.02)
            if not messages:
                continue
            for message in messages:
                if (error := message.error()) is not None:
                    raise SystemExit(f"consume failed: {error.str()}")
                value, key = message.value() or b"", message.key()
                envelope = Envelope.from_record(envelopes.decode(value))
                for destination, record in _deliveries(envelope):
                    topic, codec = deliver[destination]
                    producer.produce(topic, codec.encode(record), key)
                producer.produce(prefix + PUBLIC, value, key)
                producer.poll(0)
            if producer.flush(30.0) or failures:
                raise SystemExit(f"produce failed, offsets not committed: {failures[:3] or 'timeout'}")
            consumer.commit(asynchronous=False)
    finally:
        consumer.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.router_ceiling")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--prefix", required=True, help="topic prefix of this measurement")
    parser.add_argument("--group", required=True)
    parser.add_argument("--ready-file", type=Path, required=True, help="written once partitions are assigned")
    parser.add_argument("--registry-url", default=None)
    args = parser.parse_args()
    serve(args.bootstrap, args.prefix, args.group, args.ready_file, args.registry_url)
    sys.exit(0)


if __name__ == "__main__":
    main()
