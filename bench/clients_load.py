"""One HTTP client's run for the clients bench: N POSTs, at most C in flight, and this process's CPU.

Run as ``python -m bench.clients_load --client NAME --url URL ...``, one process per client and
run, so ``time.process_time()`` (every thread of this process) is that client's CPU alone: no other
client's pool, no table drawing, no destination server. The event loop is uvloop, as in
``crmbus worker``. ``concurrency`` worker tasks share one keep-alive pooled client; each sends the
next request as soon as its previous one came back, so at most ``concurrency`` are in flight and
the pool never makes a request wait for a connection. ``warm_up(concurrency)`` requests open the
connections first and are not counted. The result is one JSON line on stdout (``ClientRun``).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import asdict, dataclass

import aiohttp
import httpx
import orjson
from yarl import URL

from bench.stats import percentile
from connectors.http import HttpClients
from connectors.limits import Timeouts
from connectors.ssrf import OutboundPolicy
from streams.errors import DeliveryError

CLIENTS = {
    "aiohttp": "aiohttp.ClientSession",
    "httpx": "httpx.AsyncClient",
    "httpx_aiohttp": "httpx on the httpx-aiohttp transport",
    "crmbus": "crmbus connectors.http.HttpClients",
}
"""Client name (as ``--clients`` and the JSON keys spell it) → what it is."""

TIMEOUT_S = 30.0  # per request: a stuck request is an error, not a hung bench
PATH = "/crm/v1/leads"  # any POST under /<system>/ is a success for bench.deliver_destination
HEADERS = {"Content-Type": "application/json", "Accept": "application/json", "Authorization": "Bearer bench-token"}
"""What a crmbus connector sends with every delivery, besides its Idempotency-Key."""

BODY = orjson.dumps(
    {
        "name": "Maria Aparecida dos Santos",
        "email": "maria.santos@example.com.br",
        "phone": "+5511987654321",
        "company": "Padaria Pão Quente Ltda",
        "source": "site-form",
        "campaign": {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "inverno-2026"},
        "interest": "plano-empresarial",
        "page": "/contato",
        "marketing_consent": True,
        "message": "Gostaria de receber uma proposta para 12 lojas, com entrega a partir de agosto, por favor.",
        "tags": ["lead", "inbound", "b2b"],
        "event_id": "018f5a2e-7c41-7d3a-9b2e-4f6a1c0d9e87",
    }
)
"""A lead as a delivery carries it, about 500 bytes of JSON."""

Send = Callable[[Mapping[str, str]], Awaitable[int]]
"""POST ``BODY`` with these headers; the answer's status."""

FAILURES: tuple[type[BaseException], ...] = (aiohttp.ClientError, httpx.HTTPError, DeliveryError, OSError)
"""What a request that got no answer raises, whichever client sent it (OSError: timeouts too)."""


def warm_up(concurrency: int) -> int:
    """Requests sent before the measured ones: enough for every connection of the pool to open."""
    return 2 * concurrency


def missing(name: str) -> str | None:
    """Why client ``name`` cannot run here, or None. httpx-aiohttp is optional, never a dependency."""
    if name == "httpx_aiohttp" and importlib.util.find_spec("httpx_aiohttp") is None:
        return "the httpx_aiohttp package is not installed"
    return None


@dataclass(frozen=True, slots=True)
class ClientRun:
    """One client's measured requests: counts, wall time, this process's CPU, latency percentiles."""

    client: str
    requests: int
    errors: int
    wall_s: float
    cpu_s: float
    p50_ms: float
    p99_ms: float

    @classmethod
    def of(
        cls, client: str, requests: int, latencies_ms: Sequence[float], errors: int, wall_s: float, cpu_s: float
    ) -> ClientRun:
        """Summarise ``requests`` sent: ``latencies_ms`` has one entry per request that got an answer."""
        ordered = sorted(latencies_ms)
        return cls(client, requests, errors, wall_s, cpu_s, percentile(ordered, 0.50), percentile(ordered, 0.99))

    @property
    def per_s(self) -> float:
        """Requests per second of wall time, errors included (each was sent)."""
        return self.requests / self.wall_s

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000.0 * self.cpu_s / self.requests


@asynccontextmanager
async def _aiohttp(url: str, concurrency: int) -> AsyncIterator[Send]:
    """A ClientSession as a sink would hold it: one pool of ``concurrency`` keep-alive connections."""
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def send(headers: Mapping[str, str]) -> int:
            async with session.post(url, data=BODY, headers=headers) as response:
                await response.read()
                return response.status

        yield send


@asynccontextmanager
async def _httpx(url: str, concurrency: int, *, aiohttp_transport: bool = False) -> AsyncIterator[Send]:
    """An AsyncClient keeping all ``concurrency`` connections alive (its default keeps only 20)."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    transport = None
    if aiohttp_transport:
        # An optional package, never a dependency: imported only when asked for (``missing`` says it is there).
        transport = importlib.import_module("httpx_aiohttp").AiohttpTransport(limits=limits)
    async with httpx.AsyncClient(limits=limits, transport=transport, timeout=TIMEOUT_S) as client:

        async def send(headers: Mapping[str, str]) -> int:
            response = await client.post(url, content=BODY, headers=headers)
            return response.status_code

        yield send


@asynccontextmanager
async def _crmbus(url: str, concurrency: int) -> AsyncIterator[Send]:
    """The connectors' own path: ``HttpClients.post`` (guarded resolver, capped body read, excerpt)."""
    target = URL(url)
    timeouts = Timeouts(total_s=TIMEOUT_S)
    async with HttpClients(OutboundPolicy(allow_loopback=True), limit_per_host=concurrency) as clients:

        async def send(headers: Mapping[str, str]) -> int:
            response = await clients.post("bench", target, body=BODY, headers=headers, timeouts=timeouts, label="bench")
            return response.status

        yield send


def client(name: str, url: str, concurrency: int) -> AbstractAsyncContextManager[Send]:
    """The pooled client called ``name`` (a key of ``CLIENTS``), open for the ``async with`` block."""
    if name == "aiohttp":
        return _aiohttp(url, concurrency)
    if name in ("httpx", "httpx_aiohttp"):
        return _httpx(url, concurrency, aiohttp_transport=name == "httpx_aiohttp")
    if name == "crmbus":
        return _crmbus(url, concurrency)
    raise ValueError(f"no client {name!r}; known: {', '.join(CLIENTS)}")


async def drive(send: Send, keys: Iterator[str], concurrency: int) -> tuple[list[float], int]:
    """Send one request per key, ``concurrency`` at a time: (latency ms of each answered one, errors).

    An error is a request that got no answer or a non-2xx one.
    """
    latencies: list[float] = []
    errors = 0

    async def worker() -> None:
        nonlocal errors
        for key in keys:  # shared: each worker takes the next key when its request is done
            started = time.perf_counter()
            try:
                status = await send({**HEADERS, "Idempotency-Key": key})
            except FAILURES:
                errors += 1
                continue
            latencies.append((time.perf_counter() - started) * 1000.0)
            errors += not 200 <= status < 300

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors


async def measure(name: str, url: str, requests: int, concurrency: int, tag: str) -> ClientRun:
    """Warm the pool up, then time ``requests`` POSTs: wall clock and this process's CPU."""
    async with client(name, url, concurrency) as send:
        await drive(send, (f"{tag}-warm-{i}" for i in range(warm_up(concurrency))), concurrency)
        cpu, wall = time.process_time(), time.perf_counter()
        latencies, errors = await drive(send, (f"{tag}-{i}" for i in range(requests)), concurrency)
        wall_s, cpu_s = time.perf_counter() - wall, time.process_time() - cpu
    return ClientRun.of(name, requests, latencies, errors, wall_s, cpu_s)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.clients_load")
    parser.add_argument("--client", choices=list(CLIENTS), required=True)
    parser.add_argument("--url", required=True, help="the destination server's base URL")
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--tag", required=True, help="prefix of every Idempotency-Key (unique per run)")
    args = parser.parse_args()
    import uvloop

    url = args.url.rstrip("/") + PATH
    result = uvloop.run(measure(args.client, url, args.requests, args.concurrency, args.tag))
    print(orjson.dumps(asdict(result)).decode(), flush=True)


if __name__ == "__main__":
    main()
