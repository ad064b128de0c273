"""docker-compose.kafka.yml runs the whole bus: what each crmbus service must have to run unattended."""

import re
from pathlib import Path

import pytest
import yaml

from infra.core.settings import Settings

ROOT = Path(__file__).parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.kafka.yml").read_text())
SERVICES = COMPOSE["services"]
SETUP = "crmbus-setup"
BUS = ("ingress", "workers", "console")
CRMBUS = (SETUP, *BUS)
LISTEN_PORT = {"ingress": "CRMBUS_INGRESS_PORT", "console": "CRMBUS_DASHBOARD_PORT"}
REQUIRED_SECRET = re.compile(r"^\$\{(?P<name>CRMBUS_[A-Z_]+):\?.+\}$")


def environment(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def setting_names() -> set[str]:
    return {f"CRMBUS_{name.upper()}" for name in Settings.model_fields}


def internal_kafka_listener() -> str:
    advertised = SERVICES["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    listeners = dict(item.split("://", 1) for item in advertised.split(","))
    return listeners["INTERNAL"]


@pytest.mark.parametrize("service", CRMBUS)
def test_crmbus_services_run_the_projects_image(service):
    build = SERVICES[service]["build"]
    assert (build if isinstance(build, str) else build["context"]) == "."
    assert "image" not in SERVICES[service]


@pytest.mark.parametrize("service", BUS)
def test_bus_services_are_health_checked_with_python_since_the_slim_image_has_no_curl(service):
    test = SERVICES[service]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    assert '"/health"' in test[3]


@pytest.mark.parametrize("service", BUS)
def test_bus_services_come_back_when_they_die(service):
    assert SERVICES[service]["restart"] in ("unless-stopped", "on-failure", "always")


def test_the_set_up_runs_once():
    assert SERVICES[SETUP]["restart"] == "no"


@pytest.mark.parametrize("service", BUS)
def test_bus_services_start_after_healthy_kafka_and_postgresql_and_the_finished_set_up(service):
    depends_on = SERVICES[service]["depends_on"]
    assert depends_on["kafka"]["condition"] == "service_healthy"
    assert depends_on["postgres"]["condition"] == "service_healthy"
    assert depends_on[SETUP]["condition"] == "service_completed_successfully"


@pytest.mark.parametrize("service", CRMBUS)
def test_services_using_the_schema_registry_wait_for_it(service):
    if "CRMBUS_SCHEMA_REGISTRY_URL" in environment(service):
        assert SERVICES[service]["depends_on"]["schema-registry"]["condition"] == "service_healthy"


@pytest.mark.parametrize("service", SERVICES)
def test_every_port_is_published_on_loopback_only(service):
    for mapping in SERVICES[service].get("ports", []):
        assert mapping.startswith("127.0.0.1:"), mapping


@pytest.mark.parametrize("service", LISTEN_PORT)
def test_services_with_a_port_listen_on_all_addresses_of_their_container_and_publish_that_port(service):
    env = environment(service)
    host = "CRMBUS_INGRESS_HOST" if service == "ingress" else "CRMBUS_DASHBOARD_HOST"
    assert env[host] == "0.0.0.0"
    port = env[LISTEN_PORT[service]]
    assert f"127.0.0.1:{port}:{port}" in SERVICES[service]["ports"]
    assert LISTEN_PORT[service] in SERVICES[service]["healthcheck"]["test"][3]


def test_the_workers_health_check_probes_every_worker_process():
    env = environment("workers")
    probe = SERVICES["workers"]["healthcheck"]["test"][3]
    assert "CRMBUS_WORKER_WEB_PORT" in probe
    assert "CRMBUS_WORKER_PROCESSES" in probe
    assert {"CRMBUS_WORKER_WEB_PORT", "CRMBUS_WORKER_PROCESSES"} <= env.keys()


def test_the_console_reads_every_worker_process_from_the_workers_container():
    workers, console = environment("workers"), environment("console")
    first, count = int(workers["CRMBUS_WORKER_WEB_PORT"]), int(workers["CRMBUS_WORKER_PROCESSES"])
    assert workers["CRMBUS_WORKER_WEB_HOST"] == "0.0.0.0"
    assert console["CRMBUS_DASHBOARD_LOCAL_WORKERS"] == "false"
    assert console["CRMBUS_DASHBOARD_WORKER_URLS"].split(",") == [
        f"http://workers:{port}" for port in range(first, first + count)
    ]


@pytest.mark.parametrize("service", CRMBUS)
def test_every_crmbus_variable_set_is_a_real_setting(service):
    assert {name for name in environment(service) if name.startswith("CRMBUS_")} <= setting_names()


def test_every_crmbus_variable_the_image_sets_is_a_real_setting():
    dockerfile = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    assert set(re.findall(r"\b(CRMBUS_[A-Z_]+)=", dockerfile)) <= setting_names()


@pytest.mark.parametrize("service", CRMBUS)
def test_crmbus_services_reach_kafka_on_its_internal_listener(service):
    assert environment(service)["CRMBUS_KAFKA_BOOTSTRAP"] == internal_kafka_listener()


def test_kafka_ui_watches_the_broker_the_bus_uses():
    assert SERVICES["kafka-ui"]["environment"]["KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS"] == internal_kafka_listener()


@pytest.mark.parametrize(
    ("service", "secret"),
    [("ingress", "CRMBUS_SECRET_KEY"), ("workers", "CRMBUS_SECRET_KEY")],
)
def test_secrets_come_from_the_users_environment_and_are_required(service, secret):
    match = REQUIRED_SECRET.match(environment(service)[secret])
    assert match is not None
    assert match["name"] == secret
