"""What a message becomes on a fallback that cannot send it as it is: the same verb where the
fallback has it, else text: on WhatsApp, as an SMS, or in the e-mail destination's template."""

import pytest

from streams.fallback_messages import StandIn, as_text, recipient, stand_in

pytestmark = pytest.mark.unit

WAHA = frozenset({"waha.send_text"})
WAHA_WITH_MEDIA = WAHA | {"waha.send_image", "waha.send_buttons"}
TWILIO = frozenset({"sms_twilio.send_sms"})
EMAIL = frozenset({"email.send_template"})
PHONE = "5511987654321"
BUTTONS = {
    "phone": PHONE,
    "message": "Confirma a visita de amanhã?",
    "buttons": [{"id": "yes", "label": "Sim"}, {"id": "no", "label": "Não"}],
}
LISTING = {
    "phone": PHONE,
    "message": "Escolha um horário",
    "list": {
        "title": "Horários",
        "button_label": "Ver",
        "sections": [
            {"title": "Manhã", "rows": [{"id": "m9", "title": "09:00"}, {"id": "m10", "title": "10:00"}]},
            {"title": "Tarde", "rows": [{"id": "t14", "title": "14:00", "description": "com a Ana"}]},
        ],
    },
}


def test_a_fallback_with_the_same_verb_gets_the_same_payload_under_its_own_kind():
    image = {"phone": PHONE, "url": "https://cdn.example.com.br/a.jpg", "caption": "Recibo"}
    assert stand_in("zapi.send_image", image, "waha", {}, WAHA_WITH_MEDIA) == StandIn("waha.send_image", image)
    assert stand_in("zapi.send_text", {"phone": PHONE, "message": "Oi"}, "waha", {}, WAHA) == StandIn(
        "waha.send_text", {"phone": PHONE, "message": "Oi"}
    )


def test_a_text_becomes_an_sms_of_the_same_text_to_the_same_phone():
    assert stand_in("waha.send_text", {"chatId": f"{PHONE}@c.us", "text": "Oi"}, "sms_twilio", {}, TWILIO) == StandIn(
        "sms_twilio.send_sms", {"phone": PHONE, "message": "Oi"}
    )


def test_an_image_on_a_fallback_without_images_is_its_caption_and_url_as_text():
    image = {"phone": PHONE, "url": "https://cdn.example.com.br/a.jpg", "caption": "Seu recibo"}
    assert stand_in("zapi.send_image", image, "waha", {}, WAHA) == StandIn(
        "waha.send_text", {"phone": PHONE, "message": "Seu recibo\nhttps://cdn.example.com.br/a.jpg"}
    )


def test_a_document_without_a_caption_is_named_by_its_file_name_and_audio_by_its_url_alone():
    document = {"phone": PHONE, "url": "https://cdn.example.com.br/c.pdf", "filename": "contrato.pdf"}
    assert as_text("send_document", document) == "contrato.pdf\nhttps://cdn.example.com.br/c.pdf"
    assert as_text("send_audio", {"phone": PHONE, "url": "https://cdn.example.com.br/a.ogg"}) == (
        "https://cdn.example.com.br/a.ogg"
    )


def test_buttons_become_the_message_and_numbered_options():
    assert stand_in("zapi.send_buttons", BUTTONS, "sms_twilio", {}, TWILIO) == StandIn(
        "sms_twilio.send_sms", {"phone": PHONE, "message": "Confirma a visita de amanhã?\n1. Sim\n2. Não"}
    )


def test_a_list_becomes_its_title_section_titles_and_rows_numbered_across_sections():
    assert as_text("send_list", LISTING) == (
        "Escolha um horário\nHorários\nManhã\n1. 09:00\n2. 10:00\nTarde\n3. 14:00 - com a Ana"
    )


def test_buttons_go_as_buttons_where_the_fallback_has_them():
    assert stand_in("zapi.send_buttons", BUTTONS, "waha", {}, WAHA_WITH_MEDIA) == StandIn("waha.send_buttons", BUTTONS)


def test_a_text_becomes_the_email_destinations_fallback_template_to_the_payloads_email():
    text = {"phone": PHONE, "message": "Sua visita foi confirmada", "email": "ana@example.com.br"}
    config = {"fallback_template": "aviso_whatsapp"}
    assert stand_in("zapi.send_text", text, "email", config, EMAIL) == StandIn(
        "email.send_template",
        {"to": "ana@example.com.br", "template": "aviso_whatsapp", "params": {"message": "Sua visita foi confirmada"}},
    )


@pytest.mark.parametrize(
    ("payload", "config"),
    [
        ({"phone": PHONE, "message": "Oi"}, {"fallback_template": "aviso"}),  # no e-mail address
        ({"phone": PHONE, "message": "Oi", "email": "ana@example.com.br"}, {}),  # no template
        ({"phone": PHONE, "message": "Oi", "email": " "}, {"fallback_template": "aviso"}),
    ],
)
def test_without_a_fallback_template_or_an_email_address_there_is_no_email_fallback(payload, config):
    assert stand_in("zapi.send_text", payload, "email", config, EMAIL) is None


def test_only_messages_have_a_fallback():
    assert stand_in("crm.upsert_lead", {"phone": PHONE}, "crm", {}, frozenset({"crm.upsert_lead"})) is None
    assert stand_in("zapi.send_template", {"phone": PHONE}, "waha", {}, WAHA) is None


def test_a_fallback_that_can_send_no_text_cannot_stand_in_for_a_message_it_lacks():
    assert (
        stand_in("zapi.send_image", {"phone": PHONE, "url": "https://x.com.br/a.jpg"}, "crm", {}, frozenset()) is None
    )


@pytest.mark.parametrize(
    ("verb", "payload"),
    [
        ("send_text", {"phone": PHONE}),  # no text
        ("send_image", {"phone": PHONE, "caption": "sem url"}),
        ("send_buttons", {"phone": PHONE, "buttons": "Sim"}),  # nothing to read as text
        ("send_text", {"chatId": "1203630@g.us", "message": "Oi"}),  # a group has no phone for an SMS
    ],
)
def test_a_message_without_text_or_a_phone_has_no_sms_fallback(verb, payload):
    assert stand_in(f"zapi.{verb}", payload, "sms_zenvia", {}, frozenset({"sms_zenvia.send_sms"})) is None


def test_the_recipient_is_the_phone_or_the_number_of_a_person_chat():
    assert recipient({"phone": "+55 11 98765-4321"}) == "+55 11 98765-4321"
    assert recipient({"chatId": f"{PHONE}@c.us"}) == PHONE
    assert recipient({"chatId": "abc@c.us"}) is None
