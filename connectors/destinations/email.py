"""E-mail through a transactional e-mail HTTP API: a template, a recipient, the template's params.

Routes map ``to`` and ``template`` and put the template's variables under ``params`` or
``variables`` (the seed flow writes ``variables.name``); any other top-level field is a
variable too, so a mapping that writes ``name`` at the top works as well.

An e-mail destination whose URL is ``smtp://`` or ``smtps://`` sends through an SMTP server
instead (``connectors.destinations.smtp``), with the same payload and the same variables.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from connectors.destinations.base import BearerDestination, required_text
from streams.errors import PermanentDeliveryError

_ENVELOPE = frozenset({"to", "template", "params", "variables"})


def template_params(action: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The template's variables: top-level fields besides the envelope, then ``variables`` and ``params``."""
    params: dict[str, Any] = {key: value for key, value in payload.items() if key not in _ENVELOPE}
    for nested in ("variables", "params"):
        given = payload.get(nested, {})
        if not isinstance(given, Mapping):
            raise PermanentDeliveryError(f"{action} needs {nested!r} as an object")
        params.update(given)
    return params


class EmailDestination(BearerDestination):
    kind = "email"
    ACTIONS: ClassVar[Mapping[str, str]] = {"email.send_template": "/v1/send"}

    def body_for(self, action: str, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        params = template_params(action, payload)
        return {
            "to": required_text(action, payload, "to"),
            "template": required_text(action, payload, "template"),
            "params": params,
        }
