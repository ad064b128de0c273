"""The built-in set as a whole: every file follows the same conventions, and the rules the new
types (leads, tasks, contacts, conversations, messages, tracking) state are kept."""

import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from schemas.event_types import TYPES_DIR, built_in_types
from streams.errors import InvalidEventError
from tests.builtin_types import example, validate_payload

TYPES = {t.name: t for t in built_in_types() if t.version == 1}
ENTITY_ID = "^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$"
KEY_MAY_BE_ABSENT = {
    "lead.created",  # sent before the CRM gives the lead an id
    "whatsapp.message.status",  # a provider's status callback may not say the phone
}
PERSONAL_FORMATS = {"phone", "email", "cpf", "cep"}
PERSONAL_NAMES = {"name", "contact_name", "client_name", "title", "text", "note", "notes", "address", "tags"}


def properties(schema: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every (dotted path, schema node) of a payload schema's properties, nested objects included."""
    for name, node in schema.get("properties", {}).items():
        yield prefix + name, node
        yield from properties(node, f"{prefix}{name}.")


def objects(schema: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield schema
    for _, node in properties(schema):
        if node.get("type") == "object":
            yield node


def refusal(event_type: str, payload: Mapping[str, Any]) -> InvalidEventError:
    with pytest.raises(InvalidEventError) as raised:
        validate_payload(event_type, payload)
    return raised.value


def test_the_built_in_set_covers_the_systems_around_the_crm():
    assert set(TYPES) == {
        "lead.created", "lead.updated", "lead.stage_changed", "lead.lost", "lead.deleted", "lead.rewarded",
        "client.registered", "service.completed", "payment.received",
        "task.created", "task.completed", "task.expired",
        "notification.sent",
        "contact.created", "contact.updated",
        "conversation.started", "conversation.ended",
        "message.sent", "message.delivered", "message.read", "message.failed",
        "tracking.conversion",
        "whatsapp.message.received", "whatsapp.message.status", "whatsapp.session.status",
    }  # fmt: skip


def test_each_file_is_named_for_its_type_and_major_version():
    files = sorted(path.name for path in TYPES_DIR.glob("*.yaml"))
    assert files == sorted(f"{t.name}.v{t.version}.yaml" for t in built_in_types())


@pytest.mark.parametrize("name", sorted(TYPES))
def test_every_type_names_an_entity_key_that_its_events_must_carry(name):
    event_type = TYPES[name]
    assert event_type.entity_key is not None
    if name in KEY_MAY_BE_ABSENT:
        return
    assert event_type.entity_key in event_type.schema["required"]
    assert event_type.entity_value(example(name)) is not None


@pytest.mark.parametrize("name", sorted(TYPES))
def test_every_type_has_a_description_and_closes_each_of_its_objects(name):
    assert TYPES[name].description
    assert all(node.get("additionalProperties") is False for node in objects(TYPES[name].schema))


@pytest.mark.parametrize("name", sorted(TYPES))
def test_every_field_that_holds_personal_data_is_listed_as_such(name):
    listed = set(TYPES[name].personal_data)
    personal = {
        path
        for path, node in properties(TYPES[name].schema)
        if node.get("format") in PERSONAL_FORMATS or path.rsplit(".", 1)[-1] in PERSONAL_NAMES
    }
    unlisted = {path for path in personal if not any(path == p or path.startswith(p + ".") for p in listed)}
    assert unlisted == set()


@pytest.mark.parametrize("name", sorted(TYPES))
def test_ids_instants_and_money_follow_the_conventions(name):
    for path, node in properties(TYPES[name].schema):
        field = path.rsplit(".", 1)[-1]
        if field.endswith("_id") and not field.endswith("message_id"):  # a message id is the provider's
            assert node.get("pattern") == ENTITY_ID, path
        if field.endswith("_at"):
            assert node.get("format") == "date-time", path
        if field.endswith("_cents"):
            assert node["type"] == "integer" and (node.get("minimum", 0) >= 0 or "exclusiveMinimum" in node), path
        assert field not in {"amount", "value", "price", "total"}, f"{path}: money is integer cents, *_cents"


@pytest.mark.parametrize("name", sorted(TYPES))
def test_the_conversation_and_message_lifecycle_travels_in_the_high_lane(name):
    lifecycle = name.split(".")[0] in {"conversation", "message", "whatsapp"}
    assert (TYPES[name].lane == "high") == (lifecycle or name == "payment.received")


def test_the_new_types_name_no_public_topic():
    public = {name for name, t in TYPES.items() if t.public_topic is not None}
    assert public == {
        "lead.created", "lead.updated", "client.registered", "service.completed", "payment.received",
        "whatsapp.message.received",
    }  # fmt: skip


def test_a_conversations_messages_are_ordered_with_the_conversation():
    keys = {
        TYPES[name].entity_value(example(name)) for name in TYPES if name.split(".")[0] in {"conversation", "message"}
    }
    assert keys == {"conversation_id:CONV-2026-001234"}


@pytest.mark.parametrize(
    ("name", "field", "value"),
    [
        ("notification.sent", "channel", "fax"),
        ("message.sent", "channel", "pigeon"),
        ("message.delivered", "provider", "correios"),
        ("conversation.ended", "reason", "bored"),
        ("lead.lost", "reason", "moon"),
        ("lead.deleted", "reason", "whim"),
        ("task.created", "priority", "someday"),
    ],
)
def test_a_value_outside_an_enum_is_refused_naming_the_field_and_the_choices(name, field, value):
    error = refusal(name, example(name) | {field: value})
    assert error.field == field
    assert str(error).startswith(f"{field}: must be one of ")
    assert value not in str(error)


def test_a_message_sent_to_a_phone_is_stored_in_e164_and_its_instant_in_utc():
    payload = validate_payload(
        "message.sent", example("message.sent") | {"phone": "(11) 98765-4321", "sent_at": "2026-03-05T10:05:00-03:00"}
    )
    assert (payload["phone"], payload["sent_at"]) == ("+5511987654321", "2026-03-05T13:05:00Z")


def test_a_task_without_a_due_date_is_refused():
    task = example("task.created")
    del task["due_at"]
    assert refusal("task.created", task).field == "due_at"


def test_a_failed_message_names_the_providers_failure_code():
    failed = example("message.failed")
    del failed["failure_code"]
    assert refusal("message.failed", failed).field == "failure_code"


def test_a_reward_is_money_or_points():
    money = example("lead.rewarded")
    points = {k: v for k, v in money.items() if k != "amount_cents"} | {"points": 500}
    assert validate_payload("lead.rewarded", points)["points"] == 500
    neither = refusal("lead.rewarded", {k: v for k, v in money.items() if k != "amount_cents"})
    assert str(neither) == "amount_cents: is required unless the reward is in points"
    both = refusal("lead.rewarded", money | {"points": 500})
    assert str(both) == "amount_cents: is not allowed with points: a reward is money or points"


@pytest.mark.parametrize("cents", [-1, 12.5, "4800"])
def test_a_conversions_value_is_whole_non_negative_cents(cents):
    assert (
        refusal("tracking.conversion", example("tracking.conversion") | {"value_cents": cents}).field == "value_cents"
    )


def test_a_click_id_is_url_safe_text():
    error = refusal("tracking.conversion", example("tracking.conversion") | {"gclid": "abc def"})
    assert error.field == "gclid"


def test_a_contacts_tags_are_trimmed_and_a_null_blank_or_repeated_tag_is_refused():
    update = {"contact_id": "CT-1", "updated_at": "2026-03-05T13:00:00Z", "tags": [" vip ", "zona-sul"]}
    assert validate_payload("contact.updated", update)["tags"] == ["vip", "zona-sul"]
    assert refusal("contact.updated", update | {"tags": ["vip", None]}).field == "tags[1]"
    assert refusal("contact.updated", update | {"tags": ["vip", " "]}).field == "tags[1]"
    assert refusal("contact.updated", update | {"tags": ["vip", "vip"]}).field == "tags"


def test_a_stage_is_a_key_not_a_label():
    assert re.fullmatch(TYPES["lead.stage_changed"].schema["properties"]["to_stage"]["pattern"], "proposta_enviada")
    assert (
        refusal("lead.stage_changed", example("lead.stage_changed") | {"to_stage": "Proposta Enviada"}).field
        == "to_stage"
    )
