"""Request and response bodies: media type (415), size (413), JSON (400), NUL (422) as problems; JSON answers."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from ingress.http.problems import Problem, invalid_event, malformed_json
from streams.nul_text import nul_path

JSON_TYPES = ("application/json",)
# JSON can carry NUL only as this escape (a raw NUL byte is malformed JSON), so bodies without it,
# nearly all of them, skip the walk over the parsed document.
_NUL_ESCAPE = b"\\u0000"


def too_large(limit: int) -> Problem:
    return Problem(413, "too-large", "Body too large", f"the body exceeds {limit} bytes", reason="too_large")


async def read_raw(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise too_large(limit)
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise too_large(limit) from None
    if len(body) > limit:
        raise too_large(limit)
    return body


async def read_json(request: web.Request, limit: int) -> dict[str, Any]:
    """The body as a JSON object, or the problem that says why not."""
    return parse_json(await read_json_bytes(request, limit))


async def read_json_bytes(request: web.Request, limit: int) -> bytes:
    """The raw body of a JSON request (signatures are computed over these bytes)."""
    media_type = request.content_type
    if media_type not in JSON_TYPES and not media_type.endswith("+json"):
        raise Problem(
            415, "unsupported-media-type", "Unsupported media type",
            "send the body as application/json", reason="unsupported_media_type",
        )  # fmt: skip
    return await read_raw(request, limit)


def parse_json(body: bytes) -> dict[str, Any]:
    """The body as a JSON object: every inbound body (events API, source webhooks) is read here."""
    document = _parsed(body)
    if not isinstance(document, dict):
        raise malformed_json("the body must be a JSON object")
    _refuse_nul(body, document)
    return document


def parse_json_array(body: bytes, what: str) -> list[Any]:
    """The body as a JSON array (``what`` says what it must be), checked as ``parse_json`` checks an object."""
    document = _parsed(body)
    if not isinstance(document, list):
        raise malformed_json(f"{what} must be a JSON array")
    _refuse_nul(body, document)
    return document


def _parsed(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise malformed_json(f"the body is not valid JSON (at byte {exc.pos})") from None


def _refuse_nul(body: bytes, document: Any) -> None:
    # JSON carries NUL only as this escape, so most bodies skip the walk.
    if _NUL_ESCAPE in body:
        where = nul_path(document)
        if where is not None:
            raise invalid_event("text must not contain the NUL character (\\u0000)", where or None)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json", headers=headers)
