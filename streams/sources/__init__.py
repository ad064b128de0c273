"""Mappers from each source's own webhook format to canonical events.

Each mapper is pure and takes the parsed JSON body and the tenant's payload validator; it returns
the canonical events in it, validated (often one, several for a Z-API status naming many
messages, none for a callback deliberately ignored) or raises ``InvalidEventError`` whose
``field`` is the path *in the source's body*.

    source       format                                   events
    zapi         Z-API webhooks                           whatsapp.message.received/status, whatsapp.session.status
    waha         WAHA webhooks                            the same
    site         the site's lead form (Portuguese)        lead.created
    crm          own envelope, streams.sources.own_format lead.updated, client.registered
    operacao     own envelope                             service.completed
    financeiro   own envelope                             payment.received
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from streams.event_catalogue import PayloadValidator
from streams.sources.crm import map_crm
from streams.sources.financeiro import map_financeiro
from streams.sources.operacao import map_operacao
from streams.sources.site import map_site
from streams.sources.source_event import SourceEvent
from streams.sources.waha import map_waha
from streams.sources.zapi import map_zapi

__all__ = ["SOURCES", "Mapper", "SourceEvent", "validating"]

Mapper = Callable[[Mapping[str, Any], PayloadValidator], list[SourceEvent]]


def validating(read: Callable[[Mapping[str, Any]], list[SourceEvent]]) -> Mapper:
    """A source's reader, followed by the validation of each event it read."""

    def mapper(body: Mapping[str, Any], validate: PayloadValidator) -> list[SourceEvent]:
        return [event.validated(validate) for event in read(body)]

    return mapper


SOURCES: Mapping[str, Mapper] = MappingProxyType(
    {
        "zapi": validating(map_zapi),
        "waha": validating(map_waha),
        "site": validating(map_site),
        "crm": validating(map_crm),
        "operacao": validating(map_operacao),
        "financeiro": validating(map_financeiro),
    }
)
