"""The string formats event types may name in their JSON Schema, each checked and normalised here.

A payload string whose schema says ``"format": "phone"`` (or ``email``, ``cpf``, ``cep``, ``uf``,
``date-time``) is rewritten to its one canonical form before the schema is checked, so routes,
consumers and the idempotency keys see one spelling of a value however the producer wrote it.
Errors state the rule and never the value: it may be personal data (LGPD).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType

from streams.instants import InstantOutOfRangeError, as_utc
from streams.phone import normalise_phone

_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
_UFS = frozenset(
    {
        "AC", "AL", "AP", "AM", "BA", "CE", "DF", "ES", "GO", "MA", "MT", "MS", "MG", "PA",
        "PB", "PR", "PE", "PI", "RJ", "RN", "RS", "RO", "RR", "SC", "SP", "SE", "TO",
    }
)  # fmt: skip


class FormatError(ValueError):
    """A string is not of its format; the message is the rule, without the value."""


def _phone(value: str) -> str:
    try:
        return normalise_phone(value)
    except ValueError as exc:
        raise FormatError(str(exc)) from None


def _email(value: str) -> str:
    if len(value) > 254 or _EMAIL.fullmatch(value) is None:
        raise FormatError("must be an e-mail address like name@example.com.br")
    return value.lower()


def _date_time(value: str) -> str:
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise FormatError("must be an ISO-8601 date and time with an offset, like 2026-03-05T10:00:00-03:00") from None
    if instant.tzinfo is None or "T" not in value.upper():
        raise FormatError("must be an ISO-8601 date and time with an offset, like 2026-03-05T10:00:00-03:00")
    try:
        utc = as_utc(instant)
    except InstantOutOfRangeError as exc:
        raise FormatError(str(exc)) from None
    return utc.isoformat().replace("+00:00", "Z")


def _cep(value: str) -> str:
    digits = value.replace("-", "").replace(".", "")
    if len(digits) != 8 or not digits.isdigit():
        raise FormatError("must be a Brazilian postal code (CEP) of 8 digits")
    return digits


def _uf(value: str) -> str:
    if value.upper() not in _UFS:
        raise FormatError("must be one of the 27 Brazilian state codes (UF), e.g. SP")
    return value.upper()


def _cpf(value: str) -> str:
    digits = value.replace(".", "").replace("-", "")
    if len(digits) != 11 or not digits.isdigit() or len(set(digits)) == 1:
        raise FormatError("must be a CPF of 11 digits")
    for position in (9, 10):
        total = sum(int(d) * w for d, w in zip(digits[:position], range(position + 1, 1, -1), strict=True))
        if (total * 10 % 11) % 10 != int(digits[position]):
            raise FormatError("is not a valid CPF (check digits do not match)")
    return digits


FORMATS: Mapping[str, Callable[[str], str]] = MappingProxyType(
    {
        "phone": _phone,
        "email": _email,
        "date-time": _date_time,
        "cep": _cep,
        "uf": _uf,
        "cpf": _cpf,
    }
)
"""Format name to its normaliser: the canonical form, or ``FormatError``."""

FORMAT_DOCS: Mapping[str, str] = MappingProxyType(
    {
        "phone": "Brazilian numbers in any usual format, others as +E.164; stored as E.164 (+5511987654321).",
        "email": "name@example.com.br; stored lower-case.",
        "date-time": "ISO-8601 with an offset, 1970 to 2199; stored in UTC (2026-03-05T13:00:00Z).",
        "cep": "A Brazilian postal code, '-' and '.' allowed; stored as 8 digits.",
        "uf": "One of the 27 Brazilian state codes, any case; stored upper-case.",
        "cpf": "A CPF with valid check digits, '.' and '-' allowed; stored as 11 digits.",
    }
)
"""What each format accepts and how it is stored, for the docs and the OpenAPI document."""
