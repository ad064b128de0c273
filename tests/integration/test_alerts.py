"""Alerts on a real Prometheus: `crmbus monitoring`'s Prometheus scrapes a real `crmbus worker`
(real Kafka and PostgreSQL, the sandbox refusing Financeiro's deliveries) and fires the DLQ alert
once more than 10 dead letters are open; every Grafana panel's query then evaluates without error
against that same Prometheus."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.core.settings import Settings
from infra.db.endpoints import Endpoints
from infra.devtools.sandbox import SandboxClient
from infra.local.monitoring_node import MONITORING, LocalMonitoring
from streams.deadlines import wait_until
from tests.conftest import free_port
from tests.integration.worker_harness import Bus, event, example

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not Path("/usr/bin/prometheus").exists() or not Path("/usr/bin/prometheus-alertmanager").exists(),
        reason="Debian's prometheus and prometheus-alertmanager are not installed",
    ),
]

DASHBOARD = MONITORING / "grafana" / "crmbus.json"
LETTERS = 12


@pytest.fixture
def monitoring(bus: Bus) -> Iterator[LocalMonitoring]:
    """Prometheus and Alertmanager as `crmbus monitoring up` starts them, scraping this test's
    worker every second."""
    settings = Settings(
        state_dir=bus.tmp / "state",
        worker_web_port=bus.port,
        worker_processes=1,
        ingress_port=free_port(),
        dashboard_port=free_port(),
        monitoring_prometheus_port=free_port(),
        monitoring_alertmanager_port=free_port(),
        monitoring_scrape_s=1.0,
    )
    node = LocalMonitoring(settings)
    assert node.up()
    try:
        yield node
    finally:
        assert node.down()


def _api(node: LocalMonitoring, path: str, **params: str) -> Any:
    answer = httpx.get(f"{node.prometheus.url}/api/v1/{path}", params=params, timeout=5)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "success", body
    return body["data"]


def _firing(node: LocalMonitoring, name: str) -> list[dict[str, Any]]:
    return [a for a in _api(node, "alerts")["alerts"] if a["labels"]["alertname"] == name and a["state"] == "firing"]


def _notified(node: LocalMonitoring) -> set[str]:
    """The alerts Prometheus handed to the Alertmanager."""
    answer = httpx.get(f"{node.alertmanager.url}/api/v2/alerts", timeout=5)
    assert answer.status_code == 200, answer.text
    return {alert["labels"]["alertname"] for alert in answer.json()}


def _destinations(monitoring: LocalMonitoring, query: str) -> set[str]:
    return {series["metric"].get("destination", "") for series in _api(monitoring, "query", query=query)["result"]}


def _panel_queries() -> list[tuple[str, str]]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [(panel["title"], target["expr"]) for panel in panels for target in panel.get("targets", ())]


def test_more_than_ten_dead_letters_fire_the_dlq_alert_and_every_panel_query_evaluates(
    bus: Bus, sandbox: SandboxClient, monitoring: LocalMonitoring
) -> None:
    sandbox.clear()
    for system in ("financeiro", "email"):
        sandbox.heal(system)
        Endpoints(bus.engine, bus.box(), actor="test").update(
            bus.tenant, system, url=sandbox.url_of(system), secret=f"sandbox-{system}-token"
        )
    sandbox.fail("financeiro", status=400)  # permanent: each delivery goes to the DLQ at once
    workers = bus.workers(CRMBUS_OUTBOUND_ALLOW_LOOPBACK="true").start()
    try:
        assert _firing(monitoring, "CrmbusDlqOpen") == []
        bus.lane.send(event(bus.tenant, "client.registered", example("client.registered")) for _ in range(LETTERS))

        wait_until(lambda: bool(_firing(monitoring, "CrmbusDlqOpen")), 120, "CrmbusDlqOpen firing in Prometheus")
        (alert,) = _firing(monitoring, "CrmbusDlqOpen")
        assert alert["labels"]["severity"] == "page"
        assert float(alert["value"]) > 10
        wait_until(lambda: "CrmbusDlqOpen" in _notified(monitoring), 30, "CrmbusDlqOpen at the Alertmanager")
        # The deliveries that did go through were timed from acceptance, for the SLA panels; a
        # rate needs two scrapes of a series, so wait for the timing panel's own query to see them.
        p95 = dict(_panel_queries())["Accepted to delivered (p95), by destination"]
        wait_until(lambda: "email" in _destinations(monitoring, p95), 30, "the e-mail deliveries in the p95 panel")

        answered = {title: _api(monitoring, "query", query=expr) for title, expr in _panel_queries()}
        worker_page = httpx.get(f"http://127.0.0.1:{bus.port}/metrics", timeout=5).text
    finally:
        workers.stop()
    assert "crmbus_ingress_" not in worker_page  # each process exposes only what it sets
    assert len(answered) >= 20
    (open_letters,) = answered["Open dead letters (alert above 10)"]["result"]
    assert float(open_letters["value"][1]) >= LETTERS
    timed = answered["Accepted to delivered (p95), by destination"]["result"]
    assert {series["metric"]["destination"] for series in timed} >= {"email"}
    firing = {series["metric"]["alertname"] for series in answered["Alerts firing"]["result"]}
    assert "CrmbusDlqOpen" in firing
