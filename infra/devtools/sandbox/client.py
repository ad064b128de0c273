"""``Sandbox``'s methods for a sandbox in another process (``crmbus sandbox``), over its control API."""

from __future__ import annotations

from types import TracebackType
from typing import Literal

import httpx

from infra.devtools.sandbox.contracts import System
from infra.devtools.sandbox.faults import Failure
from infra.devtools.sandbox.journal import Received


class SandboxClient:
    """Drive a running sandbox at ``url``: tell systems to fail, read what they received."""

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout_s)

    def __enter__(self) -> SandboxClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._http.close()

    def healthy(self) -> bool:
        """Whether the sandbox answers its health check (False while it is still starting)."""
        try:
            return self._http.get("/_control/health").status_code == 200
        except httpx.TransportError:
            return False

    def url_of(self, system: System) -> str:
        return f"{self.url}/{system}"

    def fail(self, system: System, status: int = 503, count: int | None = None, retry_after: int | None = None) -> None:
        self._set(system, Failure("status", status=status, retry_after=retry_after, count=count).to_json())

    def slow(self, system: System, delay_s: float, count: int | None = None) -> None:
        self._set(system, Failure("slow", delay_s=delay_s, count=count).to_json())

    def reset(self, system: System, count: int | None = None) -> None:
        self._set(system, Failure("reset", count=count).to_json())

    def heal(self, system: System) -> None:
        self._set(system, {"mode": "ok"})

    def session(self, system: Literal["zapi", "waha"], name: str, status: str) -> None:
        self._http.post(f"/_control/{system}/sessions/{name}", json={"status": status}).raise_for_status()

    def token_lifetime(self, seconds: float) -> None:
        """Cuidadores' tokens issued from now on expire after ``seconds`` (its ``expires_in``)."""
        self._http.post("/_control/cuidadores/tokens", json={"lifetime_s": seconds}).raise_for_status()

    def requests(self, system: System) -> list[Received]:
        response = self._http.get(f"/_control/{system}/requests")
        response.raise_for_status()
        return [Received.from_json(one) for one in response.json()["requests"]]

    def applied(self, system: System) -> list[Received]:
        return [received for received in self.requests(system) if received.applied]

    def clear(self) -> None:
        self._http.delete("/_control/requests").raise_for_status()

    def _set(self, system: System, failure: dict[str, object]) -> None:
        self._http.post(f"/_control/{system}/failures", json=failure).raise_for_status()
