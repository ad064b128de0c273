"""The field types canonical payloads are built from: each one validates and normalises one kind of value.

Validators raise ``PydanticCustomError`` with a message that states the rule and never the value,
because the value may be personal data (LGPD); ``streams.event_types`` prefixes the field's path.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

from streams.instants import InstantOutOfRangeError, as_utc
from streams.phone import normalise_phone

_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
_UFS = frozenset(
    {
        "AC", "AL", "AP", "AM", "BA", "CE", "DF", "ES", "GO", "MA", "MT", "MS", "MG", "PA",
        "PB", "PR", "PE", "PI", "RJ", "RN", "RS", "RO", "RR", "SC", "SP", "SE", "TO",
    }
)  # fmt: skip


def _integral(value: object) -> object:
    # JSON Schema calls 2.0 an integer; strict validation would refuse the float, so make it one.
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _phone(value: str) -> str:
    try:
        return normalise_phone(value)
    except ValueError as exc:
        raise PydanticCustomError("phone", str(exc)) from None


def _email(value: str) -> str:
    if _EMAIL.fullmatch(value) is None:
        raise PydanticCustomError("email", "must be an e-mail address like name@example.com.br")
    return value.lower()


def _utc(value: datetime) -> datetime:
    try:
        return as_utc(value)
    except InstantOutOfRangeError as exc:
        raise PydanticCustomError("instant", str(exc)) from None


def _cep(value: str) -> str:
    digits = value.replace("-", "").replace(".", "")
    if len(digits) != 8 or not digits.isdigit():
        raise PydanticCustomError("cep", "must be a Brazilian postal code (CEP) of 8 digits")
    return digits


def _uf(value: str) -> str:
    if value.upper() not in _UFS:
        raise PydanticCustomError("uf", "must be one of the 27 Brazilian state codes (UF), e.g. SP")
    return value.upper()


def _cpf(value: str) -> str:
    digits = value.replace(".", "").replace("-", "")
    if len(digits) != 11 or not digits.isdigit() or len(set(digits)) == 1:
        raise PydanticCustomError("cpf", "must be a CPF of 11 digits")
    for position in (9, 10):
        total = sum(int(d) * w for d, w in zip(digits[:position], range(position + 1, 1, -1), strict=True))
        if (total * 10 % 11) % 10 != int(digits[position]):
            raise PydanticCustomError("cpf", "is not a valid CPF (check digits do not match)")
    return digits


# The rules JSON Schema cannot state (a dialable number, CPF check digits...) are named by a
# ``format`` the OpenAPI document carries and its description explains.
Phone = Annotated[
    str,
    StringConstraints(max_length=32),
    AfterValidator(_phone),
    Field(
        description="Phone number; Brazilian numbers in any usual format, others as +E.164. Stored as E.164.",
        json_schema_extra={"format": "phone"},
    ),
]
Email = Annotated[
    str,
    StringConstraints(max_length=254),
    AfterValidator(_email),
    Field(description="An e-mail address like name@example.com.br.", json_schema_extra={"format": "email"}),
]
UtcDatetime = Annotated[
    AwareDatetime,
    AfterValidator(_utc),
    Field(description="ISO-8601 with offset, between 1970-01-01 and 2199-12-31 (UTC); normalised to UTC."),
]
Cep = Annotated[
    str,
    StringConstraints(max_length=10),
    AfterValidator(_cep),
    Field(description="A Brazilian postal code: 8 digits, '-' and '.' allowed.", json_schema_extra={"format": "cep"}),
]
Uf = Annotated[
    str,
    StringConstraints(min_length=2, max_length=2),
    AfterValidator(_uf),
    Field(description="One of the 27 Brazilian state codes, any case.", json_schema_extra={"format": "uf"}),
]
Cpf = Annotated[
    str,
    StringConstraints(max_length=14),
    AfterValidator(_cpf),
    Field(description="A CPF with valid check digits; '.' and '-' allowed.", json_schema_extra={"format": "cpf"}),
]

INTEGRAL = BeforeValidator(_integral)
"""After an int's constraints: an integer as JSON Schema means it, 2 or 2.0, never "2" or true."""

# Ids of our own systems (lead, client, service...): never personal data, safe in keys and logs.
EntityId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")]
# A provider's message id: opaque, and WAHA's embeds the chat's phone number, so payload-only.
# Payload text is trimmed, so blank text is empty text: "\S" tells the JSON Schema so.
MessageId = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"\S")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"\S")]
Label = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"\S")]
Note = Annotated[str, StringConstraints(min_length=1, max_length=4000, pattern=r"\S")]
MessageText = Annotated[str, StringConstraints(min_length=1, max_length=65536, pattern=r"\S")]

ServiceType = Literal["caregiver", "nursing_technician", "nurse", "physiotherapy", "hospital_companion", "other"]
Channel = Literal["site", "whatsapp", "phone", "email", "referral", "social", "partner", "other"]
LeadStatus = Literal["new", "contacted", "qualified", "proposal_sent", "won", "lost"]
PaymentMethod = Literal["pix", "boleto", "card"]
WhatsAppProvider = Literal["zapi", "waha"]
MessageKind = Literal["text", "image", "audio", "video", "document", "sticker", "location", "contact", "other"]
DeliveryStatus = Literal["pending", "sent", "delivered", "read", "played", "failed"]
SessionStatus = Literal["connected", "disconnected"]
