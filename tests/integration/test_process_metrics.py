"""Each `crmbus` process's /metrics carries only the metrics that process sets: the ingress, run
as two processes sharing one multiprocess directory, shows its own and none of the workers'."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
from prometheus_client.parser import text_string_to_metric_families

from connectors.kafka.admin import apply_catalogue
from infra.db.api_keys import ApiKeys
from schemas.catalogue import load_catalogue
from streams.deadlines import wait_until
from tests.conftest import free_port
from tests.integration.ingress_harness import LEAD, bearer, isolated_settings


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_multiprocess_ingress_exposes_its_own_metrics_and_none_of_the_workers(
    kafka_bootstrap, kafka_admin, database_url, migrated, unique, topic_prefix, tmp_path
):
    apply_catalogue(kafka_admin, load_catalogue().with_prefix(topic_prefix), replication_factor=1)
    _, key = ApiKeys(migrated).create("acme", "site")
    settings = isolated_settings(kafka_bootstrap, database_url, unique, topic_prefix)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRMBUS_", "PROMETHEUS_"))} | {
        "CRMBUS_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "CRMBUS_DATABASE_URL": settings.database_url.get_secret_value(),
        "CRMBUS_TOPIC_PREFIX": settings.topic_prefix,
        "CRMBUS_INGRESS_PORT": str(port),
        "CRMBUS_INGRESS_WORKERS": "2",
        "CRMBUS_STATE_DIR": str(tmp_path),
    }
    log_path = tmp_path / "ingress.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "infra", "ingress"], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(f"{base}/health"), 60, "crmbus ingress /health")
        for _ in range(4):  # SO_REUSEPORT spreads them over both processes, most likely
            answer = httpx.post(
                f"{base}/v1/events", json={"type": "lead.created", "payload": LEAD}, headers=bearer(key), timeout=30
            )
            assert answer.status_code == 202, answer.text
        page = httpx.get(f"{base}/metrics", timeout=10).text
    finally:
        process.terminate()
        process.wait(60)
    names = {family.name for family in text_string_to_metric_families(page) if family.name.startswith("crmbus_")}
    accepted = [
        sample.value
        for family in text_string_to_metric_families(page)
        if family.name == "crmbus_ingress_events_accepted"
        for sample in family.samples
        if sample.name.endswith("_total")
    ]
    assert sum(accepted) == 4  # both processes' counts, added up from the shared directory
    assert names <= {
        "crmbus_ingress_requests",
        "crmbus_ingress_request_seconds",
        "crmbus_ingress_events_accepted",
        "crmbus_ingress_rejections",
        "crmbus_kafka_produce_seconds",
    }, log_path.read_text()[-2000:]
