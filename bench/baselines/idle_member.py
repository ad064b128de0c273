"""The idle bench's floor: a bare aiokafka consumer group member and a bare aiohttp server, doing nothing.

``python -m bench.baselines.idle_member --bootstrap B --topic T --group G --port P``: the consumer
(aiokafka's defaults: a fetch waits up to 500 ms at the broker, offsets committed every 5 s) joins
``G`` on ``T``; ``GET /health`` answers 200 once it holds partitions. Runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from aiohttp import web
from aiokafka import AIOKafkaConsumer  # type: ignore[import-untyped]


async def _serve(args: argparse.Namespace) -> None:
    consumer = AIOKafkaConsumer(args.topic, bootstrap_servers=args.bootstrap, group_id=args.group)
    await consumer.start()

    async def health(_: web.Request) -> web.Response:
        return web.Response(status=200 if consumer.assignment() else 503)

    app = web.Application()
    app.router.add_get("/health", health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.port).start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

    async def consume() -> None:
        async for _ in consumer:  # nothing arrives; the loop is the member's fetching
            pass

    consuming = asyncio.create_task(consume())
    try:
        await stop.wait()
    finally:
        consuming.cancel()
        await runner.cleanup()
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    for option in ("--bootstrap", "--topic", "--group"):
        parser.add_argument(option, required=True)
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()
