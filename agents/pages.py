"""The worker's web pages: ``/health`` for orchestrators, ``/metrics`` for Prometheus."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import faust

from infra.core.metrics import exposition

if TYPE_CHECKING:
    from agents.app import Wiring


def add_pages(app: faust.App, wiring: Wiring) -> None:
    @app.page("/health")
    async def health(view: Any, request: Any) -> Any:
        """200 once routes are loaded and partitions assigned and restored; 503 before."""
        status = {"status": "ok" if wiring.ready else "starting", "routes": len(wiring.routes.book)}
        return view.json(status, status=200 if wiring.ready else 503)

    @app.page("/metrics")
    async def metrics(view: Any, request: Any) -> Any:
        body, content_type = exposition()
        return view.bytes(body, headers={"Content-Type": content_type})  # aiohttp refuses a charset here
