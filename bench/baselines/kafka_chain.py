"""The ceiling: the shortest chain that does the job through Kafka, with none of crmbus's features.

- front (``producer_enqueue``, used by ``bench.baselines.front --backend kafka``): a
  confluent-kafka producer with acks=all and idempotence, the event as one JSON record; the
  202 waits for the acknowledgement. A thread serves the producer's callbacks.
- consumer (``python -m bench.baselines.kafka_chain``): one confluent-kafka consumer and one
  aiohttp session; each batch's deliveries are posted concurrently (bounded by the session's
  pool), each retried with backoff until it succeeds, and the batch is committed only then.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
from typing import Any

import aiohttp
import orjson
from confluent_kafka import Consumer, KafkaError, Message, Producer

from bench.baselines.deliveries import RETRIES, Delivery, DeliveryFailed, deliveries, headers
from bench.baselines.front import Enqueue

_BATCH = 500
_POLL_S = 0.05


def producer_enqueue(bootstrap: str, topic: str) -> Enqueue:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 1, "log_level": 3}
    )

    def serve_callbacks() -> None:
        while True:
            producer.poll(0.1)

    threading.Thread(target=serve_callbacks, name="producer-callbacks", daemon=True).start()

    async def enqueue(event_id: str, payload: dict[str, Any]) -> None:
        loop = asyncio.get_running_loop()
        acked: asyncio.Future[None] = loop.create_future()

        def done(error: KafkaError | None, _: Message) -> None:
            if error is None:
                loop.call_soon_threadsafe(acked.set_result, None)
            else:
                loop.call_soon_threadsafe(acked.set_exception, RuntimeError(error.str()))

        value = orjson.dumps({"event_id": event_id, "payload": payload})
        producer.produce(topic, value=value, key=event_id.encode(), on_delivery=done)
        await acked

    return enqueue


async def _post(session: aiohttp.ClientSession, base: str, event_id: str, delivery: Delivery) -> None:
    for attempt in range(RETRIES + 1):
        try:
            async with session.post(base + delivery.path, data=delivery.body, headers=headers(delivery, event_id)) as r:
                await r.read()
                if r.status < 300:
                    return
                error: Exception = DeliveryFailed(f"{delivery.destination} answered {r.status}")
        except aiohttp.ClientError as failed:
            error = failed
        if attempt == RETRIES:
            raise error
        await asyncio.sleep(min(60.0, 0.1 * 2**attempt))


async def consume(bootstrap: str, topic: str, group: str, base: str, max_in_flight: int) -> None:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "log_level": 3,
        }
    )  # fmt: skip
    consumer.subscribe([topic])
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=max_in_flight)
    async with aiohttp.ClientSession(connector=connector) as session:
        while True:
            batch = await loop.run_in_executor(None, consumer.consume, _BATCH, _POLL_S)
            posts = []
            for message in batch:
                if message.error() is not None:
                    continue
                event = orjson.loads(message.value() or b"{}")
                event_id = event["event_id"]
                posts += [_post(session, base, event_id, d) for d in deliveries(event_id, event["payload"])]
            if posts:
                await asyncio.gather(*posts)
                consumer.commit(asynchronous=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.baselines.kafka_chain")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--destination-url", required=True)
    parser.add_argument("--max-in-flight", type=int, default=300)
    args = parser.parse_args()
    import uvloop

    uvloop.run(consume(args.bootstrap, args.topic, args.group, args.destination_url.rstrip("/"), args.max_in_flight))


if __name__ == "__main__":
    main()
