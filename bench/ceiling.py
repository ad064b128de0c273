"""The ceiling: a bare aiohttp server that parses each event and answers 202, writing nothing.

Same routes and answer shapes as the ingress, and like it on uvloop and orjson. One process
per ``python -m bench.ceiling``; the bench starts as many as the ingress has workers, all on
one port with SO_REUSEPORT.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from bench.genpool import new_event_loop


def _problem(status: int, title: str) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps({"title": title, "status": status}), content_type="application/problem+json"
    )


def _authorised(request: web.Request) -> bool:
    return request.headers.get("Authorization", "").startswith("Bearer ")


def _accepted(event: dict[str, Any]) -> dict[str, Any]:
    # The ingress's answer, with a made-up position in the topic.
    return {
        "event_id": str(uuid.uuid4()),
        "status": "accepted",
        "type": event.get("type"),
        "topic": "crmbus.events",
        "partition": 0,
        "offset": 0,
    }


async def accept_one(request: web.Request) -> web.Response:
    if not _authorised(request):
        return _problem(401, "missing API key")
    event = orjson.loads(await request.read())
    if not isinstance(event, dict) or "type" not in event:
        return _problem(422, "not an event")
    return web.Response(status=202, body=orjson.dumps(_accepted(event)), content_type="application/json")


async def accept_batch(request: web.Request) -> web.Response:
    if not _authorised(request):
        return _problem(401, "missing API key")
    events = orjson.loads(await request.read()).get("events")
    if not isinstance(events, list):
        return _problem(422, "no events list")
    results = [{"index": i, "status_code": 202, **_accepted(event)} for i, event in enumerate(events)]
    answer = {"accepted": len(results), "rejected": 0, "results": results}
    return web.Response(status=202, body=orjson.dumps(answer), content_type="application/json")


async def health(_: web.Request) -> web.Response:
    return web.Response(text="ok")


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/v1/events", accept_one)
    app.router.add_post("/v1/events/batch", accept_batch)
    app.router.add_get("/health", health)
    return app


async def _serve(host: str, port: int, ready_file: Path) -> None:
    runner = web.AppRunner(make_app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, reuse_port=True, backlog=1024).start()
    ready_file.write_text("ready")
    try:
        await asyncio.Event().wait()  # until SIGTERM ends the process
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ceiling")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ready-file", type=Path, required=True)
    args = parser.parse_args()
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(_serve(args.host, args.port, args.ready_file))


if __name__ == "__main__":
    main()
