"""`crmbus destinations` against the session's real database: credentials go in sealed and never
come back out."""

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from infra.cli import app
from infra.core.secret_box import SecretBox
from infra.db.endpoints import Endpoints
from infra.db.models import AuditLog, WebhookEndpoint
from infra.db.tenants import Tenants
from streams.errors import ConfigurationError


@pytest.fixture
def crmbus(database_url, migrated, unique, tmp_path, monkeypatch):
    url = make_url(database_url).update_query_dict({"options": f"-csearch_path={unique}"})
    monkeypatch.setenv("CRMBUS_DATABASE_URL", url.render_as_string(hide_password=False))
    monkeypatch.setenv("CRMBUS_STATE_DIR", str(tmp_path))
    Tenants(migrated, actor="test").create("acme", "Acme Cuidados", sandbox_url="http://127.0.0.1:18100")
    runner = CliRunner()

    def invoke(*args, stdin=None):
        result = runner.invoke(app, list(args), input=stdin, catch_exceptions=False)
        return result.exit_code, result.output

    return invoke


def test_a_destination_is_pointed_at_its_real_system_with_a_secret_that_is_never_shown(crmbus, migrated):
    code, output = crmbus(
        "destinations", "set", "--tenant", "acme", "--name", "crm", "--url", "https://crm.example.com.br",
        "--config", '{"ordered": true}', "--secret-stdin", stdin="tok_live_123\n",
    )  # fmt: skip
    assert code == 0 and "secret set" in output and "tok_live_123" not in output
    _, listing = crmbus("destinations", "list", "--tenant", "acme")
    crm = next(line for line in listing.splitlines() if "  crm  " in line)
    assert "https://crm.example.com.br" in crm and '"ordered": true' in crm and "tok_live_123" not in listing
    with Session(migrated) as session:
        stored = session.scalars(select(WebhookEndpoint.secret_encrypted).where(WebhookEndpoint.name == "crm")).one()
    assert stored is not None and b"tok_live_123" not in stored


def test_a_waha_destination_is_added_and_a_bad_config_is_refused_with_one_clear_line(crmbus):
    code, output = crmbus(
        "destinations", "add", "--tenant", "acme", "--name", "waha", "--kind", "waha",
        "--url", "https://waha.example.com.br", "--secret-stdin", stdin="waha-key\n",
    )  # fmt: skip
    assert code == 0 and "waha  waha  https://waha.example.com.br  enabled  secret set" in output
    with pytest.raises(Exception, match="--config must be a JSON object"):
        crmbus("destinations", "set", "--tenant", "acme", "--name", "waha", "--config", "[1]")


def test_a_secret_sealed_under_another_key_flags_its_destination_and_the_others_still_load(migrated):
    Tenants(migrated, actor="test").create("acme", sandbox_url="http://127.0.0.1:18100")
    Endpoints(migrated, SecretBox(Fernet.generate_key()), actor="test").update("acme", "crm", secret="old-key-token")
    ours = Endpoints(migrated, SecretBox(Fernet.generate_key()), actor="test")
    ours.update("acme", "zapi", secret="zapi-token")
    loaded = {d.name: d for d in ours.load_enabled()}
    assert loaded["crm"].secret_unreadable and loaded["crm"].secret is None
    assert loaded["zapi"].secret == "zapi-token" and not loaded["zapi"].secret_unreadable
    assert len(loaded) == len(ours.list("acme"))


def test_a_destination_is_not_configured_without_the_credential_its_kind_needs(crmbus):
    with pytest.raises(ConfigurationError) as refused:
        crmbus("destinations", "set", "--tenant", "acme", "--name", "crm", "--url", "https://crm.example.com.br")
    assert str(refused.value) == (
        "a crm destination needs a secret; set it with: "
        'printf %s "$SECRET" | crmbus destinations set --tenant acme --name crm --url URL --secret-stdin'
    )
    with pytest.raises(ConfigurationError, match=r"a zapi destination needs a secret and config\.instance_id"):
        crmbus(
            "destinations", "add", "--tenant", "acme", "--name", "zapi2", "--kind", "zapi",
            "--url", "https://api.z-api.io",
        )  # fmt: skip
    _, listing = crmbus("destinations", "list", "--tenant", "acme")
    assert "https://crm.example.com.br" not in listing and "zapi2" not in listing
    assert "needs secret: printf" in listing


def test_a_destination_without_its_credential_can_still_be_disabled(crmbus):
    code, output = crmbus("destinations", "set", "--tenant", "acme", "--name", "crm", "--disable")
    assert code == 0 and "  disabled  no secret" in output
    with pytest.raises(ConfigurationError, match="needs a secret"):
        crmbus("destinations", "set", "--tenant", "acme", "--name", "crm", "--enable")


def test_a_paused_destination_loads_paused_until_resumed_and_each_change_is_audited(crmbus, migrated):
    code, output = crmbus("destinations", "pause", "--tenant", "acme", "--name", "crm")
    assert code == 0 and "enabled, paused" in output
    crmbus("destinations", "pause", "--tenant", "acme", "--name", "crm")  # pausing twice is one pause
    box = SecretBox(Fernet.generate_key())
    loaded = {d.name: d.paused for d in Endpoints(migrated, box).load_enabled() if d.tenant_id == "acme"}
    assert loaded["crm"] is True and not any(paused for name, paused in loaded.items() if name != "crm")
    code, output = crmbus("destinations", "resume", "--tenant", "acme", "--name", "crm")
    assert code == 0 and "paused" not in output
    assert not any(d.paused for d in Endpoints(migrated, box).load_enabled())
    with Session(migrated) as session:
        actions = session.scalars(select(AuditLog.action).where(AuditLog.action.like("endpoint.%"))).all()
    assert [a for a in actions if a in ("endpoint.pause", "endpoint.resume")] == ["endpoint.pause", "endpoint.resume"]


def test_pausing_a_destination_the_tenant_does_not_have_says_so(crmbus):
    with pytest.raises(ConfigurationError, match="no destination named 'nope'"):
        crmbus("destinations", "pause", "--tenant", "acme", "--name", "nope")
