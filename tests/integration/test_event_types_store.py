"""Tenants' event types in the real PostgreSQL: revisions, major versions, deprecation, loading."""

import copy

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.db.event_types import EventTypes
from infra.db.models import AuditLog
from infra.db.tenants import Tenants
from streams.errors import ConfigurationError, IncompatibleSchemaError, InvalidEventTypeError

PEDIDO = {
    "name": "pedido.criado",
    "version": 1,
    "revision": 1,
    "description": "A customer placed an order in the shop.",
    "lane": "default",
    "entity_key": "pedido_id",
    "personal_data": ["cliente.telefone"],
    "schema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "pedido_id": {"type": "string", "maxLength": 64},
            "valor_centavos": {"type": "integer", "minimum": 0},
            "status": {"type": "string", "enum": ["aberto", "pago"]},
            "cliente": {
                "type": "object",
                "properties": {"telefone": {"type": "string", "format": "phone"}},
                "additionalProperties": False,
            },
        },
        "required": ["pedido_id", "valor_centavos"],
        "additionalProperties": False,
    },
    "example": {"pedido_id": "P-1", "valor_centavos": 12990, "status": "aberto"},
}


def revised(edit, document=PEDIDO):
    changed = copy.deepcopy(document)
    edit(changed)
    return changed


@pytest.fixture
def types(migrated):
    tenants = Tenants(migrated, actor="test")
    for tenant in ("acme", "beta"):
        tenants.create(tenant, sandbox_url=None)
    return EventTypes(migrated, actor="test")


def test_a_new_type_is_revision_1_of_version_1_and_loads_for_its_tenant(types):
    added = types.add("acme", PEDIDO)
    assert added.outcome == "new type"
    assert (added.event_type.name, added.event_type.version, added.event_type.revision) == ("pedido.criado", 1, 1)
    loaded = types.load_active()
    assert [(t.tenant_id, t.name, t.version, t.revision, t.deprecated) for t in loaded] == [
        ("acme", "pedido.criado", 1, 1, False)
    ]
    assert loaded[0].validate({"pedido_id": "P-2", "valor_centavos": 5}) == {"pedido_id": "P-2", "valor_centavos": 5}


def test_a_compatible_change_becomes_the_next_revision_whatever_revision_the_document_says(types):
    types.add("acme", PEDIDO)

    def edit(document):
        document["revision"] = 7
        document["schema"]["properties"]["cupom"] = {"type": "string", "maxLength": 20}
        document["schema"]["properties"]["status"]["enum"].append("cancelado")

    added = types.add("acme", revised(edit))
    assert (added.outcome, added.event_type.revision) == ("new revision", 2)
    [active] = types.load_active()
    assert active.revision == 2
    assert active.validate({"pedido_id": "P-3", "valor_centavos": 1, "status": "cancelado", "cupom": "X"})


def test_adding_the_latest_revision_again_changes_nothing(types):
    types.add("acme", PEDIDO)
    fingerprint = types.fingerprint()
    again = types.add("acme", PEDIDO)
    assert (again.outcome, again.event_type.revision) == ("unchanged", 1)
    assert types.fingerprint() == fingerprint


def test_a_breaking_change_is_refused_naming_the_field_and_stores_nothing(types):
    def retyped(document):
        document["schema"]["properties"]["valor_centavos"] = {"type": "string"}
        document["example"]["valor_centavos"] = "129.90"

    types.add("acme", PEDIDO)
    fingerprint = types.fingerprint()
    with pytest.raises(IncompatibleSchemaError) as refused:
        types.add("acme", revised(retyped))
    assert refused.value.field == "valor_centavos"
    assert "valor_centavos: type changed from integer to string" in str(refused.value)
    assert "register the change as version 2 instead" in str(refused.value)
    assert types.fingerprint() == fingerprint
    assert [t.revision for t in types.load_active()] == [1]


def test_a_revision_may_not_move_the_entity_key(types):
    types.add("acme", PEDIDO)
    with pytest.raises(IncompatibleSchemaError) as refused:
        types.add("acme", revised(lambda d: d.update(entity_key="status")))
    assert refused.value.field == "entity_key"


def test_a_breaking_change_goes_in_as_the_next_major_version_beside_the_first(types):
    types.add("acme", PEDIDO)

    def v2(document):
        document["version"] = 2
        document["schema"]["properties"]["valor_centavos"] = {"type": "string"}
        document["example"]["valor_centavos"] = "129.90"

    added = types.add("acme", revised(v2))
    assert (added.outcome, added.event_type.version, added.event_type.revision) == ("new version", 2, 1)
    assert [(t.version, t.revision) for t in types.load_active()] == [(1, 1), (2, 1)]
    assert types.show("acme", "pedido.criado").version == 2
    assert types.show("acme", "pedido.criado", 1).schema["properties"]["valor_centavos"]["type"] == "integer"


def test_a_major_version_out_of_sequence_is_refused(types):
    with pytest.raises(InvalidEventTypeError, match="is a new type; its first version is 1") as refused:
        types.add("acme", revised(lambda d: d.update(version=2)))
    assert refused.value.field == "version"
    types.add("acme", PEDIDO)
    with pytest.raises(InvalidEventTypeError, match="has versions up to 1; a new major version is 2"):
        types.add("acme", revised(lambda d: d.update(version=3)))


def test_a_built_in_types_name_is_refused(types):
    with pytest.raises(InvalidEventTypeError, match=r"lead\.created is a built-in type") as refused:
        types.add("acme", revised(lambda d: d.update(name="lead.created")))
    assert refused.value.field == "name"
    assert types.list("acme") == []


def test_an_invalid_document_is_refused_naming_the_field(types):
    with pytest.raises(InvalidEventTypeError) as refused:
        types.add("acme", revised(lambda d: d.update(lane="urgent")))
    assert refused.value.field == "lane"
    assert types.list() == []


def test_an_unknown_tenant_is_refused(types):
    with pytest.raises(ConfigurationError, match="no tenant 'nobody'"):
        types.add("nobody", PEDIDO)


def test_each_tenant_sees_only_its_own_types_and_may_reuse_a_name(types):
    def without_status(document):
        del document["schema"]["properties"]["status"]
        del document["example"]["status"]

    types.add("acme", PEDIDO)
    types.add("beta", revised(without_status))
    assert [(t.tenant_id, t.name) for t in types.list("acme")] == [("acme", "pedido.criado")]
    assert [t.tenant_id for t in types.list()] == ["acme", "beta"]
    assert "status" not in types.show("beta", "pedido.criado").schema["properties"]


def test_a_deprecated_version_still_loads_marked_and_takes_no_new_revision(types):
    types.add("acme", PEDIDO)
    types.add("acme", revised(lambda d: d.update(description="Orders from the shop.")))
    fingerprint = types.fingerprint()
    deprecated = types.deprecate("acme", "pedido.criado", 1)
    assert (deprecated.deprecated, deprecated.revision) == (True, 2)
    assert types.fingerprint() != fingerprint
    assert [(t.revision, t.deprecated) for t in types.load_active()] == [(2, True)]
    with pytest.raises(InvalidEventTypeError, match="v1 is deprecated; register a new major version"):
        types.add("acme", revised(lambda d: d.update(description="Again.")))
    assert types.deprecate("acme", "pedido.criado", 1).deprecated


def test_show_and_deprecate_name_what_is_missing(types):
    types.add("acme", PEDIDO)
    with pytest.raises(ConfigurationError, match=r"has no version 3 \(it has 1\)"):
        types.show("acme", "pedido.criado", 3)
    with pytest.raises(ConfigurationError, match=r"has no event type pedido\.pago"):
        types.show("acme", "pedido.pago")
    with pytest.raises(ConfigurationError, match=r"has no event type pedido\.criado v2"):
        types.deprecate("acme", "pedido.criado", 2)


def test_the_fingerprint_moves_with_every_registration(types):
    empty = types.fingerprint()
    types.add("acme", PEDIDO)
    one = types.fingerprint()
    types.add("acme", revised(lambda d: d["schema"]["properties"].update(cupom={"type": "string"})))
    assert len({empty, one, types.fingerprint()}) == 3


def test_changes_are_audited(types, migrated):
    types.add("acme", PEDIDO)
    types.deprecate("acme", "pedido.criado", 1)
    with Session(migrated) as session:
        rows = session.scalars(select(AuditLog).where(AuditLog.target_type == "event_type").order_by(AuditLog.id)).all()
    assert [(row.action, row.tenant_id, row.target_id, row.actor) for row in rows] == [
        ("event_type.add", "acme", "pedido.criado.v1", "test"),
        ("event_type.deprecate", "acme", "pedido.criado.v1", "test"),
    ]
    assert rows[0].details == {"revision": "1", "outcome": "new type"}


def test_before_commit_sees_the_type_as_it_will_stand_and_what_it_raises_stores_nothing(types):
    types.add("acme", PEDIDO)
    seen = []

    def refuse(event_type):
        seen.append((event_type.tenant_id, event_type.name, event_type.revision))
        raise ConfigurationError("the registry refused the evolved schema")

    wider = revised(lambda d: d["schema"]["properties"].update(cupom={"type": "string"}))
    with pytest.raises(ConfigurationError, match="registry refused"):
        types.add("acme", wider, before_commit=refuse)
    assert seen == [("acme", "pedido.criado", 2)]
    assert [t.revision for t in types.load_active()] == [1], "nothing stored"


def test_before_commit_runs_for_an_unchanged_document_too_so_adding_it_again_can_repair(types):
    types.add("acme", PEDIDO)
    seen = []
    added = types.add("acme", PEDIDO, before_commit=lambda event_type: seen.append(event_type.revision))
    assert (added.outcome, seen) == ("unchanged", [1])
