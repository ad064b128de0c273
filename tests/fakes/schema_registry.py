"""A Confluent-compatible schema registry on loopback, over HTTP or HTTPS, in a thread.

It speaks the subset of the REST API crmbus uses — register a schema under a subject, read a
schema by id, list subjects — with the registry's rules: the same schema gets the same id in any
subject; unknown ids are 404 (error code 40403); a subject in ``incompatible`` refuses new schemas
with 409; ``failing`` set to a status answers everything with it. With ``credentials`` a request
without that HTTP Basic pair is 401; with ``tls`` it serves HTTPS, and ``client_ca`` makes it ask
for a client certificate signed by that authority. Each request is kept in ``seen`` (method, path,
Authorization header) so tests can count round trips.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.fakes.tls import LoopbackTls

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    authorization: str | None


class FakeSchemaRegistry:
    def __init__(
        self,
        credentials: tuple[str, str] | None = None,
        tls: LoopbackTls | None = None,
        client_ca: LoopbackTls | None = None,
    ) -> None:
        self.ids: dict[str, int] = {}  # canonical schema text -> id
        self.subjects: dict[str, list[int]] = {}
        self.incompatible: set[str] = set()
        self.failing: int | None = None
        self.seen: list[Seen] = []
        self._credentials = credentials
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        if tls is not None:
            context = tls.server_context()
            if client_ca is not None:
                context.verify_mode = ssl.CERT_REQUIRED
                context.load_verify_locations(cadata=client_ca.ca_pem.decode())
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-registry", daemon=True)

    def __enter__(self) -> FakeSchemaRegistry:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def requests(self, method: str | None = None, path_prefix: str = "") -> list[Seen]:
        return [s for s in self.seen if (method is None or s.method == method) and s.path.startswith(path_prefix)]

    def answer(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        path = urlsplit(target).path
        with self._lock:
            self.seen.append(Seen(method, path, headers.get("authorization")))
            if not self._authorized(headers.get("authorization")):
                return 401, {"error_code": 401, "message": "Unauthorized"}
            if self.failing is not None:
                return self.failing, {"error_code": self.failing * 100, "message": "Store is not ready"}
            parts = [unquote(part) for part in path.strip("/").split("/")]
            if method == "POST" and len(parts) == 3 and parts[0] == "subjects" and parts[2] == "versions":
                return self._register(parts[1], json.loads(body))
            if method == "GET" and len(parts) == 3 and parts[:2] == ["schemas", "ids"]:
                return self._schema(int(parts[2]))
            if method == "GET" and parts == ["subjects"]:
                return 200, sorted(self.subjects)
            return 404, {"error_code": 404, "message": "HTTP 404 Not Found"}

    def _authorized(self, header: str | None) -> bool:
        if self._credentials is None:
            return True
        expected = base64.b64encode(":".join(self._credentials).encode()).decode()
        return header == f"Basic {expected}"

    def _register(self, subject: str, body: dict[str, Any]) -> tuple[int, Any]:
        if body.get("schemaType", "AVRO") != "AVRO":
            return 422, {"error_code": 42201, "message": "Invalid schema"}
        if subject in self.incompatible:
            return 409, {"error_code": 409, "message": "Schema being registered is incompatible with an earlier schema"}
        canonical = json.dumps(json.loads(body["schema"]), sort_keys=True)
        schema_id = self.ids.setdefault(canonical, len(self.ids) + 1)
        versions = self.subjects.setdefault(subject, [])
        if schema_id not in versions:
            versions.append(schema_id)
        return 200, {"id": schema_id}

    def _schema(self, schema_id: int) -> tuple[int, Any]:
        for canonical, known in self.ids.items():
            if known == schema_id:
                return 200, {"schema": canonical}
        return 404, {"error_code": 40403, "message": f"Schema {schema_id} not found"}


def _handler(registry: FakeSchemaRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._reply()

        def do_POST(self) -> None:
            self._reply()

        def _reply(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, answer = registry.answer(self.command, self.path, headers, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(data)))
            # One connection per request: a client dropped without close() leaves no socket open.
            self.send_header("Connection", "close")
            self.close_connection = True
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read ``seen``, not stderr."""

    return Handler
