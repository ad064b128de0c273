"""The console's app on loopback against the session's PostgreSQL (and Kafka), or `crmbus
dashboard` as a process; keys of every role, and a browser-like client that keeps cookies and
reads forms' CSRF tokens."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer
from sqlalchemy import Engine

from infra.cli.wiring import console_app
from infra.core.settings import Settings
from infra.db.api_keys import ApiKeys
from tests.conftest import free_port
from tests.integration.worker_harness import CRMBUS

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


def base_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMBUS_")}
    env.update(
        CRMBUS_STATE_DIR=str(tmp_path / "state"),
        CRMBUS_DASHBOARD_PORT=str(free_port()),
        CRMBUS_WORKER_PROCESSES="1",
        CRMBUS_WORKER_WEB_PORT=str(free_port()),  # nothing listens there: a worker that is down
        CRMBUS_LOG_LEVEL="warning",
    )
    env.update(settings)
    return env


@contextmanager
def dashboard(env: dict[str, str], tmp_path: Path, timeout_s: float = 60) -> Iterator[str]:
    proc = start_dashboard(env, tmp_path, timeout_s)
    try:
        yield f"http://127.0.0.1:{env['CRMBUS_DASHBOARD_PORT']}"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def start_dashboard(env: dict[str, str], tmp_path: Path, timeout_s: float = 60) -> subprocess.Popen[bytes]:
    """`crmbus dashboard` answering on ``CRMBUS_DASHBOARD_PORT``, its output in a log in ``tmp_path``,
    in its own session (its supervisor and the process it serves from: ``os.killpg`` ends both);
    the caller stops it."""
    log = tmp_path / f"dashboard-{uuid.uuid4().hex[:6]}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [CRMBUS, "dashboard"], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{env['CRMBUS_DASHBOARD_PORT']}"
    deadline = time.monotonic() + timeout_s
    try:
        while not _answers(f"{base}/health"):
            assert proc.poll() is None, f"dashboard exited with {proc.returncode}: {log.read_text()}"
            assert time.monotonic() < deadline, f"dashboard not answering in {timeout_s} s: {log.read_text()}"
            time.sleep(0.2)
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        raise
    return proc


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False
