"""What each destination kind needs before it can be called, and the command that supplies it.

A destination without its credential can only fail: every delivery to it would be dead-lettered
with the same "misconfigured" reason. So the repositories refuse to configure such a destination,
pause the routes to one that already lacks it, and the CLI prints the command that sets it. The
connectors refuse the same things when they are built (``connectors.destinations``); a unit test
holds the two to the same rules.

Only names are returned, never values: a missing item is named ``secret`` or ``config.<key>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SECRET = "secret"  # noqa: S105 - the name of what a destination lacks, not a credential

_SECRET_NOT_NEEDED = frozenset({"waha"})
"""WAHA runs without an API key unless its operator set one."""

_CONFIG_NEEDED: Mapping[str, tuple[str, ...]] = {
    "zapi": ("instance_id", "token"),
    "sms_twilio": ("account_sid", "from"),
    "sms_zenvia": ("from",),
}
"""Z-API addresses an instance by id and token in its URL; Twilio an account by its SID, and
both SMS providers need the sender (a number, a sender id, a Twilio Messaging Service SID)."""

_SMTP_SCHEMES = ("smtp://", "smtps://")


def missing_credentials(kind: str, url: str, config: Mapping[str, Any], has_secret: bool) -> tuple[str, ...]:
    """What a ``kind`` destination at ``url`` lacks to be called: ``secret`` and ``config.<key>`` names."""
    missing: list[str] = []
    if url.startswith(_SMTP_SCHEMES):
        # An SMTP relay may take mail without logging in; with a username it needs the password.
        if not _text(config.get("sender")):
            missing.append("config.sender")
        if config.get("username") and not has_secret:
            missing.append(SECRET)
        return tuple(missing)
    if kind == "rest":
        # A REST endpoint needs its secret unless it calls without authentication.
        auth = config.get("auth")
        if isinstance(auth, Mapping) and auth.get("type", "none") != "none" and not has_secret:
            missing.append(SECRET)
        if not config.get("actions"):
            missing.append("config.actions")
        return tuple(missing)
    if kind not in _SECRET_NOT_NEEDED and not has_secret:
        missing.append(SECRET)
    missing.extend(f"config.{key}" for key in _CONFIG_NEEDED.get(kind, ()) if not _text(config.get(key)))
    return tuple(missing)


def setup_command(tenant_id: str, name: str, missing: tuple[str, ...]) -> str:
    """The ``crmbus destinations set`` line that supplies ``missing`` (placeholders in capitals)."""
    parts = []
    keys = [item.removeprefix("config.") for item in missing if item != SECRET]
    if SECRET in missing:
        parts.append('printf %s "$SECRET" |')
    parts.append(f"crmbus destinations set --tenant {tenant_id} --name {name} --url URL")
    if keys:
        config = ", ".join(f'"{key}": "{key.upper()}"' for key in keys)
        parts.append(f"--config '{{{config}}}'")
    if SECRET in missing:
        parts.append("--secret-stdin")
    return " ".join(parts)


def describe_missing(kind: str, missing: tuple[str, ...]) -> str:
    """``a crm destination needs a secret`` / ``... needs config.instance_id and config.token``."""
    return f"a {kind} destination needs {' and '.join('a secret' if m == SECRET else m for m in missing)}"


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value)
