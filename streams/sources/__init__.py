"""Mappers from each source's own webhook format to canonical events.

Each mapper is pure and takes the parsed JSON body; it returns the canonical events in it (often
one, several for a Z-API status naming many messages, none for a callback deliberately ignored)
or raises ``InvalidEventError`` whose ``field`` is the path *in the source's body*.

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

from streams.sources.crm import map_crm
from streams.sources.financeiro import map_financeiro
from streams.sources.operacao import map_operacao
from streams.sources.site import map_site
from streams.sources.source_event import SourceEvent
from streams.sources.waha import map_waha
from streams.sources.zapi import map_zapi

__all__ = ["SOURCES", "SourceEvent"]

SOURCES: Mapping[str, Callable[[Mapping[str, Any]], list[SourceEvent]]] = MappingProxyType(
    {
        "zapi": map_zapi,
        "waha": map_waha,
        "site": map_site,
        "crm": map_crm,
        "operacao": map_operacao,
        "financeiro": map_financeiro,
    }
)
