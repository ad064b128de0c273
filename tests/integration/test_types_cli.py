"""`crmbus types` against the session's real database."""

import json
import subprocess
import sys

import pytest
import yaml
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from infra.cli import app
from infra.db.tenants import Tenants
from tests.integration.test_event_types_store import PEDIDO, revised


@pytest.fixture
def crmbus(database_url, migrated, unique, tmp_path, monkeypatch):
    url = make_url(database_url).update_query_dict({"options": f"-csearch_path={unique}"})
    monkeypatch.setenv("CRMBUS_DATABASE_URL", url.render_as_string(hide_password=False))
    monkeypatch.setenv("CRMBUS_STATE_DIR", str(tmp_path))
    Tenants(migrated, actor="test").create("acme", "Acme Cuidados", sandbox_url=None)
    runner = CliRunner()

    def invoke(*args):
        result = runner.invoke(app, list(args), catch_exceptions=False)
        return result.exit_code, result.output

    return invoke


@pytest.fixture
def write(tmp_path):
    def to_file(document, name="pedido.criado.yaml"):
        path = tmp_path / name
        path.write_text(json.dumps(document) if name.endswith(".json") else yaml.safe_dump(document))
        return str(path)

    return to_file


def test_a_tenant_registers_a_type_from_yaml_and_revises_it_from_json(crmbus, write):
    code, output = crmbus("types", "add", "--tenant", "acme", write(PEDIDO))
    assert code == 0
    assert "pedido.criado v1 of tenant 'acme' registered" in output
    wider = revised(lambda d: d["schema"]["properties"].update(cupom={"type": "string"}))
    code, output = crmbus("types", "add", "--tenant", "acme", write(wider, "pedido.json"))
    assert code == 0
    assert "pedido.criado v1 of tenant 'acme' revised to revision 2" in output


def test_list_shows_the_built_in_types_and_the_tenants_own(crmbus, write):
    crmbus("types", "add", "--tenant", "acme", write(PEDIDO))
    code, output = crmbus("types", "list", "--tenant", "acme")
    assert code == 0
    lines = output.splitlines()
    assert any(line.startswith("lead.created v1 r1  built-in  lane default") for line in lines)
    assert "pedido.criado v1 r1  tenant acme  lane default  A customer placed an order in the shop." in lines


def test_show_prints_the_document_of_a_tenants_type_and_of_a_built_in_one(crmbus, write):
    crmbus("types", "add", "--tenant", "acme", write(PEDIDO))
    code, output = crmbus("types", "show", "pedido.criado", "--tenant", "acme")
    assert code == 0
    assert yaml.safe_load(output) == PEDIDO
    code, output = crmbus("types", "show", "lead.created", "--version", "1", "--tenant", "acme")
    assert code == 0
    shown = yaml.safe_load(output)
    assert (shown["name"], shown["version"], shown["public_topic"]) == ("lead.created", 1, "crm.lead.created")
    assert crmbus("types", "show", "lead.created") == (0, output)


def test_show_example_prints_the_example_payload_a_route_test_can_read(crmbus, write):
    crmbus("types", "add", "--tenant", "acme", write(PEDIDO))
    code, output = crmbus("types", "show", "pedido.criado", "--tenant", "acme", "--example")
    assert (code, json.loads(output)) == (0, PEDIDO["example"])
    code, output = crmbus("types", "show", "lead.created", "--example")
    assert code == 0 and json.loads(output)["channel"] == "site"


def test_deprecate_marks_the_version_in_the_list(crmbus, write):
    crmbus("types", "add", "--tenant", "acme", write(PEDIDO))
    code, output = crmbus("types", "deprecate", "pedido.criado", "--version", "1", "--tenant", "acme")
    assert code == 0
    assert "pedido.criado v1 of tenant 'acme' is deprecated" in output
    assert (
        "pedido.criado v1 r1  tenant acme  lane default  deprecated" in crmbus("types", "list", "--tenant", "acme")[1]
    )


def _run(*args):
    return subprocess.run([sys.executable, "-m", "infra", *args], capture_output=True, text=True, timeout=60)


def test_a_breaking_change_exits_1_with_one_line_naming_the_field(crmbus, write):
    crmbus("types", "add", "--tenant", "acme", write(PEDIDO))  # the fixture's environment, for the subprocess too
    narrowed = revised(lambda d: d["schema"]["properties"]["pedido_id"].update(maxLength=10))
    result = _run("types", "add", "--tenant", "acme", write(narrowed, "narrowed.yaml"))
    assert result.returncode == 1
    assert result.stderr.startswith(
        "IncompatibleSchemaError: pedido.criado v1: the new schema breaks it (pedido_id: maxLength narrowed from 64 to 10)"
    )
    assert "register the change as version 2 instead" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("document", "line"),
    [
        (revised(lambda d: d.update(lane="urgent")), "InvalidEventTypeError: lane: must be high, default or low"),
        (
            revised(lambda d: d.update(name="lead.created")),
            "InvalidEventTypeError: name: lead.created is a built-in type; a tenant's own type needs another name",
        ),
    ],
    ids=["invalid lane", "built-in name"],
)
def test_an_invalid_document_exits_1_with_one_line_naming_the_field(crmbus, write, document, line):
    crmbus("types", "list")  # the fixture's environment, for the subprocess too
    result = _run("types", "add", "--tenant", "acme", write(document))
    assert result.returncode == 1
    assert result.stderr.strip() == line


def test_a_document_that_is_not_yaml_is_refused_with_its_line(crmbus, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: pedido.criado\nschema: {type: object\n")
    crmbus("types", "list")
    result = _run("types", "add", "--tenant", "acme", str(broken))
    assert result.returncode == 1
    assert result.stderr.strip() == "InvalidEventTypeError: the type document is not valid YAML or JSON at line 3"
