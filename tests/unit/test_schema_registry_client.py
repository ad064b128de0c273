"""How the settings become Confluent's registry client, and the catalogue fallback without one.

The client against a registry that answers (auth, TLS, caching, refusals) is specified in
tests/integration/test_schema_registry.py, on a loopback fake.
"""

from pathlib import Path

import pytest
from pydantic import SecretStr

from connectors.kafka.schema_registry import RegistryAccess, RegistrySchemaIds, display_url, schema_ids
from infra.core.settings import Settings
from schemas.avro_schemas import CatalogueSchemaIds, load_schema
from streams.errors import ConfigurationError, ServiceUnreachableError
from tests.conftest import free_port


def settings(**fields):
    return Settings(**{"schema_registry_url": None} | fields)


def test_without_a_registry_url_ids_come_from_the_catalogue():
    assert isinstance(schema_ids(settings()), CatalogueSchemaIds)
    assert isinstance(schema_ids(None), CatalogueSchemaIds)
    assert RegistryAccess.of(settings(schema_registry_basic_auth=SecretStr("u:p"))) is None


def test_with_a_registry_url_ids_come_from_the_registry():
    assert isinstance(schema_ids(settings(schema_registry_url="http://registry.test:8081")), RegistrySchemaIds)
    assert isinstance(schema_ids("http://registry.test:8081"), RegistrySchemaIds), "a bare URL, as benches pass"


def test_basic_auth_and_tls_files_reach_the_client_configuration():
    access = RegistryAccess.of(
        settings(
            schema_registry_url="https://registry.example.com",
            schema_registry_basic_auth=SecretStr("api-key:api-secret"),
            schema_registry_ca_file=Path("/etc/crmbus/ca.pem"),
            schema_registry_cert_file=Path("/etc/crmbus/client.pem"),
            schema_registry_key_file=Path("/etc/crmbus/client.key"),
        )
    )
    assert access is not None
    config = access.client_config(timeout_s=5.0, retries=2)
    assert config["url"] == "https://registry.example.com"
    assert config["basic.auth.user.info"] == "api-key:api-secret"
    assert config["ssl.ca.location"] == "/etc/crmbus/ca.pem"
    assert config["ssl.certificate.location"] == "/etc/crmbus/client.pem"
    assert config["ssl.key.location"] == "/etc/crmbus/client.key"


def test_settings_left_unset_are_left_to_the_client_defaults():
    config = RegistryAccess("http://registry.test").client_config(timeout_s=5.0, retries=2)
    assert not {"basic.auth.user.info", "ssl.ca.location", "ssl.certificate.location", "ssl.key.location"} & set(config)


def test_the_password_shows_in_no_repr_and_no_printed_url():
    access = RegistryAccess.of(
        settings(schema_registry_url="https://registry.test", schema_registry_basic_auth=SecretStr("u:s3cret"))
    )
    assert "s3cret" not in repr(access)
    assert display_url("https://key:s3cret@registry.test:8081/ctx") == "https://registry.test:8081/ctx"
    assert display_url("https://registry.test") == "https://registry.test"


def test_a_url_that_is_not_http_is_a_configuration_error_that_hides_its_credentials():
    with pytest.raises(ConfigurationError, match="not http") as refused:
        schema_ids("ftp://key:s3cret@registry.test")
    assert "s3cret" not in str(refused.value)


def test_a_key_without_its_certificate_is_a_configuration_error(tmp_path):
    key = tmp_path / "client.key"
    key.write_text("not used")
    with pytest.raises(ConfigurationError, match=r"ssl\.certificate\.location"):
        schema_ids(settings(schema_registry_url="https://registry.test", schema_registry_key_file=key))


def test_a_missing_ca_file_is_a_configuration_error(tmp_path):
    missing = tmp_path / "nowhere.pem"
    with pytest.raises(ConfigurationError, match="FileNotFoundError"):
        schema_ids(settings(schema_registry_url="https://registry.test", schema_registry_ca_file=missing))


def test_credentials_not_in_user_colon_password_form_are_a_configuration_error():
    with pytest.raises(ConfigurationError, match="username") as refused:
        schema_ids(settings(schema_registry_url="http://r.test", schema_registry_basic_auth=SecretStr("s3cret")))
    assert "s3cret" not in str(refused.value)


def test_an_unreachable_registry_is_a_typed_error():
    ids = schema_ids(settings(schema_registry_url=f"http://key:s3cret@127.0.0.1:{free_port()}"))
    with pytest.raises(ServiceUnreachableError, match="ConnectError") as refused:
        ids.id_for("s-value", load_schema("envelope.v1.avsc"))
    assert "s3cret" not in str(refused.value)
