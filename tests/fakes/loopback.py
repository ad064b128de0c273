"""Serve an aiohttp app on 127.0.0.1, on a free port, in the running event loop."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web


@contextlib.asynccontextmanager
async def serving_app(app: web.Application) -> AsyncIterator[int]:
    """``app`` served while the block runs; yields its port."""
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()
