"""Destination connectors, one per ``webhook_endpoints.kind``, and ``connector_for`` to build one.

The sink builds a connector from an endpoint row (secret already opened) and calls ``deliver``::

    async with HttpClients(OutboundPolicy()) as clients:
        connector = connector_for(kind, url=url, config=config, secret=secret, client=clients)
        delivered = await connector.deliver(delivery_id, action, payload)

A connector that cannot be built (unknown kind, unsafe URL, missing secret, invalid config) raises
``PermanentDeliveryError``: the sink has one vocabulary, retry or dead-letter, for every failure.

The URL chooses how an e-mail destination sends: ``https://`` through an e-mail HTTP API
(``EmailDestination``), ``smtp://`` or ``smtps://`` through an SMTP server (``SmtpEmailDestination``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.destinations.base import Connector, Delivered, HttpDestination
from connectors.destinations.crm import CrmDestination
from connectors.destinations.email import EmailDestination
from connectors.destinations.financeiro import FinanceiroDestination
from connectors.destinations.marketing import MarketingDestination
from connectors.destinations.rest import RestDestination
from connectors.destinations.sms import TwilioSmsDestination, ZenviaSmsDestination
from connectors.destinations.smtp import SmtpEmailDestination
from connectors.destinations.waha import WahaDestination
from connectors.destinations.webhook import WebhookDestination
from connectors.destinations.zapi import ZapiDestination
from connectors.http import HttpClients
from connectors.smtp import is_smtp_url
from streams.errors import ConfigurationError, PermanentDeliveryError

__all__ = ["CONNECTORS", "Connector", "Delivered", "HttpClients", "connector_for"]

CONNECTORS: Mapping[str, type[HttpDestination]] = {
    connector.kind: connector
    for connector in (
        CrmDestination,
        FinanceiroDestination,
        ZapiDestination,
        WahaDestination,
        EmailDestination,
        MarketingDestination,
        WebhookDestination,
        TwilioSmsDestination,
        ZenviaSmsDestination,
        RestDestination,
    )
}


def connector_for(
    kind: str,
    *,
    url: str,
    config: Mapping[str, Any],
    secret: str | None,
    client: HttpClients,
    endpoint_id: str | None = None,
) -> Connector:
    """The connector for one endpoint; ``endpoint_id`` names its connection pool (default: its URL)."""
    connector: type[Connector]
    try:
        connector = CONNECTORS[kind]
    except KeyError:
        raise PermanentDeliveryError(f"no connector for destination kind {kind!r}") from None
    if kind == SmtpEmailDestination.kind and is_smtp_url(url):
        connector = SmtpEmailDestination
    try:
        return connector(url=url, config=config, secret=secret, client=client, endpoint_id=endpoint_id)
    except ConfigurationError as exc:
        raise PermanentDeliveryError(f"{kind} destination is misconfigured: {exc}") from exc
