"""The conventions every admin API route keeps, against the real PostgreSQL: Idempotency-Key on
POST, ETag and If-Match on updates, cursor pagination, RateLimit headers, write-only
credentials, grants no wider than the granter's, and an audit row naming the key that acted."""

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.cli.wiring import dashboard_app
from infra.db.dead_letters import DeadLetters
from infra.db.delivery_log import DeliveryLog
from infra.db.models import AdminRequest, AuditLog
from streams.deadlines import wait_until
from streams.redact import MASK
from tests.integration.admin_harness import LEAD, running_admin
from tests.integration.ingress_harness import bearer, isolated_settings


@pytest.fixture(scope="module")
def world(kafka_bootstrap, database_url):
    with running_admin(kafka_bootstrap, database_url) as running:
        yield running


def test_the_same_idempotency_key_and_body_replay_the_first_answer_and_create_once(world):
    key = world.full["acme"]
    headers = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    body = {"name": f"hook-{uuid.uuid4().hex[:6]}", "kind": "webhook", "url": "https://example.test/h",
            "secret": "whsec-value"}  # fmt: skip
    first = world.call("POST", "/v1/tenants/acme/destinations", key, json=body, headers=headers)
    again = world.call("POST", "/v1/tenants/acme/destinations", key, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    named = [d for d in world.repositories["destinations"].list("acme") if d.name == body["name"]]
    assert len(named) == 1


def test_a_repeated_request_whose_answer_showed_a_secret_is_409_and_the_secret_is_kept_nowhere(world):
    key = world.full["acme"]
    headers = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    body = {"name": f"robot-{uuid.uuid4().hex[:6]}", "role": "viewer"}
    first = world.call("POST", "/v1/tenants/acme/api-keys", key, json=body, headers=headers)
    again = world.call("POST", "/v1/tenants/acme/api-keys", key, json=body, headers=headers)
    assert first.status_code == 201 and first.json()["secret"].startswith("crmb_")
    assert again.status_code == 409
    assert (again.json()["type"], again.json()["id"]) == ("urn:crmbus:problem:secret-shown-once", first.json()["id"])
    named = [k for k in world.repositories["api_keys"].list("acme") if k.name == body["name"]]
    assert len(named) == 1
    with Session(world.engine) as session:
        kept = b" ".join(row.body for row in session.scalars(select(AdminRequest)))
    assert first.json()["secret"].encode() not in kept


def test_the_same_idempotency_key_with_another_body_is_422_and_creates_nothing(world):
    key = world.full["acme"]
    headers = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    world.call("POST", "/v1/tenants/acme/api-keys", key, json={"name": "one"}, headers=headers)
    other = world.call("POST", "/v1/tenants/acme/api-keys", key, json={"name": "two-other"}, headers=headers)
    assert other.status_code == 422
    assert other.headers["Content-Type"] == "application/problem+json"
    assert other.json()["field"] == "Idempotency-Key"
    assert not [k for k in world.repositories["api_keys"].list("acme") if k.name == "two-other"]


def test_an_update_needs_the_etag_of_the_resource_as_last_read(world):
    key = world.full["acme"]
    path = "/v1/tenants/acme/destinations/hook"
    read = world.call("GET", path, key)
    etag = read.headers["ETag"]
    change = {"url": f"https://example.test/{uuid.uuid4().hex}", "secret": "new-secret-value"}
    assert world.call("PATCH", path, key, json=change).status_code == 428
    assert world.call("PATCH", path, key, json=change, headers={"If-Match": '"stale"'}).status_code == 412
    updated = world.call("PATCH", path, key, json=change, headers={"If-Match": etag})
    assert updated.status_code == 200
    assert updated.json()["url"] == change["url"]
    assert "new-secret-value" not in updated.text  # credentials are write-only
    assert updated.json()["has_secret"] is True
    assert updated.headers["ETag"] != etag
    assert world.call("PATCH", path, key, json=change, headers={"If-Match": etag}).status_code == 412


def test_concurrent_updates_with_one_etag_apply_one_and_refuse_the_others_412(world):
    key = world.full["acme"]
    name = f"race-{uuid.uuid4().hex[:6]}"
    made = world.call(
        "POST", "/v1/tenants/acme/destinations", key,
        json={"name": name, "kind": "webhook", "url": "https://example.test/first", "secret": "whsec-value"},
    )  # fmt: skip
    assert made.status_code == 201
    path = f"/v1/tenants/acme/destinations/{name}"
    etag = world.call("GET", path, key).headers["ETag"]
    urls = [f"https://example.test/{n}" for n in range(6)]
    with ThreadPoolExecutor(len(urls)) as pool:
        answers = list(
            pool.map(lambda url: world.call("PATCH", path, key, json={"url": url}, headers={"If-Match": etag}), urls)
        )
    applied = [url for url, answer in zip(urls, answers, strict=True) if answer.status_code == 200]
    assert sorted(answer.status_code for answer in answers) == [200] + [412] * (len(urls) - 1)
    assert world.call("GET", path, key).json()["url"] == applied[0]


def test_concurrent_posts_with_one_idempotency_key_run_once_and_all_get_its_answer(world):
    key = world.full["acme"]
    headers = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    body = {"name": f"twin-{uuid.uuid4().hex[:6]}", "kind": "webhook", "url": "https://example.test/t",
            "secret": "whsec-value"}  # fmt: skip
    with ThreadPoolExecutor(6) as pool:
        answers = list(
            pool.map(
                lambda _: world.call("POST", "/v1/tenants/acme/destinations", key, json=body, headers=headers), range(6)
            )
        )
    assert [answer.status_code for answer in answers] == [201] * 6
    assert len({answer.text for answer in answers}) == 1
    assert sum(answer.headers.get("Idempotent-Replayed") != "true" for answer in answers) == 1
    assert len([d for d in world.repositories["destinations"].list("acme") if d.name == body["name"]]) == 1


def test_a_nul_in_a_path_or_query_parameter_is_refused_not_a_server_error(world):
    key = world.full["acme"]
    patched = world.call(
        "PATCH", "/v1/tenants/acme/destinations/ho%00ok", key, json={"url": "https://example.test/n"},
        headers={"If-Match": "*"},
    )  # fmt: skip
    assert patched.status_code == 404
    searched = world.call("GET", "/v1/tenants/acme/deliveries?destination=c%00rm", key)
    assert searched.status_code == 422
    assert searched.json()["field"] == "destination"


def test_a_listing_is_walked_page_by_page_with_next_cursor_and_link(world):
    key = world.full["acme"]
    for _ in range(5):
        world.repositories["sources"].add("acme", "zapi")
    whole = world.call("GET", "/v1/tenants/acme/sources?limit=200", key).json()
    assert whole["next_cursor"] is None
    seen, path = [], "/v1/tenants/acme/sources?limit=2"
    while path:
        page = world.call("GET", path, key)
        body = page.json()
        assert len(body["items"]) <= 2
        seen += [item["id"] for item in body["items"]]
        if body["next_cursor"] is None:
            assert "Link" not in page.headers
            path = None
        else:
            link = page.headers["Link"]
            assert link.endswith('>; rel="next"') and body["next_cursor"] in link
            path = link[1 : link.index(">")]
    assert seen == [item["id"] for item in whole["items"]]
    assert len(seen) >= 6


def test_a_cursor_the_api_did_not_give_is_422(world):
    answer = world.call("GET", "/v1/tenants/acme/sources?cursor=nope", world.full["acme"])
    assert answer.status_code == 422
    assert answer.json()["field"] == "cursor"


def test_a_query_parameter_the_operation_does_not_take_is_422(world):
    answer = world.call("GET", "/v1/tenants/acme/sources?page=2", world.full["acme"])
    assert answer.status_code == 422
    assert "page" not in answer.json()["detail"]


@pytest.mark.parametrize(
    ("path", "status"),
    [("/v1/tenants/acme", 200), ("/v1/tenants", 403), ("/v1/tenants/globex/routes", 404)],
)
def test_every_answer_carries_the_keys_ratelimit_headers(world, path, status):
    answer = world.call("GET", path, world.full["acme"])
    assert answer.status_code == status
    assert int(answer.headers["RateLimit-Limit"]) >= int(answer.headers["RateLimit-Remaining"]) >= 0
    assert int(answer.headers["RateLimit-Reset"]) >= 0


def test_a_key_cannot_grant_a_scope_it_lacks_nor_admin_nor_revoke_a_wider_key(world):
    without_replay = world.without("dlq:replay")
    path = "/v1/tenants/acme/api-keys"
    refused = world.call("POST", path, without_replay, json={"name": "wider", "scopes": ["dlq:replay"]})
    assert (refused.status_code, refused.json()["scope"]) == (403, "dlq:replay")
    refused = world.call("POST", path, world.full["acme"], json={"name": "boss", "role": "admin"})
    assert (refused.status_code, refused.json()["scope"]) == (403, "admin")
    granted = world.call("POST", path, without_replay, json={"name": "narrower", "role": "viewer"})
    assert granted.status_code == 201
    assert granted.json()["role"] == "viewer" and granted.json()["secret"].startswith("crmb_")
    assert "secret" not in world.call("GET", path, without_replay).json()["items"][0]
    wider = world.repositories["api_keys"].create("acme", "wider", role="operator")[0]
    refused = world.call("POST", f"{path}/{wider.id}/revoke", world.without("deliveries:retry"))
    assert (refused.status_code, refused.json()["scope"]) == (403, "deliveries:retry")
    assert world.call("POST", f"{path}/{wider.id}/revoke", world.full["acme"]).json()["revoked_at"] is not None


def test_a_change_is_audited_as_the_key_that_made_it(world):
    key_view = next(k for k in world.repositories["api_keys"].list("acme") if k.name == "full")
    answer = world.call("POST", "/v1/tenants/acme/destinations/hook/pause", world.full["acme"])
    assert answer.status_code == 200 and answer.json()["paused_at"] is not None
    with Session(world.engine) as session:
        rows = session.scalars(select(AuditLog).where(AuditLog.action == "endpoint.pause")).all()
    assert [row.actor for row in rows] == [f"key:{key_view.id}"]
    assert (
        world.call("POST", "/v1/tenants/acme/destinations/hook/resume", world.full["acme"]).json()["paused_at"] is None
    )


def test_testing_a_route_shows_what_would_be_delivered_without_sending(world):
    path = f"/v1/tenants/acme/routes/{world.route_id}/test"
    lead = {"name": "Maria Souza", "phone": "+55 11 98765-4321", "channel": "site"}
    answer = world.call("POST", path, world.full["acme"], json={"payload": lead})
    assert answer.status_code == 200
    assert answer.json() == {"matches": True, "destination": "hook", "action": "crm.upsert_lead",
                             "delivery": {"nome": "Maria Souza"}}  # fmt: skip
    invalid = world.call("POST", path, world.full["acme"], json={"payload": {"name": "x"}})
    assert invalid.status_code == 422
    assert invalid.json()["field"].startswith("payload")


def test_crmbus_dashboard_serves_the_admin_api_beside_the_console(kafka_bootstrap, database_url, world):
    settings = isolated_settings(
        kafka_bootstrap, database_url, world.schema, f"{world.schema}.", secret_key=Fernet.generate_key().decode()
    )

    async def fetch():
        server = TestServer(dashboard_app(settings), host="127.0.0.1", port=0)
        await server.start_server()
        try:
            async with aiohttp.ClientSession() as client:
                document = await (await client.get(server.make_url("/v1/openapi.json"))).json()
                tenant = await client.get(server.make_url("/v1/tenants/acme"), headers=bearer(world.full["acme"]))
                anonymous = await client.get(server.make_url("/v1/tenants/acme"), allow_redirects=False)
                console = await client.get(server.make_url("/dashboard"), allow_redirects=False)
                return (
                    document["info"]["title"], tenant.status, (anonymous.status, anonymous.content_type),
                    console.status,
                )  # fmt: skip
        finally:
            await server.close()

    # The API answers its own 401; the console's pages still send a browser to sign in.
    assert asyncio.run(fetch()) == ("crmbus admin API", 200, (401, "application/problem+json"), 303)


def test_a_rotation_without_a_body_keeps_the_old_key_for_a_day(world):
    view, _ = world.repositories["api_keys"].create("acme", "rotated", role="viewer")
    rotated = world.call("POST", f"/v1/tenants/acme/api-keys/{view.id}/rotate", world.full["acme"])
    assert rotated.status_code == 201
    assert rotated.json()["role"] == "viewer"
    old = next(k for k in world.repositories["api_keys"].list("acme") if k.id == view.id)
    assert 23 * 3600 < (old.expires_at - old.created_at).total_seconds() < 25 * 3600


def test_a_shown_dead_letter_masks_personal_data_unless_the_key_may_read_it(world):
    path = f"/v1/tenants/acme/dead-letters/{world.letter()}"
    masked = world.call("GET", path, world.without("personal_data:read")).json()
    assert masked["masked"] is True
    assert masked["record"]["payload"] == {"name": MASK, "phone": MASK, "channel": "site"}
    assert "Maria" not in str(masked)
    shown = world.call("GET", path, world.full["acme"]).json()
    assert (shown["masked"], shown["record"]["payload"]) == (False, LEAD)
    assert shown["record"]["type"] == "lead.created"


def test_a_replay_is_previewed_then_runs_in_the_background_and_sends_each_letter_once(world):
    delivery = DeadLetters(world.engine, box=world.box).get("acme", world.letter()).delivery_id
    selection = {"delivery_ids": [delivery]}
    key = world.full["acme"]
    preview = world.call("POST", "/v1/tenants/acme/dead-letters/replay/dry-run", key, json=selection).json()
    assert (preview["count"], [letter["delivery_id"] for letter in preview["sample"]]) == (1, [delivery])
    started = world.call("POST", "/v1/tenants/acme/dead-letters/replay", key, json=selection)
    assert started.status_code == 202
    location = started.headers["Location"]

    def done() -> bool:
        return world.call("GET", location, key).json()["state"] == "done"

    wait_until(done, 30, "the replay to finish")
    assert world.call("GET", location, key).json()["sent"] == 1
    again = world.call("POST", "/v1/tenants/acme/dead-letters/replay/dry-run", key, json=selection).json()
    assert again["count"] == 0  # a replayed letter is never selected again
    listed = world.call("GET", f"/v1/tenants/acme/dead-letters?delivery_id={delivery}", key).json()["items"]
    assert [letter["status"] for letter in listed] == ["replayed"]


def test_a_discard_needs_a_reason_and_another_tenants_letter_is_404(world):
    key = world.full["acme"]
    mine, theirs = world.letter(), world.letter("globex")
    path = "/v1/tenants/acme/dead-letters/discard"
    assert world.call("POST", path, key, json={"ids": [mine]}).status_code == 422
    assert world.call("POST", path, key, json={"ids": [theirs], "reason": "noise"}).status_code == 404
    assert world.call("POST", path, key, json={"ids": [mine], "reason": "noise"}).json() == {"discarded": 1}
    assert world.call("GET", f"/v1/tenants/acme/dead-letters/{mine}", key).json()["discard_reason"] == "noise"


def test_retrying_a_delivery_that_is_not_dead_lettered_is_409(world):
    answer = world.call("POST", "/v1/tenants/acme/deliveries/retry", world.full["acme"],
                        json={"delivery_ids": ["never-failed"]})  # fmt: skip
    assert answer.status_code == 409
    assert answer.headers["Content-Type"] == "application/problem+json"


def _attempt(tenant, event_id, delivery_id, attempt, status, destination="crm"):
    return {"delivery_id": delivery_id, "attempt": attempt, "tenant_id": tenant, "endpoint_id": None,
            "destination": destination, "event_id": event_id, "event_type": "lead.created", "status": status,
            "status_code": 200 if status == "delivered" else 503, "latency_ms": 12.0, "error_class": None,
            "response_excerpt": None}  # fmt: skip


def test_deliveries_are_searched_with_each_attempt_a_page_at_a_time(world):
    event = uuid.uuid4()
    DeliveryLog(world.engine).record([
        _attempt("acme", event, f"{event}-crm", 1, "retrying"),
        _attempt("acme", event, f"{event}-crm", 2, "delivered"),
        _attempt("acme", event, f"{event}-zapi", 1, "delivered", destination="zapi"),
        _attempt("globex", event, f"{event}-other", 1, "delivered"),
    ], [])  # fmt: skip
    key = world.full["acme"]
    found = world.call("GET", f"/v1/tenants/acme/deliveries?event_id={event}", key).json()
    assert [(d["delivery_id"], [(a["attempt"], a["status"]) for a in d["attempts"]]) for d in found["items"]] == [
        (f"{event}-crm", [(1, "retrying"), (2, "delivered")]),
        (f"{event}-zapi", [(1, "delivered")]),
    ]
    retried = world.call("GET", f"/v1/tenants/acme/deliveries?event_id={event}&status=retrying", key).json()
    assert [d["delivery_id"] for d in retried["items"]] == [f"{event}-crm"]
    first = world.call("GET", f"/v1/tenants/acme/deliveries?event_id={event}&limit=1", key).json()
    rest = world.call("GET", f"/v1/tenants/acme/deliveries?event_id={event}&limit=1&cursor={first['next_cursor']}",
                      key).json()  # fmt: skip
    assert [d["delivery_id"] for d in first["items"] + rest["items"]] == [f"{event}-crm", f"{event}-zapi"]
    assert rest["next_cursor"] is None


def test_dead_letters_are_found_by_their_event_and_a_malformed_event_id_is_422(world):
    key = world.full["acme"]
    mine = world.letter()
    event_id = DeadLetters(world.engine, box=world.box).get("acme", mine).event_id
    world.letter()  # another event's
    listed = world.call("GET", f"/v1/tenants/acme/dead-letters?event_id={event_id}", key).json()["items"]
    assert [letter["id"] for letter in listed] == [mine]
    malformed = world.call("GET", "/v1/tenants/acme/dead-letters?event_id=not-a-uuid", key)
    assert (malformed.status_code, malformed.json()["field"]) == (422, "event_id")


def test_a_subject_export_is_answered_but_never_kept_for_its_idempotency_key(world):
    key = world.full["acme"]
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    path = "/v1/tenants/acme/subjects/export"
    first = world.call("POST", path, key, json={"phone": LEAD["phone"]}, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["asked_by"] == ["phone"]
    assert world.call("POST", path, key, json={"phone": "not a phone"}, headers=headers).status_code == 422
    with Session(world.engine) as session:
        kept = session.scalars(select(AdminRequest).where(AdminRequest.target == f"POST {path}")).all()
    assert kept == []
