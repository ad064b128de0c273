"""Pull a system's changed records a page at a time over REST: the requests of a ``PullSpec``.

``Puller.page(watermark, position)`` asks for one page (``streams.pagination.ask``), with the
endpoint's credentials (``connectors.rest.auth``), and reads the answer into a ``Page``
(``streams.pagination.turn``)::

    puller = Puller(base_url=url, spec=PullSpec.from_config(source), auth=auth, clients=clients,
                    timeouts=Timeouts.from_config(config))
    position = stored_position
    while True:
        page = await puller.page(watermark, position)
        ...deliver page.records, store page.position...
        if page.position is None: break   # store page.watermark for the next run

A 401 drops fetched credentials and asks once more; other statuses are judged as deliveries'
are (``streams.http_outcome``): 429 and 5xx transient, other 4xx permanent. A ``Link`` to the next
page must stay on the endpoint's own origin: credentials are never sent to another host. Errors
name the path, never the query (a cursor) or a credential.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import orjson
from yarl import URL

from connectors.http import Answer, HttpClients
from connectors.limits import Timeouts
from connectors.rest.auth import Auth
from streams.errors import PermanentDeliveryError
from streams.http_outcome import classify
from streams.pagination import Page, PullSpec, ask, turn

__all__ = ["Page", "PullSpec", "Puller"]

PAGE_CAP_BYTES = 16 * 1024 * 1024
"""The largest page body read; a page cut at the cap is refused, never half-read."""


class Puller:
    """The pages of one ``PullSpec`` on one endpoint."""

    def __init__(
        self,
        *,
        base_url: str,
        spec: PullSpec,
        auth: Auth,
        clients: HttpClients,
        timeouts: Timeouts,
        pool_key: str | None = None,
    ) -> None:
        self._base = clients.policy.check_url(base_url)
        self._spec = spec
        self._auth = auth
        self._clients = clients
        self._timeouts = timeouts
        self._pool_key = pool_key or f"pull:{self._base}"
        self._label = f"pull ({spec.path})"

    async def page(self, watermark: Mapping[str, Any] | None, position: Mapping[str, Any] | None) -> Page:
        """The page at ``position`` (None: a run's first) of a run started from ``watermark``."""
        request = ask(self._spec, watermark, position)
        url = self._url(request.url) if request.url else self._path_url().update_query(request.params)
        answer = await self._get(url)
        try:
            body = orjson.loads(answer.text)
        except orjson.JSONDecodeError:
            raise PermanentDeliveryError(f"{self._label} answered a body that is not JSON (or over the cap)") from None
        link = answer.headers.get("link")
        return turn(self._spec, watermark=watermark, position=position, body=body, link_header=link)

    def _path_url(self) -> URL:
        return self._base.with_path(self._base.raw_path.rstrip("/") + self._spec.path, encoded=True)

    def _url(self, target: str) -> URL:
        """A next-page link, resolved against the list's URL; refused unless on the same origin."""
        url = self._path_url().join(URL(target))
        if url.origin() != self._base.origin():
            raise PermanentDeliveryError(f"{self._label}: the next-page link points at another origin")
        return url

    async def _get(self, url: URL) -> Answer:
        answer = await self._ask(url)
        if answer.status == 401:
            await self._auth.invalidate()
            answer = await self._ask(url)
        retry_after = answer.headers.get("retry-after")
        error = classify(answer.status, retry_after=retry_after, now=time.time(), label=self._label)
        if error is not None:
            raise error
        return answer

    async def _ask(self, url: URL) -> Answer:
        headers = {"Accept": "application/json", **(await self._auth.headers())}
        return await self._clients.get(
            self._pool_key,
            url,
            headers=headers,
            timeouts=self._timeouts,
            label=self._label,
            body_cap_bytes=PAGE_CAP_BYTES,
        )
