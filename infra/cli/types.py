"""``crmbus types add|list|show|deprecate``: the event types a tenant's events may have.

Built-in types are files in ``schemas/types/``; a tenant registers its own from a document of the
same format (YAML or JSON). A compatible change of a major version becomes its next revision; a
breaking one is refused naming the field, and goes in as the next major version instead. A type
with ``typed_topic: true`` gets its typed public topic made ready before it is stored
(``infra.cli.typed_topics``); the others publish on the shared ``custom.events``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.console import Console

from infra.cli.typed_topics import TypedTopic, check_typed_topic, describe_typed_topic, prepare_typed_topic
from infra.cli.wiring import repositories
from infra.core.settings import Settings
from schemas.event_types import built_in_types
from schemas.topic_names import TopicNames
from streams.errors import ConfigurationError, InvalidEventTypeError
from streams.event_type import EventType, event_type_from_document

app = typer.Typer(help="Event types: the built-in ones and each tenant's own.", no_args_is_help=True)
console = Console(soft_wrap=True)


def read_document(source: str) -> Any:
    """The type document in file ``source`` (YAML, or JSON, which YAML reads too)."""
    try:
        text = Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read the type document: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InvalidEventTypeError(f"the type document is not valid YAML or JSON{where}") from None


def describe(event_type: EventType) -> str:
    """One line: name, version and revision, whose it is, lane, state and description."""
    owner = "built-in" if event_type.tenant_id is None else f"tenant {event_type.tenant_id}"
    state = "  deprecated" if event_type.deprecated else ""
    return (
        f"{event_type.name} v{event_type.version} r{event_type.revision}  {owner}  lane {event_type.lane}{state}"
        f"  {event_type.description}"
    ).rstrip()


@app.command("add")
def add(
    document: str = typer.Argument(..., help="The type document, a YAML or JSON file like schemas/types/*.yaml."),
    tenant: str = typer.Option(..., help="Tenant id."),
) -> None:
    """Register a tenant's type, a new major version of it, or a compatible revision of one."""
    parsed = read_document(document)
    settings = Settings()
    check_typed_topic(event_type_from_document(parsed, tenant_id=tenant), settings)  # before any I/O
    ready: list[TypedTopic] = []

    def prepare(event_type: EventType) -> None:
        if event_type.typed_topic:
            ready.append(prepare_typed_topic(event_type, settings))

    with repositories(settings) as store:
        added = store.event_types.add(tenant, parsed, before_commit=prepare)
    event_type = added.event_type
    said = {
        "new type": "registered",
        "new version": "registered beside its earlier versions",
        "new revision": f"revised to revision {event_type.revision}",
        "unchanged": f"unchanged: revision {event_type.revision} is this document already",
    }[added.outcome]
    console.print(f"{event_type.name} v{event_type.version} of tenant {tenant!r} {said}", markup=False, highlight=False)
    where = (
        describe_typed_topic(ready[0])
        if ready
        else f"its events publish on {TopicNames(settings.topic_prefix).custom_events} (the generic envelope)"
    )
    console.print(where, markup=False, highlight=False)


@app.command("list")
def list_types(tenant: str | None = typer.Option(None, help="The built-in types and this tenant's only.")) -> None:
    """One type version per line: the built-in ones, then the tenants' (the latest revision of each)."""
    with repositories(Settings()) as store:
        tenants = store.event_types.list(tenant)
    for event_type in (*built_in_types(), *tenants):
        console.print(describe(event_type), markup=False, highlight=False)


@app.command("show")
def show(
    name: str,
    version: int | None = typer.Option(None, help="The major version (default: the highest)."),
    tenant: str | None = typer.Option(None, help="The tenant whose type it is (not needed for a built-in type)."),
    example: bool = typer.Option(False, "--example", help="Print only the example payload, as JSON."),
) -> None:
    """Print a type's document (its latest revision), as YAML; or its example payload."""
    if tenant is None or any(built_in.name == name for built_in in built_in_types()):
        event_type = _built_in(name, version)
    else:
        with repositories(Settings()) as store:
            event_type = store.event_types.show(tenant, name, version)
    if example:
        if event_type.example is None:
            raise ConfigurationError(f"{name} v{event_type.version} has no example")
        print(json.dumps(event_type.example, ensure_ascii=False, indent=2))
        return
    console.print(
        yaml.safe_dump(event_type.to_document(), sort_keys=False, allow_unicode=True).rstrip(),
        markup=False,
        highlight=False,
    )


@app.command("deprecate")
def deprecate(
    name: str,
    version: int = typer.Option(..., help="The major version to deprecate."),
    tenant: str = typer.Option(..., help="Tenant id."),
) -> None:
    """Mark a tenant's type version deprecated: still accepted and routed, but it takes no new revision."""
    with repositories(Settings()) as store:
        event_type = store.event_types.deprecate(tenant, name, version)
    console.print(
        f"{event_type.name} v{event_type.version} of tenant {tenant!r} is deprecated", markup=False, highlight=False
    )


def _built_in(name: str, version: int | None) -> EventType:
    versions = {event_type.version: event_type for event_type in built_in_types() if event_type.name == name}
    if not versions:
        raise ConfigurationError(f"no built-in type {name}; a tenant's own type needs --tenant")
    chosen = max(versions) if version is None else version
    if chosen not in versions:
        raise ConfigurationError(f"built-in type {name} has no version {chosen}")
    return versions[chosen]
