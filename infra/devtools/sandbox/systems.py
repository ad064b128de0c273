"""What each stand-in system does with a request that reached it: credentials, body rules, effect.

Pure of HTTP: a request comes in as its headers and parsed JSON body and leaves as an ``Answer``,
so the rules can be read here in one place and the server only carries bytes.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.devtools.sandbox.contracts import AUTH_HEADERS, Contract


@dataclass(frozen=True, slots=True)
class Answer:
    """A response, kept as data so an idempotent replay can send it again."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    replayed: bool = False

    @property
    def succeeded(self) -> bool:
        return 200 <= self.status < 300


def refusal(status: int, error: str, message: str, headers: Mapping[str, str] | None = None) -> Answer:
    """The error body every sandbox system answers with."""
    return Answer(status, {"error": error, "message": message}, headers or {})


def unauthorized(contract: Contract, headers: Mapping[str, str]) -> Answer | None:
    """401 when the contract's credential is missing; any non-empty one is accepted."""
    if contract.auth == "none":
        return None
    name = AUTH_HEADERS[contract.auth]
    value = headers.get(name, "").strip()
    if contract.auth in ("bearer", "basic"):
        scheme, _, token = value.partition(" ")
        present = scheme.lower() == contract.auth and bool(token.strip())
    else:
        present = bool(value)
    if present:
        return None
    return refusal(401, "unauthorized", f"the {name} header is required")


def _e164_digits(value: Any) -> bool:
    """E.164's digits: a country code and number, 8 to 15 digits in all."""
    return isinstance(value, str) and value.isascii() and value.isdigit() and 8 <= len(value) <= 15


def _hex(length: int) -> str:
    return secrets.token_hex(length // 2).upper()


class Systems:
    """The systems' own memory (the CRM's leads) and the effect of each action."""

    def __init__(self) -> None:
        self._leads: dict[str, str] = {}
        self._actions: Mapping[str, Callable[[Any], Answer]] = {
            "crm.upsert_lead": self._upsert_lead,
            "crm.update_service": lambda _: Answer(201, {"id": f"svc_{_hex(12)}", "status": "recorded"}),
            "crm.log_interaction": lambda _: Answer(201, {"id": f"int_{_hex(12)}", "status": "logged"}),
            "financeiro.create_customer": lambda _: Answer(201, {"id": f"CUS-{_hex(10)}", "status": "active"}),
            "financeiro.create_invoice": lambda _: Answer(201, {"id": f"INV-{_hex(10)}", "status": "open"}),
            "zapi.send_text": self._zapi_send_text,
            "waha.send_text": self._waha_send_text,
            "email.send_template": lambda _: Answer(202, {"id": f"msg_{_hex(16)}"}),
            "sms_twilio.send_sms": self._twilio_send_sms,
            "sms_zenvia.send_sms": self._zenvia_send_sms,
            "marketing.assign_campaign": lambda _: Answer(201, {"id": f"asg_{_hex(12)}", "status": "assigned"}),
            "webhook.deliver": lambda _: Answer(204),
        }

    def act(self, contract: Contract, body: Any) -> Answer:
        """Check the body against the contract, then do what the system does with it."""
        if contract.auth != "none":  # the generic webhook receiver takes any JSON value
            if not isinstance(body, dict):
                return refusal(400, "invalid_body", "the body must be a JSON object")
            missing = [name for name in contract.required if body.get(name) in (None, "")]
            if missing:
                return refusal(400, "missing_fields", f"required: {', '.join(missing)}")
        return self._actions[contract.action](body)

    def clear(self) -> None:
        self._leads.clear()

    def _upsert_lead(self, body: dict[str, Any]) -> Answer:
        found = body.get("lead_id") or body.get("event_id")
        if found is None:
            return refusal(400, "missing_fields", "required: lead_id or event_id")
        identity = str(found)
        if identity in self._leads:
            return Answer(200, {"id": self._leads[identity], "status": "updated"})
        lead_id = self._leads[identity] = f"lead_{_hex(12)}"
        return Answer(201, {"id": lead_id, "status": "created"})

    def _zapi_send_text(self, body: dict[str, Any]) -> Answer:
        phone = body["phone"]
        if not (isinstance(phone, str) and phone.isascii() and phone.isdigit()):
            # Z-API's own wording for a number it cannot use.
            return refusal(400, "Invalid phone", "phone must hold digits only, with country and area code")
        message_id = _hex(20)
        return Answer(200, {"zaapId": _hex(32), "messageId": message_id, "id": message_id})

    def _twilio_send_sms(self, body: dict[str, Any]) -> Answer:
        to = body["To"]
        if not (isinstance(to, str) and to.startswith("+") and _e164_digits(to[1:])):
            return refusal(400, "invalid_to", "To must be an E.164 number: '+' and 8 to 15 digits")
        if not (body.get("From") or body.get("MessagingServiceSid")):
            return refusal(400, "missing_fields", "required: From or MessagingServiceSid")
        return Answer(
            201,
            {
                "sid": f"SM{secrets.token_hex(16)}",
                "status": "queued",
                "to": to,
                "from": body.get("From"),
                "messaging_service_sid": body.get("MessagingServiceSid"),
                "body": body["Body"],
            },
        )

    def _zenvia_send_sms(self, body: dict[str, Any]) -> Answer:
        if not _e164_digits(body["to"]):
            return refusal(400, "invalid_to", "to must be an E.164 number without '+': 8 to 15 digits")
        contents = body["contents"]
        texts = isinstance(contents, list) and all(
            isinstance(c, dict) and c.get("type") == "text" and isinstance(c.get("text"), str) and c["text"]
            for c in contents
        )
        if not (texts and contents):
            return refusal(400, "invalid_contents", 'contents must be [{"type": "text", "text": "<text>"}, …]')
        return Answer(
            200,
            {
                "id": str(uuid.uuid4()),
                "from": body["from"],
                "to": body["to"],
                "direction": "OUT",
                "channel": "sms",
                "contents": contents,
            },
        )

    def _waha_send_text(self, body: dict[str, Any]) -> Answer:
        chat_id = body["chatId"]
        number, _, suffix = chat_id.partition("@") if isinstance(chat_id, str) else ("", "", "")
        if suffix != "c.us" or not (number.isascii() and number.isdigit()):
            return refusal(400, "Bad Request", "chatId must be <digits>@c.us")
        return Answer(
            201, {"id": f"true_{chat_id}_{_hex(20)}", "timestamp": int(time.time()), "fromMe": True, "to": chat_id}
        )
