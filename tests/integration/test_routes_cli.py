"""`crmbus tenants` and `crmbus routes` against the session's real database."""

import json
import re
import subprocess
import sys

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from infra.cli import app
from infra.db.routes import Routes
from infra.db.tenants import Tenants, seed_route_id
from streams.seed_flows import SEED_DESTINATIONS, SEED_ROUTES
from tests.builtin_types import example


@pytest.fixture
def crmbus(database_url, migrated, unique, tmp_path, monkeypatch, sandbox):
    """`crmbus ...` where a sandbox answers: new tenants' seed routes start enabled."""
    url = make_url(database_url).update_query_dict({"options": f"-csearch_path={unique}"})
    monkeypatch.setenv("CRMBUS_DATABASE_URL", url.render_as_string(hide_password=False))
    monkeypatch.setenv("CRMBUS_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("CRMBUS_SANDBOX_URL", sandbox.url)
    runner = CliRunner()

    def invoke(*args, stdin=None):
        result = runner.invoke(app, list(args), input=stdin, catch_exceptions=False)
        return result.exit_code, result.output

    return invoke


def test_a_tenant_created_on_the_command_line_lists_its_seed_routes(crmbus, sandbox):
    code, output = crmbus("tenants", "create", "acme", "--name", "Acme Cuidados")
    assert code == 0
    assert (
        f"with {len(SEED_DESTINATIONS)} destinations and {len(SEED_ROUTES)} routes at the sandbox {sandbox.url}, "
        "with the sandbox's stand-in credentials"
    ) in output
    assert "acme" in crmbus("tenants", "list")[1]
    code, listing = crmbus("routes", "list", "--tenant", "acme", "--type", "service.completed")
    assert code == 0
    assert listing.count("zapi.send_text") == 2
    assert "2h" in listing
    code, output = crmbus("tenants", "seed", "acme")
    assert "0 destinations and 0 routes added" in output


def test_a_tenant_created_with_no_seed_has_no_routes(crmbus, migrated):
    assert "without destinations or routes" in crmbus("tenants", "create", "acme", "--no-seed")[1]
    assert Routes(migrated).list("acme") == []


def test_a_tenants_partitioning_is_chosen_at_creation_and_changed_on_the_command_line(crmbus, migrated):
    assert crmbus("tenants", "create", "acme", "--no-seed", "--partitioning", "entity")[0] == 0
    assert Tenants(migrated).list()[0].partitioning == "entity"
    code, output = crmbus("tenants", "set", "acme", "--partitioning", "tenant")
    assert code == 0
    assert "partitioning entity -> tenant; the ingress applies it within 30 s" in output
    assert Tenants(migrated).list()[0].partitioning == "tenant"
    assert "already uses tenant partitioning" in crmbus("tenants", "set", "acme", "--partitioning", "tenant")[1]


def test_routes_test_prints_the_whatsapp_reply_a_lead_would_get(crmbus, tmp_path):
    crmbus("tenants", "create", "acme")
    sample = tmp_path / "lead.json"
    sample.write_text(json.dumps(example("lead.created")))
    code, output = crmbus("routes", "test", "--tenant", "acme", "--type", "lead.created", "--event", str(sample))
    assert code == 0
    reply = str(seed_route_id("acme", "lead.created/zapi"))
    assert f"zapi zapi.send_text route {reply}, due now" in output
    assert '"phone": "5511987654321"' in output
    assert '"message": "Olá, Maria! Recebemos seu contato' in output
    assert "2 deliveries, 0 failing routes, 1 routes whose filter did not match" in output


def test_routes_test_reads_standard_input_shows_delays_and_names_a_failing_mappings_field(crmbus):
    crmbus("tenants", "create", "acme", "--no-seed")
    crmbus("tenants", "seed", "acme")
    code, output = crmbus(
        "routes", "add", "--tenant", "acme", "--type", "service.completed", "--destination", "crm",
        "--action", "crm.note", "--mapping", '{"fields": {"note": {"from": "notes"}}}',
    )  # fmt: skip
    assert code == 0
    service = example("service.completed")
    service |= {"client_name": "Maria Souza", "client_phone": "+5511987654321"}
    code, output = crmbus(
        "routes", "test", "--tenant", "acme", "--type", "service.completed", "--event", "-", stdin=json.dumps(service)
    )
    assert code == 0
    assert "due in 2h" in output
    assert "nota de 1 a 5" in output
    assert re.search(r"crm crm\.note route [0-9a-f-]{36} fails: MappingError on note: source field notes", output)


def test_a_route_added_disabled_and_enabled_on_the_command_line(crmbus, migrated):
    crmbus("tenants", "create", "acme", "--no-seed")
    crmbus("tenants", "seed", "acme")
    code, output = crmbus(
        "routes", "add", "--tenant", "acme", "--type", "payment.received", "--destination", "financeiro",
        "--action", "financeiro.confirm_payment", "--filter", '{"method": "pix"}', "--delay", "90",
    )  # fmt: skip
    assert code == 0
    route_id = re.search(r"route ([0-9a-f-]{36}) added", output).group(1)
    assert "(in 1m30s)" in output
    assert "disabled (version 2)" in crmbus("routes", "disable", route_id)[1]
    assert route_id not in crmbus("routes", "list", "--tenant", "acme")[1]
    assert route_id in crmbus("routes", "list", "--tenant", "acme", "--all")[1]
    assert "enabled (version 3)" in crmbus("routes", "enable", route_id)[1]
    assert route_id in {route.id for route in Routes(migrated).load_enabled()}


def test_an_api_key_for_a_new_tenant_gives_it_the_seed_routes(crmbus, migrated):
    assert crmbus("apikeys", "create", "--tenant", "acme")[0] == 0
    assert len(Routes(migrated).list("acme")) == len(SEED_ROUTES)


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["routes", "add", "--tenant", "acme", "--type", "lead.created", "--destination", "crm",
             "--action", "crm.upsert_lead", "--filter", '{"canal": "site"}'],
            "InvalidRouteError: filter.canal: is not a field of this event type",
        ),
        (
            ["routes", "add", "--tenant", "acme", "--type", "lead.created", "--destination", "crm",
             "--action", "crm.upsert_lead", "--mapping", "{not json"],
            "InvalidRouteError: mapping: is not valid JSON (Expecting property name enclosed in double quotes "
            "at position 1)",
        ),
        (
            ["routes", "test", "--tenant", "acme", "--type", "lead.created", "--event", "-"],
            "InvalidEventError: phone: is required",
        ),
        (["tenants", "create", "Acme Corp"], "ConfigurationError: a tenant id is 1 to 64 lower-case letters, digits, "
         "'-' or '_', starting with a letter or digit"),
    ],
    ids=["unknown filter field", "mapping not json", "invalid sample event", "tenant id not a slug"],
)  # fmt: skip
def test_invalid_input_is_one_typed_line_and_exit_code_1(crmbus, args, line):
    crmbus("tenants", "create", "acme")  # the fixture's environment, for the subprocess too
    result = subprocess.run(
        [sys.executable, "-m", "infra", *args],
        input='{"name": "Maria", "channel": "site"}',
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == line
    assert "Traceback" not in result.stderr
