"""The public contracts of the systems crmbus delivers to, as data.

One ``Contract`` per action a route can name (``crm.upsert_lead``, ``zapi.send_text``, …). The
sandbox routes, authenticates and validates from these; the connectors build their requests from
the same entries, so the fake and the client cannot drift apart; the tests post each contract's
``example`` and expect its ``statuses`` and ``response`` keys.

Paths are relative to a destination's base URL (the seed CRM lives at ``<sandbox_url>/crm``), so
one contract addresses the sandbox and the real system alike. This module imports nothing of
crmbus, which keeps it readable from any layer.

Every system also:
- honours ``Idempotency-Key`` like Stripe: a repeat of a key that succeeded gets the first answer
  again (with ``Idempotent-Replayed: true``) and does not act twice; the same key with another
  body is refused with 422 (as the IETF Idempotency-Key draft says);
- answers errors as ``{"error": "<code>", "message": "<what is wrong>"}``: 401 without its
  credential, 400 for a body that is not JSON (form fields, for a contract whose ``encoding`` is
  ``form``) or lacks a required field or breaks a rule below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

System = Literal[
    "crm", "financeiro", "zapi", "waha", "email", "marketing", "webhook", "sms_twilio", "sms_zenvia",
    "operacao", "cuidadores", "atendimento", "documentos", "agenda",
]  # fmt: skip
SYSTEMS: tuple[System, ...] = get_args(System)
REST_SYSTEMS: tuple[System, ...] = ("operacao", "cuidadores", "atendimento", "documentos", "agenda")
"""The company's own systems, reached through the generic ``rest`` destination kind."""

Auth = Literal["bearer", "basic", "client-token", "api-key", "api-token", "oauth2", "none"]
AUTH_HEADERS: Mapping[Auth, str] = {
    "bearer": "Authorization",
    "basic": "Authorization",
    "client-token": "Client-Token",
    "api-key": "X-Api-Key",
    "api-token": "X-API-TOKEN",
    "oauth2": "Authorization",
}
"""The header each kind of credential travels in. Bearer is ``Authorization: Bearer <token>``,
basic ``Authorization: Basic <base64 user:password>``, oauth2 a bearer token that ``TOKEN_PATH``
issued (any other is 401, and so is one past its ``expires_in``)."""

TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path, not a credential
"""Cuidadores' OAuth2 token endpoint (client credentials, RFC 6749 §4.4): form
``grant_type=client_credentials``, the client's id and secret by HTTP basic or in the form (any
non-empty pair is accepted); answers ``{"access_token", "token_type": "Bearer", "expires_in"}``."""

IDEMPOTENCY_KEY = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
STANDARD_WEBHOOK_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
"""Standard Webhooks headers the generic receiver records (it does not verify them)."""

SECRET_HEADERS = frozenset(
    {"authorization", "client-token", "x-api-key", "x-api-token", "cookie", "proxy-authorization"}
)
SECRET_PATH_PARAMS = frozenset({"token"})
"""Credentials a request may carry; the sandbox records requests without them."""


@dataclass(frozen=True, slots=True)
class Contract:
    """One operation of one system: how to call it and what it answers on success."""

    action: str
    system: System
    method: str
    path: str
    auth: Auth
    required: tuple[str, ...]
    statuses: tuple[int, ...]
    response: tuple[str, ...]
    example: Any
    rules: str = ""
    example_params: Mapping[str, str] = field(default_factory=dict)
    payload: Any = None
    """The delivery payload a crmbus connector turns into ``example``, where the two differ (media,
    buttons, lists: crmbus's one vocabulary for Z-API and WAHA); None where it sends ``example`` as is."""
    encoding: Literal["json", "form"] = "json"
    """How the body is sent: JSON, or ``application/x-www-form-urlencoded`` fields (Twilio)."""

    @property
    def delivered(self) -> Any:
        """What a route hands the connector to make this contract's ``example``."""
        return self.example if self.payload is None else self.payload

    @property
    def route(self) -> str:
        """The path on the sandbox, which serves each system under its name."""
        return f"/{self.system}{self.path}"

    @property
    def headers(self) -> tuple[str, ...]:
        """The headers a request must carry (besides its ``Content-Type``)."""
        return () if self.auth == "none" else (AUTH_HEADERS[self.auth],)

    def url(self, base_url: str, **params: str) -> str:
        """The address of this operation on the system at ``base_url`` (a destination's URL)."""
        return base_url.rstrip("/") + self.path.format(**params)


@dataclass(frozen=True, slots=True)
class Listing:
    """A system's list endpoint (GET), read by sync jobs: records with ``id`` and ``updated_at``
    (RFC 3339 UTC) changed since ``updated_since`` (inclusive), oldest change first.

    ``pagination`` is how the next page is asked for: ``cursor`` (``cursor`` and ``limit``;
    ``{"items", "next_cursor"}``, null at the end), ``link`` (``page`` and ``per_page``; a JSON
    array, ``Link: <…>; rel="next"`` while more follow), ``offset`` (``offset`` and ``limit``;
    ``{"items", "total"}``), ``page`` (``page`` and ``per_page``; ``{"items", "page", "pages"}``),
    ``changes`` (``cursor`` only, the token the last page returned; ``{"items", "next_cursor",
    "has_more"}``: every change after that cursor, ``updated_since`` not used).
    """

    system: System
    path: str
    auth: Auth
    pagination: Literal["cursor", "link", "offset", "page", "changes"]
    query: Mapping[str, str] = field(default_factory=dict)
    """Fixed query parameters the endpoint needs (Operação lists completed services only)."""

    @property
    def route(self) -> str:
        return f"/{self.system}{self.path}"


LISTINGS: Mapping[System, Listing] = {
    listing.system: listing
    for listing in (
        Listing("agenda", "/v1/appointments", "bearer", "cursor"),
        Listing("cuidadores", "/v1/caregivers", "oauth2", "link"),
        Listing("operacao", "/v1/services", "bearer", "offset", {"status": "completed"}),
        Listing("atendimento", "/v1/tickets", "api-key", "page"),
        Listing("documentos", "/v1/changes", "basic", "changes"),
    )
}
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100

_PHONE = "5511987654321"
_CHAT = f"{_PHONE}@c.us"
_MEDIA = "https://arquivos.example.com.br/midia"
_IMAGE, _PDF, _AUDIO = f"{_MEDIA}/boas-vindas.jpg", f"{_MEDIA}/orcamento.pdf", f"{_MEDIA}/recado.ogg"
_BUTTONS = [{"id": "sim", "label": "Sim"}, {"id": "nao", "label": "Não"}]
_LIST = {
    "title": "Horários",
    "button_label": "Ver horários",
    "sections": [{"title": "Manhã", "rows": [{"id": "manha", "title": "Manhã", "description": "8h às 12h"}]}],
}
_ZAPI_FILE = "The file is a URL (or base64) Z-API fetches; `phone` as for send-text."
_WAHA_FILE = (
    "`file` is {`url`, `mimetype`?, `filename`?}, a URL WAHA fetches (400 without one); `chatId` as for sendText."
)
_EVENT_ID = "0d9a4c3e-2b1f-4e6a-9c8d-7f6e5d4c3b2a"

CONTRACTS: Mapping[str, Contract] = {
    contract.action: contract
    for contract in (
        Contract(
            action="crm.upsert_lead",
            system="crm",
            method="POST",
            path="/api/v1/leads",
            auth="bearer",
            required=(),
            statuses=(201, 200),
            response=("id", "status"),
            example={"event_id": _EVENT_ID, "name": "Cliente Teste", "phone": "+" + _PHONE},
            rules="The lead is identified by `lead_id`, else `event_id` (400 without both): "
            'the first POST answers 201 {"id", "status": "created"}, a later one for the same lead '
            '200 {"id", "status": "updated"}.',
        ),
        Contract(
            action="crm.update_service",
            system="crm",
            method="POST",
            path="/api/v1/services",
            auth="bearer",
            required=("service_id",),
            statuses=(201,),
            response=("id", "status"),
            example={"service_id": "S-1", "client_id": "C-1", "status": "completed"},
        ),
        Contract(
            action="crm.log_interaction",
            system="crm",
            method="POST",
            path="/api/v1/interactions",
            auth="bearer",
            required=("message_id",),
            statuses=(201,),
            response=("id", "status"),
            example={"direction": "inbound", "message_id": "M-1", "phone": "+" + _PHONE, "kind": "text"},
        ),
        Contract(
            action="financeiro.create_customer",
            system="financeiro",
            method="POST",
            path="/api/v1/customers",
            auth="bearer",
            required=("client_id",),
            statuses=(201,),
            response=("id", "status"),
            example={"client_id": "C-1", "name": "Cliente Teste", "phone": "+" + _PHONE},
        ),
        Contract(
            action="financeiro.create_invoice",
            system="financeiro",
            method="POST",
            path="/api/v1/invoices",
            auth="bearer",
            required=("service_id", "client_id"),
            statuses=(201,),
            response=("id", "status"),
            example={"service_id": "S-1", "client_id": "C-1", "service_type": "visita"},
            rules='Answers {"id": "INV-…", "status": "open"}.',
        ),
        Contract(
            action="zapi.send_text",
            system="zapi",
            method="POST",
            path="/instances/{instance_id}/token/{token}/send-text",
            auth="client-token",
            required=("phone", "message"),
            statuses=(200,),
            response=("zaapId", "messageId", "id"),
            example={"phone": _PHONE, "message": "Olá! Recebemos seu contato."},
            example_params={"instance_id": "demo", "token": "demo"},
            rules="`phone` holds digits only, country and area code included (400 otherwise). "
            "`Client-Token` is the account's security token; the instance token is in the path.",
        ),
        Contract(
            action="zapi.send_image",
            system="zapi",
            method="POST",
            path="/instances/{instance_id}/token/{token}/send-image",
            auth="client-token",
            required=("phone", "image"),
            statuses=(200,),
            response=("zaapId", "messageId", "id"),
            example={"phone": _PHONE, "image": _IMAGE, "caption": "Bem-vinda!"},
            payload={"phone": _PHONE, "url": _IMAGE, "caption": "Bem-vinda!"},
            example_params={"instance_id": "demo", "token": "demo"},
            rules=_ZAPI_FILE,
        ),
        Contract(
            action="zapi.send_document",
            system="zapi",
            method="POST",
            path="/instances/{instance_id}/token/{token}/send-document/{extension}",
            auth="client-token",
            required=("phone", "document"),
            statuses=(200,),
            response=("zaapId", "messageId", "id"),
            example={"phone": _PHONE, "document": _PDF, "fileName": "orcamento.pdf"},
            payload={"phone": _PHONE, "url": _PDF, "filename": "orcamento.pdf"},
            example_params={"instance_id": "demo", "token": "demo", "extension": "pdf"},
            rules=_ZAPI_FILE + " The file's extension (`pdf`) is the last segment of the path.",
        ),
        Contract(
            action="zapi.send_audio",
            system="zapi",
            method="POST",
            path="/instances/{instance_id}/token/{token}/send-audio",
            auth="client-token",
            required=("phone", "audio"),
            statuses=(200,),
            response=("zaapId", "messageId", "id"),
            example={"phone": _PHONE, "audio": _AUDIO},
            payload={"phone": _PHONE, "url": _AUDIO},
            example_params={"instance_id": "demo", "token": "demo"},
            rules=_ZAPI_FILE,
        ),
        Contract(
            action="zapi.send_buttons",
            system="zapi",
            method="POST",
            path="/instances/{instance_id}/token/{token}/send-button-list",
            auth="client-token",
            required=("phone", "message", "buttonList"),
            statuses=(200,),
            response=("zaapId", "messageId", "id"),
            example={
                "phone": _PHONE,
                "message": "Podemos confirmar a visita de amanhã?",
                "buttonList": {"buttons": [{"id": "sim", "label": "Sim"}, {"id": "nao", "label": "Não"}]},
            },
            payload={"phone": _PHONE, "message": "Podemos confirmar a visita de amanhã?", "buttons": _BUTTONS},
            example_params={"instance_id": "demo", "token": "demo"},
            rules="`buttonList.buttons` is a non-empty list of {`id`, `label`} (400 otherwise).",
        ),
        Contract(
            action="zapi.send_list",
            system="zapi",
            method="POST",
            path="/instances/{instance_id}/token/{token}/send-option-list",
            auth="client-token",
            required=("phone", "message", "optionList"),
            statuses=(200,),
            response=("zaapId", "messageId", "id"),
            example={
                "phone": _PHONE,
                "message": "Escolha o horário da visita",
                "optionList": {
                    "title": "Horários",
                    "buttonLabel": "Ver horários",
                    "options": [{"id": "manha", "title": "Manhã", "description": "8h às 12h"}],
                },
            },
            payload={"phone": _PHONE, "message": "Escolha o horário da visita", "list": _LIST},
            example_params={"instance_id": "demo", "token": "demo"},
            rules="Z-API's list has no sections: crmbus sends every section's rows in order. "
            "`optionList` holds `title`, `buttonLabel` and a non-empty list of `options` "
            "{`id`, `title`, `description`} (400 otherwise).",
        ),
        Contract(
            action="waha.send_text",
            system="waha",
            method="POST",
            path="/api/sendText",
            auth="api-key",
            required=("chatId", "text"),
            statuses=(201,),
            response=("id", "timestamp", "fromMe", "to"),
            example={"session": "default", "chatId": f"{_PHONE}@c.us", "text": "Olá! Recebemos seu contato."},
            rules="`chatId` is `<digits>@c.us` (400 otherwise); `session` defaults to `default`. "
            'The answer is the sent message, {"id": "true_<chatId>_<hex>", "timestamp": <unix s>, …}.',
        ),
        Contract(
            action="waha.send_image",
            system="waha",
            method="POST",
            path="/api/sendImage",
            auth="api-key",
            required=("chatId", "file"),
            statuses=(201,),
            response=("id", "timestamp", "fromMe", "to"),
            example={"session": "default", "chatId": _CHAT, "file": {"url": _IMAGE, "mimetype": "image/jpeg"}},
            payload={"phone": _PHONE, "url": _IMAGE},
            rules=_WAHA_FILE,
        ),
        Contract(
            action="waha.send_document",
            system="waha",
            method="POST",
            path="/api/sendFile",
            auth="api-key",
            required=("chatId", "file"),
            statuses=(201,),
            response=("id", "timestamp", "fromMe", "to"),
            example={
                "session": "default",
                "chatId": _CHAT,
                "file": {"url": _PDF, "mimetype": "application/pdf", "filename": "orcamento.pdf"},
                "caption": "Seu orçamento",
            },
            payload={"phone": _PHONE, "url": _PDF, "filename": "orcamento.pdf", "caption": "Seu orçamento"},
            rules=_WAHA_FILE,
        ),
        Contract(
            action="waha.send_audio",
            system="waha",
            method="POST",
            path="/api/sendVoice",
            auth="api-key",
            required=("chatId", "file"),
            statuses=(201,),
            response=("id", "timestamp", "fromMe", "to"),
            example={
                "session": "default",
                "chatId": _CHAT,
                "file": {"url": _AUDIO, "mimetype": "audio/ogg; codecs=opus"},
                "convert": True,
            },
            payload={"phone": _PHONE, "url": _AUDIO},
            rules=_WAHA_FILE + " `convert: true` has WAHA convert the file to OGG/Opus, the only voice format.",
        ),
        Contract(
            action="waha.send_buttons",
            system="waha",
            method="POST",
            path="/api/sendButtons",
            auth="api-key",
            required=("chatId", "body", "buttons"),
            statuses=(201,),
            response=("id", "timestamp", "fromMe", "to"),
            example={
                "session": "default",
                "chatId": _CHAT,
                "body": "Podemos confirmar a visita de amanhã?",
                "buttons": [
                    {"type": "reply", "id": "sim", "text": "Sim"},
                    {"type": "reply", "id": "nao", "text": "Não"},
                ],
            },
            payload={"phone": _PHONE, "message": "Podemos confirmar a visita de amanhã?", "buttons": _BUTTONS},
            rules="`buttons` is a non-empty list of {`type`, `text`, `id`?} (400 otherwise). Interactive: "
            "only some WAHA engines render it.",
        ),
        Contract(
            action="waha.send_list",
            system="waha",
            method="POST",
            path="/api/sendList",
            auth="api-key",
            required=("chatId", "message"),
            statuses=(201,),
            response=("id", "timestamp", "fromMe", "to"),
            example={
                "session": "default",
                "chatId": f"{_PHONE}@c.us",
                "message": {
                    "title": "Horários",
                    "description": "Escolha o horário da visita",
                    "button": "Ver horários",
                    "sections": [
                        {"title": "Manhã", "rows": [{"rowId": "manha", "title": "Manhã", "description": "8h às 12h"}]}
                    ],
                },
            },
            payload={"phone": _PHONE, "message": "Escolha o horário da visita", "list": _LIST},
            rules="Interactive, like sendButtons. `message` holds `title`, `button` and a non-empty list of "
            "`sections`, each with `rows` "
            "{`rowId`, `title`, `description`?} (400 otherwise).",
        ),
        Contract(
            action="email.send_template",
            system="email",
            method="POST",
            path="/v1/send",
            auth="bearer",
            required=("to", "template"),
            statuses=(202,),
            response=("id",),
            example={"to": "cliente@example.com.br", "template": "boas_vindas", "params": {"name": "Cliente"}},
            rules="Accepted for sending: 202, not 200.",
        ),
        Contract(
            action="sms_twilio.send_sms",
            system="sms_twilio",
            method="POST",
            path="/2010-04-01/Accounts/{account_sid}/Messages.json",
            auth="basic",
            required=("To", "Body"),
            statuses=(201,),
            response=("sid", "status", "to", "from", "messaging_service_sid", "body"),
            example={"To": "+" + _PHONE, "From": "+5511912345678", "Body": "Olá! Recebemos seu contato."},
            example_params={"account_sid": "AC" + "0" * 32},
            payload={"phone": "+55 (11) 98765-4321", "message": "Olá! Recebemos seu contato."},
            encoding="form",
            rules="Twilio's Messages API: form fields; `To` in E.164 (`+` and 8 to 15 digits; 400 "
            "otherwise); `From` or `MessagingServiceSid` (400 without both); HTTP basic auth with the "
            'account SID and auth token. Answers 201 {"sid": "SM<32 hex>", "status": "queued", …}.',
        ),
        Contract(
            action="sms_zenvia.send_sms",
            system="sms_zenvia",
            method="POST",
            path="/v2/channels/sms/messages",
            auth="api-token",
            required=("from", "to", "contents"),
            statuses=(200,),
            response=("id", "from", "to", "direction", "channel", "contents"),
            example={
                "from": "crmbus",
                "to": _PHONE,
                "contents": [{"type": "text", "text": "Olá! Recebemos seu contato."}],
            },
            payload={"phone": "+55 (11) 98765-4321", "message": "Olá! Recebemos seu contato."},
            rules="Zenvia API v2: `to` is the E.164 number without `+` (8 to 15 digits; 400 "
            'otherwise); `contents` is one `{"type": "text", "text": …}` or more; the API token '
            'in `X-API-TOKEN`. Answers 200 {"id", "direction": "OUT", "channel": "sms", …}.',
        ),
        Contract(
            action="marketing.assign_campaign",
            system="marketing",
            method="POST",
            path="/api/v1/campaign-assignments",
            auth="bearer",
            required=(),
            statuses=(201,),
            response=("id", "status"),
            example={"event_id": _EVENT_ID, "channel": "site"},
        ),
        Contract(
            action="webhook.deliver",
            system="webhook",
            method="POST",
            path="/{name}",
            auth="none",
            required=(),
            statuses=(204,),
            response=(),
            example={"type": "lead.created", "data": {"lead_id": "L-1"}},
            example_params={"name": "crm-events"},
            rules="Any JSON value; the Standard Webhooks headers are recorded, not verified. 204, no body.",
        ),
        Contract(
            action="operacao.upsert_appointment",
            system="operacao",
            method="PUT",
            path="/v1/appointments/{id}",
            auth="bearer",
            required=("starts_at",),
            statuses=(201, 200),
            response=("id", "status", "updated_at"),
            example={"client_id": "C-1", "caregiver_id": "CG-1", "starts_at": "2026-12-07T13:00:00Z"},
            example_params={"id": "AG-100"},
            rules="Creates (201) or replaces (200) the appointment named in the path; "
            '`status` is "created" or "updated".',
        ),
        Contract(
            action="operacao.upsert_service",
            system="operacao",
            method="PUT",
            path="/v1/services/{id}",
            auth="bearer",
            required=("status",),
            statuses=(201, 200),
            response=("id", "status", "updated_at"),
            example={"client_id": "C-1", "status": "completed", "service_type": "visita"},
            example_params={"id": "S-100"},
            rules="Creates (201) or replaces (200) the service; `GET /v1/services?status=completed` lists it.",
        ),
        Contract(
            action="cuidadores.upsert_caregiver",
            system="cuidadores",
            method="PUT",
            path="/v1/caregivers/{id}",
            auth="oauth2",
            required=("name",),
            statuses=(201, 200),
            response=("id", "status", "updated_at"),
            example={"name": "Cuidadora Teste", "phone": "+" + _PHONE, "active": True},
            example_params={"id": "CG-100"},
            rules=f"The bearer token comes from `POST {TOKEN_PATH}` and expires after its `expires_in`.",
        ),
        Contract(
            action="atendimento.open_ticket",
            system="atendimento",
            method="POST",
            path="/v1/tickets",
            auth="api-key",
            required=("subject",),
            statuses=(201,),
            response=("id", "status", "updated_at"),
            example={"subject": "Retorno de atendimento", "client_id": "C-1", "channel": "whatsapp"},
            rules='Answers {"id": "TCK-…", "status": "open", "updated_at"}.',
        ),
        Contract(
            action="documentos.store_document",
            system="documentos",
            method="POST",
            path="/v1/documents",
            auth="basic",
            required=("title", "url"),
            statuses=(201,),
            response=("id", "status", "updated_at"),
            example={"title": "Contrato", "url": "https://arquivos.example.com.br/contrato.pdf", "client_id": "C-1"},
            rules='Answers {"id": "DOC-…", "status": "stored", "updated_at"}; `GET /v1/changes` lists it.',
        ),
        Contract(
            action="agenda.book",
            system="agenda",
            method="POST",
            path="/v1/appointments",
            auth="bearer",
            required=("starts_at",),
            statuses=(201,),
            response=("id", "status", "updated_at"),
            example={"client_id": "C-1", "starts_at": "2026-12-07T13:00:00Z", "service_type": "visita"},
            rules='Answers {"id": "AGD-…", "status": "booked", "updated_at"}.',
        ),
    )
}
