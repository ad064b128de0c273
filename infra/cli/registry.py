"""``crmbus schemas register``: publish each topic's value schema under ``<topic>-value``."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from connectors.kafka.schema_registry import display_url, schema_ids
from infra.core.settings import Settings
from schemas.avro_schemas import SchemaIds, load_schema
from schemas.catalogue import RAW_VALUE, Catalogue, load_catalogue

app = typer.Typer(help="Avro schemas and their wire-format ids.", no_args_is_help=True)


def register_all(catalogue: Catalogue, ids: SchemaIds) -> dict[str, int]:
    """Subject (TopicNameStrategy) -> schema id, registering where a registry is configured."""
    return {
        f"{spec.name}-value": ids.id_for(f"{spec.name}-value", load_schema(spec.value_schema))
        for spec in catalogue
        if spec.value_schema != RAW_VALUE
    }


@app.command("register")
def register() -> None:
    """Register every topic's value schema (with a registry) or show the catalogue ids (without)."""
    settings = Settings()
    subjects = register_all(load_catalogue().with_prefix(settings.topic_prefix), schema_ids(settings))
    registry = settings.schema_registry_url
    table = Table(title=f"schema ids from {display_url(registry) if registry else 'schemas/avro/ids.yaml'}")
    table.add_column("subject")
    table.add_column("id", justify="right")
    for subject, schema_id in subjects.items():
        table.add_row(subject, str(schema_id))
    Console().print(table)
