import json
import logging
import uuid

import pytest
import structlog

from infra.core.log_redaction import REDACTED, mask_identifiers, redact_personal_data
from infra.core.logging import configure_logging

PHONE, EMAIL, CPF = "+55 11 98765-4321", "ana.souza@example.com.br", "123.456.789-09"
TRACES = ("98765", "4321", "ana.souza", "example.com", "456.789", "78909")


@pytest.fixture(autouse=True)
def default_logging_afterwards():
    yield
    structlog.reset_defaults()  # the configured logger writes to pytest's captured (then closed) stderr


def leaks(rendered: str) -> list[str]:
    return [trace for trace in TRACES if trace in rendered]


def test_identifiers_nested_at_any_depth_under_personal_keys_are_redacted():
    line = {
        "event": "mapping failed",
        "detail": {
            "lead": {"CPF": CPF, "contacts": [{"celular": PHONE}, ({"e_mail": EMAIL},)]},
            "steps": [[{"whatsapp": PHONE, "telefone": PHONE}]],
            "owner": {"documento_cpf": CPF, "first_name": "Ana"},
        },
    }
    redacted = redact_personal_data(None, "error", line)
    lead = redacted["detail"]["lead"]
    assert lead["CPF"] == REDACTED
    assert lead["contacts"] == [{"celular": REDACTED}, [{"e_mail": REDACTED}]]
    assert redacted["detail"]["steps"] == [[{"whatsapp": REDACTED, "telefone": REDACTED}]]
    assert redacted["detail"]["owner"] == {"documento_cpf": REDACTED, "first_name": REDACTED}
    assert leaks(json.dumps(redacted)) == []


def test_identifiers_in_free_text_are_masked_at_any_depth_under_any_key():
    line = {
        "event": f"could not reach {PHONE} nor {EMAIL}",
        "reason": {"lines": [f"cpf {CPF} refused", "ligar 11987654321."]},
        "odd": {1, f"x {EMAIL}"},
    }
    rendered = json.dumps(redact_personal_data(None, "warning", line))
    assert leaks(rendered) == [] and "11987654321" not in rendered
    assert "could not reach [number] nor [email]" in rendered
    assert "cpf [number] refused" in rendered and "ligar [number]." in rendered


def test_ids_offsets_timestamps_and_counts_stay_readable():
    event_id = str(uuid.uuid4())
    text = f"event {event_id} at offset 1234567 of TP(topic='t.crmbus.retry.1h', partition=3) on 127.0.0.1:19092"
    line = {"event": text, "timestamp": "2026-12-05T10:46:40.123456Z", "attempt": 3, "took_s": 0.25}
    assert redact_personal_data(None, "info", dict(line)) == line
    assert mask_identifiers("HTTP 503 after 3 attempts, error 4221") == "HTTP 503 after 3 attempts, error 4221"


def test_what_the_caller_logged_is_copied_never_changed():
    detail = {"lead": {"cpf": CPF}, "phones": [PHONE]}
    redact_personal_data(None, "info", {"event": "x", "detail": detail})
    assert detail == {"lead": {"cpf": CPF}, "phones": [PHONE]}


def test_a_library_line_with_nested_extra_and_an_exception_carries_no_identifier(capsys):
    configure_logging("info")
    try:
        raise ValueError(f"bad lead {EMAIL} / {PHONE}")
    except ValueError:
        logging.getLogger("somelib").exception(
            "call for %s failed", PHONE, extra={"request": {"body": {"cpf": CPF}, "params": [{"telefone": PHONE}]}}
        )
    structlog.get_logger("test").error("lead rejected", lead={"contact": {"email": EMAIL, "cpf": CPF}})
    lines = [json.loads(line) for line in capsys.readouterr().err.strip().splitlines()]
    assert [line["event"] for line in lines] == ["call for [number] failed", "lead rejected"]
    assert lines[0]["request"] == {"body": REDACTED, "params": [{"telefone": REDACTED}]}
    assert "bad lead [email] / [number]" in lines[0]["exception"]
    assert lines[1]["lead"] == {"contact": {"email": REDACTED, "cpf": REDACTED}}
    # The timestamp is the logger's own: its microseconds hold any 4 or 5 digits now and then.
    assert leaks(json.dumps([{k: v for k, v in line.items() if k != "timestamp"} for line in lines])) == []
