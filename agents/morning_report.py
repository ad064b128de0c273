"""The morning report: once a day (``CRMBUS_DAILY_REPORT_AT`` in ``CRMBUS_DAILY_REPORT_ZONE``),
yesterday's report of each tenant that asked for it, e-mailed through its own e-mail destination.

A tenant asks by naming the recipient in an enabled e-mail destination's config:
``crmbus destinations set --tenant T --name email --config '{"daily_report_to": "ops@clinica.com.br"}'``.
The report is sent as the e-mail template ``crmbus_daily_report`` with the variables ``day``,
``tenant`` and ``report`` (the text report): an SMTP destination renders it with the template
below unless its config has its own of that name; an e-mail HTTP API needs the template at the
provider. The job runs once per day across every worker (``agents.jobs``), so each tenant gets
one e-mail a day however many workers there are.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Any

from agents.jobs import Job
from connectors.destinations import connector_for
from connectors.http import HttpClients
from connectors.ssrf import OutboundPolicy
from infra.db.daily_report import DailyReports
from infra.db.endpoints import Destination
from streams.daily_report import render_text
from streams.delivery_sla import DeliverySla
from streams.errors import CrmbusError, TransientDeliveryError
from streams.ticks import daily_tick

log = logging.getLogger(__name__)

JOB_NAME = "daily-report"
TEMPLATE = "crmbus_daily_report"
RECIPIENT = "daily_report_to"
_TEMPLATE_TEXT: Mapping[str, str] = {
    "subject": "crmbus: report of {day} for {tenant}",
    "text": "{report}",
}


def _recipient(destination: Destination) -> str | None:
    to = destination.config.get(RECIPIENT)
    wanted = destination.kind == "email" and not destination.paused and not destination.secret_unreadable
    return to if wanted and isinstance(to, str) and to else None


def _with_template(config: Mapping[str, Any]) -> dict[str, Any]:
    templates = config.get("templates")
    own = dict(templates) if isinstance(templates, Mapping) else {}
    return {**config, "templates": {TEMPLATE: _TEMPLATE_TEXT, **own}}


def _delivery_id(destination: Destination, day: date) -> str:
    """One id per destination and day: the e-mail's Message-ID, the same if a run is taken over."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"crmbus:daily-report:{destination.id}:{day.isoformat()}"))


def report_job(
    load_destinations: Callable[[], Sequence[Destination]],
    reports: DailyReports,
    sla: DeliverySla,
    policy: OutboundPolicy,
    *,
    at: time,
) -> Job:
    """The job that e-mails yesterday's report (the day before the tick, in ``at``'s zone)."""

    async def run(tick: datetime) -> dict[str, Any]:
        day = tick.astimezone(at.tzinfo).date() - timedelta(days=1)
        asked = [(d, to) for d in await asyncio.to_thread(load_destinations) if (to := _recipient(d)) is not None]
        sent = failed = 0
        async with HttpClients(policy) as clients:
            for destination, to in asked:
                try:
                    report = await asyncio.to_thread(reports.report, day, sla, destination.tenant_id)
                    connector = connector_for(
                        "email", url=destination.url, config=_with_template(destination.config),
                        secret=destination.secret, client=clients, endpoint_id=f"report:{destination.id}",
                    )  # fmt: skip
                    variables = {"day": day.isoformat(), "tenant": destination.tenant_id, "report": render_text(report)}
                    payload = {"to": to, "template": TEMPLATE, "variables": variables}
                    await connector.deliver(_delivery_id(destination, day), "email.send_template", payload)
                    sent += 1
                except CrmbusError as exc:  # one tenant's mail server must not cost the others theirs
                    failed += 1
                    log.warning(
                        "daily report not sent", extra={"tenant_id": destination.tenant_id, "error": type(exc).__name__}
                    )
        if failed:
            raise TransientDeliveryError(f"{failed} of {len(asked)} daily reports were not sent")
        return {"day": day.isoformat(), "sent": sent}

    return Job(JOB_NAME, partial(daily_tick, at=at), run)
