"""``crmbus schemas register|show``: publish each topic's value schema under ``<topic>-value``, and
print the schema crmbus writes on one topic (all a consumer needs to decode it)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from connectors.kafka.schema_registry import display_url, schema_ids
from infra.core.settings import Settings
from schemas.avro_schemas import SchemaIds
from schemas.catalogue import RAW_VALUE, Catalogue, load_catalogue
from schemas.public_topics import published_schema

app = typer.Typer(help="Avro schemas and their wire-format ids.", no_args_is_help=True)


def register_all(catalogue: Catalogue, ids: SchemaIds, prefix: str = "") -> dict[str, int]:
    """Subject (TopicNameStrategy) -> schema id, registering where a registry is configured.
    ``catalogue`` carries ``prefix`` on its names (``Catalogue.with_prefix``)."""
    return {
        f"{spec.name}-value": ids.id_for(f"{spec.name}-value", published_schema(spec.name.removeprefix(prefix)))
        for spec in catalogue
        if spec.value_schema != RAW_VALUE
    }


@app.command("register")
def register() -> None:
    """Register every topic's value schema (with a registry) or show the catalogue ids (without)."""
    settings = Settings()
    prefix = settings.topic_prefix
    subjects = register_all(load_catalogue().with_prefix(prefix), schema_ids(settings), prefix)
    registry = settings.schema_registry_url
    table = Table(title=f"schema ids from {display_url(registry) if registry else 'schemas/avro/ids.yaml'}")
    table.add_column("subject")
    table.add_column("id", justify="right")
    for subject, schema_id in subjects.items():
        table.add_row(subject, str(schema_id))
    Console().print(table)


@app.command("show")
def show(
    topic: str = typer.Argument(help="A catalogue topic, e.g. crm.lead.created (the prefix is optional)."),
) -> None:
    """Print the Avro schema (JSON) of the values crmbus writes on TOPIC."""
    prefix = Settings().topic_prefix
    name = topic.removeprefix(prefix) if prefix else topic
    # Plain output, no rich: the text is the schema, to be saved or piped as it is.
    typer.echo(published_schema(name).text.rstrip("\n"))
