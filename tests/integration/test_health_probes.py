"""Proactive checks against the sandbox's Z-API and WAHA: the probe job marks a session down and up
again, a provider's session webhook marks it down between probes, and /health/detailed and the
gauges show what PostgreSQL holds."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from agents.probes import probe_job, refresh_gauges
from connectors.kafka.admin import apply_catalogue
from connectors.ssrf import OutboundPolicy
from infra.core.secret_box import SecretBox
from infra.db.endpoints import Endpoints
from infra.db.health_checks import HealthChecks
from infra.db.inbound_sources import InboundSources
from infra.db.job_runs import JobRuns
from infra.db.tenants import Tenants
from infra.devtools.sandbox import Sandbox
from schemas.catalogue import load_catalogue
from streams.deadlines import wait_until
from tests.integration.ingress_harness import isolated_settings, run, running_ingress

pytestmark = pytest.mark.integration
EXAMPLES = Path(__file__).parents[2] / "schemas" / "examples"
ZAPI_INSTANCE = json.loads((EXAMPLES / "zapi" / "disconnected.json").read_text())["instanceId"]
JSON = {"Content-Type": "application/json"}
TICK = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)


@pytest.fixture
def checks(kafka_bootstrap, kafka_admin, database_url, migrated, unique, topic_prefix, tmp_path):
    apply_catalogue(kafka_admin, load_catalogue().with_prefix(topic_prefix), replication_factor=1)
    settings = isolated_settings(kafka_bootstrap, database_url, unique, topic_prefix, state_dir=tmp_path)
    box = SecretBox.from_settings(settings)
    Tenants(migrated, actor="test").create("acme", "Acme", sandbox_url=None)
    return {
        "settings": settings,
        "endpoints": Endpoints(migrated, box, actor="test"),
        "sources": InboundSources(migrated, box),
        "store": HealthChecks(migrated),
    }


def _destinations(checks, sandbox: Sandbox) -> None:
    checks["endpoints"].add(
        "acme", "whatsapp", "zapi", sandbox.url_of("zapi"), config={"instance_id": ZAPI_INSTANCE, "token": "tk"},
        secret="client-token",
    )  # fmt: skip
    checks["endpoints"].add("acme", "waha", "waha", sandbox.url_of("waha"), config={"session": "default"}, secret="k")


def _job(checks):
    return probe_job(
        checks["endpoints"].load_enabled, checks["store"], OutboundPolicy(allow_loopback=True), every_s=300
    )


def _states(store: HealthChecks) -> dict[str, tuple[str, str | None, str | None]]:
    return {view.kind: (view.probe_status, view.session_status, view.error_class) for view in store.all("acme")}


def _gauge(name: str, label: str, value: str) -> float | None:
    return REGISTRY.get_sample_value(name, {label: value})


def test_a_probe_marks_a_session_down_then_up_and_the_gauges_and_detailed_health_follow(checks):
    async def go():
        async with Sandbox() as sandbox:
            _destinations(checks, sandbox)
            job = _job(checks)
            first = await job.run(TICK)
            healthy = _states(checks["store"])

            sandbox.session("waha", "default", "FAILED")
            sandbox.fail("zapi", 503)
            second = await job.run(TICK)
            down = _states(checks["store"])
            gauges_down = (
                _gauge("crmbus_whatsapp_session_up", "provider", "waha"),
                _gauge("crmbus_destination_probe_up", "destination", "zapi"),
                _gauge("crmbus_destination_probe_up", "destination", "waha"),
            )
            async with running_ingress(checks["settings"]) as (_, client), client.get("/health/detailed") as answer:
                detailed = (answer.status, await answer.json())

            sandbox.session("waha", "default", "WORKING")
            sandbox.heal("zapi")
            await job.run(TICK)
            return first, healthy, second, down, gauges_down, detailed, _states(checks["store"])

    first, healthy, second, down, gauges_down, detailed, healed = run(go())
    assert first == {"probed": 2, "down": 0, "sessions_disconnected": 0}
    assert healthy == {"zapi": ("up", "connected", None), "waha": ("up", "connected", None)}
    assert second == {"probed": 2, "down": 1, "sessions_disconnected": 1}
    assert down == {"zapi": ("down", None, "http_503"), "waha": ("up", "disconnected", "session_failed")}
    assert gauges_down == (0.0, 0.0, 1.0)
    status, body = detailed
    assert status == 200  # the destinations' state never makes the ingress itself unhealthy
    assert body["destinations"] == {"zapi": {"up": 0, "down": 1}, "waha": {"up": 1, "down": 0}}
    assert body["whatsapp_sessions"] == {"waha": {"connected": 0, "disconnected": 1}}
    assert healed == healthy
    assert _gauge("crmbus_whatsapp_session_up", "provider", "waha") == 1.0
    assert _gauge("crmbus_destination_probe_up", "destination", "zapi") == 1.0


def test_a_providers_disconnected_webhook_marks_its_session_down_before_the_next_probe(checks):
    zapi_source = checks["sources"].add("acme", "zapi")
    waha_source = checks["sources"].add("acme", "waha", signed=False)
    waha_failed = json.loads((EXAMPLES / "waha" / "session_status_working.json").read_text())
    waha_failed["payload"]["status"] = "FAILED"
    waha_failed["id"] = "evt_failed_once"

    async def go():
        async with Sandbox() as sandbox:
            _destinations(checks, sandbox)
            await _job(checks).run(TICK)
            async with running_ingress(checks["settings"]) as (_, client):
                zapi_body = (EXAMPLES / "zapi" / "disconnected.json").read_bytes()
                async with client.post(
                    f"/v1/webhooks/zapi/{zapi_source.token}", data=zapi_body, headers=JSON
                ) as answer:
                    assert answer.status == 202
                async with client.post(f"/v1/webhooks/waha/{waha_source.token}", json=waha_failed) as answer:
                    assert answer.status == 202
        await refresh_gauges(checks["store"])

    run(go())
    views = {view.kind: view for view in checks["store"].all("acme")}
    assert (views["zapi"].session_status, views["zapi"].session_changed_by) == ("disconnected", "event")
    assert (views["waha"].session_status, views["waha"].error_class) == ("disconnected", "session_failed")
    assert views["zapi"].probe_status == "up"  # the API answers; its phone is what is gone
    assert _gauge("crmbus_whatsapp_session_up", "provider", "zapi") == 0.0
    assert _gauge("crmbus_whatsapp_session_up", "provider", "waha") == 0.0


def _metric(port: int, sample: str) -> float | None:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    found = [line.split()[-1] for line in text.splitlines() if line.startswith(sample + " ")]
    return float(found[0]) if found else None


def test_a_running_worker_probes_on_its_own_and_its_metrics_follow_the_session(bus, sandbox):
    sandbox.session("zapi", "demo", "WORKING")
    Endpoints(bus.engine, bus.box(), actor="test").update(
        bus.tenant, "zapi", url=sandbox.url_of("zapi"), secret="sandbox-zapi-token"
    )
    workers = bus.workers(CRMBUS_OUTBOUND_ALLOW_LOOPBACK="true", CRMBUS_HEALTH_PROBE_S="10", CRMBUS_JOBS_CHECK_S="1")
    session_up = 'crmbus_whatsapp_session_up{provider="zapi"}'
    try:
        workers.start()
        wait_until(lambda: _metric(bus.port, session_up) == 1.0, 60, "the zapi session reported up")
        sandbox.session("zapi", "demo", "STOPPED")
        wait_until(lambda: _metric(bus.port, session_up) == 0.0, 60, "the zapi session reported down")
        sandbox.session("zapi", "demo", "WORKING")
        wait_until(lambda: _metric(bus.port, session_up) == 1.0, 60, "the zapi session reported up again")
    finally:
        sandbox.session("zapi", "demo", "WORKING")
        workers.stop()
    runs = JobRuns(bus.engine, "reader", lease=timedelta(minutes=5)).recent("health-probes")
    assert runs and all(run.outcome == "succeeded" for run in runs if run.finished_at is not None)
