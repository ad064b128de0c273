"""``crmbus subject export|erase``: LGPD subject rights (``infra.control.subject_rights``).

The person is named by ``--phone``, ``--email`` or ``--cpf`` (several at once: rows naming any
of them). Export prints JSON; erasure prints, as JSON too, what it erased and what stays in
Kafka until its retention ends. Neither ever prints nor logs the identifiers given.
"""

from __future__ import annotations

import orjson
import typer

from infra.cli.wiring import repositories
from infra.core.settings import Settings
from streams.errors import ConfigurationError
from streams.subjects import Subject, SubjectKind, subject

app = typer.Typer(help="LGPD: export or erase what is stored about a person.", no_args_is_help=True)

_TENANT = typer.Option(..., "--tenant", help="The tenant whose data about the person this is.")
_PHONE = typer.Option(None, "--phone", help="The person's phone, in any form (+55 11 99999-0000, 5511999990000).")
_EMAIL = typer.Option(None, "--email", help="The person's e-mail address.")
_CPF = typer.Option(None, "--cpf", help="The person's CPF (11 digits, with or without punctuation).")


def _subjects(phone: list[str] | None, email: list[str] | None, cpf: list[str] | None) -> list[Subject]:
    given: list[tuple[SubjectKind, str]] = [
        *(("phone", item) for item in phone or []),
        *(("email", item) for item in email or []),
        *(("cpf", item) for item in cpf or []),
    ]
    if not given:
        raise ConfigurationError("name the person: --phone, --email or --cpf")
    found = []
    for kind, raw in given:
        try:
            found.append(subject(kind, raw))
        except ValueError as exc:  # its message never echoes the value
            raise ConfigurationError(f"--{kind}: {exc}") from None
    return found


def _print(document: object) -> None:
    typer.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode())


@app.command("export")
def export(
    tenant: str = _TENANT,
    phone: list[str] | None = _PHONE,
    email: list[str] | None = _EMAIL,
    cpf: list[str] | None = _CPF,
) -> None:
    """Everything PostgreSQL holds about the person, as JSON: their dead letters, and the deliveries of their events."""
    subjects = _subjects(phone, email, cpf)
    with repositories(Settings(), actor="cli") as store:
        _print(store.subject_rights.export(tenant, subjects))


@app.command("erase")
def erase(
    tenant: str = _TENANT,
    phone: list[str] | None = _PHONE,
    email: list[str] | None = _EMAIL,
    cpf: list[str] | None = _CPF,
) -> None:
    """Delete what PostgreSQL holds about the person; say what stays in Kafka, and until when."""
    subjects = _subjects(phone, email, cpf)
    with repositories(Settings(), actor="cli") as store:
        _print(store.subject_rights.erase(tenant, subjects))
