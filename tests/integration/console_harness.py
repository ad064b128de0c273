"""The console's app on loopback against the session's PostgreSQL (and Kafka), keys of every
role, and a browser-like client that keeps cookies and reads forms' CSRF tokens."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
from aiohttp.test_utils import TestServer
from sqlalchemy import Engine

from infra.cli.wiring import console_app
from infra.core.settings import Settings
from infra.db.api_keys import ApiKeys

CSRF = re.compile(r"name=csrf value=[\"']([^\"']+)[\"']")


@dataclass(frozen=True)
class Key:
    id: uuid.UUID
    secret: str


def key_with(engine: Engine, tenant: str | None, role: str, name: str = "console") -> Key:
    """A key of ``tenant`` (None: a platform key) with ``role``'s scopes."""
    view, secret = ApiKeys(engine, actor="test").create(tenant, name, role=role)
    return Key(view.id, secret)


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found is not None, f"no CSRF token in the page: {page[:400]}"
    return found[1]


@asynccontextmanager
async def running_console(settings: Settings) -> AsyncIterator[str]:
    server = TestServer(console_app(settings), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@asynccontextmanager
async def browser(base: str) -> AsyncIterator[aiohttp.ClientSession]:
    """A client that keeps cookies (from an IP address too) and follows no redirect by itself."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(base_url=base, cookie_jar=jar) as client:
        yield client


async def sign_in(client: aiohttp.ClientSession, secret: str) -> aiohttp.ClientResponse:
    async with client.get("/console/sign-in") as form:
        token = csrf_of(await form.text())
    async with client.post(
        "/console/sign-in", data={"csrf": token, "api_key": secret}, allow_redirects=False
    ) as response:
        await response.read()
        return response
