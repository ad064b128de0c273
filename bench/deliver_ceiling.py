"""The sinks' ceiling: a plain confluent-kafka consumer and one aiohttp session, one process.

The same work per delivery as a sink, minus its framework and bookkeeping: decode the Avro
Delivery with the project's codec, POST its payload to the destination's contract path with
the same headers (credential, ``Idempotency-Key`` = delivery id, JSON), at most
``--max-in-flight`` requests open, and commit the batch's offsets only once every response
came back. A failed request is tried again at once, a few times, then counted and logged.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

import aiohttp
import orjson
from confluent_kafka import Consumer

from connectors.kafka.schema_registry import schema_ids
from infra.devtools.sandbox.contracts import AUTH_HEADERS, CONTRACTS, REST_SYSTEMS
from schemas.avro_schemas import load_schema
from schemas.codec import AvroCodec

BATCH = 2000
_TRIES = 3
# The seed Z-API destination's placeholder instance, as in streams.seed_flows.
_PATH_PARAMS = {"instance_id": "demo", "token": "demo"}


def _paths() -> dict[str, tuple[str, str, str]]:
    """Action → (system, path under the system's base URL, credential header), for the JSON
    contracts the load's routes use (the SMS kinds only stand in as fallbacks)."""
    return {
        action: (
            contract.system,
            contract.path.format(**{**contract.example_params, **_PATH_PARAMS}),
            AUTH_HEADERS.get(contract.auth, ""),
        )
        for action, contract in CONTRACTS.items()
        # The company's REST systems are reached through rest destinations, which no bench routes
        # to; the SMS providers take form bodies, which the ceiling does not post.
        if contract.auth != "none"
        and contract.encoding == "json"
        and contract.system not in REST_SYSTEMS
        and not contract.system.startswith("sms_")
    }


class _Ceiling:
    def __init__(self, base_url: str, secret: str, max_in_flight: int) -> None:
        self.base_url, self.secret = base_url.rstrip("/"), secret
        self.paths = _paths()
        self.slots = asyncio.Semaphore(max_in_flight)
        self.failed = 0
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max_in_flight, limit_per_host=max_in_flight),
            timeout=aiohttp.ClientTimeout(total=10.0),
        )

    async def deliver(self, delivery: dict[str, object]) -> None:
        system, path, credential = self.paths[str(delivery["action"])]
        token = f"Bearer {self.secret}" if credential == "Authorization" else self.secret
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            credential: token,
            "Idempotency-Key": str(delivery["delivery_id"]),
        }
        body = orjson.dumps(orjson.loads(str(delivery["payload"])))
        url = f"{self.base_url}/{system}{path}"
        async with self.slots:
            for _ in range(_TRIES):
                try:
                    async with self.session.post(url, data=body, headers=headers) as response:
                        await response.read()
                        if response.status < 500 and response.status != 429:
                            if response.status >= 300:
                                self.failed += 1
                                print(f"{system}: HTTP {response.status}", file=sys.stderr)
                            return
                except (aiohttp.ClientError, TimeoutError):
                    continue
            self.failed += 1
            print(f"{system}: gave up after {_TRIES} tries", file=sys.stderr)


async def serve(args: argparse.Namespace) -> None:
    ids = schema_ids(args.registry_url)
    topics = args.topics.split(",")
    codecs = {t: AvroCodec(load_schema("delivery.v1.avsc"), f"{t}-value", ids) for t in topics}
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": args.group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "log_level": 3,
        }
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    consumer.subscribe(topics, on_assign=lambda *_: args.ready_file.write_text("ready"))
    ceiling = _Ceiling(args.sandbox_url, args.secret, args.max_in_flight)
    try:
        while not stop.is_set():
            # A short blocking poll: between batches there is nothing else for this loop to do.
            messages = consumer.consume(BATCH, 0.02)
            if not messages:
                await asyncio.sleep(0)
                continue
            seen: set[str] = set()
            calls = []
            for message in messages:
                if (error := message.error()) is not None:
                    raise SystemExit(f"consume failed: {error.str()}")
                delivery = codecs[message.topic() or ""].decode(message.value() or b"")
                if delivery["delivery_id"] in seen:
                    continue
                seen.add(delivery["delivery_id"])
                calls.append(ceiling.deliver(delivery))
            await asyncio.gather(*calls)
            consumer.commit(asynchronous=False)
    finally:
        await ceiling.session.close()
        consumer.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.deliver_ceiling")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topics", required=True, help="deliver topics, comma-separated")
    parser.add_argument("--group", required=True)
    parser.add_argument("--sandbox-url", required=True)
    parser.add_argument("--secret", required=True, help="the credential every destination gets")
    parser.add_argument("--max-in-flight", type=int, default=64)
    parser.add_argument("--ready-file", type=Path, required=True, help="written once partitions are assigned")
    parser.add_argument("--registry-url", default=None)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(serve(args))
    except ImportError:
        asyncio.run(serve(args))
    sys.exit(0)


if __name__ == "__main__":
    main()
