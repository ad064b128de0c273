"""``crmbus topics apply|list``: make Kafka match the topic catalogue."""

from __future__ import annotations

import typer
from confluent_kafka.admin import AdminClient
from rich.console import Console
from rich.table import Table

from connectors.kafka.admin import apply_plan, describe_topics
from connectors.kafka.security import librdkafka_client
from infra.core.settings import Settings
from schemas.catalogue import load_catalogue
from schemas.topic_plan import plan_topics

app = typer.Typer(help="The topic catalogue in schemas/topics/.", no_args_is_help=True)
console = Console()


@app.command("apply")
def apply(dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan, change nothing.")) -> None:
    """Create missing topics, grow partitions, set configs; refuse shrinking or un-compacting."""
    settings = Settings()
    admin = AdminClient(librdkafka_client(settings))
    catalogue = load_catalogue().with_prefix(settings.topic_prefix)
    plan = plan_topics(catalogue, describe_topics(admin, catalogue.topics))
    for spec in plan.create:
        console.print(f"create  {spec.name}  partitions={spec.partitions} {spec.kafka_configs()}")
    for name, total in plan.add_partitions.items():
        console.print(f"grow    {name}  partitions -> {total}")
    for name, changes in plan.alter_configs.items():
        console.print(f"config  {name}  {dict(changes)}")
    if dry_run:
        console.print("dry run: nothing changed")
        return
    apply_plan(admin, plan, settings.kafka_replication_factor)
    console.print(f"{len(catalogue)} topics match the catalogue ({len(plan.unchanged)} were already right)")


@app.command("list")
def list_topics() -> None:
    """The catalogue: every topic, its shape and its purpose."""
    settings = Settings()
    table = Table(title="topic catalogue")
    for column in ("topic", "partitions", "retention", "cleanup", "key", "value", "purpose"):
        table.add_column(column, overflow="fold")
    for spec in load_catalogue().with_prefix(settings.topic_prefix):
        retention = "forever" if spec.retention_ms < 0 else f"{spec.retention_ms / 3_600_000:g} h"
        table.add_row(
            spec.name, str(spec.partitions), retention, spec.cleanup_policy, spec.key, spec.value_schema, spec.purpose
        )
    console.print(table)
