"""A loopback Operação for sync-job tests: `GET /v1/services` in the shared plan's offset-paging
contract, bearer auth, changes since ``updated_since`` (inclusive); it can hold a page until
released (to kill a worker mid-run) or answer 503 (to make a run fail)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

TOKEN = "operacao-token"


@dataclass
class Operacao:
    """Operação's `GET /v1/services` (offset paging), holding a page at ``hold_offset`` until
    ``release`` is set, or answering 503 while ``failing``."""

    services: list[dict[str, Any]]
    hold_offset: int | None = None
    failing: bool = False
    asked: list[int] = field(default_factory=list)
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def answer(self, query: dict[str, list[str]], authorization: str | None) -> tuple[int, dict[str, Any]]:
        if authorization != f"Bearer {TOKEN}":
            return 401, {"error": "unauthorized"}
        if self.failing:
            return 503, {"error": "maintenance"}
        offset, limit = int(query.get("offset", ["0"])[0]), int(query["limit"][0])
        self.asked.append(offset)
        if offset == self.hold_offset and not self.release.is_set():
            self.holding.set()
            self.release.wait(60)
        since = query.get("updated_since", [""])[0]
        matching = [s for s in self.services if s["updated_at"] >= since]
        return 200, {"items": matching[offset : offset + limit], "total": len(matching)}


@contextlib.contextmanager
def serving(source: Operacao) -> Iterator[str]:
    """``source`` served on loopback while the block runs; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            status, body = (
                (404, {})
                if url.path != "/v1/services"
                else source.answer(parse_qs(url.query), self.headers.get("Authorization"))
            )
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        source.release.set()
        server.shutdown()
        server.server_close()
