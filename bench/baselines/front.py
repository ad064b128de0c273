"""The baselines' HTTP front end: ``POST /v1/events`` checks the key, queues the event, answers 202.

One aiohttp process on uvloop, as a user of these queues would put in front of them. Celery's
and Dramatiq's ``send`` are blocking Redis calls made in the handler (well under a millisecond
on loopback: what their users do); the ceiling awaits Kafka's acknowledgement (acks=all) before
it answers, as crmbus's ingress does.

    python -m bench.baselines.front --backend celery|dramatiq|kafka --port P --secret S
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

Enqueue = Callable[[str, dict[str, Any]], Awaitable[None]]


def _json(status: int, document: dict[str, Any]) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(document), content_type="application/json")


def make_app(enqueue: Enqueue, secret: str) -> web.Application:
    expected = f"Bearer {secret}"

    async def post_event(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != expected:
            return _json(401, {"error": "unauthorized"})
        try:
            document = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _json(400, {"error": "the body is not JSON"})
        payload = document.get("payload") if isinstance(document, dict) else None
        if document.get("type") != "lead.created" or not isinstance(payload, dict):
            return _json(400, {"error": "a lead.created event with a payload object is expected"})
        event_id = str(uuid.uuid4())
        try:
            await enqueue(event_id, payload)
        except Exception as error:  # noqa: BLE001 - whatever the queue raised, the client is told to retry
            return _json(503, {"error": "queue_unavailable", "detail": type(error).__name__})
        return _json(202, {"event_id": event_id, "status": "accepted"})

    async def health(_: web.Request) -> web.Response:
        return _json(200, {"status": "ok"})

    app = web.Application()
    app.add_routes([web.post("/v1/events", post_event), web.get("/health", health)])
    return app


def _celery() -> Enqueue:
    from bench.baselines.celery_app import fan_out

    async def enqueue(event_id: str, payload: dict[str, Any]) -> None:
        fan_out.delay(event_id, payload)

    return enqueue


def _dramatiq() -> Enqueue:
    from bench.baselines.dramatiq_app import fan_out

    async def enqueue(event_id: str, payload: dict[str, Any]) -> None:
        fan_out.send(event_id, payload)

    return enqueue


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.baselines.front")
    parser.add_argument("--backend", choices=("celery", "dramatiq", "kafka"), required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--bootstrap", help="kafka: the brokers")
    parser.add_argument("--topic", help="kafka: where events go")
    args = parser.parse_args()
    import uvloop

    uvloop.install()
    if args.backend == "kafka":
        from bench.baselines.kafka_chain import producer_enqueue

        app = make_app(producer_enqueue(args.bootstrap, args.topic), args.secret)
    else:
        app = make_app(_celery() if args.backend == "celery" else _dramatiq(), args.secret)
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
