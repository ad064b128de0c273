import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.errors import InvalidEventError
from tests.builtin_types import CATALOGUE, validate_payload

SCHEMAS = {t.name: t.schema for t in CATALOGUE.types() if t.version == 1}


def lead(**overrides):
    return {"name": "Maria Souza", "phone": "11 98765-4321", "channel": "site", **overrides}


def service(**overrides):
    fields = {
        "service_id": "AT-1",
        "client_id": "CL-1",
        "caregiver_id": "PR-1",
        "service_type": "caregiver",
        "started_at": "2026-03-05T19:00:00-03:00",
        "ended_at": "2026-03-06T07:00:00-03:00",
    }
    return {**fields, **overrides}


def payment(**overrides):
    fields = {"payment_id": "PG-1", "client_id": "CL-1", "amount_cents": 125000, "paid_at": "2026-03-05T10:00:00Z"}
    return {**fields, "method": "pix", **overrides}


def message(**overrides):
    fields = {"provider": "zapi", "instance": "i-1", "message_id": "3EB0", "phone": "+5511987654321"}
    return {**fields, "kind": "text", "text": "Oi", **overrides}


def refusal(event_type, payload):
    with pytest.raises(InvalidEventError) as raised:
        validate_payload(event_type, payload)
    return raised.value


def test_the_catalogue_holds_the_canonical_types():
    assert set(SCHEMAS) >= {
        "lead.created",
        "lead.updated",
        "client.registered",
        "service.completed",
        "payment.received",
        "whatsapp.message.received",
        "whatsapp.message.status",
        "whatsapp.session.status",
    }


@pytest.mark.parametrize("event_type", sorted(SCHEMAS))
def test_every_type_has_an_example_that_is_already_normalised(event_type):
    example = CATALOGUE.get("spec-tenant", event_type).example
    assert example is not None
    assert validate_payload(event_type, example) == example


def test_an_unknown_type_is_refused_on_the_type_field_without_repeating_it():
    error = refusal("lead.exploded", lead())
    assert error.field == "type"
    assert "exploded" not in str(error)


def test_a_payload_is_normalised_for_json():
    payload = validate_payload("lead.created", lead(name="  Maria Souza ", email="Maria@Example.COM.br"))
    assert payload == {
        "name": "Maria Souza",
        "phone": "+5511987654321",
        "email": "maria@example.com.br",
        "channel": "site",
    }
    assert json.loads(json.dumps(payload)) == payload


def test_datetimes_become_utc_iso_strings():
    payload = validate_payload("service.completed", service())
    assert (payload["started_at"], payload["ended_at"]) == ("2026-03-05T22:00:00Z", "2026-03-06T10:00:00Z")


def test_a_datetime_without_offset_is_refused():
    assert refusal("service.completed", service(started_at="2026-03-05T19:00:00")).field == "started_at"


def test_optional_fields_that_are_null_are_left_out():
    assert "email" not in validate_payload("lead.created", lead(email=None))


def test_unknown_keys_are_refused_by_name():
    error = refusal("lead.created", lead(cpf="52998224725"))
    assert error.field == "cpf"
    assert "52998224725" not in str(error)


def test_a_nested_error_names_the_dotted_path():
    address = {"street": "Av. Ibirapuera", "number": "2120", "city": "São Paulo", "state": "SP", "zip": "0402-001"}
    client = {"client_id": "CL-1", "name": "Maria", "phone": "11987654321", "address": address}
    error = refusal("client.registered", client)
    assert error.field == "address.zip"
    assert str(error).startswith("address.zip: ")


def test_the_first_offending_field_is_the_one_reported():
    assert refusal("lead.created", lead(phone="123", email="not-an-email")).field == "phone"


def test_a_payload_that_is_not_an_object_is_refused_as_a_whole():
    error = refusal("lead.created", ["Maria"])
    assert (error.field, str(error)) == (None, "payload: must be a JSON object")


@pytest.mark.parametrize(
    ("event_type", "payload", "field", "value"),
    [
        ("lead.created", lead(phone="11 88765-4321"), "phone", "88765"),
        ("lead.created", lead(email="maria.souza@@example"), "email", "maria.souza"),
        ("lead.created", lead(name="x" * 201), "name", "x" * 201),
        (
            "client.registered",
            {"client_id": "CL-1", "name": "M", "phone": "11987654321", "cpf": "529.982.247-26"},
            "cpf",
            "247",
        ),
        ("lead.updated", {"lead_id": "LD 42 Maria"}, "lead_id", "Maria"),
    ],
)
def test_error_messages_name_the_field_and_rule_but_never_the_value(event_type, payload, field, value):
    error = refusal(event_type, payload)
    assert error.field == field
    assert str(error).startswith(f"{field}: ")
    assert value not in str(error)


def test_a_refusal_does_not_chain_the_validation_error_that_quotes_the_input():
    error = refusal("lead.created", lead(phone="11 88765-4321"))
    assert error.__cause__ is None
    assert error.__suppress_context__


def refusal_message(event_type, payload):
    try:
        validate_payload(event_type, payload)
    except InvalidEventError as exc:
        return str(exc)
    return ""


@given(st.from_regex(r"[0-9]{6,14}", fullmatch=True))
def test_no_phone_refusal_repeats_the_digits(digits):
    assert digits not in refusal_message("lead.created", lead(phone=digits))


def test_a_service_may_name_the_client_to_notify_with_the_phone_in_e164():
    payload = validate_payload("service.completed", service(client_name="Maria Souza", client_phone="(11) 98765-4321"))
    assert (payload["client_name"], payload["client_phone"]) == ("Maria Souza", "+5511987654321")
    assert "client_phone" not in validate_payload("service.completed", service())


def test_a_service_must_end_after_it_starts():
    error = refusal("service.completed", service(ended_at="2026-03-05T18:00:00-03:00"))
    assert (error.field, str(error)) == ("ended_at", "ended_at: must be later than started_at")


# The first was found by schemathesis: a datetime at year 1 overflowed Python's range and was a 500.
@pytest.mark.parametrize(
    "moment",
    ["0001-01-01T01:02:00Z", "0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00", "1969-12-31T23:59:59Z", "2200-01-01T00:00:00Z"],
)  # fmt: skip
def test_an_instant_outside_1970_to_2199_is_refused_by_name(moment):
    error = refusal("service.completed", service(started_at="2026-03-05T19:00:00Z", ended_at=moment))
    assert (error.field, str(error)) == ("ended_at", "ended_at: must be between 1970-01-01 and 2199-12-31 (UTC)")


def test_the_last_instant_of_2199_is_accepted():
    payload = validate_payload("service.completed", service(ended_at="2199-12-31T23:59:59-00:00"))
    assert payload["ended_at"] == "2199-12-31T23:59:59Z"


@pytest.mark.parametrize("amount", ["125000", 1250.5, 0, -100])
def test_an_amount_is_a_positive_integer_of_cents(amount):
    assert refusal("payment.received", payment(amount_cents=amount)).field == "amount_cents"


def test_only_brazilian_reais_are_accepted():
    assert refusal("payment.received", payment(currency="USD")).field == "currency"


def test_installments_are_only_for_card_payments():
    assert refusal("payment.received", payment(installments=3)).field == "installments"
    assert validate_payload("payment.received", payment(method="card", installments=3))["installments"] == 3


def test_a_cpf_is_kept_as_digits_once_its_check_digits_match():
    client = {"client_id": "CL-1", "name": "M", "phone": "11987654321", "cpf": "529.982.247-25"}
    assert validate_payload("client.registered", client)["cpf"] == "52998224725"


def test_a_text_message_needs_text():
    assert refusal("whatsapp.message.received", message(text=None)).field == "text"


def test_only_media_messages_carry_media():
    error = refusal("whatsapp.message.received", message(media={"mime_type": "image/jpeg"}))
    assert error.field == "media"


def test_json_schemas_describe_every_type_self_contained():
    assert all("$ref" not in json.dumps(schema) and "$defs" not in schema for schema in SCHEMAS.values())
    client = SCHEMAS["client.registered"]
    assert client["additionalProperties"] is False
    assert "zip" in client["properties"]["address"]["properties"]


@pytest.mark.parametrize(
    ("event_type", "change", "field"),
    [
        ("payment.received", {"paid_at": 0}, "paid_at"),
        ("payment.received", {"amount_cents": True}, "amount_cents"),
        ("lead.created", {"marketing_consent": 1}, "marketing_consent"),
        ("lead.created", {"marketing_consent": "true"}, "marketing_consent"),
        ("lead.created", {"name": "   "}, "name"),
    ],
)
def test_types_are_as_strict_as_the_json_schema_says(event_type, change, field):
    base = payment() if event_type == "payment.received" else lead()
    assert refusal(event_type, base | change).field == field


def test_an_integral_float_is_an_integer_as_json_schema_says():
    assert validate_payload("payment.received", payment(amount_cents=1250.0))["amount_cents"] == 1250


def test_the_json_schema_states_the_cross_field_rules_and_the_formats():
    assert SCHEMAS["lead.created"]["properties"]["phone"]["format"] == "phone"
    assert SCHEMAS["payment.received"]["then"]["properties"]["installments"]["not"] == {}
    assert len(SCHEMAS["whatsapp.message.received"]["allOf"]) == 2


def test_a_rule_the_schema_states_is_reported_in_its_own_words():
    error = refusal("payment.received", payment(installments=3))
    assert str(error) == "installments: is allowed only when method is card"
