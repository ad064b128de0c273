"""The seed flows: the destinations and routes every new tenant starts with.

A tenant created without any route would accept events and do nothing with them, and writing a
first route means learning two JSON languages at once. So a new tenant gets the flows the
operation already runs by hand, written in those languages (``streams.route_filter``,
``streams.mapping``), pointing at the sandbox destinations: it can send a lead and watch the CRM,
WhatsApp and marketing requests it causes, then point each destination at its real system.

This module is data only. Every route has a stable ``key`` (``"<event type>/<what it does>"``),
from which the repository derives the route's id, so seeding a tenant twice adds nothing and a
seed route the tenant disabled stays disabled. Texts people read (WhatsApp messages) are in
Portuguese; the placeholder configs hold no real secrets. ``EMAIL_TEMPLATES`` are the texts of the
e-mail templates the seed routes name, which an SMTP destination renders itself
(``streams.email_templates``): a tenant that points its e-mail destination at an SMTP server
sends them as they are until it writes its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class SeedDestination:
    """A destination (a row of ``webhook_endpoints``) at ``<sandbox base URL><path>``."""

    name: str
    kind: str
    path: str
    config: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class SeedRoute:
    """A route (a row of ``event_mappings``) to the seed destination named ``destination``."""

    key: str
    event_type: str
    destination: str
    action: str
    filter: Mapping[str, Any]
    mapping: Mapping[str, Any]
    delay_seconds: int = 0


SEED_DESTINATIONS: tuple[SeedDestination, ...] = (
    SeedDestination("crm", "crm", "/crm", {"sandbox": True}),
    SeedDestination("financeiro", "financeiro", "/financeiro", {"sandbox": True}),
    # Z-API addresses an instance by id and token in its URL; these are the sandbox's placeholders.
    SeedDestination("zapi", "zapi", "/zapi", {"sandbox": True, "instance_id": "demo", "token": "demo"}),
    SeedDestination("email", "email", "/email", {"sandbox": True, "sender": "atendimento@example.com.br"}),
    SeedDestination("marketing", "marketing", "/marketing", {"sandbox": True}),
    # The company's own systems, through the rest kind (connectors.destinations.rest); sync jobs
    # read their list endpoints with the same auth.
    SeedDestination(
        "operacao",
        "rest",
        "/operacao",
        {
            "sandbox": True,
            "auth": {"type": "bearer"},
            "actions": {
                "upsert_appointment": {"method": "PUT", "path": "/v1/appointments/{id}"},
                "upsert_service": {"method": "PUT", "path": "/v1/services/{id}"},
            },
        },
    ),
    SeedDestination(
        "cuidadores",
        "rest",
        "/cuidadores",
        {
            "sandbox": True,
            "auth": {"type": "oauth2_client_credentials", "token_url": "/oauth/token", "client_id": "crmbus"},
            "actions": {"upsert_caregiver": {"method": "PUT", "path": "/v1/caregivers/{id}"}},
        },
    ),
    SeedDestination(
        "atendimento",
        "rest",
        "/atendimento",
        {
            "sandbox": True,
            "auth": {"type": "api_key", "header": "X-Api-Key"},
            "actions": {"open_ticket": {"method": "POST", "path": "/v1/tickets"}},
        },
    ),
    SeedDestination(
        "documentos",
        "rest",
        "/documentos",
        {
            "sandbox": True,
            "auth": {"type": "basic", "username": "crmbus"},
            "actions": {"store_document": {"method": "POST", "path": "/v1/documents"}},
        },
    ),
    SeedDestination(
        "agenda",
        "rest",
        "/agenda",
        {
            "sandbox": True,
            "auth": {"type": "bearer"},
            "actions": {"book": {"method": "POST", "path": "/v1/appointments"}},
        },
    ),
)

_PHONE_DIGITS = {"from": "phone", "format": "phone_digits"}
_CAMPAIGN = {
    f"campaign.{utm}": {"from": f"campaign.{utm}", "optional": True}
    for utm in ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
}
_TWO_HOURS = 2 * 60 * 60

_LEAD_ROUTES = (
    SeedRoute(
        key="lead.created/crm",
        event_type="lead.created",
        destination="crm",
        action="crm.upsert_lead",
        filter={},
        mapping={
            "fields": {
                # Until the CRM assigns a lead id, the event id is what makes a retried upsert the same lead.
                "lead_id": {"from": "lead_id", "optional": True},
                "event_id": {"from": "$event.id"},
                "name": {"from": "name"},
                "phone": {"from": "phone", "format": "phone_e164"},
                "email": {"from": "email", "optional": True},
                "channel": {"from": "channel"},
                "origin": {"from": "origin", "optional": True},
                **_CAMPAIGN,
                "service_interest": {"from": "service_interest", "optional": True},
                "notes": {"from": "notes", "optional": True},
                "marketing_consent": {"from": "marketing_consent", "default": False},
            }
        },
    ),
    # Answering someone who just wrote to us needs no marketing consent: every lead gets the reply.
    SeedRoute(
        key="lead.created/zapi",
        event_type="lead.created",
        destination="zapi",
        action="zapi.send_text",
        filter={},
        mapping={
            "fields": {
                "phone": _PHONE_DIGITS,
                "message": {
                    "template": "Olá, {name|first_name}! Recebemos seu contato e em breve nossa equipe "
                    "vai falar com você por aqui."
                },
            }
        },
    ),
    # LGPD: a lead enters a marketing campaign only with its consent.
    SeedRoute(
        key="lead.created/marketing",
        event_type="lead.created",
        destination="marketing",
        action="marketing.assign_campaign",
        filter={"marketing_consent": True},
        mapping={
            "fields": {
                "event_id": {"from": "$event.id"},
                "lead_id": {"from": "lead_id", "optional": True},
                "name": {"from": "name"},
                "phone": {"from": "phone", "format": "phone_e164"},
                "email": {"from": "email", "optional": True},
                "channel": {"from": "channel"},
                "origin": {"from": "origin", "optional": True},
                **_CAMPAIGN,
            }
        },
    ),
)

_WELCOME = "boas_vindas"

EMAIL_TEMPLATES: Mapping[str, Mapping[str, str]] = {
    _WELCOME: {
        "subject": "Boas-vindas, {name}! Seu cadastro está concluído",
        "text": "Olá, {name}!\n\n"
        "Seu cadastro está concluído e é um prazer ter você conosco.\n\n"
        "Se tiver qualquer dúvida, é só responder este e-mail ou falar com a gente pelo WhatsApp.\n\n"
        "Até breve!\n",
        "html": "<p>Olá, {name}!</p>\n"
        "<p>Seu cadastro está concluído e é um prazer ter você conosco.</p>\n"
        "<p>Se tiver qualquer dúvida, é só responder este e-mail ou falar com a gente pelo WhatsApp.</p>\n"
        "<p>Até breve!</p>\n",
    },
}

_CLIENT_ROUTES = (
    SeedRoute(
        key="client.registered/email",
        event_type="client.registered",
        destination="email",
        action="email.send_template",
        filter={"email": {"exists": True}},
        mapping={
            "fields": {
                "to": {"from": "email"},
                "template": {"const": _WELCOME},
                "variables.name": {"from": "name", "format": "first_name"},
            }
        },
    ),
    SeedRoute(
        key="client.registered/zapi",
        event_type="client.registered",
        destination="zapi",
        action="zapi.send_text",
        filter={},
        mapping={
            "fields": {
                "phone": _PHONE_DIGITS,
                "message": {
                    "template": "Olá, {name|first_name}! Seu cadastro está concluído e é um prazer ter você "
                    "conosco. Qualquer dúvida, é só responder esta mensagem."
                },
            }
        },
    ),
    SeedRoute(
        key="client.registered/financeiro",
        event_type="client.registered",
        destination="financeiro",
        action="financeiro.create_customer",
        filter={},
        mapping={
            "fields": {
                "client_id": {"from": "client_id"},
                "name": {"from": "name"},
                "cpf": {"from": "cpf", "optional": True},
                "email": {"from": "email", "optional": True},
                "phone": {"from": "phone", "format": "phone_e164"},
                "address": {"from": "address", "optional": True},
            }
        },
    ),
)

# The client is greeted by name, so both messages need the name as well as the phone: an event
# without either is not for them, rather than a failed mapping in the DLQ.
_CLIENT_REACHABLE = {"client_phone": {"exists": True}, "client_name": {"exists": True}}
_CLIENT_PHONE_DIGITS = {"from": "client_phone", "format": "phone_digits"}

_SERVICE_ROUTES = (
    SeedRoute(
        key="service.completed/zapi",
        event_type="service.completed",
        destination="zapi",
        action="zapi.send_text",
        filter=_CLIENT_REACHABLE,
        mapping={
            "fields": {
                "phone": _CLIENT_PHONE_DIGITS,
                "message": {
                    "template": "Olá, {client_name|first_name}! O atendimento iniciado em {started_at|date_br} "
                    "foi concluído às {ended_at|time_br}. Obrigado pela confiança!"
                },
            }
        },
    ),
    SeedRoute(
        key="service.completed/zapi-feedback",
        event_type="service.completed",
        destination="zapi",
        action="zapi.send_text",
        filter=_CLIENT_REACHABLE,
        mapping={
            "fields": {
                "phone": _CLIENT_PHONE_DIGITS,
                "message": {
                    "template": "Olá, {client_name|first_name}! Como foi o atendimento de {started_at|date_br}? "
                    "Responda com uma nota de 1 a 5 (1 = muito ruim, 5 = excelente). "
                    "Sua opinião nos ajuda a cuidar cada vez melhor."
                },
            }
        },
        delay_seconds=_TWO_HOURS,
    ),
    SeedRoute(
        key="service.completed/financeiro",
        event_type="service.completed",
        destination="financeiro",
        action="financeiro.create_invoice",
        filter={},
        mapping={
            "fields": {
                "service_id": {"from": "service_id"},
                "client_id": {"from": "client_id"},
                "service_type": {"from": "service_type"},
                "started_at": {"from": "started_at", "format": "datetime"},
                "ended_at": {"from": "ended_at", "format": "datetime"},
            }
        },
    ),
    SeedRoute(
        key="service.completed/crm",
        event_type="service.completed",
        destination="crm",
        action="crm.update_service",
        filter={},
        mapping={
            "fields": {
                "service_id": {"from": "service_id"},
                "client_id": {"from": "client_id"},
                "caregiver_id": {"from": "caregiver_id"},
                "service_type": {"from": "service_type"},
                "status": {"const": "completed"},
                "started_at": {"from": "started_at", "format": "datetime"},
                "ended_at": {"from": "ended_at", "format": "datetime"},
                "notes": {"from": "notes", "optional": True},
            }
        },
    ),
)

_WHATSAPP_ROUTES = (
    SeedRoute(
        key="whatsapp.message.received/crm",
        event_type="whatsapp.message.received",
        destination="crm",
        action="crm.log_interaction",
        filter={},
        mapping={
            "fields": {
                "direction": {"const": "inbound"},
                "provider": {"from": "provider"},
                "instance": {"from": "instance"},
                "message_id": {"from": "message_id"},
                "phone": {"from": "phone", "format": "phone_e164"},
                "contact_name": {"from": "contact_name", "optional": True},
                "kind": {"from": "kind"},
                "text": {"from": "text", "optional": True},
                "occurred_at": {"from": "$event.occurred_at", "format": "datetime"},
            }
        },
    ),
)

SEED_ROUTES: tuple[SeedRoute, ...] = _LEAD_ROUTES + _CLIENT_ROUTES + _SERVICE_ROUTES + _WHATSAPP_ROUTES
