"""Probe a destination through its kind's health call (``streams.probes`` says which kinds have one).

A probe never raises: an answer that is not 2xx, no answer at all, or a configuration the
connector refuses is a ``Probe`` that is down, with the error's class name (never its message:
a Z-API URL holds a token).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from connectors.destinations.base import HttpDestination
from connectors.destinations.waha import WahaDestination
from connectors.destinations.zapi import ZapiDestination
from connectors.http import HttpClients
from streams.errors import ConfigurationError, DeliveryError
from streams.probes import Probe, SessionStatus, waha_session, zapi_session


def _zapi(body: Any) -> tuple[SessionStatus, str | None]:
    session = zapi_session(body)
    return session, None if session == "connected" else "session_disconnected"


_PROBED: Mapping[str, tuple[type[HttpDestination], Callable[[Any], tuple[SessionStatus, str | None]]]] = {
    ZapiDestination.kind: (ZapiDestination, _zapi),
    WahaDestination.kind: (WahaDestination, waha_session),
}


def has_health_call(kind: str) -> bool:
    return kind in _PROBED


async def probe(
    kind: str, *, url: str, config: Mapping[str, Any], secret: str | None, client: HttpClients, endpoint_id: str
) -> Probe:
    """Call the health call of a destination of ``kind`` (one of ``has_health_call``)."""
    connector_class, read_session = _PROBED[kind]
    try:
        connector = connector_class(url=url, config=config, secret=secret, client=client, endpoint_id=endpoint_id)
        answer = await connector.health()
    except (ConfigurationError, DeliveryError) as exc:
        return Probe("down", error_class=type(exc).__name__)
    if not 200 <= answer.status <= 299:
        return Probe("down", error_class=f"http_{answer.status}")
    try:
        body = orjson.loads(answer.text)
    except orjson.JSONDecodeError:
        return Probe("down", error_class="invalid_json")
    session, why = read_session(body)
    return Probe("up", session, why)
