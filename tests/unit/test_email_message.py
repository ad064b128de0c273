"""The message an SMTP delivery sends: UTF-8, dated, and recognisable on every attempt by its delivery id."""

from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default
from email.utils import parsedate_to_datetime

import pytest

from streams.email_message import DELIVERY_ID_HEADER, Sender, build_message, is_address, message_id
from streams.email_templates import RenderedEmail
from streams.errors import ConfigurationError, PermanentDeliveryError

DELIVERY_ID = "5f0c8a1e-8d4b-5b7a-9c3e-0d2f6a7b8c9d"
NOW = datetime(2026, 3, 5, 22, 0, tzinfo=UTC)
SENDER = Sender("atendimento@clinica.com.br", "Clínica São José")
WELCOME = RenderedEmail("Boas-vindas, Conceição!", "Olá, Conceição!\nAté breve.", "<p>Olá, Conceição!</p>")


def built(rendered=WELCOME, recipient="maria@example.com.br", delivery_id=DELIVERY_ID):
    message = build_message(rendered, sender=SENDER, recipient=recipient, delivery_id=delivery_id, now=NOW)
    return bytes(message)


def parsed(raw):
    return message_from_bytes(raw, policy=default)


def text_of(part):
    return part.get_content().replace("\r\n", "\n")


def test_the_headers_name_sender_recipient_subject_date_and_the_delivery():
    message = parsed(built())

    assert message["From"].addresses[0].display_name == "Clínica São José"
    assert message["From"].addresses[0].addr_spec == "atendimento@clinica.com.br"
    assert message["To"] == "maria@example.com.br"
    assert message["Subject"] == "Boas-vindas, Conceição!"
    assert parsedate_to_datetime(message["Date"]) == NOW
    assert message["Message-ID"] == f"<{DELIVERY_ID}@clinica.com.br>"
    assert message[DELIVERY_ID_HEADER] == DELIVERY_ID


def test_a_retried_delivery_is_the_same_message_and_another_delivery_is_not():
    first, retry, other = built(), built(), built(delivery_id="0b1e4c1a-2f7d-5a3b-8c9d-1e2f3a4b5c6d")

    assert parsed(first)["Message-ID"] == parsed(retry)["Message-ID"] != parsed(other)["Message-ID"]


def test_the_text_and_html_bodies_are_utf_8_alternatives_sent_7_bit_clean_with_crlf_lines():
    raw = built()
    message = parsed(raw)

    assert message.get_content_type() == "multipart/alternative"
    assert text_of(message.get_body(("plain",))) == "Olá, Conceição!\nAté breve.\n"
    assert text_of(message.get_body(("html",))) == "<p>Olá, Conceição!</p>\n"
    assert all(byte < 128 for byte in raw)
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")


def test_without_html_the_message_is_plain_text():
    message = parsed(built(RenderedEmail("Oi", "Só texto.")))

    assert message.get_content_type() == "text/plain"
    assert text_of(message) == "Só texto.\n"


@pytest.mark.parametrize(
    "recipient",
    [
        "maria",
        "maria@localhost",
        "maria @example.com",
        "a@b.com\r\nBcc: x@y.com",
        "joão@example.com",
        "maria..souza@example.com",
        "maria@-example.com",
    ],
)
def test_a_recipient_that_is_not_an_address_is_permanent_and_the_error_does_not_quote_it(recipient):
    with pytest.raises(PermanentDeliveryError) as raised:
        built(recipient=recipient)

    assert "'to'" in str(raised.value)
    assert recipient not in str(raised.value)


def test_addresses_are_plain_ascii_addr_specs():
    assert is_address("maria.souza+crm@example.com.br")
    assert not is_address("x" * 250 + "@example.com")


@pytest.mark.parametrize(
    ("address", "name"),
    [("atendimento", None), ("a@b.com", "Linha\nDupla"), ("a@b.com", "Nome\x00"), ("a@b.com", " ")],
)
def test_a_sender_that_cannot_be_written_is_a_configuration_error(address, name):
    with pytest.raises(ConfigurationError):
        Sender(address, name)


def test_a_delivery_id_that_is_not_an_id_cannot_become_a_message_id():
    with pytest.raises(PermanentDeliveryError):
        message_id("<x>@evil", "clinica.com.br")
