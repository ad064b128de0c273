"""Operations endpoints answer with what operators need, and metrics carry no unbounded labels."""

import re

from connectors.kafka.admin import apply_catalogue
from infra.db.api_keys import ApiKeys
from schemas.catalogue import load_catalogue
from tests.integration.ingress_harness import LEAD, bearer, isolated_settings, run, running_ingress


def sample(page, series):
    """The value of one series on a metrics page (0 when absent)."""
    match = re.search(re.escape(series) + r" ([0-9.e+]+)", page)
    return float(match.group(1)) if match else 0.0


def test_health_status_and_metrics_describe_the_running_ingress(
    kafka_bootstrap, kafka_admin, database_url, migrated, unique, topic_prefix
):
    apply_catalogue(kafka_admin, load_catalogue().with_prefix(topic_prefix), replication_factor=1)
    _, key = ApiKeys(migrated).create("acme", "site")
    settings = isolated_settings(kafka_bootstrap, database_url, unique, topic_prefix)

    async def go():
        async with running_ingress(settings) as (_, client):
            async with client.get("/metrics") as r:
                metrics_before = await r.text()
            for _ in range(3):
                async with client.post(
                    "/v1/events", json={"type": "lead.created", "payload": LEAD}, headers=bearer(key)
                ) as r:
                    assert r.status == 202
            async with client.get(f"/v1/events/{'0' * 8}-0000-0000-0000-{'0' * 12}", headers=bearer(key)) as r:
                assert r.status == 404
            answers = {}
            for path in ("/health", "/health/detailed", "/status", "/metrics", "/openapi.json", "/docs"):
                async with client.get(path) as r:
                    answers[path] = (r.status, await r.text())
            return metrics_before, answers

    metrics_before, answers = run(go())
    assert all(status == 200 for status, _ in answers.values()), answers
    assert '"kafka":{"status":"up","latency_ms"' in answers["/health/detailed"][1]
    assert '"postgres":{"status":"up"' in answers["/health/detailed"][1]
    assert f'"topic":"{topic_prefix}crmbus.events.high"' in answers["/status"][1]
    metrics = answers["/metrics"][1]
    assert re.search(r'crmbus_ingress_events_accepted_total\{lane="[^"]+crmbus\.events",source="api"\} 3\.0', metrics)
    not_found = 'crmbus_ingress_requests_total{method="GET",route="/v1/events/{event_id}",status="404"}'
    assert sample(metrics, not_found) - sample(metrics_before, not_found) == 1
    assert "0000-0000" not in metrics, "ids never become label values"
    assert '"openapi":"3.1.0"' in answers["/openapi.json"][1]
