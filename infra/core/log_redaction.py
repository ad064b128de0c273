"""Personal data out of log lines, at any depth (LGPD).

Callers log ids, types and counts; this is the second line of defence, applied to every line's
fields (structlog's event dict, which also holds a stdlib record's message and ``extra``):

- a value under a key that usually holds personal data (a phone, an e-mail, a CPF, a name, a
  message text, a payload) is replaced wherever it sits, in a dict inside a list inside a field;
  the keys are ours plus ``streams.subjects``' (the identifiers a data subject asks by);
- in every other string, the message and a formatted exception included, e-mail addresses and
  digit runs shaped like a phone or a CPF become placeholders. Stricter than
  ``streams.redact.safe_excerpt``'s long numbers: a log line carries UUIDs, offsets and
  timestamps that must stay readable, so a run is masked only when it holds 10 to 13 digits and
  touches nothing word-like (a hex digit, a hyphenated id, a decimal point).

Cost, measured by ``python -m bench run log_redaction`` (docs/operations.md, "Logs").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any

from streams.subjects import IDENTIFIER_KEYS

REDACTED = "[redacted]"
# Compared lower-cased, at any depth.
PERSONAL_KEYS = IDENTIFIER_KEYS | frozenset(
    {"payload", "body", "name", "nome", "first_name", "contact_name", "sender_name", "sendername", "chat_name"}
    | {"text", "message", "mensagem"}
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# +55 (11) 98765-4321, 11987654321, 123.456.789-09; not 446655440000 inside a UUID, nor 2026-12-05.
_PHONE_OR_CPF = re.compile(r"(?<![\w.:/+(-])\+?\(?\d(?:[ ().-]{0,2}\d){9,12}(?![\w-])")
_SCALARS = (int, float, bool, type(None))
# Set by the chain itself, never personal: not worth a scan (``_record`` is the stdlib record,
# which structlog's formatter still needs, removed before rendering).
_LINE_KEYS = frozenset({"timestamp", "level", "logger", "repeated", "_record", "_from_structlog"})


def redact_personal_data(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: ``event_dict`` with personal data replaced at any depth; the values
    logged are copied, never changed in place."""
    for key, value in event_dict.items():
        if key not in _LINE_KEYS:
            event_dict[key] = _redacted(key, value)
    return event_dict


def mask_identifiers(text: str) -> str:
    """``text`` with e-mail addresses and phone- or CPF-shaped digit runs replaced."""
    if "@" in text:
        text = _EMAIL.sub("[email]", text)
    return _PHONE_OR_CPF.sub("[number]", text)


def _redacted(key: object, value: Any) -> Any:
    if isinstance(key, str) and key.lower() in PERSONAL_KEYS:
        return REDACTED
    return _scrubbed(value)


def _scrubbed(value: Any) -> Any:
    if isinstance(value, str):
        return mask_identifiers(value)
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, Mapping):
        return {key: _redacted(key, item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrubbed(item) for item in value]
    # Anything else would be rendered by its repr (structlog's JSON fallback): scan that.
    return mask_identifiers(repr(value))
