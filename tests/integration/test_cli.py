"""The `crmbus` commands operators type, against the session's real broker and database."""

import re
import subprocess
import sys

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from connectors.kafka.admin import describe_topics
from infra.cli import app
from infra.db.api_keys import ApiKeys
from schemas.catalogue import load_catalogue


@pytest.fixture
def crmbus(kafka_bootstrap, database_url, migrated, unique, topic_prefix, tmp_path, monkeypatch):
    url = make_url(database_url).update_query_dict({"options": f"-csearch_path={unique}"})
    monkeypatch.setenv("CRMBUS_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("CRMBUS_DATABASE_URL", url.render_as_string(hide_password=False))
    monkeypatch.setenv("CRMBUS_TOPIC_PREFIX", topic_prefix)
    monkeypatch.setenv("CRMBUS_STATE_DIR", str(tmp_path))
    runner = CliRunner()

    def invoke(*args):
        result = runner.invoke(app, list(args), catch_exceptions=False)
        return result.exit_code, result.output

    return invoke


def test_topics_apply_dry_run_changes_nothing_and_apply_creates_the_catalogue(crmbus, kafka_admin, topic_prefix):
    names = load_catalogue().with_prefix(topic_prefix).topics
    code, output = crmbus("topics", "apply", "--dry-run")
    assert code == 0
    assert f"create  {topic_prefix}crmbus.dlq" in output
    assert describe_topics(kafka_admin, names) == {}
    code, output = crmbus("topics", "apply")
    assert code == 0
    assert set(describe_topics(kafka_admin, names)) == set(names)
    code, output = crmbus("topics", "apply")
    assert f"{len(names)} topics match the catalogue ({len(names)} were already right)" in output


def test_an_api_key_created_on_the_command_line_is_shown_once_then_rotated_and_revoked(crmbus, migrated):
    code, output = crmbus("apikeys", "create", "--tenant", "acme", "--name", "site")
    assert code == 0
    secret = re.search(r"crmb_live_[A-Za-z0-9_-]{43}", output).group(0)
    key_id = re.search(r"key id ([0-9a-f-]{36})", output).group(1)
    keys = ApiKeys(migrated)
    assert keys.authenticate(secret) == "acme"
    code, listing = crmbus("apikeys", "list")
    assert secret not in listing
    assert "active" in listing
    code, output = crmbus("apikeys", "rotate", key_id, "--overlap", "1h")
    new_secret = re.search(r"crmb_live_[A-Za-z0-9_-]{43}", output).group(0)
    assert keys.authenticate(secret) == keys.authenticate(new_secret) == "acme"
    assert crmbus("apikeys", "revoke", key_id)[0] == 0
    assert keys.authenticate(secret) is None


def test_a_webhook_endpoint_prints_its_url_and_secret_once(crmbus):
    crmbus("apikeys", "create", "--tenant", "acme")
    code, output = crmbus("sources", "add", "--tenant", "acme", "--source", "waha")
    assert code == 0
    assert re.search(r"/v1/webhooks/waha/whk_[A-Za-z0-9_-]{43}", output)
    assert "X-Webhook-Hmac" in output
    code, listing = crmbus("sources", "list", "--tenant", "acme")
    assert "waha" in listing
    assert "whk_" not in listing


def test_a_typed_error_is_one_clear_line_and_exit_code_1(crmbus):
    crmbus("apikeys", "create", "--tenant", "acme")  # the fixture's environment, for the subprocess too
    result = subprocess.run(
        [sys.executable, "-m", "infra", "sources", "add", "--tenant", "nobody", "--source", "waha"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "ConfigurationError: no tenant 'nobody'; create it with 'crmbus apikeys create'"
    assert "Traceback" not in result.stderr
