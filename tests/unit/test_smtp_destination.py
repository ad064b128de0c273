"""What an SMTP e-mail destination makes of a delivery's payload, before anything is sent."""

from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default

import pytest

from connectors.destinations import HttpClients
from connectors.destinations.smtp import SmtpEmailDestination
from connectors.ssrf import OutboundPolicy
from streams.errors import PermanentDeliveryError

DELIVERY_ID = "5f0c8a1e-8d4b-5b7a-9c3e-0d2f6a7b8c9d"
NOW = datetime(2026, 3, 5, 22, 0, tzinfo=UTC)
CONFIG = {
    "sender": "atendimento@clinica.com.br",
    "sender_name": "Clínica",
    "templates": {"lembrete": {"subject": "Lembrete, {name}", "text": "{name}, sua visita é às {hora}."}},
}


def destination(config=CONFIG):
    return SmtpEmailDestination(
        url="smtp://smtp.example.com",
        config=config,
        secret=None,
        client=HttpClients(OutboundPolicy()),
        clock=lambda: NOW,
    )


def message_for(payload, action="email.send_template"):
    recipient, raw = destination().message(DELIVERY_ID, action, payload)
    return recipient, message_from_bytes(raw, policy=default)


def test_the_seed_mappings_payload_becomes_the_welcome_e_mail_in_portuguese():
    recipient, message = message_for(
        {"to": "maria@example.com.br", "template": "boas_vindas", "variables": {"name": "Maria"}}
    )

    assert recipient == "maria@example.com.br" and message["To"] == "maria@example.com.br"
    assert message["Subject"] == "Boas-vindas, Maria! Seu cadastro está concluído"
    assert message["Message-ID"] == f"<{DELIVERY_ID}@clinica.com.br>"
    assert message.get_body(("plain",)).get_content().startswith("Olá, Maria!")


def test_variables_come_from_top_level_fields_variables_and_params_as_for_the_http_api():
    _, message = message_for(
        {"to": "ana@example.com", "template": "lembrete", "name": "Ana", "params": {"hora": "10:00"}}
    )

    assert message["Subject"] == "Lembrete, Ana"
    assert message.get_body(("plain",)).get_content().replace("\r\n", "\n") == "Ana, sua visita é às 10:00.\n"


@pytest.mark.parametrize(
    ("action", "payload", "complaint"),
    [
        ("email.send_text", {"to": "a@b.com", "template": "boas_vindas"}, "no action 'email.send_text'"),
        ("email.send_template", {"template": "boas_vindas", "variables": {"name": "Ana"}}, "'to'"),
        ("email.send_template", {"to": "a@b.com", "variables": {"name": "Ana"}}, "'template'"),
        ("email.send_template", {"to": "a@b.com", "template": "promo"}, "no template 'promo'"),
        ("email.send_template", {"to": "a@b.com", "template": "boas_vindas"}, "variable 'name'"),
        ("email.send_template", {"to": "a@b.com", "template": "boas_vindas", "variables": "Ana"}, "'variables'"),
    ],
)
def test_a_payload_it_cannot_send_is_permanent_and_names_fields_never_values(action, payload, complaint):
    with pytest.raises(PermanentDeliveryError, match=complaint) as raised:
        message_for(payload, action)

    assert "a@b.com" not in str(raised.value) and "Ana" not in str(raised.value)
