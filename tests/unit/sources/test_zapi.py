from datetime import UTC, datetime

import pytest

from streams.errors import InvalidEventError
from tests.unit.sources import example
from tests.unit.sources.mappers import map_zapi

pytestmark = pytest.mark.unit


def only(events):
    assert len(events) == 1
    return events[0]


def test_a_zapi_text_message_becomes_whatsapp_message_received():
    event = only(map_zapi(example("zapi", "received_text")))
    assert event.type == "whatsapp.message.received"
    assert event.payload == {
        "provider": "zapi",
        "instance": "3C4D8E2F1A0B4C5D9E8F7A6B5C4D3E2F",
        "message_id": "3EB0C767D097B7C7C030",
        "phone": "+5511987654321",
        "contact_name": "Maria Aparecida",
        "kind": "text",
        "text": "Boa tarde! Gostaria de saber o valor de uma cuidadora para minha mãe, período noturno.",
        "edited": False,
    }
    assert event.occurred_at == datetime(2026, 3, 3, 17, 5, tzinfo=UTC)
    assert event.idempotency_key == "zapi:msg:3EB0C767D097B7C7C030"


def test_a_zapi_image_keeps_its_caption_as_text_and_its_link_as_media():
    payload = only(map_zapi(example("zapi", "received_image"))).payload
    assert (payload["kind"], payload["text"]) == ("image", "Receita do médico")
    assert payload["media"]["mime_type"] == "image/jpeg"
    assert payload["media"]["url"].endswith("receita.jpeg")
    assert payload["reply_to_message_id"] == "3EB0C767D097B7C7C030"


def test_a_zapi_voice_note_is_audio_without_text_and_named_by_chat_when_unnamed():
    body = example("zapi", "received_audio") | {"chatName": "Maria Souza"}
    payload = only(map_zapi(body)).payload
    assert (payload["kind"], payload["contact_name"]) == ("audio", "Maria Souza")
    assert "text" not in payload


def test_a_shared_contact_keeps_only_its_kind():
    body = example("zapi", "received_text")
    del body["text"]
    body["contact"] = {"displayName": "Dr. Paulo", "vCard": "BEGIN:VCARD..."}
    assert only(map_zapi(body)).payload["kind"] == "contact"


@pytest.mark.parametrize("name", ["received_from_me", "received_group"])
def test_our_own_echoes_and_group_messages_are_ignored(name):
    assert map_zapi(example("zapi", name)) == []


@pytest.mark.parametrize(
    "change",
    [
        {"isNewsletter": True},
        {"broadcast": True},
        {"phone": "120363025246125486@newsletter"},
        {"notification": "CALL_MISSED_VOICE"},
        {"reaction": {"value": "❤️", "referencedMessage": {"messageId": "3EB0"}}},
    ],
)
def test_channels_broadcasts_notifications_and_reactions_are_ignored(change):
    assert map_zapi(example("zapi", "received_text") | change) == []


def test_an_edited_message_is_a_new_event_with_its_own_idempotency_key():
    original = only(map_zapi(example("zapi", "received_text")))
    edited = only(map_zapi(example("zapi", "received_text") | {"isEdit": True, "momment": 1772557560000}))
    assert edited.payload["edited"] is True
    assert edited.idempotency_key != original.idempotency_key


def test_momment_in_seconds_or_milliseconds_is_the_same_instant():
    in_ms = only(map_zapi(example("zapi", "received_text")))
    in_seconds = only(map_zapi(example("zapi", "received_text") | {"momment": 1772557500}))
    assert in_ms.occurred_at == in_seconds.occurred_at


def test_a_momment_past_2199_is_refused_naming_it():
    with pytest.raises(InvalidEventError) as raised:
        map_zapi(example("zapi", "received_text") | {"momment": 7_258_118_400_000})
    assert raised.value.field == "momment"


def test_the_callback_type_is_read_whatever_its_case():
    assert map_zapi(example("zapi", "received_text") | {"type": "ReceivedCallBack"})


def test_unknown_callback_types_are_ignored():
    assert map_zapi({"type": "PresenceChatCallback", "phone": "5511987654321", "status": "COMPOSING"}) == []


def test_a_status_callback_yields_one_event_per_message_id():
    events = map_zapi(example("zapi", "message_status_read"))
    assert [e.payload["message_id"] for e in events] == ["3EB0AAAA000011112222", "3EB0AAAA000011113333"]
    assert {e.type for e in events} == {"whatsapp.message.status"}
    assert {e.payload["status"] for e in events} == {"read"}
    assert events[0].idempotency_key == "zapi:status:3EB0AAAA000011112222:read"


@pytest.mark.parametrize(
    ("status", "canonical"), [("SENT", "sent"), ("RECEIVED", "delivered"), ("READ", "read"), ("PLAYED", "played")]
)
def test_zapi_statuses_map_to_delivery_statuses(status, canonical):
    events = map_zapi(example("zapi", "message_status_read") | {"status": status})
    assert {e.payload["status"] for e in events} == {canonical}


def test_our_own_reading_of_a_message_is_ignored():
    assert map_zapi(example("zapi", "message_status_read") | {"status": "READ_BY_ME"}) == []


def test_an_unknown_status_is_refused_naming_status():
    with pytest.raises(InvalidEventError) as raised:
        map_zapi(example("zapi", "message_status_read") | {"status": "EXPLODED"})
    assert raised.value.field == "status"


def test_a_status_without_ids_is_refused_naming_ids():
    with pytest.raises(InvalidEventError) as raised:
        map_zapi(example("zapi", "message_status_read") | {"ids": []})
    assert raised.value.field == "ids"


def test_a_delivery_callback_and_a_sent_status_dedupe_as_one_event():
    delivery = only(map_zapi(example("zapi", "delivery")))
    sent = map_zapi(example("zapi", "message_status_read") | {"status": "SENT"})[0]
    assert delivery.payload["status"] == "sent"
    assert delivery.idempotency_key == sent.idempotency_key


def test_a_delivery_callback_with_an_error_is_a_failed_status():
    event = only(map_zapi(example("zapi", "delivery") | {"error": "Number is not on WhatsApp"}))
    assert event.payload["status"] == "failed"


def test_connection_callbacks_become_session_status():
    connected = only(map_zapi(example("zapi", "connected")))
    disconnected = only(map_zapi(example("zapi", "disconnected")))
    assert connected.type == disconnected.type == "whatsapp.session.status"
    assert connected.payload["status"] == "connected"
    assert connected.payload["phone"] == "+551130040000"
    assert disconnected.payload["status"] == "disconnected"
    assert disconnected.payload["reason"] == "Device has been disconnected"
    assert connected.ordering_key == disconnected.ordering_key == "instance:3C4D8E2F1A0B4C5D9E8F7A6B5C4D3E2F"


def test_a_long_disconnection_reason_is_cut_rather_than_refused():
    event = only(map_zapi(example("zapi", "disconnected") | {"error": "x" * 500}))
    assert len(event.payload["reason"]) == 100


def test_keys_outside_the_payload_carry_no_phone_number():
    event = only(map_zapi(example("zapi", "received_text")))
    assert "987654321" not in f"{event.idempotency_key} {event.ordering_key}"
    assert event.ordering_key.startswith("phone:")


def test_a_bad_phone_is_refused_naming_phone_but_not_its_digits():
    with pytest.raises(InvalidEventError) as raised:
        map_zapi(example("zapi", "received_text") | {"phone": "5510987654321"})
    assert raised.value.field == "phone"
    assert "987654321" not in str(raised.value)


def test_an_empty_text_is_refused_naming_text_message():
    with pytest.raises(InvalidEventError) as raised:
        map_zapi(example("zapi", "received_text") | {"text": {"message": ""}})
    assert raised.value.field == "text.message"


@pytest.mark.parametrize(
    ("missing", "field"), [("messageId", "messageId"), ("type", "type"), ("instanceId", "instanceId")]
)
def test_a_body_missing_a_required_field_is_refused_naming_it(missing, field):
    body = example("zapi", "received_text")
    del body[missing]
    with pytest.raises(InvalidEventError) as raised:
        map_zapi(body)
    assert raised.value.field == field
