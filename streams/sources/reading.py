"""Reading a source's webhook body: typed access that names the offending field, never its value."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from streams.errors import InvalidEventError
from streams.instants import InstantOutOfRangeError, as_utc

# Epoch values above this are milliseconds: 10**11 seconds is the year 5138.
_MILLISECONDS_FROM = 10**11
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}")


def invalid(path: str, rule: str) -> InvalidEventError:
    return InvalidEventError(f"{path}: {rule}", field=path)


def as_object(value: Any, path: str) -> Mapping[str, Any]:
    """``value`` when it is a JSON object, else an error for ``path``."""
    if not isinstance(value, Mapping):
        raise invalid(path, "must be a JSON object")
    return value


def as_text(value: Any, path: str) -> str:
    """``value`` when it is a non-blank string, else an error for ``path``."""
    if not isinstance(value, str) or not value.strip():
        raise invalid(path, "must be a non-empty string")
    return value.strip()


def as_optional_text(value: Any, path: str) -> str | None:
    """``value`` stripped, ``None`` when absent or blank; an error when it is not a string."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(path, "must be a string")
    return value.strip() or None


def as_key(value: Any, path: str) -> str:
    """An id fit for an envelope key (letters, digits, ``._:/-``), which keeps free text out of keys."""
    if not isinstance(value, str) or _KEY.fullmatch(value) is None:
        raise invalid(path, "must be an id of up to 128 letters, digits or . _ : / -")
    return value


def as_flag(value: Any, path: str) -> bool:
    """A JSON boolean, absent meaning false."""
    if value is None:
        return False
    if not isinstance(value, bool):
        raise invalid(path, "must be true or false")
    return value


def epoch_datetime(value: Any, path: str) -> datetime | None:
    """A Unix time in seconds or milliseconds (providers use both) as UTC, ``None`` when absent."""
    if value is None:
        return None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise invalid(path, "must be a Unix time in seconds or milliseconds")
    seconds = value / 1000 if value >= _MILLISECONDS_FROM else value
    try:
        moment = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise invalid(path, "must be a Unix time in seconds or milliseconds") from None
    return _in_range(moment, path)


def iso_datetime(value: Any, path: str) -> datetime | None:
    """An ISO-8601 date-time with offset as UTC, ``None`` when absent."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(path, "must be an ISO-8601 date-time with offset")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise invalid(path, "must be an ISO-8601 date-time with offset") from None
    if parsed.tzinfo is None:
        raise invalid(path, "must include a UTC offset (e.g. -03:00 or Z)")
    return _in_range(parsed, path)


def _in_range(moment: datetime, path: str) -> datetime:
    try:
        return as_utc(moment)
    except InstantOutOfRangeError as exc:
        raise invalid(path, str(exc)) from None
