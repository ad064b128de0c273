"""What each stand-in system does with a request that reached it: credentials, body rules, effect.

Pure of HTTP: a request comes in as its headers and parsed JSON body and leaves as an ``Answer``,
so the rules can be read here in one place and the server only carries bytes.
"""

from __future__ import annotations

import secrets
import time
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
            "zapi.send_text": self._zapi_send_text,
            "waha.send_text": self._waha_send_text,
            "email.send_template": lambda _: Answer(202, {"id": f"msg_{_hex(16)}"}),
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

    def _zapi_send_text(self, body: dict[str, Any]) -> Answer:
        phone = body["phone"]
        if not (isinstance(phone, str) and phone.isascii() and phone.isdigit()):
            # Z-API's own wording for a number it cannot use.
            return refusal(400, "Invalid phone", "phone must hold digits only, with country and area code")
        message_id = _hex(20)
        return Answer(200, {"zaapId": _hex(32), "messageId": message_id, "id": message_id})

    def _waha_send_text(self, body: dict[str, Any]) -> Answer:
        chat_id = body["chatId"]
        number, _, suffix = chat_id.partition("@") if isinstance(chat_id, str) else ("", "", "")
        if suffix != "c.us" or not (number.isascii() and number.isdigit()):
            return refusal(400, "Bad Request", "chatId must be <digits>@c.us")
        return Answer(
            201, {"id": f"true_{chat_id}_{_hex(20)}", "timestamp": int(time.time()), "fromMe": True, "to": chat_id}
        )
