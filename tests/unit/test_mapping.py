import copy
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.errors import InvalidRouteError, MappingError
from streams.mapping import FORMATS, compile_mapping
from tests.builtin_types import example, paths

LEAD = example("lead.created")
CLIENT = example("client.registered")
SERVICE = {**example("service.completed"), "ended_at": "2026-03-06T02:30:00Z"}
MESSAGE = example("whatsapp.message.received")
PAYMENT = example("payment.received")
META = {
    "id": "0b6f7c1e-3d7a-4c1a-9a51-2f0e8c1d9b10",
    "type": "lead.created",
    "tenant_id": "cuidar-sp",
    "source": "site",
    "occurred_at": "2026-03-05T13:42:13Z",
    "correlation_id": None,
}


def apply(spec, payload, meta=META, event_type=None):
    return compile_mapping(spec, paths=None if event_type is None else paths(event_type)).apply(payload, meta)


def formatted(format_name, value):
    return apply({"fields": {"out": {"from": "value", "format": format_name}}}, {"value": value})["out"]


def mapping_error(spec, payload, meta=META):
    with pytest.raises(MappingError) as raised:
        apply(spec, payload, meta)
    return raised.value


def refusal(spec, event_type=None):
    with pytest.raises(InvalidRouteError) as raised:
        compile_mapping(spec, paths=None if event_type is None else paths(event_type))
    return raised.value


def test_a_zapi_text_message_for_a_new_lead():
    spec = {
        "fields": {
            "phone": {"from": "phone", "format": "phone_digits"},
            "message": {"template": "Olá {name|first_name}, recebemos seu contato pelo {channel}."},
        }
    }
    assert apply(spec, LEAD, event_type="lead.created") == {
        "phone": "5511987654321",
        "message": "Olá Maria, recebemos seu contato pelo site.",
    }


def test_a_waha_reply_to_a_received_message():
    spec = {
        "fields": {
            "chatId": {"from": "phone", "format": "whatsapp_chat_id"},
            "reply_to": {"from": "message_id"},
            "text": {"const": "Recebemos sua mensagem, já respondemos."},
            "session": {"const": "default"},
        }
    }
    assert apply(spec, MESSAGE, event_type="whatsapp.message.received") == {
        "chatId": "5511987654321@c.us",
        "reply_to": "3EB0C767D097B7C7C030",
        "text": "Recebemos sua mensagem, já respondemos.",
        "session": "default",
    }


def test_dotted_output_paths_build_nested_objects_from_payload_and_envelope():
    spec = {
        "fields": {
            "customer.name": {"from": "name", "format": "upper"},
            "customer.address.city": {"from": "address.city"},
            "customer.address.uf": {"from": "address.state"},
            "external_id": {"from": "$event.id"},
            "tenant": {"from": "$event.tenant_id"},
        }
    }
    assert apply(spec, CLIENT, event_type="client.registered") == {
        "customer": {"name": "MARIA APARECIDA SOUZA", "address": {"city": "São Paulo", "uf": "SP"}},
        "external_id": "0b6f7c1e-3d7a-4c1a-9a51-2f0e8c1d9b10",
        "tenant": "cuidar-sp",
    }


def test_an_empty_mapping_is_the_payload_as_it_is_in_a_new_object():
    body = apply({}, CLIENT)
    assert body == CLIENT
    assert body is not CLIENT
    assert body["address"] is not CLIENT["address"]


def test_without_fields_the_payload_is_included_so_drop_alone_removes_fields():
    body = apply({"drop": ["cpf", "address.zip", "address.complement", "email"]}, CLIENT)
    assert "cpf" not in body
    assert "email" not in body
    assert body["address"] == {
        "street": "Avenida Ibirapuera",
        "number": "2120",
        "neighborhood": "Moema",
        "city": "São Paulo",
        "state": "SP",
    }


def test_with_fields_only_the_fields_are_in_the_output_by_default():
    assert apply({"fields": {"id": {"from": "client_id"}}}, CLIENT) == {"id": "CL-000045"}


def test_including_the_payload_then_dropping_then_setting_fields():
    spec = {
        "include": "payload",
        "drop": ["cpf", "phone", "address"],
        "fields": {"phone": {"from": "phone", "format": "phone_digits"}, "city": {"from": "address.city"}},
    }
    assert apply(spec, CLIENT, event_type="client.registered") == {
        "client_id": "CL-000045",
        "name": "Maria Aparecida Souza",
        "phone": "5511987654321",
        "email": "maria.souza@example.com.br",
        "lead_id": "LD-2026-0042",
        "city": "São Paulo",
    }


def test_dropping_a_path_that_is_not_there_changes_nothing():
    assert apply({"drop": ["address.zip", "cpf.digits"]}, LEAD) == LEAD


def test_a_dotted_output_path_replaces_a_non_object_value_in_its_way():
    body = apply({"include": "payload", "fields": {"name.first": {"from": "name", "format": "first_name"}}}, LEAD)
    assert body["name"] == {"first": "Maria"}


def test_applying_never_changes_the_payload_nor_shares_objects_with_it():
    payload = copy.deepcopy(CLIENT)
    spec = {
        "include": "payload",
        "drop": ["address.zip"],
        "fields": {"address.city": {"const": "Santos"}, "copy": {"from": "address"}},
    }
    body = apply(spec, payload)
    assert payload == CLIENT
    body["copy"]["city"] = "Campinas"
    assert payload == CLIENT


def test_a_const_object_is_a_fresh_copy_in_every_output():
    mapping = compile_mapping({"fields": {"tags": {"const": ["lead", "site"]}}})
    mapping.apply(LEAD, META)["tags"].append("changed")
    assert mapping.apply(LEAD, META) == {"tags": ["lead", "site"]}


def test_a_mapping_keeps_a_copy_of_its_spec_for_display():
    spec = {"fields": {"phone": {"from": "phone"}}}
    mapping = compile_mapping(spec)
    spec["fields"]["phone"]["format"] = "phone_digits"
    assert mapping.spec == {"fields": {"phone": {"from": "phone"}}}
    assert mapping.apply(LEAD, META) == {"phone": "+5511987654321"}


def test_a_missing_source_uses_the_default_as_written():
    spec = {"fields": {"email": {"from": "email", "default": "sem-email", "format": "upper"}}}
    assert apply(spec, {"email": None}) == {"email": "sem-email"}
    assert apply(spec, {}) == {"email": "sem-email"}


def test_a_missing_optional_source_leaves_the_field_out():
    spec = {"fields": {"name": {"from": "name"}, "email": {"from": "email", "optional": True}}}
    assert apply(spec, {"name": "Maria Souza"}) == {"name": "Maria Souza"}


def test_a_missing_required_source_is_a_mapping_error_naming_the_output_and_source():
    error = mapping_error({"fields": {"contact.email": {"from": "email"}}}, {"name": "Maria Souza"})
    assert error.field == "contact.email"
    assert str(error) == "contact.email: source field email is missing"


def test_a_missing_envelope_field_is_a_mapping_error_too():
    error = mapping_error({"fields": {"trace": {"from": "$event.correlation_id"}}}, LEAD)
    assert error.field == "trace"
    assert "$event.correlation_id" in str(error)


def test_a_template_with_a_missing_placeholder_is_a_mapping_error_unless_optional():
    template = "Seu atendimento terminou às {ended_at|time_br}. {notes}"
    error = mapping_error({"fields": {"message": {"template": template}}}, SERVICE)
    assert error.field == "message"
    assert "notes" in str(error)
    assert apply({"fields": {"message": {"template": template, "optional": True}}}, SERVICE) == {}


def test_a_template_renders_envelope_fields_numbers_booleans_and_literal_braces():
    spec = {"fields": {"text": {"template": "{{{$event.source}}} {amount_cents} {edited}"}}}
    assert apply(spec, {"amount_cents": 125000, "edited": False}) == {"text": "{site} 125000 false"}


def test_a_template_placeholder_of_an_object_is_a_mapping_error():
    error = mapping_error({"fields": {"text": {"template": "Origem: {campaign}"}}}, LEAD)
    assert error.field == "text"
    assert "google" not in str(error)


def test_a_service_summary_in_sao_paulo_time():
    spec = {
        "fields": {
            "message": {
                "template": "Atendimento {service_id} de {started_at|date_br} {started_at|time_br} "
                "a {ended_at|date_br} {ended_at|time_br}."
            },
            "ended_on": {"from": "ended_at", "format": "date"},
        }
    }
    assert apply(spec, SERVICE, event_type="service.completed") == {
        "message": "Atendimento AT-2026-000123 de 05/03/2026 19:00 a 05/03/2026 23:30.",
        "ended_on": "2026-03-05",
    }


def test_formats_take_datetime_objects_from_meta():
    meta = {**META, "occurred_at": datetime(2026, 3, 6, 1, 15, tzinfo=UTC)}
    spec = {"fields": {"when": {"template": "{$event.occurred_at|date_br} {$event.occurred_at|time_br}"}}}
    assert apply(spec, LEAD, meta=meta) == {"when": "05/03/2026 22:15"}


def test_the_formats_are_the_documented_ones():
    assert set(FORMATS) == {
        "phone_e164",
        "phone_digits",
        "whatsapp_chat_id",
        "date",
        "date_br",
        "datetime",
        "time_br",
        "upper",
        "lower",
        "title",
        "first_name",
        "string",
        "cents_to_decimal",
        "cents_to_brl",
    }


@pytest.mark.parametrize(
    ("format_name", "value", "expected"),
    [
        ("phone_e164", "+5511987654321", "+5511987654321"),
        ("phone_e164", "5511987654321", "+5511987654321"),
        ("phone_e164", "11 98765-4321", "+5511987654321"),
        ("phone_e164", 5511987654321, "+5511987654321"),
        ("phone_e164", "+351912345678", "+351912345678"),
        ("phone_digits", "+5511987654321", "5511987654321"),
        ("phone_digits", "+552132221000", "552132221000"),
        ("whatsapp_chat_id", "+5511987654321", "5511987654321@c.us"),
        ("date", "2026-03-05T13:42:13Z", "2026-03-05"),
        ("date", "2026-03-06T02:30:00Z", "2026-03-05"),
        ("date", "2026-03-05", "2026-03-05"),
        ("date_br", "2026-03-05T13:42:13Z", "05/03/2026"),
        ("date_br", "2026-03-06T02:30:00Z", "05/03/2026"),
        ("date_br", "2026-03-06T03:00:00Z", "06/03/2026"),
        ("date_br", "2026-12-31", "31/12/2026"),
        ("time_br", "2026-03-05T13:42:13Z", "10:42"),
        ("time_br", "2026-03-06T02:30:00Z", "23:30"),
        ("time_br", "2026-03-06T03:00:00Z", "00:00"),
        ("datetime", "2026-03-06T02:30:00Z", "2026-03-06T02:30:00Z"),
        ("datetime", "2026-03-05T23:30:00-03:00", "2026-03-06T02:30:00Z"),
        ("datetime", "2026-03-05T13:42:13.987654+00:00", "2026-03-05T13:42:13Z"),
        ("upper", "Maria Aparecida", "MARIA APARECIDA"),
        ("lower", "MARIA.SOUZA@EXAMPLE.COM.BR", "maria.souza@example.com.br"),
        ("title", "MARIA APARECIDA DA SILVA E SOUZA", "Maria Aparecida da Silva e Souza"),
        ("title", "  joão   dos santos ", "João dos Santos"),
        ("title", "ana-clara d'ávila", "Ana-Clara D'ávila"),
        ("title", "de souza", "De Souza"),
        ("first_name", "maria aparecida souza", "Maria"),
        ("first_name", "  JOÃO PEDRO", "João"),
        ("string", "Boa tarde!", "Boa tarde!"),
        ("string", 125000, "125000"),
        ("string", 2.5, "2.5"),
        ("string", True, "true"),
        ("cents_to_decimal", 1250, "12.50"),
        ("cents_to_decimal", 5, "0.05"),
        ("cents_to_decimal", 0, "0.00"),
        ("cents_to_decimal", -1250, "-12.50"),
        ("cents_to_brl", 1250, "R$ 12,50"),
        ("cents_to_brl", 123456, "R$ 1.234,56"),
        ("cents_to_brl", 125000, "R$ 1.250,00"),
        ("cents_to_brl", 100000000000, "R$ 1.000.000.000,00"),
        ("cents_to_brl", 7, "R$ 0,07"),
        ("cents_to_brl", -1250, "-R$ 12,50"),
    ],
)
def test_each_format(format_name, value, expected):
    assert formatted(format_name, value) == expected


@pytest.mark.parametrize(
    ("format_name", "value", "secret"),
    [
        ("phone_digits", "Meu número é 11 98765-4321", "98765"),
        ("phone_e164", "11 88765-4321", "88765"),
        ("whatsapp_chat_id", ["+5511987654321"], "5511987654321"),
        ("date_br", "Maria Souza", "Maria"),
        ("date", "2026-02-30T10:00:00Z", "2026-02-30"),
        ("time_br", "2026-03-05T10:00:00", "2026-03-05"),
        ("datetime", 1772718133, "1772718133"),
        ("upper", 11987654321, "11987654321"),
        ("first_name", {"name": "Maria Souza"}, "Maria"),
        ("string", {"cpf": "52998224725"}, "52998224725"),
        ("cents_to_decimal", "12.50", "12.50"),
        ("cents_to_brl", 1250.0, "1250"),
        ("cents_to_brl", True, "True"),
    ],
)
def test_a_value_a_format_cannot_convert_is_a_mapping_error_that_never_repeats_the_value(format_name, value, secret):
    error = mapping_error({"fields": {"out": {"from": "value", "format": format_name}}}, {"value": value})
    assert error.field == "out"
    assert str(error).startswith(f"out: format {format_name} ")
    assert secret not in str(error)
    assert error.__cause__ is None


def test_a_first_name_needs_a_word():
    error = mapping_error({"fields": {"greeting": {"from": "value", "format": "first_name"}}}, {"value": "   "})
    assert error.field == "greeting"


@pytest.mark.parametrize(
    ("spec", "event_type", "field"),
    [
        (["phone"], None, "mapping"),
        ({"fields": {"a": {"const": 1}}, "body": {}}, None, "mapping.body"),
        ({"fields": ["phone"]}, None, "mapping.fields"),
        ({"fields": {}}, None, "mapping.fields"),
        ({"include": "none"}, None, "mapping.fields"),
        ({"include": "all", "fields": {"a": {"const": 1}}}, None, "mapping.include"),
        ({"fields": {"a": {"const": 1}}, "drop": ["cpf"]}, None, "mapping.drop"),
        ({"drop": "cpf"}, None, "mapping.drop"),
        ({"drop": ["address.zip", "cpf..digits"]}, None, "mapping.drop[1]"),
        ({"drop": ["$event.id"]}, None, "mapping.drop[0]"),
        ({"drop": ["cpf"]}, "lead.created", "mapping.drop[0]"),
        ({"fields": {"message": "Olá"}}, None, "mapping.fields.message"),
        ({"fields": {"message": {}}}, None, "mapping.fields.message"),
        ({"fields": {"message": {"from": "name", "const": "Olá"}}}, None, "mapping.fields.message"),
        ({"fields": {"message": {"from": "name", "template": "Olá"}}}, None, "mapping.fields.message"),
        ({"fields": {"phone": {"from": "phone", "format": "e164"}}}, None, "mapping.fields.phone.format"),
        ({"fields": {"phone": {"from": "phone", "fmt": "phone_digits"}}}, None, "mapping.fields.phone.fmt"),
        ({"fields": {"phone": {"from": "phone", "optional": "yes"}}}, None, "mapping.fields.phone.optional"),
        ({"fields": {"phone": {"from": "phone", "default": "", "optional": True}}}, None, "mapping.fields.phone"),
        ({"fields": {"phone": {"from": "telefone"}}}, "lead.created", "mapping.fields.phone.from"),
        ({"fields": {"phone": {"from": 1}}}, None, "mapping.fields.phone.from"),
        ({"fields": {"id": {"from": "$event.key"}}}, None, "mapping.fields.id.from"),
        ({"fields": {"message": {"template": "Olá {name"}}}, None, "mapping.fields.message.template"),
        ({"fields": {"message": {"template": "Olá } {name}"}}}, None, "mapping.fields.message.template"),
        ({"fields": {"message": {"template": "Olá {name!r}"}}}, None, "mapping.fields.message.template"),
        ({"fields": {"message": {"template": "Olá {name:>10}"}}}, None, "mapping.fields.message.template"),
        ({"fields": {"message": {"template": "Olá {name|shout}"}}}, None, "mapping.fields.message.template"),
        ({"fields": {"message": {"template": "Olá {name|}"}}}, None, "mapping.fields.message.template"),
        ({"fields": {"message": {"template": "Olá {nome}"}}}, "lead.created", "mapping.fields.message.template"),
        ({"fields": {"message": {"template": "Olá {}"}}}, None, "mapping.fields.message.template"),
        ({"fields": {"message": {"template": 42}}}, None, "mapping.fields.message.template"),
        ({"fields": {"message": {"const": "Olá", "optional": True}}}, None, "mapping.fields.message.optional"),
        (
            {"fields": {"customer": {"const": {}}, "customer.name": {"from": "name"}}},
            None,
            "mapping.fields.customer.name",
        ),
        ({"fields": {"customer..name": {"from": "name"}}}, None, "mapping.fields.customer..name"),
        ({"fields": {"": {"const": 1}}}, None, "mapping.fields."),
    ],
)
def test_an_invalid_mapping_is_refused_naming_where(spec, event_type, field):
    error = refusal(spec, event_type)
    assert error.field == field
    assert str(error).startswith(f"{field}: ")


def test_a_refusal_never_repeats_a_value_of_the_mapping():
    error = refusal({"fields": {"phone": {"from": "phone", "format": "+5511987654321"}}})
    assert "5511987654321" not in str(error)


@given(st.integers(min_value=-(10**13), max_value=10**13))
def test_cents_to_decimal_is_exactly_the_amount_in_reais(cents):
    assert Decimal(formatted("cents_to_decimal", cents)) * 100 == cents


@given(st.integers(min_value=0, max_value=10**13))
def test_cents_to_brl_reads_back_as_the_same_amount(cents):
    text = formatted("cents_to_brl", cents)
    written = re.fullmatch(r"R\$ (\d{1,3}(?:\.\d{3})*),(\d{2})", text)
    assert written is not None
    assert int(written[1].replace(".", "")) * 100 + int(written[2]) == cents


@given(st.integers(min_value=1, max_value=10**13))
def test_a_negative_amount_in_brl_is_the_positive_one_with_a_minus_sign(cents):
    assert formatted("cents_to_brl", -cents) == "-" + formatted("cents_to_brl", cents)


offsets = st.sampled_from([UTC, ZoneInfo("America/Sao_Paulo"), timezone(timedelta(hours=5, minutes=30))])


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=offsets))
def test_datetime_is_the_same_instant_in_utc_to_the_second(moment):
    written = moment.isoformat()
    text = formatted("datetime", written)
    assert text.endswith("Z")
    assert datetime.fromisoformat(text) == datetime.fromisoformat(written).replace(microsecond=0)


# Brazil has had no daylight saving time since 2019, so every São Paulo wall-clock time is unambiguous.
@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_date_br_and_time_br_together_name_the_instant_in_sao_paulo(moment):
    written = moment.isoformat()
    local = datetime.strptime(formatted("date_br", written) + " " + formatted("time_br", written), "%d/%m/%Y %H:%M")
    assert local.replace(tzinfo=ZoneInfo("America/Sao_Paulo")) == moment.replace(second=0, microsecond=0)
