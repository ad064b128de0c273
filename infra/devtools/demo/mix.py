"""The events ``crmbus demo`` posts: site and WhatsApp leads, clients registered, services
completed and WhatsApp messages, as the company's systems would send them (fictitious people)."""

from __future__ import annotations

import copy
import random
import uuid
from dataclasses import dataclass
from typing import Any

from schemas.event_types import built_in_catalogue
from streams.errors import ConfigurationError

_FIRST = ("Ana", "Bruno", "Carla", "Diego", "Elaine", "Fábio", "Gabriela", "Heitor", "Isabela", "João")
_LAST = ("Silva", "Souza", "Oliveira", "Santos", "Lima", "Pereira", "Costa", "Almeida")


@dataclass(frozen=True, slots=True)
class DemoEvent:
    kind: str  # what the demo calls it, e.g. "site lead"
    type: str
    payload: dict[str, Any]
    idempotency_key: str


def _example(event_type: str) -> dict[str, Any]:
    """A copy of the example payload the built-in type's file ships."""
    found = built_in_catalogue().get("demo", event_type)
    if found is None or found.example is None:
        raise ConfigurationError(f"the built-in type {event_type} has no example")
    return copy.deepcopy(dict(found.example))


def _person(rng: random.Random, index: int) -> tuple[str, str, str]:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    phone = f"+55119{rng.randrange(10_000_000, 99_999_999)}"
    email = f"{first.lower().replace('á', 'a').replace('ã', 'a')}.{last.lower()}{index}@example.com.br"
    return f"{first} {last}", phone, email


def demo_events(per_kind: int, seed: int | None = None) -> list[DemoEvent]:
    """``per_kind`` events of each kind, interleaved as a day's traffic would be."""
    rng = random.Random(seed)  # noqa: S311 - fictitious people, not secrets
    run = uuid.UUID(int=rng.getrandbits(128)).hex[:8]
    events: list[DemoEvent] = []
    for index in range(per_kind):
        name, phone, email = _person(rng, index)
        site_lead = {**_example("lead.created"), "name": name, "phone": phone, "email": email}
        site_lead["marketing_consent"] = index % 2 == 0
        whatsapp_lead = {
            **site_lead,
            "channel": "whatsapp",
            "email": None,
            "origin": "whatsapp",
            "campaign": None,
            "marketing_consent": False,
        }
        client = {**_example("client.registered"), "name": name, "phone": phone, "email": email}
        client["client_id"] = f"CL-{run}-{index:03d}"
        service = {
            **_example("service.completed"),
            "service_id": f"AT-{run}-{index:03d}",
            "client_id": client["client_id"],
            "client_name": name,
            "client_phone": phone,
        }
        message = {**_example("whatsapp.message.received"), "phone": phone, "contact_name": name.split()[0]}
        message["message_id"] = f"DEMO{run}{index:04d}".upper()
        for kind, event_type, payload in (
            ("site lead", "lead.created", site_lead),
            ("WhatsApp lead", "lead.created", whatsapp_lead),
            ("client registered", "client.registered", client),
            ("service completed", "service.completed", service),
            ("WhatsApp message", "whatsapp.message.received", message),
        ):
            cleaned = {key: value for key, value in payload.items() if value is not None}
            events.append(DemoEvent(kind, event_type, cleaned, f"demo-{run}-{kind.replace(' ', '-')}-{index}"))
    return events
