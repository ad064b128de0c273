import pytest

from infra.core.settings import Settings
from infra.db.engine import database_url
from infra.local.kafka_node import LocalKafka
from streams.errors import ConfigurationError


def test_defaults_point_at_the_local_broker_and_database(monkeypatch):
    for name in ("CRMBUS_KAFKA_BOOTSTRAP", "CRMBUS_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.kafka_bootstrap == "127.0.0.1:19092"
    assert database_url(settings).host == "127.0.0.1"
    assert not settings.is_set("database_url")


def test_environment_variables_with_the_crmbus_prefix_override_defaults(monkeypatch):
    monkeypatch.setenv("CRMBUS_KAFKA_BOOTSTRAP", "127.0.0.1:29092")
    monkeypatch.setenv("CRMBUS_DATABASE_URL", "postgresql+psycopg://u:s3cret@127.0.0.1:6543/x")
    settings = Settings()
    assert settings.kafka_bootstrap == "127.0.0.1:29092"
    assert database_url(settings).port == 6543
    assert settings.is_set("database_url")


def test_the_database_password_never_shows_in_reprs(monkeypatch):
    monkeypatch.setenv("CRMBUS_DATABASE_URL", "postgresql+psycopg://u:s3cret@127.0.0.1:6543/x")
    settings = Settings()
    assert "s3cret" not in repr(settings)
    assert "s3cret" not in str(database_url(settings))


def test_a_heap_over_one_gibibyte_is_refused(monkeypatch):
    monkeypatch.setenv("CRMBUS_KAFKA_HEAP_MB", "4096")
    with pytest.raises(ValueError, match="kafka_heap_mb"):
        Settings()


@pytest.mark.parametrize("bootstrap", ["kafka.internal:9092", "127.0.0.1:1,127.0.0.1:2", "127.0.0.1"])
def test_crmbus_runs_a_local_broker_only_on_one_loopback_address(bootstrap):
    with pytest.raises(ConfigurationError, match="loopback"):
        LocalKafka(Settings(kafka_bootstrap=bootstrap))


def test_the_local_services_listen_on_distinct_default_ports(monkeypatch):
    for name in ("CRMBUS_KAFKA_BOOTSTRAP", "CRMBUS_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    ports = {name: value for name, value in settings.model_dump().items() if name.endswith("_port")}
    ports |= {"kafka_bootstrap": int(settings.kafka_bootstrap.rsplit(":", 1)[1])}
    ports |= {"database_url": database_url(settings).port}
    assert len(set(ports.values())) == len(ports), ports
