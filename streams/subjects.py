"""The people a payload is about: the identifiers an LGPD request names them by.

A data subject asks by phone, e-mail or CPF. ``subjects_in`` finds those identifiers in a payload,
at any depth: under the keys that conventionally hold them (``phone``, ``telefone``, ``email``,
``cpf``...) and at the paths an event type declares personal (``personal_data``), whose values are
recognised by shape. Each is normalised (E.164 phone, lower-case e-mail, CPF's 11 digits) so one
person has one identifier however the producer wrote it. Stores keep a keyed digest of each
(``infra.core.subject_index``), never the identifier itself: it finds a person's rows without
keeping their data in the clear.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from streams.phone import normalise_phone

SubjectKind = Literal["phone", "email", "cpf"]
SUBJECT_KINDS: tuple[SubjectKind, ...] = ("phone", "email", "cpf")

# Keys that hold an identifier wherever they appear; compared lower-cased.
_KEYS: dict[str, SubjectKind] = {
    **dict.fromkeys(("phone", "telefone", "celular", "whatsapp", "mobile", "phone_number", "to_phone"), "phone"),
    **dict.fromkeys(("email", "e_mail", "e-mail", "to_email"), "email"),
    **dict.fromkeys(("cpf", "documento_cpf"), "cpf"),
}  # fmt: skip
IDENTIFIER_KEYS: frozenset[str] = frozenset(_KEYS)  # what log redaction also hides, at any depth
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CPF = re.compile(r"^\d{3}\.?\d{3}\.?\d{3}-?\d{2}$")


@dataclass(frozen=True, order=True)
class Subject:
    kind: SubjectKind
    value: str  # normalised


def subject(kind: SubjectKind, raw: str) -> Subject:
    """``raw`` normalised as an identifier of ``kind``; ``ValueError`` (never echoing it) when it is not one."""
    text = raw.strip()
    if kind == "phone":
        return Subject("phone", normalise_phone(text))
    if kind == "email":
        if not _EMAIL.match(text):
            raise ValueError("not an e-mail address")
        return Subject("email", text.lower())
    digits = re.sub(r"\D", "", text)
    if len(digits) != 11 or not _CPF.match(text):
        raise ValueError("a CPF has 11 digits")
    return Subject("cpf", digits)


def subjects_in(payload: Any, personal_paths: Iterable[str] = ()) -> frozenset[Subject]:
    """Every phone, e-mail and CPF found in ``payload``: under the conventional keys at any depth,
    and at the dotted ``personal_paths`` (through arrays) when the value has one of their shapes."""
    found = {item for key, value in _walk(payload) if key in _KEYS for item in _as(_KEYS[key], value)}
    for path in personal_paths:
        for value in _at(payload, path.split(".")):
            found.update(_recognised(value))
    return frozenset(found)


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key).lower(), value
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def _at(node: Any, parts: list[str]) -> Iterator[Any]:
    if isinstance(node, list):
        for item in node:
            yield from _at(item, parts)
    elif isinstance(node, dict) and parts and parts[0] in node:
        if len(parts) == 1:
            yield node[parts[0]]
        else:
            yield from _at(node[parts[0]], parts[1:])


def _as(kind: SubjectKind, value: Any) -> list[Subject]:
    if isinstance(value, list):
        return [item for element in value for item in _as(kind, element)]
    if not isinstance(value, str | int) or isinstance(value, bool):
        return []
    try:
        return [subject(kind, str(value))]
    except ValueError:
        return []


def _recognised(value: Any) -> list[Subject]:
    if isinstance(value, list):
        return [item for element in value for item in _recognised(element)]
    if not isinstance(value, str):
        return []
    if "@" in value:
        return _as("email", value)
    if _CPF.match(value.strip()):
        return _as("cpf", value)
    return _as("phone", value)
