"""Kafka security against a real broker with secured listeners, its CA made by the test: the whole bus
(topics apply, ingress, `crmbus worker`, a loopback destination, the dashboard's lag reader) works
over SASL_SSL with SCRAM-SHA-512; both client families (confluent-kafka and Faust's aiokafka) write
over SASL_SSL with SCRAM and PLAIN and over mutual TLS; a wrong password or a missing client
certificate is refused with a typed error within seconds, not retried forever."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaProducer
from confluent_kafka.admin import AdminClient, NewTopic
from cryptography.fernet import Fernet
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from sqlalchemy.engine import make_url

from agents.broker_auth import broker_credentials
from connectors.kafka.access import check_access
from connectors.kafka.admin import apply_catalogue
from connectors.kafka.lag import ConsumerLag
from connectors.kafka.producer import AsyncProducer, producer_config
from connectors.kafka.security import librdkafka_client
from infra.core.secret_box import SecretBox
from infra.core.settings import Settings
from infra.db.api_keys import ApiKeys
from infra.db.endpoints import Endpoints
from infra.local.kafka_node import LocalKafka, SecureListeners
from schemas.catalogue import load_catalogue
from streams.deadlines import wait_until
from streams.errors import KafkaAccessRefusedError
from tests.conftest import free_port
from tests.fakes.tls import LoopbackTls
from tests.integration.ingress_harness import LEAD, bearer, running_ingress
from tests.integration.worker_harness import CRMBUS, Workers, worker_env

USERS = {"crmbus": "s3cret-scram-pw"}
PROBE_TOPIC = "security-probe"
SEEDED = ("crm", "financeiro", "zapi", "email", "marketing")


class SecureBroker:
    def __init__(self, node: LocalKafka, secure: SecureListeners, tls: LoopbackTls) -> None:
        self.node, self.secure, self.tls = node, secure, tls

    def sasl(self, mechanism: str = "SCRAM-SHA-512", password: str = USERS["crmbus"]) -> dict[str, str]:
        return {
            "kafka_bootstrap": f"127.0.0.1:{self.secure.sasl_ssl_port}",
            "kafka_security_protocol": "SASL_SSL",
            "kafka_sasl_mechanism": mechanism,
            "kafka_sasl_username": "crmbus",
            "kafka_sasl_password": password,
            "kafka_ssl_ca_file": str(self.tls.ca_file),
        }

    def mtls(self, *, with_certificate: bool = True) -> dict[str, str]:
        values = {
            "kafka_bootstrap": f"127.0.0.1:{self.secure.mtls_port}",
            "kafka_security_protocol": "SSL",
            "kafka_ssl_ca_file": str(self.tls.ca_file),
        }
        if with_certificate:
            values |= {"kafka_ssl_cert_file": str(self.tls.client_cert_file)}
            values |= {"kafka_ssl_key_file": str(self.tls.client_key_file)}
        return values


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory) -> Iterator[SecureBroker]:
    """A broker of this module's own (free ports, private state) with SASL_SSL and mutual-TLS listeners."""
    home = tmp_path_factory.mktemp("secure-kafka")
    tls = LoopbackTls.make(home)
    secure = SecureListeners(tls.server_keystore_file, tls.ca_file, free_port(), free_port(), USERS)
    settings = Settings(kafka_bootstrap=f"127.0.0.1:{free_port()}", kafka_controller_port=free_port(), state_dir=home)
    node = LocalKafka(settings, secure)
    node.up()
    try:
        admin = AdminClient(librdkafka_client(Settings(**SecureBroker(node, secure, tls).sasl())))
        admin.create_topics([NewTopic(PROBE_TOPIC, 1, 1)])[PROBE_TOPIC].result(timeout=30)
        yield SecureBroker(node, secure, tls)
    finally:
        node.down()


def confluent_writes(settings: Settings) -> int:
    async def go() -> int:
        async with AsyncProducer(producer_config(librdkafka_client(settings), 10, 5)) as producer:
            return (await producer.send(PROBE_TOPIC, b"over-confluent")).offset

    return asyncio.run(go())


def aiokafka_writes(settings: Settings) -> int:
    """Through Faust's own translation of the credentials the workers get."""

    async def go() -> int:
        auth = credentials_to_aiokafka_auth(broker_credentials(settings))
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, **auth)
        await producer.start()
        try:
            return (await producer.send_and_wait(PROBE_TOPIC, b"over-aiokafka")).offset
        finally:
            await producer.stop()

    return asyncio.run(go())


@pytest.mark.parametrize("listener", ["SCRAM-SHA-512", "PLAIN", "mTLS"])
@pytest.mark.parametrize("write", [confluent_writes, aiokafka_writes], ids=["confluent", "aiokafka"])
def test_both_client_families_write_over_sasl_ssl_and_mutual_tls(secure_broker, listener, write):
    values = secure_broker.mtls() if listener == "mTLS" else secure_broker.sasl(mechanism=listener)
    assert write(Settings(**values)) >= 0


@pytest.mark.parametrize("refusal", ["wrong password", "no client certificate"])
def test_refused_credentials_raise_a_typed_error_within_seconds(secure_broker, refusal):
    values = secure_broker.sasl(password="not-the-password") if refusal == "wrong password" else None
    settings = Settings(**(values or secure_broker.mtls(with_certificate=False)))
    began = time.monotonic()
    with pytest.raises(KafkaAccessRefusedError) as refused:
        check_access(librdkafka_client(settings), timeout_s=20)
    assert time.monotonic() - began < 10  # named long before the check's own deadline
    assert "not-the-password" not in str(refused.value)


def test_a_worker_with_a_wrong_password_stops_at_start_naming_the_refusal(secure_broker, tmp_path):
    env = worker_env(Settings(**secure_broker.sasl()), tmp_path / "state", free_port())
    env |= {"CRMBUS_KAFKA_SASL_PASSWORD": "not-the-password", "CRMBUS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}
    env |= {
        "CRMBUS_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "CRMBUS_KAFKA_SASL_USERNAME": "crmbus",
        "CRMBUS_KAFKA_SSL_CA_FILE": str(secure_broker.tls.ca_file),
    }
    result = subprocess.run([CRMBUS, "worker"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "refused the connection" in result.stdout + result.stderr
    assert "SASL authentication" in result.stdout + result.stderr
    assert "not-the-password" not in result.stdout + result.stderr


@pytest.mark.timeout(240)
def test_the_whole_bus_delivers_an_event_end_to_end_over_sasl_ssl(
    secure_broker, sandbox, migrated, database_url, unique, tmp_path
):
    prefix = f"{unique}."
    secret_key = Fernet.generate_key().decode()
    url = make_url(database_url).update_query_dict({"options": f"-csearch_path={unique}"})
    settings = Settings(
        **secure_broker.sasl(),
        database_url=url.render_as_string(hide_password=False),
        topic_prefix=prefix,
        ingress_workers=1,
        secret_key=secret_key,
        state_dir=tmp_path / "state",
    )
    apply_catalogue(AdminClient(librdkafka_client(settings)), load_catalogue().with_prefix(prefix), 1)
    tenant = f"t-{unique[-8:]}"
    _, key = ApiKeys(migrated, actor="test", sandbox_url=sandbox.url).create(tenant, "site")
    sandbox.clear()
    endpoints = Endpoints(migrated, SecretBox(secret_key.encode()), actor="test")
    for system in SEEDED:
        endpoints.update(tenant, system, url=sandbox.url_of(system), secret=f"sandbox-{system}-token")
    sasl_env = {f"CRMBUS_{name.upper()}": value for name, value in secure_broker.sasl().items()}
    env = worker_env(settings, tmp_path / "state", free_port(), **sasl_env)
    env |= {"CRMBUS_SECRET_KEY": secret_key, "CRMBUS_OUTBOUND_ALLOW_LOOPBACK": "true"}
    workers = Workers(env, 1, tmp_path / "worker.log").start()
    try:

        async def post() -> int:
            async with (
                running_ingress(settings) as (_, client),
                client.post(
                    "/v1/events", json={"type": "lead.created", "payload": LEAD}, headers=bearer(key)
                ) as answer,
            ):
                return answer.status

        assert asyncio.run(post()) == 202
        wait_until(lambda: len(sandbox.applied("crm")) == 1, 90, "the lead at the CRM, through the SASL_SSL broker")
        lag = ConsumerLag(librdkafka_client(settings), group_prefix=f"{prefix}crmbus-", topic_prefix=prefix)
        groups = {group.group for group in lag.read()}  # the dashboard's reader, over SASL_SSL too
    finally:
        assert workers.stop() == 0, workers.log()
    assert sandbox.applied("crm")[0].body  # the CRM got the lead's fields, not an empty call
    assert f"{prefix}crmbus-worker" in groups
