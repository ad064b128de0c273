"""The router and the scheduler, run as real `crmbus worker` processes on the real broker and
PostgreSQL: seed flows fan out, duplicates stop, delayed actions survive kill -9, poison goes to
the DLQ, and a kill -9 in mid-stream loses nothing."""

from __future__ import annotations

import json
import threading
import urllib.request
import uuid
from collections import Counter
from datetime import timedelta

from sqlalchemy import update

from infra.db.api_keys import ApiKeys
from infra.db.delivery_log import DeliveryLog
from infra.db.models import EventMapping
from infra.db.routes import Routes
from infra.db.tenants import Tenants
from schemas.avro_schemas import CatalogueSchemaIds
from schemas.codec import AvroCodec
from schemas.public_topics import published_schema
from streams.dead_letter import (
    DELIVERY_ID,
    ERROR_CLASS,
    EVENT_ID,
    ORIGINAL_OFFSET,
    ORIGINAL_PARTITION,
    ORIGINAL_TOPIC,
    ROUTE_ID,
    STAGE,
    TENANT,
)
from streams.deadlines import wait_until
from streams.routes import delivery_id
from tests.integration.ingress_harness import bearer, run, running_ingress
from tests.integration.worker_harness import Bus, Read, TopicReader, by_destination, committed, event, example


def test_each_seed_flow_fans_out_to_its_destinations_with_mapped_payloads(bus):
    lead = event(bus.tenant, "lead.created", example("lead.created", marketing_consent=True))
    client = event(bus.tenant, "client.registered", example("client.registered"))
    service = event(
        bus.tenant,
        "service.completed",
        example("service.completed", client_name="Maria Aparecida Souza", client_phone="+5511987654321"),
    )
    message = event(bus.tenant, "whatsapp.message.received", example("whatsapp.message.received"))
    expected = {
        lead.event_id: {"crm": 1, "zapi": 1, "marketing": 1},
        client.event_id: {"email": 1, "zapi": 1, "financeiro": 1},
        service.event_id: {"zapi": 1, "financeiro": 1, "crm": 1},  # + the feedback request, 2 h later
        message.event_id: {"crm": 1},
    }
    reader = bus.reader(bus.topic("crmbus.scheduled"), bus.topic("crm.lead.created"))
    workers = bus.workers().start()
    try:
        bus.lane.send([lead, client, service, message])
        seen = reader.poll_until(
            lambda seen: (
                all({d: len(r) for d, r in by_destination(seen, e).items()} == want for e, want in expected.items())
                and any(r.topic.endswith("crmbus.scheduled") for r in seen)
                and any(r.topic.endswith("crm.lead.created") for r in seen)
            ),
            60,
            "every seed flow's deliveries",
        )
    finally:
        workers.stop()
        reader.close()

    lead_out = by_destination(seen, lead.event_id)
    whatsapp = json.loads(lead_out["zapi"][0]["payload"])
    assert whatsapp == {
        "phone": "5511987654321",
        "message": "Olá, Maria! Recebemos seu contato e em breve nossa equipe vai falar com você por aqui.",
    }
    crm = json.loads(lead_out["crm"][0]["payload"])
    assert crm["phone"] == "+5511987654321" and crm["campaign"]["utm_source"] == "google"
    assert lead_out["crm"][0]["action"] == "crm.upsert_lead"
    assert lead_out["crm"][0]["delivery_id"] == delivery_id(lead.event_id, lead_out["crm"][0]["route_id"])

    financeiro = json.loads(by_destination(seen, client.event_id)["financeiro"][0]["payload"])
    assert financeiro["client_id"] == "CL-000045"

    feedback = [r.record for r in seen if r.topic.endswith("crmbus.scheduled")]
    assert [f["event_id"] for f in feedback] == [service.event_id]
    assert feedback[0]["not_before"] == service.received_at + timedelta(hours=2)  # 2 h after it arrived

    public = [r for r in seen if r.topic.endswith("crm.lead.created")]
    assert [r.key for r in public] == [bus.tenant.encode()]
    typed = AvroCodec(published_schema("crm.lead.created"), "crm.lead.created-value", CatalogueSchemaIds())
    published = typed.decode(public[0].value)
    assert (published["event_id"], published["payload"]["campaign"]["utm_source"]) == (lead.event_id, "google")
    assert all(r.key == bus.tenant.encode() for r in seen)


def test_the_same_idempotency_key_twice_yields_one_set_of_deliveries_also_across_a_restart(bus):
    first = event(bus.tenant, "lead.created", example("lead.created"), idempotency_key="site:form:42")
    repeat = event(bus.tenant, "lead.created", example("lead.created"), idempotency_key="site:form:42")
    after_restart = event(bus.tenant, "lead.created", example("lead.created"), idempotency_key="site:form:42")
    marker = event(bus.tenant, "lead.created", example("lead.created"), idempotency_key="site:form:43")
    reader = bus.reader()
    workers = bus.workers().start()
    try:
        bus.lane.send([first, repeat])
        reader.poll_until(lambda seen: len(by_destination(seen, first.event_id)) == 2, 60, "the first lead")
        workers.stop()
        workers = bus.workers().start()
        bus.lane.send([after_restart, marker])
        seen = reader.poll_until(lambda seen: len(by_destination(seen, marker.event_id)) == 2, 60, "the marker")
    finally:
        workers.stop()
        reader.close()
    delivered = Counter(r.record["event_id"] for r in seen if r.record is not None)
    assert delivered == {first.event_id: 2, marker.event_id: 2}  # crm + zapi; no consent, no marketing


def test_events_keyed_by_entity_are_deduplicated_per_entity_and_their_outputs_keyed_by_tenant(bus):
    lead = example("lead.created")
    first = event(bus.tenant, "lead.created", lead, idempotency_key="form:7", ordering_key="lead_id:L-1")
    again = event(bus.tenant, "lead.created", lead, idempotency_key="form:7", ordering_key="lead_id:L-1")
    # The producer reused the key for another lead: under entity partitioning that is another event.
    other = event(bus.tenant, "lead.created", lead, idempotency_key="form:7", ordering_key="lead_id:L-2")
    done = example("service.completed", client_name="Maria Aparecida Souza", client_phone="+5511987654321")
    service = event(bus.tenant, "service.completed", done, ordering_key="client_id:C-1")
    reader = bus.reader(bus.topic("crmbus.scheduled"), bus.topic("crm.lead.created"))
    workers = bus.workers().start()
    try:
        bus.lane.send([first, again, other, service], partitioning="entity")
        seen = reader.poll_until(
            lambda seen: (
                len(by_destination(seen, other.event_id)) == 2
                and any(r.topic.endswith("crmbus.scheduled") for r in seen)
                and sum(r.topic.endswith("crm.lead.created") for r in seen) == 2
            ),
            60,
            "the deliveries of both leads and the delayed feedback",
        )
    finally:
        workers.stop()
        reader.close()
    routed = Counter(r.record["event_id"] for r in seen if r.record is not None and ".deliver." in r.topic)
    assert routed == {first.event_id: 2, other.event_id: 2, service.event_id: 3}  # not ``again``
    assert {r.key for r in seen} == {bus.tenant.encode()}  # deliveries, delayed ones and public copies


def test_a_delayed_action_fires_after_its_delay_once_and_survives_a_kill_9_in_between(bus):
    with bus.engine.begin() as db:
        db.execute(update(EventMapping).where(EventMapping.delay_seconds > 0).values(delay_seconds=8))
    service = event(
        bus.tenant,
        "service.completed",
        example("service.completed", client_name="Maria Souza", client_phone="+5511987654321"),
    )
    reader = bus.reader(bus.topic("crmbus.scheduled"))
    workers = bus.workers().start()
    try:
        bus.lane.send([service])
        reader.poll_until(
            lambda seen: any(r.topic.endswith("crmbus.scheduled") for r in seen), 60, "the scheduled request"
        )
        # The scheduler has taken it into its table once its offset is committed; kill -9 then.
        wait_until(
            lambda: committed(bus.settings.kafka_bootstrap, bus.group(), bus.topic("crmbus.scheduled")) >= 1,
            30,
            "the scheduler's commit of the delayed action",
        )
        workers.kill()
        workers = bus.workers().start()
        seen = reader.poll_until(
            lambda seen: sum(len(v) for v in by_destination(seen, service.event_id).values()) == 4,
            60,
            "the feedback request",
        )
    finally:
        workers.stop()
        reader.close()
    scheduled = next(r.record for r in seen if r.topic.endswith("crmbus.scheduled"))
    fired = [
        r
        for r in seen
        if r.record is not None and r.record["delivery_id"] == scheduled["delivery_id"] and ".deliver." in r.topic
    ]
    assert len(fired) == 1
    assert fired[0].timestamp_ms >= scheduled["not_before"].timestamp() * 1000  # never early
    assert json.loads(fired[0].record["payload"])["phone"] == "5511987654321"


def test_poison_records_go_to_the_dlq_with_headers_saying_why_and_later_records_still_flow(bus):
    Routes(bus.engine, actor="test").add(
        bus.tenant,
        "lead.created",
        "crm",
        "crm.needs_email",
        mapping={"fields": {"email": {"from": "email"}}},
    )
    no_email = example("lead.created")
    del no_email["email"]
    unmappable = event(bus.tenant, "lead.created", no_email)
    later = event(bus.tenant, "lead.created", example("lead.created"))
    dlq = TopicReader(bus.settings.kafka_bootstrap, [bus.topic("crmbus.dlq")])
    reader = bus.reader()
    workers = bus.workers().start()
    try:
        bus.lane.send_raw(bus.tenant.encode(), b"not avro at all")
        bus.lane.send_raw(bus.tenant.encode(), b"\x00\x00\x00\x00\x01\xff\xff")  # our framing, broken body
        bus.lane.send([unmappable, later])
        letters = dlq.poll_until(lambda seen: len(_routers(seen)) >= 3, 60, "three DLQ records from the router")
        letters = _routers(letters)
        seen = reader.poll_until(
            lambda seen: sum(map(len, by_destination(seen, later.event_id).values())) == 3, 60, "the later lead"
        )
    finally:
        workers.stop()
        reader.close()
        dlq.close()
    assert [r.value for r in letters[:2]] == [b"not avro at all", b"\x00\x00\x00\x00\x01\xff\xff"]
    assert {r.headers[ERROR_CLASS] for r in letters[:2]} == {"DecodeError"}
    assert all(r.headers[ORIGINAL_TOPIC] == bus.lane.topic for r in letters)
    assert all(r.key == bus.tenant.encode() for r in letters)
    offsets = sorted(int(r.headers[ORIGINAL_OFFSET]) for r in letters)
    assert offsets == sorted(set(offsets)) and {r.headers[ORIGINAL_PARTITION] for r in letters} == {
        letters[0].headers[ORIGINAL_PARTITION]
    }
    mapping_letter = letters[2]
    assert mapping_letter.headers[ERROR_CLASS] == "MappingError"
    assert mapping_letter.headers[STAGE] == "router.mapping"
    assert ROUTE_ID in mapping_letter.headers
    assert (mapping_letter.headers[TENANT], mapping_letter.headers[EVENT_ID]) == (bus.tenant, str(unmappable.event_id))
    assert mapping_letter.headers[DELIVERY_ID] == delivery_id(unmappable.event_id, mapping_letter.headers[ROUTE_ID])
    assert TENANT not in letters[0].headers  # not decoded: the archive takes the tenant from the key
    assert "maria" not in json.dumps(mapping_letter.headers).lower()  # no personal data in headers
    # the unmappable lead's other routes still delivered
    assert set(by_destination(seen, unmappable.event_id)) == {"crm", "zapi"}


def test_a_tombstone_a_keyless_record_and_an_unknown_event_type_go_to_the_dlq_and_the_lane_goes_on(bus):
    unknown = event(bus.tenant, "lead.exploded", {"name": "Maria"})
    later = event(bus.tenant, "lead.created", example("lead.created", marketing_consent=True))
    dlq = TopicReader(bus.settings.kafka_bootstrap, [bus.topic("crmbus.dlq")])
    reader = bus.reader()
    workers = bus.workers().start()
    try:
        bus.lane.send_raw(bus.tenant.encode(), None)  # a tombstone
        bus.lane.send_raw(None, b"keyless and not avro")
        bus.lane.send([unknown, later])
        letters = dlq.poll_until(lambda seen: len(_routers(seen)) >= 3, 60, "three DLQ records from the router")
        seen = reader.poll_until(
            lambda seen: sum(map(len, by_destination(seen, later.event_id).values())) == 3, 60, "the later lead"
        )
        alive = workers.proc is not None and workers.proc.poll() is None
    finally:
        workers.stop()
        reader.close()
        dlq.close()
    # Told apart by content: the keyless record lands on any partition, so offsets do not order them.
    routed = _routers(letters)
    (tombstone,) = [r for r in routed if r.value is None]
    (keyless,) = [r for r in routed if r.key is None]
    (unknown_type,) = [r for r in routed if r not in (tombstone, keyless)]
    assert len(routed) == 3
    assert alive  # no record stopped a worker
    assert (tombstone.key, tombstone.value) == (bus.tenant.encode(), None)
    assert tombstone.headers[ERROR_CLASS] == "DecodeError"
    assert (keyless.key, keyless.value) == (None, b"keyless and not avro")
    assert keyless.partition == int(keyless.headers[ORIGINAL_PARTITION])  # beside the records it was read with
    assert unknown_type.headers[ERROR_CLASS] == "SchemaMismatchError"
    assert unknown_type.headers[STAGE] == "router.type"
    assert "maria" not in json.dumps(unknown_type.headers).lower()
    assert set(by_destination(seen, later.event_id)) == {"crm", "zapi", "marketing"}


def test_a_kill_9_in_mid_stream_leaves_every_acknowledged_event_with_all_its_fan_out(bus):
    total = 3000
    events = [event(bus.tenant, "lead.created", example("lead.created", marketing_consent=True)) for _ in range(total)]
    wanted = {delivery_id for e in events for delivery_id in _delivery_ids(bus, e)}
    reader = bus.reader()
    workers = bus.workers(CRMBUS_WORKER_BATCH_MAX="200").start()
    sender = threading.Thread(target=bus.lane.send, args=(events,))
    try:
        sender.start()
        reader.poll_until(lambda seen: len(seen) >= total // 3, 120, "a third of the fan-out")
        workers.kill()
        sender.join(60)
        workers = bus.workers().start()
        seen = reader.poll_until(
            lambda seen: wanted <= {r.record["delivery_id"] for r in seen if r.record}, 180, "every delivery"
        )
    finally:
        sender.join(60)
        workers.stop()
        reader.close()
    assert wanted <= {r.record["delivery_id"] for r in seen if r.record}
    assert {r.record["delivery_id"] for r in seen if r.record} == wanted  # nothing foreign either


def _routers(letters: list[Read]) -> list[Read]:
    """The router's DLQ records (the sinks dead-letter the deliveries they cannot make here)."""
    return [letter for letter in letters if letter.headers.get(STAGE, "").startswith("router.")]


def _delivery_ids(bus: Bus, envelope) -> list[str]:
    routes = [r for r in Routes(bus.engine, actor="test").load_enabled() if r.tenant_id == bus.tenant]
    return [delivery_id(envelope.event_id, r.id) for r in routes if r.event_type == envelope.type]


def test_route_changes_apply_without_a_restart_and_a_tenants_routes_never_see_another_tenants_events(bus):
    other = f"o-{bus.tenant}"
    Tenants(bus.engine, actor="test").create(other, "Outra Clínica", sandbox_url=None)  # no routes at all
    routes = Routes(bus.engine, actor="test")
    reply = next(r for r in routes.list(bus.tenant, "lead.created") if r.destination == "zapi")
    reader = bus.reader()
    workers = bus.workers().start()
    try:
        theirs = event(other, "lead.created", example("lead.created"))
        before = event(bus.tenant, "lead.created", example("lead.created"))
        bus.lane.send([theirs, before])
        reader.poll_until(lambda seen: set(by_destination(seen, before.event_id)) == {"crm", "zapi"}, 60, "a lead")
        routes.disable(reply.id)
        probes: list = []

        def probe_without_reply(seen: list[Read]) -> bool:
            answered = [e for e in probes if by_destination(seen, e.event_id)]
            if len(answered) == len(probes):  # every probe routed so far still had its reply: send another
                probes.append(event(bus.tenant, "lead.created", example("lead.created")))
                bus.lane.send([probes[-1]])
            return any(set(by_destination(seen, e.event_id)) == {"crm"} for e in answered)

        seen = reader.poll_until(probe_without_reply, 30, "a lead routed without the disabled reply")
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{bus.port}/metrics", timeout=5).read().decode()
    finally:
        workers.stop()
        reader.close()
    assert all(r.record["tenant_id"] == bus.tenant for r in seen if r.record is not None)
    assert by_destination(seen, theirs.event_id) == {}
    assert 'crmbus_router_events_total{lane="' in metrics and 'outcome="unrouted"' in metrics


def test_every_event_the_router_takes_answers_on_get_events_with_its_status(bus):
    _, key = ApiKeys(bus.engine).create(bus.tenant, "status")
    lead = event(bus.tenant, "lead.created", example("lead.created"), idempotency_key="site:form:77")
    repeat = event(bus.tenant, "lead.created", example("lead.created"), idempotency_key="site:form:77")
    unrouted = event(bus.tenant, "whatsapp.session.status", example("whatsapp.session.status"))  # no seed flow
    history = DeliveryLog(bus.engine).history
    workers = bus.workers().start()
    try:
        bus.lane.send([lead, repeat, unrouted])
        wait_until(
            lambda: all(history(e.event_id, bus.tenant).decision is not None for e in (lead, repeat, unrouted)),
            60,
            "the router's decisions, archived",
        )
    finally:
        workers.stop()

    async def get_all():
        answers = {}
        async with running_ingress(bus.settings) as (_, client):
            for event_id in (lead.event_id, repeat.event_id, unrouted.event_id, uuid.uuid4()):
                async with client.get(f"/v1/events/{event_id}", headers=bearer(key)) as response:
                    answers[event_id] = (response.status, await response.json(content_type=None))
        return answers

    answers = run(get_all())
    (lead_status, lead_body), *others, (never_status, never_body) = answers.values()
    assert lead_status == 200
    assert lead_body["planned"] == 2, "crm and zapi; no marketing without consent"
    assert lead_body["status"] in {"routed", "delivering", "delivered", "failed"}
    assert [(status, body["status"], body["deliveries"]) for status, body in others] == [
        (200, "deduplicated", []),
        (200, "no_route", []),
    ]
    assert never_status == 404
    assert "once the router has taken it" in never_body["detail"]
