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
  credential, 400 for a body that is not JSON or lacks a required field or breaks a rule below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

System = Literal[
    "crm", "financeiro", "zapi", "waha", "email", "marketing", "webhook",
    "operacao", "cuidadores", "atendimento", "documentos", "agenda",
]  # fmt: skip
SYSTEMS: tuple[System, ...] = get_args(System)
REST_SYSTEMS: tuple[System, ...] = ("operacao", "cuidadores", "atendimento", "documentos", "agenda")
"""The company's own systems, reached through the generic ``rest`` destination kind."""

Auth = Literal["bearer", "client-token", "api-key", "basic", "oauth2", "none"]
AUTH_HEADERS: Mapping[Auth, str] = {
    "bearer": "Authorization",
    "client-token": "Client-Token",
    "api-key": "X-Api-Key",
    "basic": "Authorization",
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

SECRET_HEADERS = frozenset({"authorization", "client-token", "x-api-key", "cookie", "proxy-authorization"})
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

    @property
    def route(self) -> str:
        """The path on the sandbox, which serves each system under its name."""
        return f"/{self.system}{self.path}"

    @property
    def headers(self) -> tuple[str, ...]:
        """The headers a request must carry (besides ``Content-Type: application/json``)."""
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
