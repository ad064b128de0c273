"""Any REST system: the actions an endpoint's config names, each a method and a path template.

    {"auth": {"type": "bearer"},                              see connectors.rest.auth
     "actions": {"upsert_appointment": {"method": "PUT", "path": "/v1/appointments/{id}"},
                 "open_ticket": {"method": "POST", "path": "/v1/tickets"}}}

A route names an action ``rest.<name>``; its payload is the JSON body (DELETE sends it too) and
fills the path's ``{field}`` placeholders, each value percent-encoded so it stays one segment. A
payload without a placeholder's field cannot be sent: ``PermanentDeliveryError`` naming the field.

A 401 means the credential went stale (an OAuth2 token revoked before its ``expires_in``): the
connector invalidates it and sends the call once more with fresh headers; a second 401 stands.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from connectors.destinations.base import Delivered, HttpDestination, Request
from connectors.rest.auth import auth_from
from streams.errors import DeliveryError, PermanentDeliveryError
from streams.rest_actions import action_named, rest_actions


class RestDestination(HttpDestination):
    kind = "rest"
    SECRET_REQUIRED = False  # the auth type says whether it needs one

    def configure(self) -> None:
        self._actions = rest_actions(self._config)
        self._auth = auth_from(self._config, self._secret, self._client, base_url=self._base)

    def build(self, action: str, payload: Mapping[str, Any]) -> Request:
        found = action_named(self._actions, action)
        if found is None:
            raise PermanentDeliveryError(f"this rest destination has no action {action!r}")
        return Request(found.path_for(action, payload), payload, method=found.method)

    async def deliver(self, delivery_id: str, action: str, payload: Mapping[str, Any]) -> Delivered:
        request = self.build(action, payload)
        sent = await self._auth.headers()
        try:
            return await self.send(delivery_id, action, replace(request, headers=sent))
        except DeliveryError as exc:
            if exc.status != 401:
                raise
        await self._auth.invalidate(sent)
        return await self.send(delivery_id, action, replace(request, headers=await self._auth.headers()))
