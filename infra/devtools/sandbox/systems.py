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
from datetime import UTC, datetime
from typing import Any

from infra.devtools.sandbox.contracts import AUTH_HEADERS, REST_SYSTEMS, Auth, Contract
from infra.devtools.sandbox.records import Records


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


def unauthorized(auth: Auth, headers: Mapping[str, str], live: Callable[[str], bool]) -> Answer | None:
    """401 when the credential ``auth`` names is missing; any non-empty one is accepted, except
    that an OAuth2 bearer token must be one the token endpoint issued and still ``live``."""
    if auth == "none":
        return None
    name = AUTH_HEADERS[auth]
    value = headers.get(name, "").strip()
    if auth in ("bearer", "basic", "oauth2"):
        scheme, _, credential = value.partition(" ")
        present = scheme.lower() == ("basic" if auth == "basic" else "bearer") and bool(credential.strip())
        if present and auth == "oauth2" and not live(credential.strip()):
            return refusal(401, "invalid_token", "the access token is unknown or expired")
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


_CREATED_AS = {"atendimento.open_ticket": "open", "documentos.store_document": "stored", "agenda.book": "booked"}
"""What a POST push answers as ``status``; PUT pushes answer created or updated."""
_ID_PREFIX = {"atendimento.open_ticket": "TCK", "documentos.store_document": "DOC", "agenda.book": "AGD"}


class Systems:
    """The systems' own memory (the CRM's leads) and the effect of each action."""

    def __init__(self) -> None:
        self._leads: dict[str, str] = {}
        self.records = Records()
        self._actions: Mapping[str, Callable[[Any], Answer]] = {
            "crm.upsert_lead": self._upsert_lead,
            "crm.update_service": lambda _: Answer(201, {"id": f"svc_{_hex(12)}", "status": "recorded"}),
            "crm.log_interaction": lambda _: Answer(201, {"id": f"int_{_hex(12)}", "status": "logged"}),
            "financeiro.create_customer": lambda _: Answer(201, {"id": f"CUS-{_hex(10)}", "status": "active"}),
            "financeiro.create_invoice": lambda _: Answer(201, {"id": f"INV-{_hex(10)}", "status": "open"}),
            "zapi.send_text": self._zapi_send,
            "zapi.send_image": self._zapi_send,
            "zapi.send_document": self._zapi_send,
            "zapi.send_audio": self._zapi_send,
            "zapi.send_buttons": self._zapi_send_buttons,
            "zapi.send_list": self._zapi_send_list,
            "waha.send_text": self._waha_send,
            "waha.send_image": self._waha_send_file,
            "waha.send_document": self._waha_send_file,
            "waha.send_audio": self._waha_send_file,
            "waha.send_buttons": self._waha_send_buttons,
            "waha.send_list": self._waha_send_list,
            "email.send_template": lambda _: Answer(202, {"id": f"msg_{_hex(16)}"}),
            "sms_twilio.send_sms": self._twilio_send_sms,
            "sms_zenvia.send_sms": self._zenvia_send_sms,
            "marketing.assign_campaign": lambda _: Answer(201, {"id": f"asg_{_hex(12)}", "status": "assigned"}),
            "webhook.deliver": lambda _: Answer(204),
        }

    def act(self, contract: Contract, body: Any, params: Mapping[str, str]) -> Answer:
        """Check the body against the contract, then do what the system does with it (``params``:
        the path's)."""
        if contract.auth != "none":  # the generic webhook receiver takes any JSON value
            if not isinstance(body, dict):
                return refusal(400, "invalid_body", "the body must be a JSON object")
            missing = [name for name in contract.required if body.get(name) in (None, "")]
            if missing:
                return refusal(400, "missing_fields", f"required: {', '.join(missing)}")
        if contract.system in REST_SYSTEMS:
            return self._store(contract, body, params)
        return self._actions[contract.action](body)

    def clear(self) -> None:
        self._leads.clear()
        self.records.clear()

    def _store(self, contract: Contract, body: dict[str, Any], params: Mapping[str, str]) -> Answer:
        """A REST system's push: PUT creates or replaces the record its path names, POST adds one."""
        created_as = _CREATED_AS.get(contract.action)
        record_id = params.get("id") or f"{_ID_PREFIX[contract.action]}-{_hex(10)}"
        record = {**body, "id": record_id}
        if created_as is not None:
            record.setdefault("status", created_as)
        stored, new = self.records.upsert(contract.system, record, datetime.now(UTC))
        if created_as is not None:
            return Answer(201, {"id": record_id, "status": created_as, "updated_at": stored["updated_at"]})
        status, word = (201, "created") if new else (200, "updated")
        return Answer(status, {"id": record_id, "status": word, "updated_at": stored["updated_at"]})

    def _upsert_lead(self, body: dict[str, Any]) -> Answer:
        found = body.get("lead_id") or body.get("event_id")
        if found is None:
            return refusal(400, "missing_fields", "required: lead_id or event_id")
        identity = str(found)
        if identity in self._leads:
            return Answer(200, {"id": self._leads[identity], "status": "updated"})
        lead_id = self._leads[identity] = f"lead_{_hex(12)}"
        return Answer(201, {"id": lead_id, "status": "created"})

    def _zapi_send(self, body: dict[str, Any]) -> Answer:
        """Any Z-API message, once its own parts passed: the recipient's check and Z-API's answer."""
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

    def _waha_send(self, body: dict[str, Any]) -> Answer:
        """Any WAHA message, once its own parts passed: the chat's check and the sent message."""
        chat_id = body["chatId"]
        number, _, suffix = chat_id.partition("@") if isinstance(chat_id, str) else ("", "", "")
        if suffix != "c.us" or not (number.isascii() and number.isdigit()):
            return refusal(400, "Bad Request", "chatId must be <digits>@c.us")
        return Answer(
            201, {"id": f"true_{chat_id}_{_hex(20)}", "timestamp": int(time.time()), "fromMe": True, "to": chat_id}
        )

    def _zapi_send_buttons(self, body: dict[str, Any]) -> Answer:
        spec = body["buttonList"]
        if not (isinstance(spec, dict) and _objects_with(spec.get("buttons"), ("id", "label"))):
            return refusal(400, "Invalid body", "buttonList.buttons must be a non-empty list of {id, label}")
        return self._zapi_send(body)

    def _zapi_send_list(self, body: dict[str, Any]) -> Answer:
        spec = body["optionList"]
        valid = isinstance(spec, dict) and _texts(spec, ("title", "buttonLabel"))
        if not (valid and _objects_with(spec.get("options"), ("id", "title"))):
            return refusal(400, "Invalid body", "optionList must hold title, buttonLabel and options {id, title}")
        return self._zapi_send(body)

    def _waha_send_file(self, body: dict[str, Any]) -> Answer:
        file = body["file"]
        if not (isinstance(file, dict) and (_texts(file, ("url",)) or _texts(file, ("data",)))):
            return refusal(400, "Bad Request", "file must hold a url (or base64 data)")
        return self._waha_send(body)

    def _waha_send_buttons(self, body: dict[str, Any]) -> Answer:
        if not _objects_with(body["buttons"], ("type", "text")):
            return refusal(400, "Bad Request", "buttons must be a non-empty list of {type, text, id?}")
        return self._waha_send(body)

    def _waha_send_list(self, body: dict[str, Any]) -> Answer:
        message = body["message"]
        valid = isinstance(message, dict) and _texts(message, ("title", "button"))
        sections = message.get("sections") if valid else []
        if not (
            _objects_with(sections, ("title",))
            and all(_objects_with(section.get("rows"), ("rowId", "title")) for section in sections)
        ):
            return refusal(400, "Bad Request", "message must hold title, button and sections of rows {rowId, title}")
        return self._waha_send(body)


def _texts(item: dict[str, Any], names: tuple[str, ...]) -> bool:
    return all(isinstance(item.get(name), str) and item[name] for name in names)


def _objects_with(items: Any, names: tuple[str, ...]) -> bool:
    """A non-empty list of objects, each with every one of ``names`` as non-empty text."""
    return isinstance(items, list) and bool(items) and all(isinstance(i, dict) and _texts(i, names) for i in items)
