"""`crmbus report` for a day with known events, deliveries, dead letters, job runs and sessions:
the same counts in text, JSON and HTML, and nothing of the other days or the other tenant."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert
from typer.testing import CliRunner

from infra.cli import app
from infra.core.secret_box import SecretBox
from infra.db.daily_report import DailyReports
from infra.db.endpoints import Endpoints
from infra.db.health_checks import Checked, HealthChecks
from infra.db.models import DeadLetter, EventStatus, JobRun, WebhookDelivery
from infra.db.tenants import Tenants
from streams.delivery_sla import DeliverySla
from streams.probes import Probe
from tests.integration.ingress_harness import isolated_settings

pytestmark = pytest.mark.integration
DAY = date(2026, 12, 4)
NOON = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
SLA = DeliverySla(p95_ms=1000, success_rate=0.9)


def _attempt(tenant: str, destination: str, status: str, at: datetime, error: str | None = None) -> dict:
    return {
        "delivery_id": uuid.uuid4().hex, "attempt": 1, "tenant_id": tenant, "destination": destination,
        "event_id": uuid.uuid4(), "event_type": "crm.lead.created", "status": status, "latency_ms": 120.0,
        "error_class": error, "response_excerpt": "Maria +5511987654321", "created_at": at,
    }  # fmt: skip


def _letter(tenant: str, at: datetime, offset: int, replayed_at: datetime | None = None) -> dict:
    return {
        "tenant_id": tenant, "destination": "zapi", "original_topic": "crmbus.deliver.zapi", "original_partition": 0,
        "original_offset": offset, "error_class": "PermanentDeliveryError", "error_message": "maria@example.com refused",
        "status": "replayed" if replayed_at else "open", "replayed_at": replayed_at, "created_at": at,
    }  # fmt: skip


@pytest.fixture
def known_day(migrated, tmp_path, kafka_bootstrap, database_url, unique):
    settings = isolated_settings(kafka_bootstrap, database_url, unique, "x.", state_dir=tmp_path)
    for tenant in ("acme", "other"):
        Tenants(migrated, actor="test").create(tenant, tenant, sandbox_url=None)
    endpoint = Endpoints(migrated, SecretBox.from_settings(settings), actor="test").add(
        "acme", "waha", "waha", "http://127.0.0.1:1/waha", config={"session": "default"}
    )
    HealthChecks(migrated).record(
        [Checked(str(endpoint.id), "acme", "waha", "default", Probe("up", "disconnected", "session_failed"))], NOON
    )
    events = [("crm.lead.created", 3), ("whatsapp.message.received", 2)]
    attempts = [
        *(_attempt("acme", "crm", "delivered", NOON) for _ in range(4)),
        _attempt("acme", "crm", "retrying", NOON, "TransientDeliveryError"),
        _attempt("acme", "zapi", "dead_lettered", NOON, "PermanentDeliveryError"),
        _attempt("acme", "zapi", "duplicate", NOON),
        _attempt("acme", "crm", "delivered", NOON + timedelta(days=1)),
        _attempt("other", "crm", "delivered", NOON),
    ]
    with migrated.begin() as connection:
        connection.execute(
            insert(EventStatus),
            [
                {"event_id": uuid.uuid4(), "tenant_id": "acme", "event_type": kind, "decision": "routed",
                 "planned": 1, "failed_routes": 0, "decided_at": NOON}
                for kind, count in events for _ in range(count)
            ] + [{"event_id": uuid.uuid4(), "tenant_id": "other", "event_type": "crm.lead.created",
                  "decision": "routed", "planned": 1, "failed_routes": 0, "decided_at": NOON}],
        )  # fmt: skip
        connection.execute(insert(WebhookDelivery), attempts)
        connection.execute(
            insert(DeadLetter),
            [
                _letter("acme", NOON, 1),
                _letter("acme", NOON - timedelta(days=1), 2, replayed_at=NOON),
                _letter("acme", NOON - timedelta(days=2), 3),
            ],
        )
        connection.execute(
            insert(JobRun),
            [
                {"job": "health-probes", "tick": NOON, "owner": "w:1", "outcome": "succeeded"},
                {"job": "health-probes", "tick": NOON + timedelta(minutes=5), "owner": "w:1", "outcome": "failed"},
                {"job": "health-probes", "tick": NOON - timedelta(days=1), "owner": "w:1", "outcome": "failed"},
            ],
        )
    return settings


def test_the_report_of_a_known_day_counts_it_in_every_format(migrated, known_day):
    report = DailyReports(migrated).report(DAY, SLA, tenant_id="acme")
    data = json.loads(CliRunner().invoke(app, ["report", "--day", "2026-12-04", "--tenant", "acme", "--format", "json"],
                                         env={"CRMBUS_DATABASE_URL": known_day.database_url.get_secret_value()}).stdout)  # fmt: skip

    assert data["events"] == {"crm.lead.created": 3, "whatsapp.message.received": 2}
    assert data["events_total"] == 5
    assert data["deliveries"] == [
        {"destination": "crm", "delivered": 4, "retrying": 1, "dead_lettered": 0,
         "failures": {"TransientDeliveryError": 1}},
        {"destination": "zapi", "delivered": 0, "retrying": 0, "dead_lettered": 1,
         "failures": {"PermanentDeliveryError": 1}},
    ]  # fmt: skip
    assert data["dlq"] == {"opened": 1, "replayed": 1, "open_now": 2}
    assert [(s["destination"], s["verdict"], s["attempts"]) for s in data["sla"]] == [
        ("crm", "breached", 5),  # 4 of 5 is 80 %, under 90 %
        ("zapi", "breached", 1),
    ]
    assert data["jobs"] == [{"job": "health-probes", "runs": 2, "succeeded": 1, "failed": 1, "unfinished": 0}]
    assert [(s["provider"], s["session"], s["error_class"]) for s in data["whatsapp"]] == [
        ("waha", "disconnected", "session_failed")
    ]

    text = CliRunner().invoke(app, ["report", "--day", "2026-12-04", "--tenant", "acme"],
                              env={"CRMBUS_DATABASE_URL": known_day.database_url.get_secret_value()}).stdout  # fmt: skip
    assert "Events: 5" in text
    assert "  crm                     4          1        0" in text
    assert "DLQ: 1 opened, 1 replayed, 2 open now" in text
    assert "SLA: 2 of 2 destinations breached" in text
    assert "health-probes            1 ok, 1 failed, 0 unfinished" in text
    assert "acme waha: disconnected (probe up, session_failed)" in text

    page = CliRunner().invoke(app, ["report", "--day", "2026-12-04", "--tenant", "acme", "--format", "html"],
                              env={"CRMBUS_DATABASE_URL": known_day.database_url.get_secret_value()}).stdout  # fmt: skip
    assert "<h2>Events: 5</h2>" in page
    assert '<tr><td>crm</td><td class="n">4</td><td class="n">1</td><td class="n">0</td></tr>' in page
    assert '<tr><td class="n">1</td><td class="n">1</td><td class="n">2</td></tr>' in page
    assert "<h2>SLA: 2 of 2 breached</h2>" in page
    assert '<td class="disconnected">disconnected</td>' in page

    for rendered in (text, page, json.dumps(data)):
        assert "5511987654321" not in rendered and "maria@example.com" not in rendered
    assert report.events_total == 5


def test_the_report_of_every_tenant_adds_the_others(migrated, known_day):
    report = DailyReports(migrated).report(DAY, SLA)
    assert report.events == {"crm.lead.created": 4, "whatsapp.message.received": 2}
    assert {d.destination: d.delivered for d in report.deliveries} == {"crm": 5, "zapi": 0}


def test_a_day_that_is_not_a_date_is_refused_naming_the_option(known_day):
    answer = CliRunner().invoke(
        app, ["report", "--day", "04/12/2026"], env={"CRMBUS_DATABASE_URL": known_day.database_url.get_secret_value()}
    )
    assert answer.exit_code != 0
    assert "--day must be a date as YYYY-MM-DD" in str(answer.exception)
