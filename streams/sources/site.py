"""The public site's lead form to ``lead.created``.

The site posts the form as JSON, field names in Portuguese as the form shows them::

    {
      "id": "0b6f1c1e-...",              optional: the site's id for this submission
      "nome": "Maria Aparecida Souza",    required
      "telefone": "(11) 98765-4321",      required; any usual Brazilian format, or +E.164
      "email": "maria@example.com.br",    optional
      "mensagem": "Preciso de cuidadora...",          optional, up to 4000 characters
      "servico": "cuidador",              optional: cuidador, tecnico_enfermagem, enfermagem,
                                          fisioterapia, acompanhante_hospitalar, outro
      "origem": "lp-cuidador-idosos",     optional: page or form name
      "utm_source": "google", "utm_medium": "cpc", "utm_campaign": "...", "utm_term": "...",
      "utm_content": "...",               optional, as captured from the landing URL
      "aceite_marketing": true,           optional: LGPD consent to marketing contact
      "enviado_em": "2026-03-02T14:05:00-03:00",      optional, with offset
      "website": ""                       honeypot: hidden from people, so it stays empty
    }

A filled ``website`` honeypot is a bot: the body maps to no event, which lets the ingress answer 2xx
so the bot learns nothing. Keys the form adds that are not listed are refused, like any contract
change. A submission with ``id`` dedupes on it (``site:<id>``); without one there is no idempotency
key, because two identical submissions may be two real requests. Leads are ordered by the digest of
their phone, the one identity a site lead has before the CRM assigns an id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams.sources.reading import as_key, as_object, as_optional_text, invalid, iso_datetime
from streams.sources.source_event import SourceEvent, canonical_event
from streams.sources.vocabulary import SERVICE_TYPES, translate

_UTM = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
_KNOWN = frozenset(
    {"id", "nome", "telefone", "email", "mensagem", "servico", "origem", "aceite_marketing", "enviado_em", "website"}
    | set(_UTM)
)
_FIELDS = {
    "name": "nome",
    "phone": "telefone",
    "email": "email",
    "notes": "mensagem",
    "origin": "origem",
    "marketing_consent": "aceite_marketing",
    **{f"campaign.{utm}": utm for utm in _UTM},
}


def map_site(body: Mapping[str, Any]) -> list[SourceEvent]:
    """The ``lead.created`` event of one form submission ([] for a bot caught by the honeypot)."""
    body = as_object(body, "body")
    if as_optional_text(body.get("website"), "website"):
        return []
    unknown = sorted(key for key in body if key not in _KNOWN)
    if unknown:
        raise invalid(unknown[0], "is not a field of the site's lead form")
    campaign = {utm: body[utm] for utm in _UTM if body.get(utm) is not None}
    submission = as_key(body["id"], "id") if body.get("id") is not None else None
    payload = {
        "name": body.get("nome"),
        "phone": body.get("telefone"),
        "email": as_optional_text(body.get("email"), "email"),
        "channel": "site",
        "origin": body.get("origem"),
        "campaign": campaign or None,
        "service_interest": translate(body.get("servico"), SERVICE_TYPES, "servico"),
        "notes": as_optional_text(body.get("mensagem"), "mensagem"),
        "marketing_consent": body.get("aceite_marketing"),
    }
    event = canonical_event(
        "lead.created",
        payload,
        source_fields=_FIELDS,
        occurred_at=iso_datetime(body.get("enviado_em"), "enviado_em"),
        idempotency_key=f"site:{submission}" if submission else None,
        order_by="phone",
    )
    return [event]
