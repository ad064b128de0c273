"""LGPD subject rights over the admin API: export what is stored about a person, or erase it
(``infra.control.subject_rights``).

The person is named in the body (a phone, an e-mail, a CPF), never in the path or the query,
which proxies and access logs keep. Export needs ``personal_data:read``, the scope that already
unmasks payloads; erasure, which cannot be undone, ``personal_data:erase``, which no role but
``admin`` holds: the tenant (the controller, under the LGPD) may give it to its own data
protection officer's key, and no operator erases by accident. Neither answer is
kept for an ``Idempotency-Key`` (an export holds the person's data; an erasure run twice erases
nothing the second time).
"""

from __future__ import annotations

from typing import Any

from ingress.admin import schemas as s
from ingress.admin.table import Answer, Call, Operation
from ingress.http.problems import Problem
from streams.subjects import SUBJECT_KINDS, Subject, subject

_T = "/tenants/{tenant_id}"
_PERSON = s.obj(
    [],
    {"phone": {"type": "string", "minLength": 8, "maxLength": 32, "pattern": "^[+0-9 ().-]+$",
               "description": "A Brazilian phone with its area code, in any written form"},
     "email": {"type": "string", "maxLength": 320, "pattern": "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$"},
     "cpf": {"type": "string", "pattern": "^[0-9]{3}\\.?[0-9]{3}\\.?[0-9]{3}-?[0-9]{2}$"}},
    minProperties=1,
)  # fmt: skip
_EXPORT = s.obj(
    ["tenant_id", "asked_by", "event_ids", "stores"],
    {"tenant_id": {"type": "string"}, "asked_by": {"type": "array", "items": {"type": "string"}},
     "event_ids": {"type": "array", "items": s.UUID}, "stores": {"type": "object"}},
    closed=False,
)  # fmt: skip
_ERASURE = s.obj(
    ["tenant_id", "asked_by", "events", "erased", "kafka"],
    {"tenant_id": {"type": "string"}, "asked_by": {"type": "array", "items": {"type": "string"}},
     "events": {"type": "integer"}, "erased": {"type": "object"},
     "kafka": {"type": "array", "items": {"type": "object"}}, "kafka_changelogs": {"type": "string"}},
)  # fmt: skip


def _subjects(body: dict[str, Any]) -> list[Subject]:
    found = []
    for kind in SUBJECT_KINDS:
        if kind in body:
            try:
                found.append(subject(kind, body[kind]))
            except ValueError as exc:  # its message never echoes the value
                raise Problem(422, "invalid-request", "Invalid request", f"{kind}: {exc}", field=kind) from None
    return found


async def export_subject(call: Call) -> Answer:
    people = _subjects(call.body)
    return Answer(200, await call.run(lambda: call.repos.subjects.export(call.tenant_id, people)))


async def erase_subject(call: Call) -> Answer:
    people = _subjects(call.body)
    return Answer(200, await call.run(lambda: call.repos.subjects.erase(call.tenant_id, people)))


OPERATIONS: tuple[Operation, ...] = (
    Operation("POST", f"{_T}/subjects/export", "personal_data:read", export_subject,
              "Export everything stored about a person (LGPD): their dead letters and their events' deliveries",
              "action", _EXPORT, _PERSON, personal=True),
    Operation("POST", f"{_T}/subjects/erase", "personal_data:erase", erase_subject,
              "Erase what PostgreSQL stores about a person (LGPD); says what stays in Kafka until its retention ends",
              "action", _ERASURE, _PERSON, personal=True),
)  # fmt: skip
