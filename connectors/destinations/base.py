"""What every destination connector shares: the request a delivery becomes, and how it is sent.

A connector is a cheap object built per endpoint configuration: it checks the URL against the
SSRF guard and reads its config once, then ``deliver`` turns (delivery id, action, payload) into
one request (a POST unless its contract says otherwise; a JSON body, or a form-encoded one where
the provider takes only that, as Twilio does) through the shared ``HttpClients`` and the answer
into ``Delivered`` or a ``DeliveryError``. Subclasses only say what the request looks like (``build``).

Every request carries ``Idempotency-Key: <delivery_id>``: a retry after a timeout may reach a
destination that already did the work, and the key lets it answer "done" instead of doing it twice.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol
from urllib.parse import urlencode

import orjson

from connectors.http import Answer, HttpClients
from connectors.limits import Timeouts, pool_size
from streams.errors import ConfigurationError, PermanentDeliveryError
from streams.http_outcome import OutcomePolicy, classify


@dataclass(frozen=True, slots=True)
class Delivered:
    """A destination took the delivery: its status, how long it took, and what a log may keep."""

    status: int
    latency_ms: float
    response_excerpt: str
    response_headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Request:
    """One call: a path under the endpoint's base URL, a body, the destination's own headers and
    the method (POST unless the destination's contract says otherwise).

    The body is sent as JSON, or as ``application/x-www-form-urlencoded`` fields (its values text)
    with ``encoding="form"``."""

    path: str
    body: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)
    method: str = "POST"
    encoding: Literal["json", "form"] = "json"


class Connector(Protocol):
    """What the sink calls; raises TransientDeliveryError or PermanentDeliveryError on failure."""

    @property
    def kind(self) -> str: ...

    async def deliver(self, delivery_id: str, action: str, payload: Mapping[str, Any]) -> Delivered: ...


def required_text(action: str, payload: Mapping[str, Any], *names: str) -> str:
    """The first of ``names`` present in the payload as non-empty text; the error names fields only."""
    for name in names:
        value = payload.get(name)
        if isinstance(value, str) and value:
            return value
    raise PermanentDeliveryError(f"{action} needs {' or '.join(repr(n) for n in names)} as text in its payload")


def digits(value: str) -> str:
    return "".join(c for c in value if c.isascii() and c.isdigit())


class HttpDestination(ABC):
    """A destination reached by one request per delivery (JSON unless its ``Request`` says form)."""

    kind: ClassVar[str]
    ACTIONS: ClassVar[Mapping[str, str]] = {}
    """Action → path under the base URL."""
    SECRET_REQUIRED: ClassVar[bool] = True

    def __init__(
        self,
        *,
        url: str,
        config: Mapping[str, Any],
        secret: str | None,
        client: HttpClients,
        endpoint_id: str | None = None,
    ) -> None:
        self._client = client
        self._base = client.policy.check_url(url)
        self._config = config
        if self.SECRET_REQUIRED and not secret:
            raise ConfigurationError(f"a {self.kind} destination needs a secret")
        self._secret = secret
        self._timeouts = Timeouts.from_config(config)
        self._outcomes = OutcomePolicy.from_config(config)
        self._pool_size = pool_size(config, client.limit_per_host)
        self._pool_key = endpoint_id or str(self._base)
        self.configure()

    def configure(self) -> None:  # noqa: B027 - optional hook: most kinds need nothing more
        """Read what this kind needs from config and secret; ConfigurationError now beats one per delivery."""

    def path_for(self, action: str) -> str:
        try:
            return self.ACTIONS[action]
        except KeyError:
            raise PermanentDeliveryError(f"{self.kind} destinations have no action {action!r}") from None

    @abstractmethod
    def build(self, action: str, payload: Mapping[str, Any]) -> Request:
        """The request for ``action``; PermanentDeliveryError for an unknown action or a payload it cannot carry."""

    def health_request(self) -> Request | None:
        """The side-effect-free GET that says whether this destination can take deliveries;
        None for kinds without one (``streams.probes``)."""
        return None

    async def health(self) -> Answer:
        """Make the health call: its answer. Raises ``DeliveryError`` when no answer came (as
        ``deliver`` does), ``ConfigurationError`` for a kind without one."""
        request = self.health_request()
        if request is None:
            raise ConfigurationError(f"{self.kind} destinations have no health call")
        url = self._base.with_path(self._base.raw_path.rstrip("/") + request.path, encoded=True)
        headers = {"Accept": "application/json", **request.headers}
        label = f"{self.kind} (health)"
        return await self._client.get(self._pool_key, url, headers=headers, timeouts=self._timeouts, label=label)

    def signed(self, delivery_id: str, body: bytes) -> Mapping[str, str]:
        """Headers that depend on the exact body bytes (signatures); none by default."""
        return {}

    async def deliver(self, delivery_id: str, action: str, payload: Mapping[str, Any]) -> Delivered:
        return await self.send(delivery_id, action, self.build(action, payload))

    async def send(self, delivery_id: str, action: str, request: Request) -> Delivered:
        """Send one built request; its answer as ``Delivered`` or the ``DeliveryError`` it means."""
        if request.encoding == "form":
            body, content_type = urlencode(request.body).encode(), "application/x-www-form-urlencoded"
        else:
            body, content_type = orjson.dumps(request.body), "application/json"
        headers = {
            "Content-Type": content_type,
            "Accept": "application/json",
            **request.headers,
            **self.signed(delivery_id, body),
            "Idempotency-Key": delivery_id,
        }
        url = self._base.with_path(self._base.raw_path.rstrip("/") + request.path, encoded=True)
        label = f"{self.kind} ({action})"
        response = await self._client.request(
            request.method,
            self._pool_key,
            url,
            body=body,
            headers=headers,
            timeouts=self._timeouts,
            label=label,
            limit_per_host=self._pool_size,
        )
        error = classify(
            response.status,
            retry_after=response.headers.get("retry-after"),
            now=time.time(),
            policy=self._outcomes,
            label=label,
        )
        if error is not None:
            raise error
        return Delivered(response.status, response.latency_ms, response.excerpt, response.headers)


class BearerDestination(HttpDestination):
    """The payload as the JSON body, ``Authorization: Bearer <secret>``, the path chosen by action."""

    def body_for(self, action: str, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        return payload

    def build(self, action: str, payload: Mapping[str, Any]) -> Request:
        path = self.path_for(action)
        return Request(path, self.body_for(action, payload), {"Authorization": f"Bearer {self._secret}"})
