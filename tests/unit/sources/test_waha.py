from datetime import UTC, datetime

import pytest

from streams.errors import InvalidEventError
from tests.unit.sources import example
from tests.unit.sources.mappers import map_waha

pytestmark = pytest.mark.unit


def only(events):
    assert len(events) == 1
    return events[0]


def test_a_waha_message_becomes_whatsapp_message_received():
    event = only(map_waha(example("waha", "message_text")))
    assert event.type == "whatsapp.message.received"
    assert event.payload == {
        "provider": "waha",
        "instance": "default",
        "message_id": "false_5511987654321@c.us_3EB0B430B6F8F1D0E053AC120E527351",
        "phone": "+5511987654321",
        "contact_name": "Maria Aparecida",
        "kind": "text",
        "text": "Oi, vocês atendem em Santo André?",
        "edited": False,
    }
    assert event.occurred_at == datetime(2026, 3, 3, 17, 5, tzinfo=UTC)


def test_a_waha_image_is_typed_by_its_mime_type_and_keeps_the_reply_link():
    payload = only(map_waha(example("waha", "message_image"))).payload
    assert (payload["kind"], payload["text"], payload["media"]["mime_type"]) == (
        "image",
        "Foto do quarto",
        "image/jpeg",
    )
    assert payload["reply_to_message_id"] == "true_5511987654321@c.us_3EB0AAAA000011112222"


def test_media_without_a_download_is_kept_as_other():
    body = example("waha", "message_image")
    body["payload"]["media"] = None
    payload = only(map_waha(body)).payload
    assert payload["kind"] == "other"
    assert "media" not in payload


def test_message_and_message_any_for_one_message_dedupe():
    first = only(map_waha(example("waha", "message_text")))
    again = only(map_waha(example("waha", "message_text") | {"event": "message.any", "id": "evt_other"}))
    assert first.idempotency_key == again.idempotency_key


def test_keys_outside_the_payload_carry_no_phone_number():
    event = only(map_waha(example("waha", "message_text")))
    assert "987654321" not in f"{event.idempotency_key} {event.ordering_key}"


@pytest.mark.parametrize("name", ["message_any_from_me", "message_group"])
def test_our_own_messages_and_group_messages_are_ignored(name):
    assert map_waha(example("waha", name)) == []


@pytest.mark.parametrize("chat", ["120363025246125486@newsletter", "status@broadcast"])
def test_channel_and_status_posts_are_ignored(chat):
    body = example("waha", "message_text")
    body["payload"]["from"] = chat
    assert map_waha(body) == []


def test_a_message_from_a_linked_id_without_phone_is_refused_naming_from():
    body = example("waha", "message_text")
    body["payload"]["from"] = "81896604192873@lid"
    with pytest.raises(InvalidEventError) as raised:
        map_waha(body)
    assert raised.value.field == "payload.from"
    assert "81896604192873" not in str(raised.value)


def test_an_ack_of_our_message_becomes_a_delivery_status():
    event = only(map_waha(example("waha", "message_ack_read")))
    assert event.type == "whatsapp.message.status"
    assert (event.payload["status"], event.payload["phone"]) == ("read", "+5511987654321")
    assert event.occurred_at == datetime(2026, 3, 3, 17, 5, 0, 123000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ack", "status"), [(-1, "failed"), (0, "pending"), (1, "sent"), (2, "delivered"), (4, "played")]
)
def test_ack_levels_map_to_delivery_statuses(ack, status):
    body = example("waha", "message_ack_read")
    body["payload"]["ack"] = ack
    assert only(map_waha(body)).payload["status"] == status


def test_an_ack_name_alone_is_enough():
    body = example("waha", "message_ack_read")
    del body["payload"]["ack"]
    assert only(map_waha(body)).payload["status"] == "read"


def test_an_unknown_ack_is_refused_naming_payload_ack():
    body = example("waha", "message_ack_read")
    body["payload"]["ack"] = 9
    with pytest.raises(InvalidEventError) as raised:
        map_waha(body)
    assert raised.value.field == "payload.ack"


def test_an_ack_to_a_linked_id_keeps_no_phone():
    body = example("waha", "message_ack_read")
    body["payload"]["to"] = "81896604192873@lid"
    event = only(map_waha(body))
    assert "phone" not in event.payload
    assert event.ordering_key is None


def test_wahas_documented_minimal_ack_without_to_names_the_chat_in_from():
    event = only(map_waha(example("waha", "message_ack_minimal")))
    assert event.type == "whatsapp.message.status"
    assert (event.payload["status"], event.payload["phone"]) == ("delivered", "+5511987654321")


@pytest.mark.parametrize("to", [None, ""])
def test_an_ack_with_an_empty_to_reads_the_chat_from_from(to):
    body = example("waha", "message_ack_minimal")
    body["payload"]["to"] = to
    assert only(map_waha(body)).payload["phone"] == "+5511987654321"


def test_an_ack_without_any_chat_is_refused_naming_payload_from():
    body = example("waha", "message_ack_minimal")
    del body["payload"]["from"]
    with pytest.raises(InvalidEventError) as raised:
        map_waha(body)
    assert raised.value.field == "payload.from"


def test_acks_of_messages_sent_to_us_are_ignored():
    body = example("waha", "message_ack_read")
    body["payload"]["fromMe"] = False
    assert map_waha(body) == []


def test_a_working_session_is_connected_with_our_own_number():
    event = only(map_waha(example("waha", "session_status_working")))
    assert event.payload == {"provider": "waha", "instance": "default", "status": "connected", "phone": "+551130040000"}
    assert event.idempotency_key == "waha:evt_01jnq6y0000000000000000001"


@pytest.mark.parametrize("state", ["SCAN_QR_CODE", "STOPPED", "FAILED"])
def test_a_session_that_cannot_send_is_disconnected_with_its_state_as_reason(state):
    body = example("waha", "session_status_scan_qr_code")
    body["payload"]["status"] = state
    payload = only(map_waha(body)).payload
    assert (payload["status"], payload["reason"]) == ("disconnected", state.lower())


def test_a_starting_session_is_ignored():
    body = example("waha", "session_status_working")
    body["payload"]["status"] = "STARTING"
    assert map_waha(body) == []


def test_events_we_do_not_map_are_ignored():
    assert map_waha(example("waha", "message_text") | {"event": "presence.update"}) == []


def test_a_body_without_payload_is_refused_naming_payload():
    body = example("waha", "message_text")
    del body["payload"]
    with pytest.raises(InvalidEventError) as raised:
        map_waha(body)
    assert raised.value.field == "payload"


def test_a_bad_sender_is_refused_naming_payload_from():
    body = example("waha", "message_text")
    body["payload"]["from"] = "5510987654321@c.us"
    with pytest.raises(InvalidEventError) as raised:
        map_waha(body)
    assert raised.value.field == "payload.from"
    assert "987654321" not in str(raised.value)
