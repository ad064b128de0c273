"""The deliver bench's pure parts: matching the sandbox journal to expected deliveries, and its inputs."""

import orjson
import pytest

from bench.deliver_ceiling import _paths
from bench.deliver_destination import State, _received
from bench.deliver_load import expected, templates
from bench.deliver_receipts import Arrival, Due, healthy_drop_pct, match
from bench.deliver_report import headline_system
from bench.deliver_systems import worker_group
from bench.fanout import EventIds, delivery_ids
from schemas.avro_schemas import CatalogueSchemaIds, load_schema
from schemas.codec import AvroCodec
from streams.mapping import compile_mapping
from streams.route_filter import compile_filter
from streams.routes import Route, delivery_id
from streams.seed_flows import SEED_ROUTES
from tests.builtin_types import paths

pytestmark = pytest.mark.unit

IDS = EventIds(0x0DDB_A11_5EED)


def _seed_routes(tenant: str) -> list[Route]:
    return [
        Route(
            id=f"{tenant}/{seed.key}", tenant_id=tenant, event_type=seed.event_type, destination=seed.destination,
            endpoint_id=seed.destination, action=seed.action,
            filter=compile_filter(seed.filter, paths=paths(seed.event_type)),
            mapping=compile_mapping(seed.mapping, paths=paths(seed.event_type)), delay_seconds=seed.delay_seconds,
        )
        for seed in SEED_ROUTES
        if seed.event_type == "lead.created"
    ]  # fmt: skip


def _arrival(key: str | None, at_s: float, *, applied: bool = True, duplicate: bool = False) -> Arrival:
    return Arrival(key, "crm", at_s, applied, duplicate)


def test_each_expected_delivery_applied_once_is_neither_lost_nor_duplicated_and_has_its_latency():
    due = {"a": Due("crm", 1000.0), "b": Due("zapi", 1500.0)}
    receipts = match(due, [_arrival("b", 2.0), _arrival("a", 1.25)])
    assert (receipts.applied, receipts.lost, receipts.duplicates, receipts.redeliveries) == (2, 0, 0, 0)
    assert sorted(receipts.latencies_ms) == [250.0, 500.0]
    assert receipts.by_destination == {"crm": 1, "zapi": 1}
    assert receipts.times(["zapi"]) == [2000.0]


def test_a_delivery_never_applied_is_lost_even_when_its_requests_failed():
    due = {"a": Due("crm", 0.0), "b": Due("crm", 0.0)}
    receipts = match(due, [_arrival("a", 1.0), _arrival("b", 1.0, applied=False)])
    assert (receipts.lost, receipts.failed_requests) == (1, 1)


def test_a_replayed_request_is_a_redelivery_not_a_duplicate_and_keeps_the_first_arrival():
    due = {"a": Due("crm", 0.0)}
    receipts = match(due, [_arrival("a", 2.0, applied=False, duplicate=True), _arrival("a", 1.0)])
    assert (receipts.redeliveries, receipts.duplicates, receipts.failed_requests) == (1, 0, 0)
    assert receipts.latencies_ms == [1000.0]


def test_a_key_applied_twice_is_a_duplicate_timed_by_its_earliest_application():
    receipts = match({"a": Due("crm", 0.0)}, [_arrival("a", 3.0), _arrival("a", 1.0)])
    assert (receipts.applied, receipts.duplicates, receipts.latencies_ms) == (1, 1, [1000.0])


def test_applied_keys_nobody_expected_are_foreign():
    receipts = match({"a": Due("crm", 0.0)}, [_arrival("zzz", 1.0), _arrival(None, 1.0), _arrival("a", 1.0)])
    assert (receipts.foreign, receipts.applied) == (2, 1)


def test_healthy_drop_is_the_share_of_healthy_throughput_lost_while_another_destination_fails():
    assert healthy_drop_pct(2000.0, 1900.0) == pytest.approx(5.0)
    assert healthy_drop_pct(2000.0, 2200.0) == pytest.approx(-10.0)
    assert healthy_drop_pct(0.0, 100.0) is None


def test_the_headline_compares_the_ceiling_with_crmbus_on_as_many_processes():
    measured = {"crmbus1": 2_700.0, "crmbus2": 4_200.0}
    assert headline_system(measured, ceiling_processes=1) == "crmbus1"
    assert headline_system(measured, ceiling_processes=2) == "crmbus2"


def test_without_a_like_for_like_system_the_headline_is_the_fastest():
    assert headline_system({"crmbus1": 2_700.0, "crmbus2": 4_200.0}, ceiling_processes=3) == "crmbus2"
    assert headline_system({}, ceiling_processes=1) is None


def test_templates_are_the_routers_records_and_take_each_events_ids():
    made = templates("acme", _seed_routes("acme"), None, "p.", ("crm", "zapi", "marketing"))
    assert sorted(t.destination for t in made) == ["crm", "marketing", "zapi"]
    event_id = str(IDS.make(7))
    for template in made:
        new_id, value = template.with_event(event_id)
        assert new_id == delivery_id(event_id, template.route_id)
        assert delivery_ids(value) == (new_id, event_id)
        codec = AvroCodec(
            load_schema("delivery.v1.avsc"), f"p.crmbus.deliver.{template.destination}-value", CatalogueSchemaIds()
        )
        record = codec.decode(value)
        assert record["tenant_id"] == "acme" and record["route_id"] == template.route_id
        assert template.event_id.decode() not in record["payload"]


def test_templates_refuse_routes_that_do_not_fan_out_to_the_expected_destinations():
    routes = [r for r in _seed_routes("acme") if r.destination != "zapi"]
    with pytest.raises(ValueError, match="routes to"):
        templates("acme", routes, None, "p.", ("crm", "zapi", "marketing"))


def test_expected_deliveries_follow_the_tenant_of_each_sequence_number():
    by_tenant = [templates(t, _seed_routes(t), None, "p.", ("crm", "zapi", "marketing")) for t in ("a", "b")]
    due = expected(IDS, 4, by_tenant, lambda seq: 10.0 * seq, skip=frozenset({3}))
    assert len(due) == 9
    second = str(IDS.make(1))
    routes_of_b = {t.route_id for t in by_tenant[1]}
    assert {delivery_id(second, route) for route in routes_of_b} <= due.keys()
    assert due[delivery_id(second, by_tenant[1][0].route_id)].accepted_ms == 10.0


def test_the_ceiling_posts_each_action_to_its_contract_path_with_its_credential():
    paths = _paths()
    assert paths["crm.upsert_lead"] == ("crm", "/api/v1/leads", "Authorization")
    assert paths["zapi.send_text"] == ("zapi", "/instances/demo/token/demo/send-text", "Client-Token")
    assert paths["marketing.assign_campaign"][0] == "marketing"


def test_the_fast_destination_applies_a_key_once_and_answers_a_repeat_as_a_replay():
    state = State()
    first = state.answer(b"POST", "/crm/api/v1/leads", "k1", b"{}")
    again = state.answer(b"POST", "/crm/api/v1/leads", "k1", b"{}")
    assert first[0] == again[0] == 201
    assert b"Idempotent-Replayed" in again[1]
    assert [(row[0], row[2], row[3]) for row in state.rows["crm"]] == [("k1", True, False), ("k1", False, True)]


def test_the_fast_destination_fails_as_told_without_acting_until_healed():
    state = State()
    assert state.answer(b"POST", "/_control/zapi/failures", None, b'{"mode": "status", "status": 503}')[0] == 204
    assert state.answer(b"POST", "/zapi/send-text", "k1", b"{}")[0] == 503
    state.answer(b"POST", "/_control/zapi/failures", None, b'{"mode": "ok"}')
    assert state.answer(b"POST", "/zapi/send-text", "k1", b"{}")[0] == 201
    assert [(row[2], row[4]) for row in state.rows["zapi"]] == [(False, 503), (True, 201)]


def test_the_fast_destination_journal_reads_like_the_sandbox_journal():
    state = State()
    state.answer(b"POST", "/crm/x", "k1", b"{}")
    status, _, body = state.answer(b"GET", "/_control/crm/requests", None, b"")
    assert status == 200
    compact = orjson.loads(body)["requests"][0]
    sandbox_row = {"idempotency_key": "k1", "at": compact[1], "applied": True, "duplicate": False, "status": 201}
    assert _received("crm", compact) == _received("crm", sandbox_row)
    assert state.answer(b"DELETE", "/_control/requests", None, b"")[0] == 204
    assert state.rows == {}


def test_each_set_of_worker_roles_is_its_own_consumer_group_named_as_the_worker_names_it():
    assert worker_group("p.", ("sinks",)) == "p.crmbus-worker-sinks"
    assert worker_group("p.", ("scheduler", "router")) == "p.crmbus-worker-router-scheduler"
    assert worker_group("p.", ("archive", "retry", "sinks", "scheduler", "router")) == "p.crmbus-worker"
