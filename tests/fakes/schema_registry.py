"""An in-process stand-in for a Confluent-compatible registry's REST API, as an httpx transport.

It speaks the subset crmbus uses — register a schema under a subject, read a schema by id —
with the registry's rules: the same schema gets the same id in any subject; unknown ids are 404.
"""

from __future__ import annotations

import json

import httpx


class FakeSchemaRegistry:
    def __init__(self) -> None:
        self.ids: dict[str, int] = {}  # canonical schema text -> id
        self.subjects: dict[str, list[int]] = {}
        self.requests = 0

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        parts = request.url.path.strip("/").split("/")
        if request.method == "POST" and len(parts) == 3 and parts[0] == "subjects" and parts[2] == "versions":
            body = json.loads(request.content)
            if body.get("schemaType", "AVRO") != "AVRO":
                return httpx.Response(422, json={"error_code": 42201, "message": "Invalid schema"})
            canonical = json.dumps(json.loads(body["schema"]), sort_keys=True)
            schema_id = self.ids.setdefault(canonical, len(self.ids) + 1)
            versions = self.subjects.setdefault(parts[1], [])
            if schema_id not in versions:
                versions.append(schema_id)
            return httpx.Response(200, json={"id": schema_id})
        if request.method == "GET" and parts[:2] == ["schemas", "ids"] and len(parts) == 3:
            for canonical, schema_id in self.ids.items():
                if schema_id == int(parts[2]):
                    return httpx.Response(200, json={"schema": canonical})
            return httpx.Response(404, json={"error_code": 40403, "message": "Schema not found"})
        return httpx.Response(404, json={"error_code": 404, "message": "HTTP 404 Not Found"})
