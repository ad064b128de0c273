"""A pull against a real HTTP server on loopback reads every record of a system's list exactly
once, in every pagination style, with the endpoint's credentials, and never sends them elsewhere."""

import asyncio
import contextlib
import functools
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from connectors.http import HttpClients
from connectors.limits import Timeouts
from connectors.rest.auth import StaticAuth
from connectors.rest.pull import Puller, PullSpec
from connectors.ssrf import OutboundPolicy
from streams.errors import PermanentDeliveryError, TransientDeliveryError
from tests.fakes.loopback import serving_app


def synchronously(test):
    """Run an async test body in its own event loop, as the other connector tests do."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return run


RECORDS = [{"id": f"r-{n}", "updated_at": f"2026-12-01T{n:02d}:00:00Z"} for n in range(1, 8)]


@dataclass
class ListServer:
    """A system listing ``RECORDS``, changed since ``updated_since``, in the style it is asked for."""

    answers: list = field(default_factory=list)  # statuses to answer before listing, one per request
    seen: list = field(default_factory=list)  # (path_qs, authorization) per request
    port: int = 0
    next_link: str | None = None  # overrides the Link header's target

    def changed(self, request):
        since = request.query.get("updated_since", "")
        return [r for r in RECORDS if r["updated_at"] >= since]

    async def handle(self, request):
        self.seen.append((request.path_qs, request.headers.get("Authorization")))
        if self.answers:
            return web.json_response({"error": "no"}, status=self.answers.pop(0))
        style = request.match_info["style"]
        rows = self.changed(request)
        if style == "cursor":
            start = int(request.query.get("cursor", "0"))
            size = int(request.query["limit"])
            following = start + size if start + size < len(rows) else None
            return web.json_response({"items": rows[start : start + size], "next_cursor": following and str(following)})
        if style == "link":
            page, size = int(request.query.get("page", "1")), int(request.query["per_page"])
            headers = {}
            if page * size < len(rows):
                target = self.next_link or f"/v1/link?page={page + 1}&per_page={size}"
                headers["Link"] = f'<{target}>; rel="next"'
            return web.json_response(rows[(page - 1) * size : page * size], headers=headers)
        offset, size = int(request.query["offset"]), int(request.query["limit"])
        return web.json_response({"items": rows[offset : offset + size], "total": len(rows)})


@contextlib.asynccontextmanager
async def list_server():
    server = ListServer()
    app = web.Application()
    app.router.add_get("/v1/{style}", server.handle)
    async with serving_app(app) as server.port:
        yield server


class CountingAuth:
    """A fetched credential: each fetch after an ``invalidate`` is a new token."""

    def __init__(self):
        self.fetches = 0
        self.token = None

    async def headers(self):
        if self.token is None:
            self.fetches += 1
            self.token = f"t{self.fetches}"
        return {"Authorization": f"Bearer {self.token}"}

    async def invalidate(self, sent=None):
        self.token = None


STYLES = {
    "cursor": {"path": "/v1/cursor", "records_at": "items", "pagination": {"style": "cursor"}},
    "link": {"path": "/v1/link", "pagination": {"style": "link"}},
    "offset": {"path": "/v1/offset", "records_at": "items", "pagination": {"style": "offset", "total": "total"}},
}


async def read_run(puller, watermark=None, position=None):
    records, pages = [], 0
    while True:
        page = await puller.page(watermark, position)
        records += page.records
        pages += 1
        position = page.position
        if position is None:
            return records, page.watermark, pages


def puller_for(server, config, auth=None):
    spec = PullSpec.from_config({"page_size": 3, "changes": {"style": "updated_since"}, **config})
    clients = HttpClients(OutboundPolicy(allow_loopback=True))
    return clients, Puller(
        base_url=f"http://127.0.0.1:{server.port}",
        spec=spec,
        auth=auth or StaticAuth({"Authorization": "Bearer s3cr3t"}),
        clients=clients,
        timeouts=Timeouts(),
    )


@pytest.mark.parametrize("style", STYLES)
@synchronously
async def test_a_run_reads_every_record_once_and_the_next_run_only_what_changed(style):
    async with list_server() as server:
        clients, puller = puller_for(server, STYLES[style])
        async with clients:
            records, watermark, pages = await read_run(puller)
            assert [r["id"] for r in records] == [r["id"] for r in RECORDS]
            assert pages == 3
            assert watermark == {"updated_since": "2026-12-01T07:00:00Z"}
            again, _, _ = await read_run(puller, watermark)
    assert [r["id"] for r in again] == ["r-7"]  # inclusive: the boundary record comes again, as its id says
    assert {authorization for _, authorization in server.seen} == {"Bearer s3cr3t"}


@synchronously
async def test_a_run_resumed_from_a_stored_position_reads_the_rest_and_keeps_what_the_first_pages_saw():
    async with list_server() as server:
        clients, puller = puller_for(server, STYLES["offset"])
        async with clients:
            first = await puller.page(None, None)
            rest, watermark, _ = await read_run(puller, None, first.position)
    assert [r["id"] for r in first.records + rest] == [r["id"] for r in RECORDS]
    assert watermark == {"updated_since": "2026-12-01T07:00:00Z"}


@synchronously
async def test_a_401_fetches_fresh_credentials_and_asks_once_more():
    async with list_server() as server:
        server.answers = [401]
        auth = CountingAuth()
        clients, puller = puller_for(server, STYLES["offset"], auth)
        async with clients:
            page = await puller.page(None, None)
    assert len(page.records) == 3
    assert [authorization for _, authorization in server.seen] == ["Bearer t1", "Bearer t2"]


@synchronously
async def test_a_second_401_is_permanent():
    async with list_server() as server:
        server.answers = [401, 401]
        clients, puller = puller_for(server, STYLES["offset"], CountingAuth())
        async with clients:
            with pytest.raises(PermanentDeliveryError, match=r"pull \(/v1/offset\) answered HTTP 401"):
                await puller.page(None, None)


@synchronously
async def test_a_server_error_is_transient_and_names_the_path_not_the_query():
    async with list_server() as server:
        server.answers = [503]
        clients, puller = puller_for(server, STYLES["cursor"])
        async with clients:
            with pytest.raises(TransientDeliveryError) as raised:
                await puller.page({"updated_since": "2026-12-01T03:00:00Z"}, None)
    assert "/v1/cursor" in str(raised.value)
    assert "updated_since" not in str(raised.value)


@synchronously
async def test_a_next_link_to_another_origin_is_refused_and_never_called():
    async with list_server() as server:
        server.next_link = "http://127.0.0.2:9/v1/link?page=2&per_page=3"
        clients, puller = puller_for(server, STYLES["link"])
        async with clients:
            with pytest.raises(PermanentDeliveryError, match="another origin"):
                await read_run(puller)
    assert len(server.seen) == 1
