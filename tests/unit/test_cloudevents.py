from datetime import UTC, datetime

import pytest

from streams.cloudevents import MAX_ID_LENGTH, MAX_SOURCE_LENGTH, as_attribute_error, request_from_cloudevent
from streams.errors import InvalidEventError
from streams.inbound import envelope_from_request
from tests.builtin_types import CATALOGUE

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LEAD = {"name": "Ana Souza", "phone": "+55 11 99999-0000", "channel": "site"}


def cloudevent(**attributes):
    event = {
        "specversion": "1.0",
        "id": "A-1",
        "source": "https://erp.example.com/leads",
        "type": "lead.created",
        "data": LEAD,
    }
    return {**event, **attributes}


def refusal(event):
    with pytest.raises(InvalidEventError) as raised:
        request_from_cloudevent(event)
    return raised.value


def envelope(event):
    """As the ingress builds it: the generic request's errors renamed after the attributes."""
    try:
        return envelope_from_request(
            request_from_cloudevent(event), tenant_id="acme", source="api", catalogue=CATALOGUE, now=NOW
        )
    except InvalidEventError as exc:
        raise as_attribute_error(exc) from exc


def test_the_attributes_map_onto_the_generic_request():
    event = cloudevent(time="2026-11-20T09:00:00-03:00", subject="lead:L-1", correlationid="checkout-9")
    assert request_from_cloudevent(event) == {
        "type": "lead.created",
        "payload": LEAD,
        "idempotency_key": "https://erp.example.com/leads A-1",
        "occurred_at": "2026-11-20T09:00:00-03:00",
        "ordering_key": "lead:L-1",
        "correlation_id": "checkout-9",
    }


def test_a_cloudevent_becomes_the_envelope_the_generic_api_would_build():
    event = envelope(cloudevent(time="2026-11-20T09:00:00-03:00", subject="lead:L-1"))
    assert (event.tenant_id, event.type, event.source) == ("acme", "lead.created", "api")
    assert event.occurred_at == datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert event.ordering_key == "lead:L-1"
    assert event.payload["phone"] == "+5511999990000", "the payload is validated and normalised"


def test_the_same_id_from_two_sources_is_two_events_and_from_one_source_one():
    first = request_from_cloudevent(cloudevent(source="/erp", id="1"))
    again = request_from_cloudevent(cloudevent(source="/erp", id="1"))
    other = request_from_cloudevent(cloudevent(source="/site", id="1"))
    assert first["idempotency_key"] == again["idempotency_key"]
    assert first["idempotency_key"] != other["idempotency_key"]


def test_dataversion_names_the_major_version_and_is_left_out_when_absent():
    assert request_from_cloudevent(cloudevent(dataversion=2))["version"] == 2
    assert request_from_cloudevent(cloudevent(dataversion=2.0))["version"] == 2, "JSON's 2.0 is the integer 2"
    assert "version" not in request_from_cloudevent(cloudevent())
    assert "version" not in request_from_cloudevent(cloudevent(dataversion=None))


def test_a_cloudevent_of_version_1_is_the_types_major_version_1():
    assert envelope(cloudevent(dataversion=1)).schema_version == 1


def test_null_is_the_same_as_leaving_an_optional_attribute_out():
    event = cloudevent(time=None, subject=None, datacontenttype=None, dataschema=None, data_base64=None)
    assert request_from_cloudevent(event) == request_from_cloudevent(cloudevent())


def test_unknown_extension_attributes_are_ignored():
    event = cloudevent(
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        comexampleother=-(2**31),
        comexampleflag=True,
        comexampleratio=3.0,
    )
    assert request_from_cloudevent(event) == request_from_cloudevent(cloudevent())


@pytest.mark.parametrize("content_type", ["application/json", "Application/JSON; charset=utf-8"])
def test_data_declared_as_json_is_accepted(content_type):
    assert request_from_cloudevent(cloudevent(datacontenttype=content_type))["payload"] == LEAD


@pytest.mark.parametrize("attribute", ["specversion", "id", "source", "type"])
def test_a_missing_required_attribute_is_refused_naming_it(attribute):
    event = cloudevent()
    del event[attribute]
    assert refusal(event).field == attribute
    assert refusal(cloudevent(**{attribute: ""})).field == attribute
    assert refusal(cloudevent(**{attribute: None})).field == attribute


@pytest.mark.parametrize(
    ("attributes", "field"),
    [
        ({"specversion": "0.3"}, "specversion"),
        ({"specversion": 1.0}, "specversion"),
        ({"source": "not a uri reference"}, "source"),
        ({"source": "/" * (MAX_SOURCE_LENGTH + 1)}, "source"),
        ({"source": "/crm\u00e9"}, "source"),
        ({"id": "x" * (MAX_ID_LENGTH + 1)}, "id"),
        ({"id": "line\nbreak"}, "id"),
        ({"data": None}, "data"),
        ({"data": ["a list"]}, "data"),
        ({"data": "a string"}, "data"),
        ({"data_base64": "eyJhIjogMX0="}, "data_base64"),
        ({"datacontenttype": "application/xml"}, "datacontenttype"),
        ({"datacontenttype": "text/json"}, "datacontenttype"),
        ({"datacontenttype": True}, "datacontenttype"),
        ({"dataschema": ""}, "dataschema"),
        ({"dataversion": "2"}, "dataversion"),
        ({"dataversion": 1.5}, "dataversion"),
        ({"dataversion": True}, "dataversion"),
        ({"tenant_id": "beta"}, "tenant_id"),
        ({"Subject": "lead:L-1"}, "Subject"),
        ({"payload": LEAD}, "payload"),
        ({"comexampleext": {"nested": 1}}, "comexampleext"),
        ({"comexampleext": [1]}, "comexampleext"),
        ({"comexampleext": 2**31}, "comexampleext"),
        ({"comexampleext": 1e300}, "comexampleext"),
        ({"comexampleext": 0.5}, "comexampleext"),
    ],
    ids=repr,
)
def test_what_is_not_a_cloudevent_crmbus_can_take_is_refused_naming_the_attribute(attributes, field):
    assert refusal(cloudevent(**attributes)).field == field


def test_a_refusal_names_the_attribute_and_not_the_value():
    error = refusal(cloudevent(source="secret source with spaces"))
    assert "secret" not in str(error)


@pytest.mark.parametrize(
    ("attributes", "field", "starts"),
    [
        ({"time": "yesterday"}, "time", "time must be"),
        ({"time": "2099-01-01T00:00:00Z"}, "time", "time is more than"),
        ({"subject": "a\u0085b"}, "subject", "subject must be"),
        ({"correlationid": 7}, "correlationid", "correlationid must be"),
        ({"data": LEAD | {"phone": "123"}}, "data.phone", ""),
        ({"data": {}}, "data.name", ""),
        ({"type": "lead.exploded"}, "type", ""),
        ({"dataversion": 7}, "dataversion", ""),
        ({"dataversion": 0}, "dataversion", "dataversion must be"),
    ],
    ids=repr,
)
def test_the_generic_requests_refusals_name_the_cloudevents_attribute(attributes, field, starts):
    with pytest.raises(InvalidEventError) as raised:
        envelope(cloudevent(**attributes))
    assert raised.value.field == field
    assert str(raised.value).startswith(starts)


def test_an_error_without_a_field_stays_as_it_is():
    error = InvalidEventError("something")
    assert as_attribute_error(error) is error
