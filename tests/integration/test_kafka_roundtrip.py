"""Events travel through the real broker with the guarantees the ingress will rely on."""

from confluent_kafka import Consumer, Producer

from connectors.kafka.admin import apply_catalogue
from schemas.avro_schemas import CatalogueSchemaIds, load_schema
from schemas.catalogue import load_catalogue
from schemas.codec import AvroCodec
from streams.envelope import Envelope


def test_an_envelope_written_with_acks_all_is_read_back_keyed_by_tenant(kafka_bootstrap, kafka_admin, topic_prefix):
    catalogue = load_catalogue().with_prefix(topic_prefix)
    apply_catalogue(kafka_admin, catalogue, replication_factor=1)
    topic = catalogue[f"{topic_prefix}crmbus.events"].name
    codec = AvroCodec(load_schema("envelope.v1.avsc"), f"{topic}-value", CatalogueSchemaIds())
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "acks": "all", "enable.idempotence": True})
    events = [Envelope(tenant, "lead.created", "site", {"n": i}) for i, tenant in enumerate(["acme", "beta"] * 5)]
    reports = []
    for event in events:
        producer.produce(
            topic,
            key=event.tenant_id.encode(),
            value=codec.encode(event.to_record()),
            on_delivery=lambda err, msg: reports.append((err, msg)),
        )
    assert producer.flush(30) == 0
    assert [err for err, _ in reports] == [None] * len(events)
    partitions_of = {msg.key(): {m.partition() for _, m in reports if m.key() == msg.key()} for _, msg in reports}
    assert all(len(parts) == 1 for parts in partitions_of.values()), "one tenant, one partition"

    consumer = Consumer(
        {"bootstrap.servers": kafka_bootstrap, "group.id": topic_prefix + "reader", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    received = []
    try:
        while len(received) < len(events):
            message = consumer.poll(30)
            assert message is not None, f"only {len(received)} of {len(events)} records arrived"
            assert message.error() is None
            received.append((message.key().decode(), Envelope.from_record(codec.decode(message.value()))))
    finally:
        consumer.close()
    assert sorted(e.event_id for _, e in received) == sorted(e.event_id for e in events)
    assert all(key == event.tenant_id for key, event in received)
