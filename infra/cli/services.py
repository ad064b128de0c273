"""``crmbus up|down|status`` and the per-service ``kafka`` / ``postgres`` commands."""

from __future__ import annotations

import os
import time

import typer
from confluent_kafka.admin import AdminClient
from rich.console import Console
from rich.table import Table

from connectors.schema_registry import schema_ids
from infra.cli.registry import register_all
from infra.db.engine import scoped_engine
from infra.db.migrate import upgrade
from infra.kafka_node import LocalKafka
from infra.postgres_node import LocalPostgres
from infra.settings import Settings
from infra.topics import apply_catalogue
from ingress.server import serve
from schemas.catalogue import load_catalogue

console = Console()
kafka_app = typer.Typer(help="The local Kafka broker (KRaft, jars from Maven Central).", no_args_is_help=True)
postgres_app = typer.Typer(help="The local PostgreSQL cluster crmbus owns.", no_args_is_help=True)


def _timed_up(name: str, start: typer.models.CommandFunctionType) -> None:
    began = time.monotonic()
    started = start()
    verb = "started" if started else "already running, reused"
    console.print(f"{name}: {verb} ({time.monotonic() - began:.1f} s)")


@kafka_app.command("up")
def kafka_up() -> None:
    """Start the local broker, or reuse one that answers."""
    _timed_up("kafka", LocalKafka(Settings()).up)


@kafka_app.command("down")
def kafka_down() -> None:
    """Stop the broker crmbus started."""
    console.print("kafka: stopped" if LocalKafka(Settings()).down() else "kafka: not running here")


@kafka_app.command("status")
def kafka_status() -> None:
    """Whether the broker answers, and where its log is."""
    _print_status(Settings())


@postgres_app.command("up")
def postgres_up() -> None:
    """Start (installing and initialising if needed) the local PostgreSQL, or reuse a server."""
    _timed_up("postgres", LocalPostgres(Settings()).up)


@postgres_app.command("down")
def postgres_down() -> None:
    """Stop the PostgreSQL cluster crmbus started."""
    console.print("postgres: stopped" if LocalPostgres(Settings()).down() else "postgres: not running here")


@postgres_app.command("status")
def postgres_status() -> None:
    """Whether PostgreSQL answers, and where its data and log are."""
    _print_status(Settings())


def up() -> None:
    """Bring the stack up: Kafka, PostgreSQL, topics from the catalogue, database migrations."""
    settings = Settings()
    _timed_up("kafka", LocalKafka(settings).up)
    _timed_up("postgres", LocalPostgres(settings).up)
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    catalogue = load_catalogue().with_prefix(settings.topic_prefix)
    plan = apply_catalogue(admin, catalogue, settings.kafka_replication_factor)
    console.print(f"topics: {len(plan.create)} created, {len(plan.unchanged)} unchanged of {len(catalogue)}")
    subjects = register_all(catalogue, schema_ids(settings.schema_registry_url))
    console.print(f"schemas: {len(subjects)} subjects with ids")
    with scoped_engine(settings.database) as engine:
        upgrade(engine)
    console.print("database: migrated to head")
    _print_status(settings)


def down() -> None:
    """Stop every service crmbus started; leaves no process of ours behind."""
    settings = Settings()
    console.print("kafka: stopped" if LocalKafka(settings).down() else "kafka: not running here")
    console.print("postgres: stopped" if LocalPostgres(settings).down() else "postgres: not running here")


def status() -> None:
    """Where each service is and whether it answers."""
    _print_status(Settings())


def _print_status(settings: Settings) -> None:
    kafka = LocalKafka(settings).status()
    postgres = LocalPostgres(settings).status()
    table = Table(title="crmbus")
    for column in ("service", "address", "state", "details"):
        table.add_column(column)
    table.add_row(
        "kafka",
        kafka.bootstrap,
        "[green]answering[/]" if kafka.answering else "[red]down[/]",
        f"pid {kafka.pid}, log {kafka.log_file}" if kafka.pid else "not started by crmbus",
    )
    table.add_row(
        "postgres",
        postgres.url,
        "[green]answering[/]" if postgres.answering else "[red]down[/]",
        f"data {postgres.data_dir}, log {postgres.log_file}" if postgres.running_here else "not started by crmbus",
    )
    table.add_row(
        "schema ids",
        settings.schema_registry_url or "schemas/avro/ids.yaml",
        "registry" if settings.schema_registry_url else "catalogue",
        "",
    )
    console.print(table)


def ingress(
    host: str | None = typer.Option(None, help="Listen address (default CRMBUS_INGRESS_HOST)."),
    port: int | None = typer.Option(None, help="Port (default CRMBUS_INGRESS_PORT)."),
    workers: int | None = typer.Option(None, help="Processes sharing the port (default CRMBUS_INGRESS_WORKERS)."),
) -> None:
    """Run the HTTP ingress in the foreground until Ctrl-C."""
    overrides = {"ingress_host": host, "ingress_port": port, "ingress_workers": workers}
    settings = Settings().model_copy(update={k: v for k, v in overrides.items() if v is not None})
    console.print(
        f"ingress: http://{settings.ingress_host}:{settings.ingress_port} ({settings.ingress_workers} processes)"
    )
    raise typer.Exit(serve(settings))


def worker(
    processes: int | None = typer.Option(None, help="Worker processes (default CRMBUS_WORKER_PROCESSES)."),
    roles: str | None = typer.Option(
        None, help="Comma-separated: router, scheduler, sinks, retry, archive (default CRMBUS_WORKER_ROLES: all)."
    ),
) -> None:
    """Run the Faust workers (router, scheduler, sinks, retry, archive) in the foreground until Ctrl-C."""
    from agents.worker import serve as serve_workers  # Faust is heavy: import it only for this command

    overrides: dict[str, object] = {}
    if processes is not None:
        overrides["CRMBUS_WORKER_PROCESSES"] = str(processes)
    if roles is not None:
        overrides["CRMBUS_WORKER_ROLES"] = roles
    os.environ.update({k: str(v) for k, v in overrides.items()})  # validated by Settings like the environment
    settings = Settings()
    console.print(
        f"worker: {','.join(settings.worker_roles)} in {settings.worker_processes} processes, health on "
        f"http://127.0.0.1:{settings.worker_web_port}/health (+ index)"
    )
    raise typer.Exit(serve_workers(settings))


def register(app: typer.Typer) -> None:
    app.command("up")(up)
    app.command("ingress")(ingress)
    app.command("worker")(worker)
    app.command("down")(down)
    app.command("status")(status)
    app.add_typer(kafka_app, name="kafka")
    app.add_typer(postgres_app, name="postgres")
