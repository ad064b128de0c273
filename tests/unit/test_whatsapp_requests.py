"""The requests Z-API and WAHA connectors build for media, buttons and lists: each provider's public
shape from crmbus's one payload vocabulary, a named field when the payload cannot be sent, and no
media URL that would have the provider fetch from an internal address."""

import pytest

from connectors.destinations.waha import WahaDestination
from connectors.destinations.zapi import ZapiDestination
from connectors.http import HttpClients
from connectors.ssrf import OutboundPolicy
from streams.errors import PermanentDeliveryError

pytestmark = pytest.mark.unit

PHONE = "+55 (11) 98765-4321"
IMAGE = "https://arquivos.example.com.br/midia/boas-vindas.jpg"
PDF = "https://arquivos.example.com.br/midia/orcamento.PDF?v=2"
INSTANCE = "/instances/I1/token/T1"
PUBLIC_ONLY = OutboundPolicy()
BUTTONS = [{"id": "sim", "label": "Sim"}, {"id": "nao", "label": "Não"}]
LIST = {
    "title": "Horários",
    "button_label": "Ver horários",
    "sections": [
        {"title": "Manhã", "rows": [{"id": "m8", "title": "8h", "description": "chegada às 8h"}]},
        {"title": "Tarde", "rows": [{"id": "t14", "title": "14h"}]},
    ],
}


def zapi(policy=PUBLIC_ONLY):
    config = {"instance_id": "I1", "token": "T1"}
    return ZapiDestination(url="https://api.z-api.io", config=config, secret="account", client=HttpClients(policy))


def waha(policy=PUBLIC_ONLY):
    return WahaDestination(url="https://waha.example.com.br", config={}, secret=None, client=HttpClients(policy))


def refusal(connector, action, payload):
    with pytest.raises(PermanentDeliveryError) as refused:
        connector.build(action, payload)
    return str(refused.value)


def test_zapi_sends_an_image_by_url_with_its_caption():
    request = zapi().build("zapi.send_image", {"phone": PHONE, "url": IMAGE, "caption": "Bem-vinda!"})

    assert request.path == f"{INSTANCE}/send-image"
    assert request.body == {"phone": "5511987654321", "image": IMAGE, "caption": "Bem-vinda!"}
    assert request.headers == {"Client-Token": "account"}


def test_zapi_puts_a_documents_extension_in_the_path_from_its_url_or_filename():
    from_url = zapi().build("zapi.send_document", {"phone": PHONE, "url": PDF})
    from_name = zapi().build("zapi.send_document", {"phone": PHONE, "url": IMAGE, "filename": "Contrato.docx"})

    assert (from_url.path, from_url.body) == (
        f"{INSTANCE}/send-document/pdf",
        {"phone": "5511987654321", "document": PDF},
    )
    assert from_name.path == f"{INSTANCE}/send-document/docx"
    assert from_name.body["fileName"] == "Contrato.docx"


def test_zapi_refuses_a_document_whose_extension_it_cannot_tell_naming_the_fields():
    message = refusal(zapi(), "zapi.send_document", {"phone": PHONE, "url": "https://arquivos.example.com.br/x"})

    assert "'filename'" in message and "'url'" in message
    assert "arquivos.example.com.br" not in message


def test_zapi_sends_audio_by_url_without_a_caption():
    request = zapi().build("zapi.send_audio", {"phone": PHONE, "url": IMAGE, "caption": "ignored"})

    assert (request.path, request.body) == (f"{INSTANCE}/send-audio", {"phone": "5511987654321", "audio": IMAGE})


def test_zapi_sends_buttons_as_a_button_list():
    request = zapi().build("zapi.send_buttons", {"phone": PHONE, "message": "Confirma?", "buttons": BUTTONS})

    assert request.path == f"{INSTANCE}/send-button-list"
    assert request.body == {"phone": "5511987654321", "message": "Confirma?", "buttonList": {"buttons": BUTTONS}}


def test_zapi_sends_a_list_as_one_option_list_with_every_sections_rows_in_order():
    request = zapi().build("zapi.send_list", {"phone": PHONE, "message": "Escolha", "list": LIST})

    assert request.path == f"{INSTANCE}/send-option-list"
    assert request.body["optionList"] == {
        "title": "Horários",
        "buttonLabel": "Ver horários",
        "options": [
            {"id": "m8", "title": "8h", "description": "chegada às 8h"},
            {"id": "t14", "title": "14h", "description": ""},
        ],
    }


def test_waha_sends_an_image_and_a_file_with_a_mimetype_from_the_payload_or_the_name():
    image = waha().build("waha.send_image", {"phone": PHONE, "url": IMAGE, "caption": "Oi"})
    document = waha().build(
        "waha.send_document",
        {"chatId": "120363@g.us", "url": PDF, "filename": "o.pdf", "mimetype": "application/x-pdf"},
    )

    assert image.path == "/api/sendImage"
    assert image.body == {
        "session": "default",
        "chatId": "5511987654321@c.us",
        "file": {"url": IMAGE, "mimetype": "image/jpeg"},
        "caption": "Oi",
    }
    assert document.path == "/api/sendFile"
    assert document.body["file"] == {"url": PDF, "mimetype": "application/x-pdf", "filename": "o.pdf"}


def test_waha_sends_audio_as_a_voice_message_it_converts():
    request = waha().build("waha.send_audio", {"phone": PHONE, "url": IMAGE})

    assert request.path == "/api/sendVoice"
    assert request.body["file"] == {"url": IMAGE, "mimetype": "audio/ogg; codecs=opus"}
    assert request.body["convert"] is True


def test_waha_sends_reply_buttons_and_a_sectioned_list():
    buttons = waha().build("waha.send_buttons", {"phone": PHONE, "message": "Confirma?", "buttons": BUTTONS})
    listed = waha().build("waha.send_list", {"phone": PHONE, "message": "Escolha", "list": LIST})

    assert (buttons.path, buttons.body["body"]) == ("/api/sendButtons", "Confirma?")
    assert buttons.body["buttons"] == [
        {"type": "reply", "id": "sim", "text": "Sim"},
        {"type": "reply", "id": "nao", "text": "Não"},
    ]
    assert listed.path == "/api/sendList"
    assert listed.body["message"] == {
        "title": "Horários",
        "description": "Escolha",
        "button": "Ver horários",
        "sections": [
            {"title": "Manhã", "rows": [{"rowId": "m8", "title": "8h", "description": "chegada às 8h"}]},
            {"title": "Tarde", "rows": [{"rowId": "t14", "title": "14h"}]},
        ],
    }


@pytest.mark.parametrize("connector", [zapi, waha], ids=["zapi", "waha"])
@pytest.mark.parametrize(
    ("verb", "payload", "named"),
    [
        ("send_image", {"phone": PHONE}, "'url'"),
        ("send_image", {"phone": PHONE, "url": IMAGE, "caption": 7}, "'caption'"),
        ("send_buttons", {"phone": PHONE, "buttons": BUTTONS}, "'message'"),
        ("send_buttons", {"phone": PHONE, "message": "?", "buttons": []}, "'buttons'"),
        ("send_buttons", {"phone": PHONE, "message": "?", "buttons": [{"id": "a"}]}, "buttons[0].label"),
        ("send_list", {"phone": PHONE, "message": "?"}, "'list'"),
        ("send_list", {"phone": PHONE, "message": "?", "list": {**LIST, "button_label": ""}}, "list.button_label"),
        (
            "send_list",
            {"phone": PHONE, "message": "?", "list": {**LIST, "sections": [{"title": "A", "rows": [{"id": "1"}]}]}},
            "list.sections[0].rows[0].title",
        ),
    ],
)
def test_a_payload_missing_a_field_is_refused_naming_the_field(connector, verb, payload, named):
    destination = connector()

    assert named in refusal(destination, f"{destination.kind}.{verb}", payload)


@pytest.mark.parametrize("connector", [zapi, waha], ids=["zapi", "waha"])
@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.8/foto.jpg",
        "https://169.254.169.254/latest/meta-data/foto.jpg",
        "https://[::1]/foto.jpg",
        "http://127.0.0.1:8080/foto.jpg",
        "http://arquivos.example.com.br/foto.jpg",
        "https://user:pass@arquivos.example.com.br/foto.jpg",
        "file:///etc/passwd",
    ],
)
def test_an_unsafe_media_url_is_refused_naming_the_field_not_the_url(connector, url):
    destination = connector()

    message = refusal(destination, f"{destination.kind}.send_image", {"phone": PHONE, "url": url})

    assert "'url'" in message
    assert url not in message and "10.0.0.8" not in message and "169.254" not in message


def test_a_loopback_media_url_passes_where_the_policy_allows_loopback_as_in_tests_and_the_sandbox():
    url = "http://127.0.0.1:8080/foto.jpg"
    request = zapi(OutboundPolicy(allow_loopback=True)).build("zapi.send_image", {"phone": PHONE, "url": url})

    assert request.body["image"] == url
    assert "'url'" in refusal(
        zapi(OutboundPolicy(allow_loopback=True)), "zapi.send_image", {"phone": PHONE, "url": "https://10.0.0.8/a.jpg"}
    )


def test_an_allow_listed_internal_media_host_passes():
    policy = OutboundPolicy.from_allow_list(["10.20.0.0/16"])

    request = waha(policy).build("waha.send_image", {"phone": PHONE, "url": "https://10.20.0.5/a.png"})

    assert request.body["file"] == {"url": "https://10.20.0.5/a.png", "mimetype": "image/png"}
