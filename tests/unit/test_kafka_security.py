"""Kafka security settings: validated together at start-up, then translated for each client family."""

import ssl

import faust
import pytest

from agents.broker_auth import broker_credentials
from bench.stack import infra
from connectors.kafka.security import client_ssl_context, librdkafka_client
from infra.core.settings import Settings
from streams.errors import ConfigurationError
from tests.fakes.tls import LoopbackTls


@pytest.fixture
def tls(tmp_path):
    return LoopbackTls.make(tmp_path)


def sasl_ssl(tls, **overrides) -> Settings:
    values = dict(
        kafka_bootstrap="broker.example:9093",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="crmbus",
        kafka_sasl_password="pa55-word",
        kafka_ssl_ca_file=tls.ca_file,
    )
    return Settings(**(values | overrides))


def test_the_default_is_plaintext_with_nothing_else_sent():
    config = librdkafka_client(Settings(kafka_bootstrap="127.0.0.1:19092"))
    assert config == {"bootstrap.servers": "127.0.0.1:19092", "security.protocol": "plaintext"}
    assert client_ssl_context(Settings()) is None
    assert broker_credentials(Settings()) is None


def test_sasl_ssl_gives_librdkafka_the_mechanism_user_password_and_ca(tls):
    config = librdkafka_client(sasl_ssl(tls))
    assert config == {
        "bootstrap.servers": "broker.example:9093",
        "security.protocol": "sasl_ssl",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "crmbus",
        "sasl.password": "pa55-word",
        "ssl.ca.location": str(tls.ca_file),
    }


def test_mutual_tls_gives_librdkafka_the_client_certificate_and_key(tls):
    settings = Settings(
        kafka_security_protocol="SSL",
        kafka_ssl_ca_file=tls.ca_file,
        kafka_ssl_cert_file=tls.client_cert_file,
        kafka_ssl_key_file=tls.client_key_file,
    )
    config = librdkafka_client(settings)
    assert config["security.protocol"] == "ssl"
    assert config["ssl.certificate.location"] == str(tls.client_cert_file)
    assert config["ssl.key.location"] == str(tls.client_key_file)
    assert "sasl.mechanism" not in config


def test_faust_gets_sasl_credentials_over_a_verifying_tls_context(tls):
    credentials = broker_credentials(sasl_ssl(tls))
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert (credentials.username, credentials.password) == ("crmbus", "pa55-word")
    assert credentials.ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert credentials.ssl_context.check_hostname


def test_faust_gets_plain_sasl_without_tls_for_sasl_plaintext():
    settings = Settings(
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="PLAIN",
        kafka_sasl_username="u",
        kafka_sasl_password="p",
    )
    credentials = broker_credentials(settings)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_PLAINTEXT"
    assert credentials.ssl_context is None


def test_faust_gets_ssl_credentials_with_the_client_certificate_for_mutual_tls(tls):
    settings = Settings(
        kafka_security_protocol="SSL",
        kafka_ssl_ca_file=tls.ca_file,
        kafka_ssl_cert_file=tls.client_cert_file,
        kafka_ssl_key_file=tls.client_key_file,
    )
    credentials = broker_credentials(settings)
    assert isinstance(credentials, faust.SSLCredentials)
    assert credentials.protocol.value == "SSL"


def test_the_sasl_password_never_shows_in_reprs_or_faust_credentials(tls):
    settings = sasl_ssl(tls)
    assert "pa55-word" not in repr(settings)
    assert "pa55-word" not in str(settings)
    assert "pa55-word" not in repr(broker_credentials(settings))


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"kafka_sasl_password": None}, "CRMBUS_KAFKA_SASL_PASSWORD"),
        ({"kafka_sasl_mechanism": None}, "CRMBUS_KAFKA_SASL_MECHANISM"),
        ({"kafka_sasl_username": ""}, "CRMBUS_KAFKA_SASL_USERNAME"),
        ({"kafka_security_protocol": "SSL"}, "uses no SASL"),
        ({"kafka_security_protocol": "SASL_PLAINTEXT"}, "uses no TLS"),
        ({"kafka_ssl_cert_file": "client.pem"}, "go together"),
        ({"kafka_ssl_ca_file": "/nonexistent/ca.pem"}, "not a readable file"),
    ],
)
def test_combinations_that_could_not_connect_or_would_be_ignored_are_refused_at_start_up(tls, overrides, named):
    with pytest.raises(ConfigurationError, match=named):
        sasl_ssl(tls, **overrides)


def test_a_password_meant_for_sasl_is_refused_with_plaintext(monkeypatch):
    monkeypatch.setenv("CRMBUS_KAFKA_SASL_PASSWORD", "x")
    with pytest.raises(ConfigurationError, match="CRMBUS_KAFKA_SECURITY_PROTOCOL=SASL_SSL"):
        Settings()


def test_an_unknown_mechanism_is_refused(tls):
    with pytest.raises(ValueError, match="kafka_sasl_mechanism"):
        sasl_ssl(tls, kafka_sasl_mechanism="GSSAPI")


def test_the_benches_refuse_a_secured_cluster_before_starting_anything(tmp_path):
    with pytest.raises(ConfigurationError, match="PLAINTEXT"), infra(Settings(kafka_security_protocol="SSL"), tmp_path):
        pass
