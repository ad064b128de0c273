"""The sandbox destinations on one port: each system under its name, and the control API.

``Sandbox`` runs them inside a test's event loop and is driven directly; ``serve`` runs them in
the foreground (``crmbus sandbox``) for other processes, driven through the control API.
"""

from __future__ import annotations

import asyncio
import json
import time
from functools import partial
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qsl

import structlog
from aiohttp import web
from yarl import URL

from infra.devtools.sandbox import control, listings, sessions
from infra.devtools.sandbox.contracts import (
    CONTRACTS,
    IDEMPOTENCY_KEY,
    SECRET_HEADERS,
    SECRET_PATH_PARAMS,
    Contract,
    System,
)
from infra.devtools.sandbox.faults import Failure
from infra.devtools.sandbox.idempotency import fingerprint
from infra.devtools.sandbox.journal import Received
from infra.devtools.sandbox.state import STATE, SandboxState
from infra.devtools.sandbox.systems import Answer, refusal, unauthorized

log = structlog.get_logger(__name__)

# A slow answer still pending at shutdown is not worth waiting for: nobody needs it.
_GRACE_S = 0.5


def build_app(state: SandboxState) -> web.Application:
    app = web.Application()
    app[STATE] = state
    for contract in CONTRACTS.values():
        app.router.add_route(contract.method, contract.route, partial(_serve, contract))
    app.add_routes(listings.routes())
    app.add_routes(sessions.routes())
    app.add_routes(control.routes())
    return app


async def _serve(contract: Contract, request: web.Request) -> web.StreamResponse:
    """Fail as told, or answer as the contract says; record it; log one line without the body.

    The log's ``status`` is null when nothing was answered (a reset, or a slow answer the sandbox
    stopped before sending); the route is the template, so the Z-API token stays out of it too.
    """
    state = request.app[STATE]
    arrived, started = time.time(), time.perf_counter()
    status: int | None = None
    try:
        failure = state.faults.take(contract.system)
        body, parsed = _parsed(contract, await request.read())
        answer = _answer(state, contract, request, body, parsed, failure)
        state.journal.record(_received(contract, request, body, answer, arrived))
        if answer is None:
            # A reset: drop the connection with nothing written; the response below is never sent.
            if request.transport is not None:
                request.transport.close()
            return web.Response()
        if failure is not None and failure.delay_s is not None:
            await asyncio.sleep(failure.delay_s)
        status = answer.status  # only now: a slow answer cut short by shutdown was never sent
        if answer.body is None:
            return web.Response(status=answer.status, headers=answer.headers)
        return web.json_response(answer.body, status=answer.status, headers=answer.headers)
    finally:
        elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
        log.info("sandbox.request", system=contract.system, route=contract.route, status=status, ms=elapsed_ms)


def _parsed(contract: Contract, raw: bytes) -> tuple[Any, bool]:
    """The request's body as the contract's encoding reads it, and whether it could be read."""
    try:
        if contract.encoding == "form":
            return dict(parse_qsl(raw.decode(), keep_blank_values=True, strict_parsing=bool(raw))), True
        return json.loads(raw), True
    except ValueError:
        return None, False


def _answer(
    state: SandboxState, contract: Contract, request: web.Request, body: Any, parsed: bool, failure: Failure | None
) -> Answer | None:
    """The answer to send, None for none at all. Only a first successful request acts."""
    if failure is not None and failure.mode == "reset":
        return None
    if failure is not None and failure.status is not None:
        retry_after = {} if failure.retry_after is None else {"Retry-After": str(failure.retry_after)}
        return refusal(failure.status, "injected_failure", "the sandbox was told to fail", retry_after)
    refused = unauthorized(contract.auth, request.headers, state.tokens.live)
    if refused is not None:
        return refused
    if not parsed:
        read_as = "form fields" if contract.encoding == "form" else "JSON"
        return refusal(400, f"invalid_{contract.encoding}", f"the body must be {read_as}")
    key = request.headers.get(IDEMPOTENCY_KEY)
    same_request = fingerprint(contract.action, dict(request.match_info), body)
    replay = None if key is None else state.memory.recall(contract.system, key, same_request)
    if replay is not None:
        return replay
    answer = state.systems.act(contract, body, request.match_info)
    if key is not None:
        state.memory.remember(contract.system, key, same_request, answer)
    return answer


def _received(contract: Contract, request: web.Request, body: Any, answer: Answer | None, at: float) -> Received:
    params = {name: "***" if name in SECRET_PATH_PARAMS else value for name, value in request.match_info.items()}
    return Received(
        system=contract.system,
        action=contract.action,
        method=request.method,
        path=contract.route.format(**params),
        headers={name: value for name, value in request.headers.items() if name.lower() not in SECRET_HEADERS},
        body=body,
        idempotency_key=request.headers.get(IDEMPOTENCY_KEY),
        duplicate=answer is not None and answer.replayed,
        status=None if answer is None else answer.status,
        at=at,
    )


class Sandbox:
    """The sandbox destinations in this process, on loopback: ``async with Sandbox() as sandbox``.

    Port 0 takes a free port; ``url`` says which. The methods act on the running systems at once,
    between two requests of a test, with no HTTP round trip.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host, self._port = host, port
        self._state = SandboxState()
        self._runner = web.AppRunner(build_app(self._state), access_log=None, shutdown_timeout=_GRACE_S)
        self.url = ""

    async def __aenter__(self) -> Sandbox:
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        host, port = self._runner.addresses[0][:2]
        self.url = str(URL.build(scheme="http", host=host, port=port))
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._runner.cleanup()

    def url_of(self, system: System) -> str:
        """The base URL of one system: what a destination pointing here is configured with."""
        return f"{self.url}/{system}"

    def fail(self, system: System, status: int = 503, count: int | None = None, retry_after: int | None = None) -> None:
        """Answer ``status`` (with ``Retry-After`` if given) without acting, ``count`` times or until healed."""
        self._state.faults.set(system, Failure("status", status=status, retry_after=retry_after, count=count))

    def slow(self, system: System, delay_s: float, count: int | None = None) -> None:
        """Act, then answer ``delay_s`` late, ``count`` times or until healed."""
        self._state.faults.set(system, Failure("slow", delay_s=delay_s, count=count))

    def reset(self, system: System, count: int | None = None) -> None:
        """Close the connection without answering or acting, ``count`` times or until healed."""
        self._state.faults.set(system, Failure("reset", count=count))

    def token_lifetime(self, seconds: float) -> None:
        """Cuidadores' tokens issued from now on expire after ``seconds`` (its ``expires_in``)."""
        self._state.tokens.set_lifetime(seconds)

    def heal(self, system: System) -> None:
        self._state.faults.set(system, None)

    def session(self, system: Literal["zapi", "waha"], name: str, status: str) -> None:
        """Put a Z-API instance or a WAHA session in WAHA's ``status`` (WORKING is connected;
        STOPPED, FAILED, SCAN_QR_CODE are not); its health call answers so from now on."""
        self._state.sessions.set(system, name, status)

    def requests(self, system: System) -> list[Received]:
        """Every request ``system`` received, replays and failures included, in answer order."""
        return self._state.journal.of(system)

    def applied(self, system: System) -> list[Received]:
        """The requests ``system`` acted on: one per idempotency key, however often it was sent."""
        return [received for received in self.requests(system) if received.applied]

    def clear(self) -> None:
        """Forget requests, idempotency keys and leads; failures set stay."""
        self._state.clear()


def serve(host: str, port: int) -> None:
    """Run the sandbox in the foreground until SIGINT or SIGTERM, then return (exit status 0)."""
    web.run_app(
        build_app(SandboxState()),
        host=host,
        port=port,
        access_log=None,
        print=None,
        shutdown_timeout=_GRACE_S,
    )
