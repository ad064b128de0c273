"""The operator console over HTTP, as a browser without JavaScript uses it, on the real PostgreSQL:
sign-in with an API key, the session cookie and its flags, CSRF on every form, scopes, and an
event's whole story shown only to keys acting for its tenant."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select, update

from connectors.kafka.admin import apply_catalogue
from infra.core.secret_box import SecretBox
from infra.db.api_keys import ApiKeys
from infra.db.console_sessions import ConsoleSessions
from infra.db.delivery_log import DeliveryLog
from infra.db.endpoints import Endpoints
from infra.db.health_checks import Checked, HealthChecks
from infra.db.models import ApiKey, AuditLog, ConsoleSession, DeadLetter
from schemas.catalogue import load_catalogue
from streams.deadlines import wait_until
from streams.probes import Probe
from streams.scopes import ROLE_SCOPES
from tests.integration.console_harness import (
    browser,
    csrf_of,
    key_with,
    running_console,
    sign_in,
)
from tests.integration.ingress_harness import isolated_settings, run

EVENT = uuid.uuid4()
PERSONAL = "maria.souza@example.com"


@pytest.fixture
def console(kafka_bootstrap, database_url, migrated, unique, topic_prefix):
    settings = isolated_settings(kafka_bootstrap, database_url, unique, topic_prefix)
    keys = {
        "operator": key_with(migrated, "acme", "operator"),
        "viewer": key_with(migrated, "acme", "viewer"),
        "producer": key_with(migrated, "acme", "producer"),
        "beta": key_with(migrated, "beta", "operator"),
        "admin": key_with(migrated, None, "admin", name="platform"),
    }
    return settings, keys, migrated


@pytest.fixture
def story(console):
    """acme's event EVENT: routed to crm (delivered) and financeiro (503 twice, dead-lettered)."""
    settings, _, engine = console
    now = datetime.now(UTC)

    def attempt(delivery, destination, number, status, code, ago_s):
        return {
            "delivery_id": delivery, "attempt": number, "tenant_id": "acme", "endpoint_id": None,
            "destination": destination, "event_id": EVENT, "event_type": "lead.created", "status": status,
            "status_code": code, "latency_ms": 12.0, "error_class": None if code == 200 else "TransientDeliveryError",
            "response_excerpt": PERSONAL, "created_at": now - timedelta(seconds=ago_s),
        }  # fmt: skip

    DeliveryLog(engine, SecretBox.from_settings(settings)).record(
        [
            attempt("d-crm", "crm", 1, "delivered", 200, 30),
            attempt("d-fin", "financeiro", 1, "retrying", 503, 29),
            attempt("d-fin", "financeiro", 2, "dead_lettered", 503, 20),
        ],
        [
            {
                "tenant_id": "acme",
                "destination": "financeiro",
                "delivery_id": "d-fin",
                "original_topic": f"{settings.topic_prefix}crmbus.deliver.financeiro",
                "original_partition": 0,
                "original_offset": 7,
                "error_class": "TransientDeliveryError",
                "error_message": f"{PERSONAL} refused",
                "status_code": 503,
                "attempts": 2,
                "first_failure_at": now,
                "last_failure_at": now,
                "key": b"acme",
                "value": b"x",
                "headers": {},
                "status": "open",
            }
        ],
        [
            {
                "event_id": EVENT,
                "tenant_id": "acme",
                "event_type": "lead.created",
                "decision": "routed",
                "planned": 2,
                "failed_routes": 0,
                "decided_at": now - timedelta(seconds=31),
            }
        ],
    )


def test_an_operator_key_signs_in_with_a_strict_http_only_cookie_and_sees_the_overview(console):
    settings, keys, engine = console

    async def go():
        async with running_console(settings) as base, browser(base) as client:
            signed = await sign_in(client, keys["operator"].secret)
            async with client.get("/dashboard") as page:
                csp = page.headers["Content-Security-Policy"]
                return signed, page.status, await page.text(), csp

    signed, status, page, csp = run(go())
    assert "default-src 'none'" in csp and "script-src" not in csp and "<script" not in page
    assert signed.status == 303 and signed.headers["Location"] == "/dashboard"
    cookie = next(c for c in signed.headers.getall("Set-Cookie") if c.startswith("crmbus_console="))
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "path", "samesite"} <= flags and "secure" not in flags  # loopback: no TLS to ask for
    assert "SameSite=Strict" in cookie and "Path=/;" in cookie + ";"
    assert status == 200 and "crmbus — bus health" in page and "Signed in." in page
    assert '<meta http-equiv=refresh content="5">' in page
    session_id = cookie.split(";")[0].split("=", 1)[1]
    with engine.connect() as connection:
        stored = connection.execute(select(ConsoleSession.id_hash, ConsoleSession.key_id)).all()
    assert stored == [(stored[0][0], keys["operator"].id)]
    assert session_id.encode() not in stored[0][0], "only the session id's hash is stored"


def test_off_loopback_the_session_cookie_is_secure(console):
    settings, keys, _ = console

    async def go():
        off_loopback = settings.model_copy(update={"dashboard_host": "0.0.0.0"})
        async with running_console(off_loopback) as base, browser(base) as client:
            async with client.get("/console/sign-in") as form:
                token = csrf_of(await form.text())
                form_cookie = form.headers["Set-Cookie"]
            # The client keeps Secure cookies for https only: hand the form's back as a browser would.
            async with client.post(
                "/console/sign-in",
                data={"csrf": token, "api_key": keys["viewer"].secret},
                headers={"Cookie": f"crmbus_console_sign_in={token}"},
                allow_redirects=False,
            ) as signed:
                return form_cookie, signed

    form_cookie, signed = run(go())
    assert "Secure" in form_cookie
    assert signed.status == 303
    cookie = next(c for c in signed.headers.getall("Set-Cookie") if c.startswith("crmbus_console="))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie


@pytest.mark.parametrize(
    ("who", "status"), [("producer", 403), ("unknown", 401)], ids=["a producer's key", "an unknown key"]
)
def test_a_key_that_may_not_read_deliveries_or_no_key_at_all_gets_no_session(console, who, status):
    settings, keys, engine = console
    secret = keys[who].secret if who in keys else "crmb_live_" + "x" * 43

    async def go():
        async with running_console(settings) as base, browser(base) as client:
            refused = await sign_in(client, secret)
            async with client.head("/dashboard", allow_redirects=False) as head:
                assert (head.status, head.headers.get("Location")) == (303, "/console/sign-in")
            async with client.get("/dashboard", allow_redirects=False) as page:
                return refused, page.status, page.headers.get("Location")

    refused, page_status, location = run(go())
    assert refused.status == status
    assert not any(c.startswith("crmbus_console=") for c in refused.headers.getall("Set-Cookie", []))
    assert (page_status, location) == (303, "/console/sign-in")
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(ConsoleSession)).scalar_one() == 0


def test_the_sign_in_form_without_its_own_token_is_refused(console):
    settings, keys, engine = console

    async def go():
        async with (
            running_console(settings) as base,
            browser(base) as client,
            client.post(
                "/console/sign-in", data={"api_key": keys["operator"].secret}, allow_redirects=False
            ) as response,
        ):
            return response.status

    assert run(go()) == 403
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(ConsoleSession)).scalar_one() == 0


def test_scripts_read_the_overview_with_a_bearer_key_that_may_read_deliveries(console):
    settings, keys, _ = console

    async def go():
        async with running_console(settings) as base, browser(base) as client:
            answers = {}
            for who, headers in {
                "nobody": {},
                "viewer": {"Authorization": f"Bearer {keys['viewer'].secret}"},
                "producer": {"Authorization": f"Bearer {keys['producer'].secret}"},
                "garbage": {"Authorization": "Bearer not-a-key"},
            }.items():
                async with client.get("/dashboard/api/overview", headers=headers) as response:
                    answers[who] = (response.status, await response.json(content_type=None))
            return answers

    answers = run(go())
    assert answers["viewer"][0] == 200 and "attention" in answers["viewer"][1]
    assert answers["producer"][0] == 403 and "deliveries:read" in answers["producer"][1]["detail"]
    assert answers["nobody"][0] == 401 and answers["garbage"][0] == 401


def test_a_post_without_the_sessions_csrf_token_is_refused_and_does_nothing(console):
    settings, keys, _ = console

    async def go():
        async with running_console(settings) as base, browser(base) as client:
            await sign_in(client, keys["operator"].secret)
            results = []
            for data in ({}, {"csrf": "forged-token"}):
                async with client.post("/console/sign-out", data=data, allow_redirects=False) as refused:
                    results.append(refused.status)
            async with client.get("/dashboard", allow_redirects=False) as still:
                results.append(still.status)
                token = csrf_of(await still.text())
            async with client.post("/console/sign-out", data={"csrf": token}, allow_redirects=False) as out:
                results.append((out.status, out.headers["Location"]))
            async with client.get("/dashboard", allow_redirects=False) as after:
                results.append((after.status, after.headers.get("Location")))
            return results

    missing, wrong, still, signed_out, after = run(go())
    assert (missing, wrong) == (403, 403)
    assert still == 200, "the refused sign-outs left the session open"
    assert signed_out == (303, "/console/sign-in")
    assert after == (303, "/console/sign-in")


def test_revoking_the_key_ends_its_sessions_at_the_next_request(console):
    settings, keys, engine = console

    async def go():
        async with running_console(settings) as base, browser(base) as client:
            await sign_in(client, keys["operator"].secret)
            async with client.get("/dashboard", allow_redirects=False) as before:
                first = before.status
            ApiKeys(engine, actor="test").revoke(keys["operator"].id)
            async with client.get("/dashboard", allow_redirects=False) as after:
                return first, after.status, after.headers.get("Location")

    assert run(go()) == (200, 303, "/console/sign-in")


def test_a_session_ends_when_idle_too_long_or_at_its_absolute_end(console):
    _, keys, engine = console
    sessions = ConsoleSessions(engine, idle=timedelta(minutes=30), lifetime=timedelta(hours=12))
    start = datetime.now(UTC)
    busy = sessions.open(keys["viewer"].id, now=start)
    for minutes in range(20, 12 * 60, 20):  # used every 20 min: never idle, until its end
        assert sessions.find(busy, now=start + timedelta(minutes=minutes)) is not None
    assert sessions.find(busy, now=start + timedelta(hours=12, minutes=1)) is None
    idle = sessions.open(keys["viewer"].id, now=start)
    assert sessions.find(idle, now=start + timedelta(minutes=31)) is None
    assert sessions.find(idle, now=start) is None, "an ended session is gone, not only refused"


def test_sessions_past_their_end_are_pruned_and_live_ones_kept(console):
    _, keys, engine = console
    sessions = ConsoleSessions(engine, idle=timedelta(minutes=30), lifetime=timedelta(hours=12))
    start = datetime.now(UTC)
    sessions.open(keys["viewer"].id, now=start - timedelta(hours=1))  # idle for an hour by ``start``
    live = sessions.open(keys["viewer"].id, now=start)
    assert sessions.prune(now=start) == 1
    assert sessions.find(live, now=start) is not None
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(ConsoleSession)).scalar_one() == 1


def test_a_key_losing_the_read_scope_is_out_at_its_next_request(console):
    settings, keys, engine = console

    async def go():
        async with running_console(settings) as base, browser(base) as client:
            await sign_in(client, keys["viewer"].secret)
            with engine.begin() as connection:
                connection.execute(
                    update(ApiKey).where(ApiKey.id == keys["viewer"].id).values(scopes=sorted(ROLE_SCOPES["producer"]))
                )
            async with client.get("/dashboard", allow_redirects=False) as after:
                return after.status

    assert run(go()) == 303


def test_an_events_page_tells_its_whole_story_to_its_tenants_operator(console, story):
    settings, keys, _ = console

    async def go():
        async with running_console(settings) as base, browser(base) as client:
            await sign_in(client, keys["operator"].secret)
            async with client.get(f"/console/events/{EVENT}") as page:
                return page.status, await page.text()

    status, page = run(go())
    assert status == 200
    assert "accepted and routed to 2 destination(s)" in page
    assert "<td>crm</td><td><code>d-crm</code></td><td class=n>1</td><td><span class=ok>delivered" in page
    assert "<td>financeiro</td><td><code>d-fin</code></td><td class=n>2</td><td><span class=bad>dead-lettered" in page
    assert page.count("<td>financeiro</td><td class=n>") == 2, "each attempt, with its number"
    assert "<td class=n>503</td>" in page and "<td class=n>200</td>" in page
    assert "<td>TransientDeliveryError</td><td class=n>503</td><td class=n>2</td><td>open</td>" in page
    assert 'action="/console/events/' + str(EVENT) + '/retry"' in page
    assert 'name=delivery_id value="d-fin"' in page and 'value="d-crm"' not in page
    assert PERSONAL not in page


def test_an_events_page_shows_its_dead_letters_of_the_routers_stage_too(console, story):
    settings, keys, engine = console
    now = datetime.now(UTC)
    DeliveryLog(engine, SecretBox.from_settings(settings)).record(
        [],
        [
            {
                "tenant_id": "acme", "destination": None, "delivery_id": None, "event_id": EVENT,
                "original_topic": f"{settings.topic_prefix}crmbus.events", "original_partition": 1,
                "original_offset": 3, "error_class": "MappingError", "error_message": "mapping: no field phone",
                "status_code": None, "attempts": 0, "first_failure_at": now, "last_failure_at": now,
                "key": b"acme", "value": b"x", "headers": {"crmbus-stage": "router.mapping"}, "status": "open",
            }
        ],
    )  # fmt: skip

    async def go():
        async with running_console(settings) as base, browser(base) as client:
            await sign_in(client, keys["operator"].secret)
            async with client.get(f"/console/events/{EVENT}") as page:
                return await page.text()

    page = run(go())
    assert "<td>router.mapping</td><td>—</td><td>MappingError</td>" in page
    assert "<td>financeiro</td><td>TransientDeliveryError</td><td class=n>503</td>" in page, "and its delivery's"


def test_a_viewer_sees_the_story_without_a_retry_button(console, story):
    settings, keys, _ = console

    async def go():
        async with running_console(settings) as base, browser(base) as client:
            await sign_in(client, keys["viewer"].secret)
            async with client.get(f"/console/events/{EVENT}") as page:
                return page.status, await page.text()

    status, page = run(go())
    assert status == 200 and "dead-lettered" in page
    assert "/retry" not in page


def test_another_tenants_key_finds_no_such_event_and_an_admin_key_finds_any(console, story):
    settings, keys, _ = console

    async def go():
        seen = {}
        async with running_console(settings) as base:
            for who in ("beta", "admin"):
                async with browser(base) as client:
                    await sign_in(client, keys[who].secret)
                    async with client.get(f"/console/events/{EVENT}") as page:
                        seen[who] = (page.status, await page.text())
        return seen

    seen = run(go())
    assert seen["beta"][0] == 404 and "d-fin" not in seen["beta"][1]
    assert (
        seen["admin"][0] == 200 and "d-fin" in seen["admin"][1] and "tenant <strong>acme</strong>" in seen["admin"][1]
    )


@pytest.fixture
def hooks(console):
    """acme's webhook destination ``hooks``."""
    _, _, engine = console
    Endpoints(engine, SecretBox(Fernet.generate_key()), actor="test").add(
        "acme", "hooks", "webhook", "https://hooks.example.com/in", secret="s3cret"
    )
    return Endpoints(engine, SecretBox(Fernet.generate_key()), actor="test")


def paused(endpoints):
    (view,) = endpoints.list("acme")
    return view.paused_at is not None


def actions_of(engine, action):
    with engine.connect() as connection:
        return connection.execute(select(AuditLog.actor, AuditLog.tenant_id).where(AuditLog.action == action)).all()


def test_an_operator_pauses_and_resumes_a_destination_and_the_audit_log_names_its_key(console, hooks):
    settings, keys, engine = console

    async def go():
        async with running_console(settings) as base, browser(base) as client:
            await sign_in(client, keys["operator"].secret)
            async with client.get("/console/destinations") as page:
                listed = await page.text()
            fields = {"csrf": csrf_of(listed), "tenant_id": "acme", "name": "hooks"}
            async with client.post("/console/destinations/pause", data=fields) as after_pause:
                shown = await after_pause.text()
            was_paused = paused(hooks)
            async with client.post("/console/destinations/resume", data=fields) as after_resume:
                return listed, shown, was_paused, await after_resume.text()

    listed, shown, was_paused, resumed = run(go())
    assert "<td>acme</td><td>hooks</td><td>webhook</td><td><span class=ok>active" in listed
    assert 'action="/console/destinations/pause"' in listed and "hooks.example.com" not in listed
    assert was_paused and "Paused acme → hooks" in shown and "paused since" in shown
    assert not paused(hooks) and "Resumed acme → hooks" in resumed
    actor = f"key:{keys['operator'].id}"
    assert actions_of(engine, "endpoint.pause") == [(actor, "acme")]
    assert actions_of(engine, "endpoint.resume") == [(actor, "acme")]


@pytest.mark.parametrize(("who", "status"), [("viewer", 403), ("beta", 404)], ids=["without config:write", "beta's"])
def test_a_key_without_the_scope_or_of_another_tenant_cannot_pause_and_nothing_changes(console, hooks, who, status):
    settings, keys, engine = console

    async def go():
        async with running_console(settings) as base, browser(base) as client:
            await sign_in(client, keys[who].secret)
            async with client.get("/console/destinations") as page:
                listed = await page.text()
            fields = {"csrf": csrf_of(listed), "tenant_id": "acme", "name": "hooks"}
            async with client.post("/console/destinations/pause", data=fields, allow_redirects=False) as refused:
                return listed, refused.status

    listed, refused = run(go())
    assert refused == status
    assert "/console/destinations/pause" not in listed
    assert not paused(hooks) and actions_of(engine, "endpoint.pause") == []


def test_a_nul_in_a_query_form_or_path_is_refused_before_postgresql_sees_it_and_changes_nothing(console, hooks):
    settings, keys, engine = console

    async def answer(response):
        return response.status, response.content_type, await response.json(content_type=None)

    async def go():
        async with running_console(settings) as base, browser(base) as client:
            await sign_in(client, keys["operator"].secret)
            async with client.get("/console/destinations") as page:
                fields = {"csrf": csrf_of(await page.text()), "tenant_id": "acme", "name": "ho\x00oks"}
            async with client.post("/console/destinations/pause", data=fields, allow_redirects=False) as posted:
                form = await answer(posted)
            async with client.get("/console/dead-letters/replay?tenant=acme&error_class=Http%00Error") as dry:
                query = await answer(dry)
            async with client.get("/console/events/ab%00cd") as event:
                path = await answer(event)
            return form, query, path

    form, query, path = run(go())
    assert form[:2] == (422, "application/problem+json") and form[2]["field"] == "name"
    assert query[:2] == (422, "application/problem+json") and query[2]["field"] == "error_class"
    assert path[:2] == (404, "application/problem+json")
    assert not paused(hooks) and actions_of(engine, "endpoint.pause") == []


def test_an_unknown_path_or_a_wrong_method_is_a_problem_not_plain_text(console):
    settings, keys, _ = console

    async def go():
        async with running_console(settings) as base, browser(base) as client:
            await sign_in(client, keys["operator"].secret)
            async with client.get("/console/nowhere") as unknown, client.put("/console/destinations") as wrong:
                return [
                    (r.status, r.content_type, (await r.json(content_type=None))["status"]) for r in (unknown, wrong)
                ]

    assert run(go()) == [(404, "application/problem+json", 404), (405, "application/problem+json", 405)]


def test_the_destinations_page_shows_each_destinations_last_check_and_which_kinds_are_not_probed(console, hooks):
    settings, keys, engine = console
    waha = hooks.add("acme", "waha", "waha", "https://waha.example.com", config={"session": "default"})
    at = datetime(2026, 12, 5, 7, 55, tzinfo=UTC)
    HealthChecks(engine).record(
        [Checked(str(waha.id), "acme", "waha", "default", Probe("up", "disconnected", "session_failed"))], at
    )

    async def go():
        async with running_console(settings) as base, browser(base) as client:
            await sign_in(client, keys["viewer"].secret)
            async with client.get("/console/destinations") as page:
                return await page.text()

    listed = run(go())
    assert (
        "<span class=bad>up · disconnected · session_failed</span> <span class=muted>2026-12-05 07:55:00 UTC" in listed
    )
    assert "<td>hooks</td><td>webhook</td>" in listed and "<span class=idle>not probed</span>" in listed


@pytest.fixture
def topics(kafka_admin, topic_prefix):
    """This test's topics, where a retried or replayed letter goes back to."""
    apply_catalogue(kafka_admin, load_catalogue().with_prefix(topic_prefix), replication_factor=1)


def letter_status(engine) -> str:
    with engine.connect() as connection:
        return connection.execute(select(DeadLetter.status).where(DeadLetter.delivery_id == "d-fin")).scalar_one()


def retry_form(page: str) -> dict[str, str]:
    return {"csrf": csrf_of(page), "delivery_id": "d-fin"}


def test_an_operator_retries_a_dead_lettered_delivery_and_the_audit_log_names_its_key(console, story, topics):
    settings, keys, engine = console

    async def go():
        async with running_console(settings) as base, browser(base) as client:
            await sign_in(client, keys["operator"].secret)
            async with client.get(f"/console/events/{EVENT}") as page:
                fields = retry_form(await page.text())
            async with client.post(f"/console/events/{EVENT}/retry", data=fields, allow_redirects=False) as done:
                location = done.headers["Location"]
            async with client.get(location) as shown:
                return done.status, location, await shown.text()

    status, location, shown = run(go())
    assert (status, location) == (303, f"/console/events/{EVENT}")
    assert "Retrying delivery d-fin" in shown
    assert letter_status(engine) == "replayed"
    assert actions_of(engine, "deliveries.retry") == [(f"key:{keys['operator'].id}", "acme")]


@pytest.mark.parametrize(
    ("who", "status"), [("viewer", 403), ("beta", 404)], ids=["without deliveries:retry", "beta's"]
)
def test_a_retry_without_the_scope_or_by_another_tenant_is_refused_and_nothing_is_sent(
    console, story, topics, who, status
):
    settings, keys, engine = console

    async def go():
        async with running_console(settings) as base, browser(base) as client:
            await sign_in(client, keys[who].secret)
            async with client.get("/dashboard") as page:
                fields = retry_form(await page.text())
            async with client.post(f"/console/events/{EVENT}/retry", data=fields, allow_redirects=False) as refused:
                return refused.status

    assert run(go()) == status
    assert letter_status(engine) == "open"
    assert actions_of(engine, "deliveries.retry") == []


def test_a_dlq_group_is_replayed_only_after_a_dry_run_shows_what_would_go(console, story, topics):
    settings, keys, engine = console
    query = "tenant=acme&destination=financeiro&error_class=TransientDeliveryError"

    async def go():
        async with running_console(settings) as base, browser(base) as client:
            await sign_in(client, keys["operator"].secret)
            async with client.get("/console/dead-letters") as page:
                groups = await page.text()
            async with client.get(f"/console/dead-letters/replay?{query}") as page:
                dry = await page.text()
            status_after_dry_run = letter_status(engine)
            fields = {
                "csrf": csrf_of(dry), "tenant_id": "acme", "destination": "financeiro",
                "error_class": "TransientDeliveryError",
            }  # fmt: skip
            async with client.post("/console/dead-letters/replay", data=fields) as page:
                replayed = await page.text()
            # The replay goes on in the background: wait for it, then a dry run finds nothing.
            await asyncio.to_thread(wait_until, lambda: letter_status(engine) == "replayed", 30, "the replay")
            async with client.get(f"/console/dead-letters/replay?{query}") as page:
                again = await page.text()
            async with client.get("/console/dead-letters") as page:
                listed = await page.text()
            return groups, dry, status_after_dry_run, replayed, again, listed

    groups, dry, status_after_dry_run, replayed, again, listed = run(go())
    assert "<td>acme</td><td>financeiro</td><td>TransientDeliveryError</td><td class=n>1</td>" in groups
    assert "Replay this group" in groups
    assert "Would replay <strong>1</strong> open letter(s)" in dry and "Replay 1 letter(s)" in dry
    assert PERSONAL not in dry, "a letter's error message and bytes stay out of the page"
    assert status_after_dry_run == "open", "the dry run sent nothing"
    assert "of acme → financeiro, TransientDeliveryError started: 1 letter(s)" in replayed
    assert "nothing would be sent" in again
    assert "<h2>Latest replays</h2>" in listed and "<td>done</td><td class=n>1</td><td class=n>1</td>" in listed
    assert actions_of(engine, "dlq.replay") == [(f"key:{keys['operator'].id}", "acme")]


def test_a_viewer_sees_the_groups_but_cannot_dry_run_or_replay_them(console, story, topics):
    settings, keys, engine = console
    fields = {"tenant_id": "acme", "destination": "financeiro", "error_class": "TransientDeliveryError"}

    async def go():
        async with running_console(settings) as base, browser(base) as client:
            await sign_in(client, keys["viewer"].secret)
            async with client.get("/console/dead-letters") as page:
                groups = await page.text()
            async with client.get("/console/dead-letters/replay?tenant=acme&error_class=X") as page:
                dry = page.status
            async with client.post(
                "/console/dead-letters/replay", data={"csrf": csrf_of(groups), **fields}, allow_redirects=False
            ) as page:
                return groups, dry, page.status

    groups, dry, posted = run(go())
    assert "TransientDeliveryError" in groups and "Replay this group" not in groups
    assert (dry, posted) == (403, 403)
    assert letter_status(engine) == "open"


def test_the_open_event_box_goes_to_the_events_page_and_a_malformed_id_is_not_found(console, story):
    settings, keys, _ = console

    async def go():
        async with running_console(settings) as base, browser(base) as client:
            await sign_in(client, keys["viewer"].secret)
            async with client.get("/console/events", params={"id": str(EVENT)}, allow_redirects=False) as found:
                location = found.headers["Location"]
            async with client.get("/console/events/not-a-uuid") as malformed:
                return found.status, location, malformed.status

    assert run(go()) == (303, f"/console/events/{EVENT}", 404)


def test_a_key_that_may_only_read_deliveries_sees_neither_the_dlq_nor_the_destinations(console):
    settings, _, engine = console
    _, secret = ApiKeys(engine, actor="test").create("acme", "narrow", scopes=frozenset({"deliveries:read"}))

    async def go():
        async with running_console(settings) as base, browser(base) as client:
            await sign_in(client, secret)
            statuses = []
            for path in ("/dashboard", "/console/dead-letters", "/console/destinations"):
                async with client.get(path) as page:
                    statuses.append((page.status, "lacks the scope" in await page.text()))
            return statuses

    assert run(go()) == [(200, False), (403, True), (403, True)]
