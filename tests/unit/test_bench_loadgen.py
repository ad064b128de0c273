import json

from bench.events import TENANT_TYPE, BatchEvents, SingleEvents, count_accepted_items, event_body, tenant_type_document
from bench.loadgen import _parse_response
from streams.event_type import event_type_from_document
from tests.builtin_types import CATALOGUE


def test_a_response_is_parsed_only_once_its_body_is_complete():
    whole = bytearray(b'HTTP/1.1 202 Accepted\r\nContent-Length: 17\r\n\r\n{"event_id": "x"}HTTP/1.1')
    assert _parse_response(bytearray(whole[:30])) is None
    status, body, consumed, closing = _parse_response(whole)
    assert (status, body, closing) == (202, b'{"event_id": "x"}', False)
    assert whole[consumed:] == b"HTTP/1.1"


def test_chunked_responses_and_connection_close_are_understood():
    raw = bytearray(
        b"HTTP/1.1 503 Unavailable\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    )
    assert _parse_response(raw) == (503, b"abc", len(raw), True)


def test_every_request_carries_its_own_idempotency_key_and_exact_length():
    single = SingleEvents("127.0.0.1", 8080, "secret", "run1-")
    first, second = single.request(0), single.request(1)
    assert b"run1-0" in first and b"run1-1" in second
    head, body = first.split(b"\r\n\r\n", 1)
    assert b"Content-Length: %d" % len(body) in head
    assert b"Authorization: Bearer secret" in head


def test_a_batch_request_holds_its_events_and_is_judged_per_item():
    batch = BatchEvents("127.0.0.1", 8080, "secret", "b-", events_per_request=3)
    assert batch.request(2).count(b"idempotency_key") == 3
    assert b'"b-6"' in batch.request(2)
    answer = b'{"results": [{"event_id": "1"}, {"status": 202, "event_id": "2"}, {"status": 422, "error": "x"}]}'
    assert batch.judge(207, answer) == (2, "batch item not accepted")
    assert batch.judge(503, b"") == (0, "http 503")


def test_single_success_needs_202_and_an_event_id():
    single = SingleEvents("127.0.0.1", 8080, "s", "k-")
    assert single.judge(202, b'{"event_id": "e"}') == (1, None)
    assert single.judge(202, b"{}") == (0, "202 without event_id")
    assert single.judge(429, b"{}") == (0, "http 429")


def test_accepted_items_are_found_under_the_usual_keys():
    assert count_accepted_items([{"event_id": "a"}]) == 1
    assert count_accepted_items({"items": [{"status": "accepted"}, {"status": "rejected"}]}) == 1
    assert count_accepted_items({"nothing": 1}) == 0


def test_the_tenant_type_the_ingress_bench_compares_is_the_built_in_lead_under_a_tenant_name():
    own = event_type_from_document(tenant_type_document(), tenant_id="bench")
    built_in = CATALOGUE.get("bench", "lead.created")
    assert (own.name, own.schema, own.tenant_id) == (TENANT_TYPE, built_in.schema, "bench")
    body = json.loads(event_body("k-1", TENANT_TYPE))
    assert body["type"] == TENANT_TYPE
    assert own.validate(body["payload"]) == body["payload"]
