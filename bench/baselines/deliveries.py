"""The job every baseline does per event: three POSTs, as crmbus's seed flows and connectors make them.

The same paths, headers and bodies as ``connectors.destinations`` send for the seed routes of a
consenting lead (crm ``upsert_lead``, zapi ``send_text``, marketing ``assign_campaign``), bodies
encoded once with orjson, ``Idempotency-Key`` = event id / destination so a retried delivery is
recognised. What differs from crmbus is where the mapping is written: here, by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

# The credential the bench gives every destination; the receiver checks only that it is there.
TOKEN = "bench-token"  # noqa: S105 - a loopback placeholder, not a secret
RETRIES = 8  # attempts after the first, with exponential backoff, before a delivery is given up
_CAMPAIGN = ("utm_source", "utm_medium", "utm_campaign")


@dataclass(frozen=True, slots=True)
class Delivery:
    destination: str
    path: str  # under the receiver's URL
    headers: Mapping[str, str]
    body: bytes


def _lead(event_id: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    campaign = payload.get("campaign") or {}
    return {
        "event_id": event_id,
        "name": payload["name"],
        "phone": payload["phone"],
        "email": payload.get("email"),
        "channel": payload["channel"],
        "origin": payload.get("origin"),
        **{name: campaign.get(name) for name in _CAMPAIGN},
    }


def _first_name(name: str) -> str:
    return name.split()[0] if name.split() else name


def deliveries(event_id: str, payload: Mapping[str, Any]) -> list[Delivery]:
    """The requests one lead.created event becomes (marketing only with the lead's consent)."""
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    lead = _lead(event_id, payload)
    crm = {
        **lead,
        "service_interest": payload.get("service_interest"),
        "notes": payload.get("notes"),
        "marketing_consent": bool(payload.get("marketing_consent")),
    }
    message = (
        f"Olá, {_first_name(payload['name'])}! Recebemos seu contato e em breve nossa equipe "
        "vai falar com você por aqui."
    )
    zapi = {"phone": "".join(c for c in payload["phone"] if c.isdigit()), "message": message}
    made = [
        Delivery("crm", "/crm/api/v1/leads", bearer, orjson.dumps(crm)),
        Delivery("zapi", "/zapi/instances/demo/token/demo/send-text", {"Client-Token": TOKEN}, orjson.dumps(zapi)),
    ]
    if payload.get("marketing_consent") is True:
        made.append(Delivery("marketing", "/marketing/api/v1/campaign-assignments", bearer, orjson.dumps(lead)))
    return made


def headers(delivery: Delivery, event_id: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "Accept": "application/json",
        **delivery.headers,
        "Idempotency-Key": f"{event_id}/{delivery.destination}",
    }


class DeliveryFailed(Exception):
    """A destination answered with an error: the queue's retry policy takes it from here."""


def post_all(client: httpx.Client, event_id: str, payload: Mapping[str, Any]) -> None:
    """The event's deliveries one after another on a keep-alive client; raises on the first failure."""
    for delivery in deliveries(event_id, payload):
        response = client.post(delivery.path, content=delivery.body, headers=headers(delivery, event_id))
        if not response.is_success:
            raise DeliveryFailed(f"{delivery.destination} answered {response.status_code}")
