"""fan_out: what each route makes of an event — pure, deterministic, tenant-isolated."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from streams.envelope import Envelope
from streams.errors import MappingError
from streams.mapping import compile_mapping
from streams.route_filter import compile_filter
from streams.routes import Route, RouteBook, delivery_id, fan_out
from tests.builtin_types import paths

LEAD = {"name": "Maria Souza", "phone": "+5511987654321", "channel": "site", "marketing_consent": True}
RECEIVED = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)


def route(route_id: str, *, tenant: str = "acme", filter=None, mapping=None, delay: int = 0) -> Route:
    return Route(
        id=route_id,
        tenant_id=tenant,
        event_type="lead.created",
        destination="zapi",
        endpoint_id="ep-1",
        action="zapi.send_text",
        filter=compile_filter(filter or {}, paths=paths("lead.created")),
        mapping=compile_mapping(mapping or {}, paths=paths("lead.created")),
        delay_seconds=delay,
    )


def lead(tenant: str = "acme", **payload) -> Envelope:
    return Envelope(
        tenant_id=tenant, type="lead.created", source="site", payload={**LEAD, **payload}, received_at=RECEIVED
    )


def test_every_route_whose_filter_passes_gets_one_delivery_with_its_mapped_payload():
    routes = [
        route("r-reply", mapping={"fields": {"phone": {"from": "phone", "format": "phone_digits"}}}),
        route("r-campaign", filter={"marketing_consent": True}),
        route("r-never", filter={"channel": "whatsapp"}),
    ]
    event = lead()
    plan = fan_out(event, routes)
    assert [(d.route.id, d.payload) for d in plan.deliveries] == [
        ("r-reply", {"phone": "5511987654321"}),
        ("r-campaign", dict(LEAD)),
    ]
    assert plan.failures == ()


def test_delivery_ids_are_the_same_on_every_replay_and_differ_per_route_and_event():
    event = lead()
    first = fan_out(event, [route("a"), route("b")])
    again = fan_out(event, [route("a"), route("b")])
    assert [d.delivery_id for d in first.deliveries] == [d.delivery_id for d in again.deliveries]
    assert len({d.delivery_id for d in first.deliveries}) == 2
    assert (
        first.deliveries[0].delivery_id
        == delivery_id(event.event_id, "a")
        == str(uuid.uuid5(uuid.UUID("6f0e9a52-4a8b-5c1e-9d0e-63726d627573"), f"{event.event_id}/a"))
    )
    assert delivery_id(uuid.uuid4(), "a") != first.deliveries[0].delivery_id


def test_a_redelivery_gets_delivery_ids_of_its_own_the_same_on_every_run_of_it():
    event = lead()
    first = [d.delivery_id for d in fan_out(event, [route("a"), route("b")]).deliveries]
    redelivered = [d.delivery_id for d in fan_out(event, [route("a"), route("b")], redelivery="r-1").deliveries]
    assert redelivered == [d.delivery_id for d in fan_out(event, [route("a"), route("b")], "r-1").deliveries]
    assert set(redelivered).isdisjoint(first) and len(set(redelivered)) == 2
    assert set(redelivered).isdisjoint(
        d.delivery_id for d in fan_out(event, [route("a"), route("b")], "r-2").deliveries
    )


def test_a_delayed_route_is_due_its_delay_after_the_event_arrived():
    plan = fan_out(lead(), [route("now"), route("later", delay=7200)])
    assert [d.not_before for d in plan.deliveries] == [None, RECEIVED + timedelta(hours=2)]


def test_a_failing_mapping_is_reported_for_its_route_alone_and_the_others_still_deliver():
    needs_email = route("needs-email", mapping={"fields": {"email": {"from": "email"}}})
    plan = fan_out(lead(), [needs_email, route("fine")])
    assert [d.route.id for d in plan.deliveries] == ["fine"]
    assert [(f.route.id, type(f.error)) for f in plan.failures] == [("needs-email", MappingError)]
    assert "email" in str(plan.failures[0].error) and "Maria" not in str(plan.failures[0].error)


def test_a_route_never_sees_another_tenants_events_even_when_handed_to_it():
    mine, theirs = route("mine", tenant="acme"), route("theirs", tenant="globex")
    book = RouteBook([mine, theirs])
    assert book.routes_for("acme", "lead.created") == (mine,)
    assert book.routes_for("globex", "lead.created") == (theirs,)
    assert book.routes_for("initech", "lead.created") == ()
    assert [d.route.id for d in fan_out(lead("acme"), [mine, theirs]).deliveries] == ["mine"]


def test_filters_and_mappings_may_read_the_envelope_as_event_fields():
    tagged = route(
        "tagged",
        filter={"$event.source": "site"},
        mapping={"fields": {"ref": {"from": "$event.id"}, "tenant": {"from": "$event.tenant_id"}}},
    )
    event = lead()
    assert fan_out(event, [tagged]).deliveries[0].payload == {"ref": str(event.event_id), "tenant": "acme"}
