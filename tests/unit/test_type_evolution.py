"""A revision of a type's major version must accept every payload the current one accepts."""

import copy

import pytest

from streams.errors import IncompatibleSchemaError, InvalidEventTypeError
from streams.event_type import event_type_from_document
from streams.type_evolution import BreakingChange, breaking_changes, check_compatible, check_revision

ORDER = {
    "type": "object",
    "properties": {
        "order_id": {"type": "string", "maxLength": 64, "description": "The shop's id."},
        "amount_cents": {"type": "integer", "minimum": 0},
        "status": {"type": "string", "enum": ["open", "paid"]},
        "notes": {"type": "string", "maxLength": 500},
        "customer": {
            "type": "object",
            "properties": {"phone": {"type": "string", "format": "phone"}, "name": {"type": "string"}},
            "required": ["phone"],
            "additionalProperties": False,
        },
        "lines": {
            "type": "array",
            "maxItems": 50,
            "items": {
                "type": "object",
                "properties": {"sku": {"type": "string", "pattern": "^[A-Z0-9-]+$"}, "quantity": {"type": "integer"}},
                "required": ["sku"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["order_id", "amount_cents"],
    "additionalProperties": False,
}


def changed(edit):
    """ORDER after ``edit`` (a function changing a deep copy in place)."""
    proposed = copy.deepcopy(ORDER)
    edit(proposed)
    return proposed


def breaks(edit):
    return [str(change) for change in breaking_changes(ORDER, changed(edit))]


def props(schema, *path):
    node = schema
    for name in path:
        node = node["items"] if name == "[]" else node["properties"][name]
    return node


# What a revision may do.


def test_the_same_schema_is_compatible():
    assert breaking_changes(ORDER, copy.deepcopy(ORDER)) == []


def test_adding_an_optional_property_is_compatible():
    assert breaks(lambda s: s["properties"].update(coupon={"type": "string", "maxLength": 20})) == []


def test_adding_an_optional_property_to_a_nested_object_and_to_array_items_is_compatible():
    def edit(s):
        props(s, "customer")["properties"]["email"] = {"type": "string", "format": "email"}
        props(s, "lines", "[]")["properties"]["discount_cents"] = {"type": "integer"}

    assert breaks(edit) == []


def test_widening_an_enum_is_compatible():
    assert breaks(lambda s: props(s, "status").update(enum=["open", "paid", "refunded"])) == []


def test_loosening_limits_and_requirements_is_compatible():
    def edit(s):
        props(s, "order_id")["maxLength"] = 128
        props(s, "amount_cents")["minimum"] = -100
        props(s, "lines")["maxItems"] = 100
        del props(s, "notes")["maxLength"]
        s["required"] = ["order_id"]
        props(s, "customer")["required"] = []

    assert breaks(edit) == []


def test_editing_annotations_is_compatible():
    def edit(s):
        props(s, "order_id")["description"] = "The id the shop gave the order."
        props(s, "status")["title"] = "Status"
        s["examples"] = [{"order_id": "A-1", "amount_cents": 100}]

    assert breaks(edit) == []


def test_widening_a_type_is_compatible():
    def edit(s):
        props(s, "amount_cents")["type"] = "number"
        props(s, "notes")["type"] = ["string", "null"]

    assert breaks(edit) == []


def test_dropping_a_pattern_format_or_enum_is_compatible():
    def edit(s):
        del props(s, "lines", "[]", "sku")["pattern"]
        del props(s, "customer", "phone")["format"]
        del props(s, "status")["enum"]

    assert breaks(edit) == []


def test_opening_a_closed_object_is_compatible():
    assert breaks(lambda s: s.update(additionalProperties=True)) == []


# What needs a new major version, each named by its field.


def test_a_changed_type_is_named_with_both_types():
    assert breaks(lambda s: props(s, "amount_cents").update(type="string")) == [
        "amount_cents: type changed from integer to string"
    ]


def test_narrowing_a_number_to_an_integer_breaks():
    widened = changed(lambda s: props(s, "amount_cents").update(type="number"))
    assert [str(c) for c in breaking_changes(widened, ORDER)] == ["amount_cents: type changed from number to integer"]


def test_a_removed_property_breaks():
    assert breaks(lambda s: s["properties"].pop("notes")) == ["notes: removed"]


def test_an_optional_property_that_becomes_required_breaks():
    assert breaks(lambda s: s["required"].append("notes")) == ["notes: became required"]


def test_a_new_required_property_breaks():
    def edit(s):
        s["properties"]["currency"] = {"type": "string"}
        s["required"].append("currency")

    assert breaks(edit) == ["currency: is a new required field"]


def test_a_removed_enum_value_is_named():
    assert breaks(lambda s: props(s, "status").update(enum=["open"])) == ["status: enum value 'paid' removed"]


def test_an_enum_added_to_a_free_field_breaks():
    assert breaks(lambda s: props(s, "notes").update(enum=["a", "b"])) == ["notes: enum added"]


def test_a_narrowed_max_length_names_both_limits():
    assert breaks(lambda s: props(s, "order_id").update(maxLength=32)) == ["order_id: maxLength narrowed from 64 to 32"]


def test_a_raised_minimum_and_a_new_limit_break():
    def edit(s):
        props(s, "amount_cents")["minimum"] = 1
        props(s, "notes")["minLength"] = 1

    assert breaks(edit) == ["amount_cents: minimum raised from 0 to 1", "notes: minLength added"]


def test_closing_an_open_object_breaks():
    opened = changed(lambda s: props(s, "customer").pop("additionalProperties"))
    assert [str(c) for c in breaking_changes(opened, ORDER)] == ["customer: additionalProperties now false"]


def test_a_change_to_the_payload_itself_is_named_payload():
    opened = changed(lambda s: s.pop("additionalProperties"))
    assert [str(c) for c in breaking_changes(opened, ORDER)] == ["payload: additionalProperties now false"]


def test_a_typed_property_added_to_an_open_object_breaks():
    opened = changed(lambda s: s.pop("additionalProperties"))
    proposed = copy.deepcopy(opened)
    proposed["properties"]["coupon"] = {"type": "string"}
    assert [str(c) for c in breaking_changes(opened, proposed)] == ["coupon: type now restricted to string"]


def test_a_changed_or_added_pattern_or_format_breaks():
    def edit(s):
        props(s, "lines", "[]", "sku")["pattern"] = "^[A-Z]+$"
        props(s, "customer", "name")["format"] = "email"

    assert breaks(edit) == ["customer.name: format added", "lines[].sku: pattern changed"]


def test_changes_inside_nested_objects_and_array_items_are_named_by_dotted_path():
    def edit(s):
        props(s, "customer", "phone")["type"] = "integer"
        props(s, "lines", "[]")["required"] = ["sku", "quantity"]
        props(s, "lines", "[]", "quantity")["maximum"] = 1000

    assert breaks(edit) == [
        "customer.phone: type changed from string to integer",
        "lines[].quantity: maximum added",
        "lines[].quantity: became required",
    ]


def test_an_array_that_becomes_an_object_is_one_change_not_one_per_keyword():
    assert breaks(lambda s: props(s, "lines").update(type="object")) == ["lines: type changed from array to object"]


def test_a_changed_composition_is_breaking_because_it_cannot_be_shown_compatible():
    def edit(s):
        props(s, "notes")["anyOf"] = [{"maxLength": 10}, {"pattern": "^x"}]

    assert breaks(edit) == ["notes: anyOf added; crmbus cannot show the new schema still accepts what the old one did"]


def test_a_fractional_multiple_of_must_stay_as_it_is_but_a_divisor_of_an_integer_step_widens():
    assert breaks(lambda s: props(s, "amount_cents").update(multipleOf=5)) == ["amount_cents: multipleOf added"]
    stepped = changed(lambda s: props(s, "amount_cents").update(multipleOf=10))
    coarser = changed(lambda s: props(s, "amount_cents").update(multipleOf=5))
    assert breaking_changes(stepped, coarser) == []
    assert [str(c) for c in breaking_changes(coarser, stepped)] == ["amount_cents: multipleOf changed from 5 to 10"]


def test_a_property_schema_of_false_refuses_what_was_accepted():
    assert breaks(lambda s: s["properties"].update(notes=False)) == ["notes: no longer accepts any value"]


def test_each_change_is_a_path_and_a_reason():
    assert breaking_changes(ORDER, changed(lambda s: s["properties"].pop("notes"))) == [
        BreakingChange(path="notes", reason="removed")
    ]


def test_check_compatible_raises_naming_the_first_field_and_the_next_major_version():
    def edit(s):
        props(s, "amount_cents")["type"] = "string"
        s["properties"].pop("notes")

    with pytest.raises(IncompatibleSchemaError) as raised:
        check_compatible(ORDER, changed(edit), subject="pedido.criado v1", next_version=2)
    assert raised.value.field == "amount_cents"
    message = str(raised.value)
    assert message.startswith("pedido.criado v1: the new schema breaks it")
    assert "amount_cents: type changed from integer to string; notes: removed" in message
    assert "register the change as version 2 instead" in message
    assert isinstance(raised.value, InvalidEventTypeError)


def test_check_compatible_accepts_a_compatible_revision():
    proposed = changed(lambda s: s["properties"].update(coupon={"type": "string"}))
    assert check_compatible(ORDER, proposed, subject="pedido.criado v1", next_version=2) is None


SESSION = {
    "name": "sessao.encerrada",
    "version": 1,
    "lane": "default",
    "entity_key": "sessao_id",
    "schema": {
        "type": "object",
        "properties": {
            "sessao_id": {"type": "string"},
            "canal": {"type": "string"},
            "started_at": {"type": "string", "format": "date-time"},
            "ended_at": {"type": "string", "format": "date-time"},
        },
        "required": ["sessao_id"],
        "additionalProperties": False,
    },
}


def session_type(**changes):
    return event_type_from_document({**copy.deepcopy(SESSION), **changes}, tenant_id="acme")


def test_a_revision_may_change_the_lane_description_and_personal_data():
    proposed = session_type(lane="high", description="A chat session ended.", personal_data=["canal"])
    assert check_revision(session_type(), proposed, next_version=2) is None


def test_a_revision_may_not_move_the_entity_key():
    with pytest.raises(IncompatibleSchemaError) as raised:
        check_revision(session_type(), session_type(entity_key="canal"), next_version=2)
    assert raised.value.field == "entity_key"
    assert "register the change as version 2 instead" in str(raised.value)


def test_a_revision_may_not_add_a_cross_field_rule_but_may_drop_one():
    ruled = session_type(rules=[{"later": "ended_at", "than": "started_at"}])
    with pytest.raises(IncompatibleSchemaError) as raised:
        check_revision(session_type(), ruled, next_version=2)
    assert raised.value.field == "rules[0]"
    assert check_revision(ruled, session_type(), next_version=2) is None


def test_check_revision_checks_the_schema_first():
    narrowed = copy.deepcopy(SESSION["schema"])
    narrowed["required"] = ["sessao_id", "canal"]
    with pytest.raises(IncompatibleSchemaError) as raised:
        check_revision(session_type(), session_type(schema=narrowed), next_version=3)
    assert raised.value.field == "canal"
    assert "sessao.encerrada v1: the new schema breaks it (canal: became required)" in str(raised.value)
