"""`crmbus ingress` as operators run it: two processes on one port, a broker that goes away
and comes back, and not one acknowledged event missing afterwards."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from sqlalchemy.engine import make_url

from connectors.kafka.admin import apply_catalogue
from connectors.kafka.watermarks import high_watermark
from infra.db.api_keys import ApiKeys
from schemas.avro_schemas import CatalogueSchemaIds, load_schema
from schemas.catalogue import load_catalogue
from schemas.codec import AvroCodec
from streams.deadlines import wait_until
from streams.envelope import Envelope
from tests.conftest import free_port
from tests.integration.ingress_harness import LEAD, bearer

LANES = ["crmbus.events.high", "crmbus.events", "crmbus.events.low"]


def all_event_ids(bootstrap):
    codec = AvroCodec(load_schema("envelope.v1.avsc"), "any", CatalogueSchemaIds())
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader", "enable.auto.commit": False})
    assignments = [TopicPartition(t, p, 0) for t in LANES for p in range(6)]
    ends = {(tp.topic, tp.partition): high_watermark(consumer, tp.topic, tp.partition) for tp in assignments}
    consumer.assign(assignments)
    seen, deadline = set(), time.monotonic() + 60
    positions = {key: 0 for key in ends}
    while any(positions[key] < ends[key] for key in ends) and time.monotonic() < deadline:
        message = consumer.poll(1)
        if message is None or message.error():
            continue
        positions[(message.topic(), message.partition())] = message.offset() + 1
        seen.add(str(Envelope.from_record(codec.decode(message.value())).event_id))
    consumer.close()
    return seen


@pytest.fixture
def ingress_process(own_kafka, migrated, unique, database_url, tmp_path):
    own_kafka.up()
    bootstrap = own_kafka.settings.kafka_bootstrap
    apply_catalogue(AdminClient({"bootstrap.servers": bootstrap}), load_catalogue(), replication_factor=1)
    _, key = ApiKeys(migrated).create("acme", "site")
    port = free_port()
    env = os.environ | {
        "CRMBUS_KAFKA_BOOTSTRAP": bootstrap,
        "CRMBUS_DATABASE_URL": make_url(database_url)
        .update_query_dict({"options": f"-csearch_path={unique}"})
        .render_as_string(hide_password=False),
        "CRMBUS_INGRESS_PORT": str(port),
        "CRMBUS_INGRESS_WORKERS": "2",
        "CRMBUS_KAFKA_DELIVERY_TIMEOUT_S": "2",
        "CRMBUS_STATE_DIR": str(tmp_path),
    }
    log = (tmp_path / "ingress.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "infra", "ingress"], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"

    def healthy():
        try:
            return httpx.get(f"{base}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(healthy, 30, "ingress /health")
    yield {"base": base, "key": key, "process": process, "kafka": own_kafka}
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    log.close()


def test_with_the_broker_stopped_the_ingress_answers_503_then_accepts_again_and_loses_nothing(ingress_process):
    base, key, kafka = ingress_process["base"], ingress_process["key"], ingress_process["kafka"]
    accepted = set()
    with httpx.Client(base_url=base, headers=bearer(key), timeout=30) as client:
        for _ in range(50):
            answer = client.post("/v1/events", json={"type": "lead.created", "payload": LEAD})
            assert answer.status_code == 202
            accepted.add(answer.json()["event_id"])

        kafka.down()
        started = time.monotonic()
        refused = client.post("/v1/events", json={"type": "lead.created", "payload": LEAD})
        waited = time.monotonic() - started
        assert refused.status_code == 503
        assert refused.headers["Content-Type"].startswith("application/problem+json")
        assert int(refused.headers["Retry-After"]) > 0
        assert waited < 10, "bounded by CRMBUS_KAFKA_DELIVERY_TIMEOUT_S, never a hang"
        assert client.get("/health/detailed").status_code == 503

        kafka.up()
        deadline = time.monotonic() + 60
        while True:
            answer = client.post("/v1/events", json={"type": "lead.created", "payload": LEAD})
            if answer.status_code == 202:
                accepted.add(answer.json()["event_id"])
                break
            assert answer.status_code == 503
            assert time.monotonic() < deadline, "the ingress did not recover after the broker came back"
            time.sleep(0.5)

    assert accepted <= all_event_ids(kafka.settings.kafka_bootstrap)


def test_sigterm_stops_every_ingress_process_cleanly(ingress_process):
    process = ingress_process["process"]
    with httpx.Client(base_url=ingress_process["base"], headers=bearer(ingress_process["key"]), timeout=30) as client:
        assert client.post("/v1/events", json={"type": "lead.created", "payload": LEAD}).status_code == 202
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert workers_of(process.pid) == []


def workers_of(pid):
    """The ingress worker processes of a supervisor: the children of its fork server (not
    multiprocessing's resource tracker)."""

    def children(parent, pattern=None):
        command = ["pgrep", "-P", str(parent), *(["-f", pattern] if pattern else [])]
        return subprocess.run(command, capture_output=True, text=True).stdout.split()

    return [worker for server in children(pid, "forkserver") for worker in children(server)]


def gone(pid):
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_killing_the_supervisor_outright_stops_its_workers_too(ingress_process):
    process = ingress_process["process"]
    workers = workers_of(process.pid)
    assert len(workers) == 2
    process.kill()
    process.wait()
    wait_until(lambda: all(gone(worker) for worker in workers), 40, "orphaned workers exit")
