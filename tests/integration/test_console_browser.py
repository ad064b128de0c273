"""The console in a real browser (Debian's chromium, headless, JavaScript off, driven by
Playwright) on the real stack: `crmbus worker` and `crmbus dashboard` processes on the session's
Kafka and PostgreSQL, and a loopback destination that refuses a delivery and then recovers. An
operator signs in, opens the dead-lettered event's page, presses Retry and sees the delivery
delivered there; the same form posted without its CSRF token is refused and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from infra.db.api_keys import ApiKeys
from infra.db.endpoints import Endpoints
from infra.db.models import AuditLog, DeadLetter, WebhookDelivery
from infra.devtools.sandbox import SandboxClient
from streams.deadlines import wait_until
from tests.integration.console_harness import base_env, dashboard
from tests.integration.worker_harness import Bus, event, example

CHROMIUM = Path("/usr/bin/chromium")
SEEDED = ("crm", "financeiro", "zapi", "email", "marketing")
DEADLINE_S = 90


@pytest.fixture
def wired(bus: Bus, sandbox: SandboxClient) -> Bus:
    """The test tenant's destinations point at the sandbox and have credentials."""
    sandbox.clear()
    for system in SEEDED:
        sandbox.heal(system)
        Endpoints(bus.engine, bus.box(), actor="test").update(
            bus.tenant, system, url=sandbox.url_of(system), secret=f"sandbox-{system}-token"
        )
    return bus


@pytest.fixture
def console(wired: Bus, tmp_path: Path) -> Iterator[str]:
    """`crmbus dashboard` on the test's database schema, topics and secret key."""
    settings = wired.settings
    env = base_env(
        tmp_path,
        CRMBUS_DATABASE_URL=settings.database_url.get_secret_value(),
        CRMBUS_KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
        CRMBUS_TOPIC_PREFIX=settings.topic_prefix,
        CRMBUS_SECRET_KEY=wired.secret_key,
    )
    with dashboard(env, tmp_path) as base:
        yield base


@pytest.fixture
def output(tmp_path: Path) -> Path:
    """Where the test's screenshots go: ``output/`` in its tmp_path (pytest keeps the last runs')."""
    folder = tmp_path / "output"
    folder.mkdir()
    return folder


def financeiro_attempts(bus: Bus, event_id) -> list[tuple[int, str]]:
    query = (
        select(WebhookDelivery.attempt, WebhookDelivery.status)
        .where(WebhookDelivery.event_id == event_id, WebhookDelivery.destination == "financeiro")
        .order_by(WebhookDelivery.created_at)
    )
    with Session(bus.engine) as session:
        return [(attempt, status) for attempt, status in session.execute(query)]


def open_letters(bus: Bus, event_id) -> int:
    query = select(func.count()).where(
        DeadLetter.event_id == event_id, DeadLetter.destination == "financeiro", DeadLetter.status == "open"
    )
    with Session(bus.engine) as session:
        return int(session.execute(query).scalar_one())


def retries_audited(bus: Bus) -> list[str]:
    with Session(bus.engine) as session:
        return list(session.scalars(select(AuditLog.actor).where(AuditLog.action == "deliveries.retry")))


def test_an_operator_retries_a_dead_lettered_delivery_from_the_event_page_and_sees_it_delivered(
    wired, sandbox, console, output
):
    _, secret = ApiKeys(wired.engine, actor="test").create(wired.tenant, "ana", role="operator")
    (key,) = [k for k in ApiKeys(wired.engine).list(wired.tenant) if k.name == "ana"]
    sandbox.fail("financeiro", status=400)  # refused for good: dead-lettered at the first attempt
    client = event(wired.tenant, "client.registered", example("client.registered"))
    running = wired.workers(CRMBUS_OUTBOUND_ALLOW_LOOPBACK="true").start()
    try:
        wired.lane.send([client])
        wait_until(
            lambda: open_letters(wired, client.event_id) == 1, DEADLINE_S, "the financeiro delivery archived in the DLQ"
        )
        wait_until(
            lambda: financeiro_attempts(wired, client.event_id) == [(1, "dead_lettered")],
            DEADLINE_S,
            "its dead-lettered attempt archived",
        )
        sandbox.heal("financeiro")
        calls_before = len(sandbox.requests("financeiro"))

        assert CHROMIUM.exists(), "the browser test drives Debian's chromium: apt-get install chromium"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            try:
                context = browser.new_context(java_script_enabled=False)
                page = context.new_page()
                page.goto(f"{console}/console/sign-in")
                page.fill("input[name=api_key]", secret)
                page.click("button:has-text('Sign in')")
                assert page.url == f"{console}/dashboard"
                assert "Signed in." in page.content()

                event_url = f"{console}/console/events/{client.event_id}"
                page.goto(event_url)
                row = page.locator("tr", has_text="financeiro").first
                assert "dead-lettered" in row.inner_text()
                delivery_id = row.locator("input[name=delivery_id]").get_attribute("value")

                # The same form without its CSRF token, with the session cookie: refused, nothing done.
                forged = context.request.post(f"{event_url}/retry", form={"delivery_id": delivery_id}, max_redirects=0)
                assert forged.status == 403
                assert open_letters(wired, client.event_id) == 1
                assert retries_audited(wired) == []
                assert len(sandbox.requests("financeiro")) == calls_before

                row.locator("button:has-text('Retry')").click()
                assert page.url == event_url
                assert "Retrying delivery" in page.content()

                def delivered_on_the_page() -> bool:
                    page.goto(event_url)
                    return "delivered" in page.locator("tr", has_text="financeiro").first.inner_text()

                wait_until(delivered_on_the_page, DEADLINE_S, "the retried delivery shown delivered", interval_s=1.0)
                page.screenshot(path=str(output / "event-delivered-after-retry.png"), full_page=True)
            finally:
                browser.close()
    finally:
        running.stop()

    assert (output / "event-delivered-after-retry.png").stat().st_size > 0
    assert financeiro_attempts(wired, client.event_id)[-1][1] == "delivered"
    assert len(sandbox.applied("financeiro")) == 1
    assert retries_audited(wired) == [f"key:{key.id}"]
