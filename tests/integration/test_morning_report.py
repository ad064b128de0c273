"""The morning report reaches a tenant's mailbox once a day through its own e-mail destination,
however many workers look for the job."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from cryptography.fernet import Fernet

from agents.jobs import JobRunner
from agents.morning_report import report_job
from connectors.ssrf import OutboundPolicy
from infra.core.secret_box import SecretBox
from infra.db.daily_report import DailyReports
from infra.db.endpoints import Endpoints
from infra.db.job_runs import JobRuns
from infra.db.tenants import Tenants
from streams.delivery_sla import DeliverySla
from tests.fakes.smtp_server import FakeSmtp, serving

pytestmark = pytest.mark.integration
SEVEN_IN_SAO_PAULO = time(7, 0, tzinfo=ZoneInfo("America/Sao_Paulo"))
HALF_PAST_SEVEN = datetime(2026, 12, 5, 10, 30, tzinfo=UTC)  # 07:30 in São Paulo (UTC-3)


def test_two_workers_send_the_morning_report_once_a_day(migrated):
    Tenants(migrated, actor="test").create("acme", "Acme", sandbox_url=None)
    endpoints = Endpoints(migrated, SecretBox(Fernet.generate_key()), actor="test")
    fake = FakeSmtp()

    async def go():
        async with serving(fake) as port:
            endpoints.add(
                "acme", "email", "email", f"smtp://127.0.0.1:{port}",
                config={"sender": "bus@crmbus.test", "tls": "none", "daily_report_to": "ops@acme.test"},
            )  # fmt: skip
            job = report_job(
                endpoints.load_enabled, DailyReports(migrated), DeliverySla(2000, 0.95),
                OutboundPolicy(allow_loopback=True), at=SEVEN_IN_SAO_PAULO,
            )  # fmt: skip
            runners = [
                JobRunner(JobRuns(migrated, owner, lease=timedelta(minutes=5)), [job], heartbeat_s=30)
                for owner in ("worker-a:1", "worker-b:2")
            ]
            await asyncio.gather(*(runner.run_due(HALF_PAST_SEVEN) for runner in runners))
            await runners[1].run_due(HALF_PAST_SEVEN + timedelta(hours=3))
            first_day = len(fake.received)
            await asyncio.gather(*(runner.run_due(HALF_PAST_SEVEN + timedelta(days=1)) for runner in runners))
            return first_day

    first_day = asyncio.run(go())
    assert first_day == 1
    assert len(fake.received) == 2
    mail = fake.received[0]
    assert mail.recipients == ["ops@acme.test"]
    assert mail.message["Subject"] == "crmbus: report of 2026-12-04 for acme"
    assert "crmbus daily report for 2026-12-04 (UTC), tenant acme" in mail.message.get_content()
    assert fake.received[1].message["Subject"] == "crmbus: report of 2026-12-05 for acme"
    runs = JobRuns(migrated, "reader", lease=timedelta(minutes=5)).recent("daily-report")
    assert [(run.outcome, run.details) for run in runs] == [
        ("succeeded", {"day": "2026-12-05", "sent": 1}),
        ("succeeded", {"day": "2026-12-04", "sent": 1}),
    ]
