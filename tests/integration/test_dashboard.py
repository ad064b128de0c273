"""`crmbus dashboard` as a real process on the real PostgreSQL and broker: the JSON overview and the
HTML page show the figures of the seeded delivery log and DLQ archive, the workers it can and
cannot reach, and consumer lag; sources that are away show as unreachable; wherever it listens,
its pages need sign-in and its JSON a key that may read deliveries."""

from __future__ import annotations

import http.cookiejar
import json
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import NewTopic
from cryptography.fernet import Fernet
from sqlalchemy import make_url

from infra.core.secret_box import SecretBox
from infra.db.delivery_log import DeliveryLog
from tests.conftest import free_port
from tests.integration.console_harness import base_env, dashboard, key_with

PERSONAL = ("maria.souza@example.com", "+5511987654321", "Maria Souza")
WORKER_METRICS = b"""# HELP crmbus_circuits_open Circuits (tenant, destination) open or half-open on this worker.
# TYPE crmbus_circuits_open gauge
crmbus_circuits_open{destination="financeiro"} 2.0
crmbus_circuits_open{destination="crm"} 0.0
# HELP crmbus_worker_stalls_unblocked_total Partitions sought back.
# TYPE crmbus_worker_stalls_unblocked_total counter
crmbus_worker_stalls_unblocked_total{topic="crmbus.events"} 1.0
# HELP crmbus_routes_loaded Enabled routes the worker applies.
# TYPE crmbus_routes_loaded gauge
crmbus_routes_loaded 7.0
"""


def attempt(tenant, destination, status, latency_ms, ago_s, error_class=None):
    return {
        "delivery_id": f"d-{uuid.uuid4()}",
        "attempt": 1,
        "tenant_id": tenant,
        "endpoint_id": None,
        "destination": destination,
        "event_id": uuid.uuid4(),
        "event_type": "lead.created",
        "status": status,
        "status_code": 200 if status == "delivered" else 503,
        "latency_ms": latency_ms,
        "error_class": error_class,
        "response_excerpt": f"{PERSONAL[2]} <{PERSONAL[0]}> {PERSONAL[1]}",
        "created_at": datetime.now(UTC) - timedelta(seconds=ago_s),  # at seeding: tests run minutes after import
    }


def dead_letter(tenant, destination, error_class, failed_ago_s, status="open"):
    failed_at = datetime.now(UTC) - timedelta(seconds=failed_ago_s)
    return {
        "tenant_id": tenant,
        "destination": destination,
        "delivery_id": None,
        "original_topic": "crmbus.deliver.x",
        "original_partition": 0,
        "original_offset": int(uuid.uuid4().int % 10**12),
        "error_class": error_class,
        "error_message": f"{PERSONAL[0]} refused",
        "status_code": 503,
        "attempts": 8,
        "first_failure_at": failed_at - timedelta(hours=1),
        "last_failure_at": failed_at,
        "key": tenant.encode(),
        "value": PERSONAL[1].encode(),
        "headers": {"crmbus-error-message": PERSONAL[0]},
        "status": status,
    }


@pytest.fixture
def seeded(migrated):
    """Two tenants' attempts (now, 2 h ago, 2 days ago) and DLQ records (open and replayed)."""
    acme, beta = "acme", "beta"
    DeliveryLog(migrated, SecretBox(Fernet.generate_key())).record(
        [
            # acme → crm, last 15 min: 3 delivered, 1 retrying, 1 dead-lettered; latencies 10..50 ms
            attempt(acme, "crm", "delivered", 10, 600),
            attempt(acme, "crm", "delivered", 20, 500),
            attempt(acme, "crm", "retrying", 50, 400, "TransientDeliveryError"),
            attempt(acme, "crm", "dead_lettered", 40, 300, "PermanentDeliveryError"),
            attempt(acme, "crm", "delivered", 30, 200),
            attempt(acme, "crm", "duplicate", 0, 100),  # skipped: no call, not an attempt
            attempt(acme, "crm", "delivered", 70, 2 * 3600),  # the day only
            attempt(acme, "crm", "delivered", 5, 2 * 86400),  # neither window
            # beta → zapi is down: every attempt retries
            attempt(beta, "zapi", "retrying", 3000, 60, "TransientDeliveryError"),
            attempt(beta, "zapi", "retrying", 3000, 30, "TransientDeliveryError"),
        ],
        [
            dead_letter(acme, "financeiro", "TransientDeliveryError", 3 * 3600),
            dead_letter(acme, "financeiro", "TransientDeliveryError", 600),
            dead_letter(acme, "financeiro", "TransientDeliveryError", 5 * 3600, status="replayed"),
            dead_letter(beta, None, "DecodeError", 120),
        ],
    )
    return acme, beta


@pytest.fixture
def fake_worker() -> Iterator[str]:
    """A worker's /health and /metrics as `crmbus worker` serves them."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = b'{"status": "ok"}' if self.path == "/health" else WORKER_METRICS
            self.send_response(200 if self.path in ("/health", "/metrics") else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def lagging_group(kafka_admin, kafka_bootstrap, topic_prefix) -> tuple[str, str]:
    """A workers' consumer group that committed 2 of the 5 records of a topic, and left."""
    topic, group = f"{topic_prefix}crmbus.deliver.crm", f"{topic_prefix}crmbus-worker"
    for future in kafka_admin.create_topics([NewTopic(topic, 1, 1)]).values():
        future.result(30)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for i in range(5):
        producer.produce(topic, b"x", str(i).encode())
    assert producer.flush(15) == 0
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group, "enable.auto.commit": False})
    consumer.commit(offsets=[TopicPartition(topic, 0, 2)], asynchronous=False)
    consumer.close()
    return group, topic


def get(url: str, headers: dict[str, str] | None = None, opener: urllib.request.OpenerDirector | None = None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with (opener or urllib.request.build_opener()).open(request, timeout=20) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, ""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def signed_in(base: str, secret: str) -> urllib.request.OpenerDirector:
    """A browser-like opener (cookies, redirects followed) signed in with the key ``secret``."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    status, form = get(f"{base}/console/sign-in", opener=opener)
    assert status == 200, form
    token = re.search(r"name=csrf value='([^']+)'", form)[1]
    data = urllib.parse.urlencode({"csrf": token, "api_key": secret}).encode()
    with opener.open(urllib.request.Request(f"{base}/console/sign-in", data=data), timeout=20) as response:
        assert response.status == 200 and response.url.endswith("/dashboard")
    return opener


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_the_overview_and_the_page_show_the_bus_as_the_log_archive_workers_and_kafka_say(
    seeded, fake_worker, lagging_group, kafka_bootstrap, database_url, unique, tmp_path, migrated
):
    acme, beta = seeded
    platform = key_with(migrated, None, "admin", name="platform")
    group, topic = lagging_group
    url = make_url(database_url).update_query_dict({"options": f"-csearch_path={unique}"})
    env = base_env(
        tmp_path,
        CRMBUS_DATABASE_URL=url.render_as_string(hide_password=False),
        CRMBUS_KAFKA_BOOTSTRAP=kafka_bootstrap,
        CRMBUS_TOPIC_PREFIX=group.removesuffix("crmbus-worker"),
        CRMBUS_DASHBOARD_WORKER_URLS=fake_worker,
        CRMBUS_DASHBOARD_SLA_SUCCESS_RATE="0.5",
        CRMBUS_DASHBOARD_SLA_P95_MS="1000",
    )
    down_worker = f"http://127.0.0.1:{env['CRMBUS_WORKER_WEB_PORT']}"
    with dashboard(env, tmp_path) as base:
        status, body = get(f"{base}/dashboard/api/overview", bearer(platform.secret))
        page_status, page = get(f"{base}/dashboard", opener=signed_in(base, platform.secret))
        metrics_status, metrics = get(f"{base}/metrics")  # for Prometheus: no sign-in
    assert status == 200 and page_status == 200
    assert metrics_status == 200
    assert f'crmbus_consumer_lag{{group="{group}",topic="{topic}"}} 3.0' in metrics
    assert "crmbus_deliveries_total" not in metrics  # the workers' metrics are the workers' to expose

    doc = json.loads(body)
    rows = {(row["tenant_id"], row["destination"]): row["windows"] for row in doc["deliveries"]["rows"]}
    assert set(rows) == {(acme, "crm"), (beta, "zapi")}
    recent, day = rows[(acme, "crm")]["15m"], rows[(acme, "crm")]["24h"]
    assert (recent["delivered"], recent["retrying"], recent["dead_lettered"]) == (3, 1, 1)
    assert recent["success_rate"] == 0.6
    assert (recent["p50_ms"], recent["p95_ms"]) == (30.0, 48.0)  # percentile_cont over 10..50 ms
    assert recent["last_error_class"] == "PermanentDeliveryError"  # the later of the two errors
    assert recent["sla"] == "ok"
    assert (day["attempts"], day["delivered"]) == (6, 4)  # + the attempt 2 h ago, not the one 2 days ago
    zapi = rows[(beta, "zapi")]["15m"]
    assert (zapi["retrying"], zapi["success_rate"], zapi["sla"]) == (2, 0.0, "breached")
    assert zapi["sla_reasons"] == ["success 0.0 % < 50 %", "p95 3000 ms > 1000 ms"]

    dlq = doc["dead_letters"]
    assert dlq["open_records"] == 3  # the replayed record is no longer open
    by_group = {(g["tenant_id"], g["destination"], g["error_class"]): g for g in dlq["groups"]}
    financeiro = by_group[(acme, "financeiro", "TransientDeliveryError")]
    assert financeiro["open_records"] == 2
    assert 3 * 3600 <= financeiro["oldest_age_s"] <= 3 * 3600 + 120
    assert financeiro["replay"] == (
        f"crmbus dlq replay --tenant {acme} --destination financeiro --error-class TransientDeliveryError"
    )
    assert (
        by_group[(beta, None, "DecodeError")]["replay"]
        == f"crmbus dlq replay --tenant {beta} --error-class DecodeError"
    )

    workers = {worker["address"]: worker for worker in doc["workers"]}
    assert workers[down_worker]["state"] == "unreachable"
    assert workers[fake_worker]["state"] == "up"
    assert workers[fake_worker]["circuits_open"] == {"financeiro": 2}
    assert (workers[fake_worker]["stalls_unblocked"], workers[fake_worker]["routes_loaded"]) == (1, 7)

    assert doc["consumer_lag"]["status"] == "ok"
    lag = {g["group"]: g for g in doc["consumer_lag"]["groups"]}
    assert (lag[group]["lag"], lag[group]["by_topic"], lag[group]["state"]) == (3, {topic: 3}, "empty")

    assert doc["healthy"] is False
    assert doc["attention"] == [
        f"worker {down_worker} unreachable",
        f"consumer group {group} has no member and 3 records waiting",
        "3 open DLQ records",
        f"SLA breached: {beta} → zapi (success 0.0 % < 50 %; p95 3000 ms > 1000 ms)",
    ]

    assert f"<td>{acme}</td><td>crm</td><td class=n>3</td><td class=n>1</td><td class=n>1</td>" in page
    assert "<td class=n>60.0 %</td><td class=n>30.0 ms</td><td class=n>48.0 ms</td>" in page
    assert f"<code>{financeiro['replay']}</code>" in page
    assert f"<td>{down_worker}</td><td><span class=bad>unreachable" in page
    assert "financeiro: 2" in page
    assert f"{topic}: 3" in page
    for text in (body, page):
        assert not any(personal in text for personal in PERSONAL)


def test_kafka_away_shows_as_unreachable_and_the_page_still_answers(migrated, database_url, unique, tmp_path):
    viewer = key_with(migrated, "acme", "viewer")
    url = make_url(database_url).update_query_dict({"options": f"-csearch_path={unique}"})
    env = base_env(
        tmp_path,
        CRMBUS_DATABASE_URL=url.render_as_string(hide_password=False),
        CRMBUS_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}",
    )
    with dashboard(env, tmp_path) as base:
        status, body = get(f"{base}/dashboard/api/overview", bearer(viewer.secret))
        page_status, page = get(f"{base}/dashboard", opener=signed_in(base, viewer.secret))
    assert status == 200 and page_status == 200
    doc = json.loads(body)
    assert doc["deliveries"]["status"] == "ok"
    assert doc["consumer_lag"]["status"] == "unreachable"
    assert doc["attention"][0] == "Kafka unreachable"
    assert "Kafka unreachable" in page


def test_postgresql_away_every_signed_in_request_answers_503_naming_it_and_health_still_answers(tmp_path):
    env = base_env(
        tmp_path,
        CRMBUS_DATABASE_URL=f"postgresql+psycopg://crmbus:crmbus@127.0.0.1:{free_port()}/crmbus",
        CRMBUS_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}",
    )
    with dashboard(env, tmp_path) as base:
        api = get(f"{base}/dashboard/api/overview", bearer("crmb_live_" + "x" * 43))
        page = get(f"{base}/dashboard", {"Cookie": "crmbus_console=some-session"})
        health = get(f"{base}/health")
    assert api[0] == 503 and page[0] == 503
    assert "PostgreSQL" in json.loads(page[1])["detail"]
    assert health[0] == 200


def test_off_loopback_the_console_starts_and_nothing_but_health_answers_without_sign_in(tmp_path):
    env = base_env(
        tmp_path,
        CRMBUS_DASHBOARD_HOST="0.0.0.0",
        CRMBUS_DATABASE_URL=f"postgresql+psycopg://crmbus:crmbus@127.0.0.1:{free_port()}/crmbus",
        CRMBUS_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}",
    )
    no_redirect = urllib.request.build_opener(_NoRedirect)
    with dashboard(env, tmp_path) as base:
        anonymous = get(f"{base}/dashboard", opener=no_redirect)
        api = get(f"{base}/dashboard/api/overview")
        health = get(f"{base}/health")
    assert anonymous[0] == 303
    assert api[0] == 401 and "acme" not in api[1]
    assert health[0] == 200
