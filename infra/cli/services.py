"""``crmbus up|down|status`` and the per-service ``kafka`` / ``postgres`` commands."""

from __future__ import annotations

import functools
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import typer
from confluent_kafka.admin import AdminClient
from rich.console import Console
from rich.table import Table

from connectors.kafka.admin import apply_catalogue
from connectors.kafka.schema_registry import display_url, schema_ids
from connectors.kafka.security import librdkafka_client
from infra.cli.dashboard import dashboard_url
from infra.cli.registry import register_all
from infra.cli.runners import announced, serve_ingress, serve_workers
from infra.cli.wiring import repositories
from infra.core.processes import tail
from infra.core.settings import Settings
from infra.db.engine import database_url
from infra.devtools.demo_tenant import ensure_demo_tenant
from infra.local.bus_node import LocalBus, ProcessStatus
from infra.local.kafka_node import LocalKafka
from infra.local.monitoring_node import LocalMonitoring
from infra.local.postgres_node import LocalPostgres
from schemas.catalogue import load_catalogue
from streams.errors import InfraError
from streams.restarts import restarting, summary

console = Console()
kafka_app = typer.Typer(help="The local Kafka broker (KRaft, jars from Maven Central).", no_args_is_help=True)
postgres_app = typer.Typer(help="The local PostgreSQL cluster crmbus owns.", no_args_is_help=True)


def _timed_up(name: str, start: Callable[[], bool]) -> bool:
    """Run ``start`` and say whether it started ``name`` or reused one running; True when started."""
    began = time.monotonic()
    started = start()
    verb = "started" if started else "already running, reused"
    console.print(f"{name}: {verb} ({time.monotonic() - began:.1f} s)")
    return started


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


def up(
    detach: bool = typer.Option(False, "--detach", help="Return once everything answers; 'crmbus down' stops it."),
) -> None:
    """Run the whole bus: Kafka, PostgreSQL, topics, migrations, a demo tenant, the sandbox
    destinations, the ingress, the workers and the dashboard; each process restarts when it
    crashes. Ctrl-C stops what this 'up' started ('crmbus down' stops everything)."""
    settings = Settings()
    started = _Started(settings)
    try:
        started.kafka = _timed_up("kafka", LocalKafka(settings).up)
        started.postgres = _timed_up("postgres", LocalPostgres(settings).up)
        admin = AdminClient(librdkafka_client(settings))
        catalogue = load_catalogue().with_prefix(settings.topic_prefix)
        plan = apply_catalogue(admin, catalogue, settings.kafka_replication_factor)
        console.print(f"topics: {len(plan.create)} created, {len(plan.unchanged)} unchanged of {len(catalogue)}")
        subjects = register_all(catalogue, schema_ids(settings), settings.topic_prefix)
        console.print(f"schemas: {len(subjects)} subjects with ids")
        with repositories(settings, actor="crmbus up") as store:
            store.migrate()
            console.print("database: migrated to head")
            demo = ensure_demo_tenant(store.tenants, store.endpoints, store.api_keys, settings)
        console.print(f"tenant: {demo.tenant_id} ({'created with the seed flows' if demo.created else 'exists'})")
        for process in started.bus.processes:
            console.print(f"{process.name}: starting …", end="\r")
            if _timed_up(process.name, functools.partial(started.bus.up_one, process)):
                started.processes.append(process.name)
    except BaseException:  # a process that would not start, or Ctrl-C: undo this call, keep what it reused
        started.stop()
        raise
    _print_bus(settings, demo.api_key, demo.operator_key)
    if detach:
        return
    try:
        _wait_for_interrupt(started)
    except KeyboardInterrupt:  # Ctrl-C a moment before the wait took it over
        pass
    finally:
        started.stop()


@dataclass
class _Started:
    """What one ``crmbus up`` started, and so may stop: never what it found running and reused."""

    settings: Settings
    kafka: bool = False
    postgres: bool = False
    processes: list[str] = field(default_factory=list)
    bus: LocalBus = field(init=False)

    def __post_init__(self) -> None:
        self.bus = LocalBus(self.settings)

    def stop(self) -> None:
        for name in self.bus.down(only=self.processes):
            console.print(f"{name}: stopped")
        reused = [p.name for p in self.bus.processes if p.name not in self.processes and self.bus.our_pid(p)]
        if reused:
            console.print(f"left running (not started by this 'up'): {', '.join(reused)}")
        if self.kafka and LocalKafka(self.settings).down():
            console.print("kafka: stopped")
        if self.postgres and LocalPostgres(self.settings).down():
            console.print("postgres: stopped")


def _wait_for_interrupt(started: _Started) -> None:
    """Until Ctrl-C or SIGTERM. Each process restarts its own crashed children; one that is gone
    altogether (its supervisor killed) is started again, and if that fails the wait ends."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    console.print("\nCtrl-C stops what this 'up' started.")  # only once Ctrl-C is ours to handle
    bus = started.bus
    while not stop.wait(1.0):
        for process in bus.exited():
            console.print(f"[red]{process.name} is gone[/]; starting it again. Its log {bus.log_file(process)}:")
            console.print(tail(bus.log_file(process)))
            try:
                bus.up_one(process)
            except InfraError as error:
                console.print(f"[red]{process.name} did not start again[/]: {error}")
                return
            if process.name not in started.processes:
                started.processes.append(process.name)


def down() -> None:
    """Stop every process and service crmbus started; leaves no process of ours behind."""
    settings = Settings()
    for name in LocalBus(settings).down():
        console.print(f"{name}: stopped")
    if LocalMonitoring(settings).down():
        console.print("monitoring: stopped")
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
        _answering(kafka.answering),
        f"pid {kafka.pid}, log {kafka.log_file}" if kafka.pid else "not started by crmbus",
    )
    table.add_row(
        "postgres",
        postgres.url,
        _answering(postgres.answering),
        f"data {postgres.data_dir}, log {postgres.log_file}" if postgres.running_here else "not started by crmbus",
    )
    table.add_row(
        "schema ids",
        display_url(settings.schema_registry_url) if settings.schema_registry_url else "schemas/avro/ids.yaml",
        "registry" if settings.schema_registry_url else "catalogue",
        "",
    )
    for process in LocalBus(settings).status():
        table.add_row(process.process.name, process.process.health_url, *_bus_state(process))
    console.print(table)


def _bus_state(process: ProcessStatus) -> tuple[str, str]:
    """The state and details of one bus process: running, crashed and restarting, or not started."""
    if process.pid is None:
        return _answering(process.healthy), "not started by crmbus"
    details = f"pid {process.pid}, log {process.log_file}"
    said = summary(process.children, time.time())
    if restarting(process.children):
        return "[yellow]crashed, restarting[/]", f"{said}; {details}"
    return _answering(process.healthy), f"{said}; {details}" if said else details


def _answering(answering: bool) -> str:
    return "[green]answering[/]" if answering else "[red]down[/]"


def _print_bus(settings: Settings, api_key: str, operator_key: str) -> None:
    """Where everything is, once ``crmbus up`` has it running."""
    ingress = f"http://{settings.ingress_host}:{settings.ingress_port}"
    table = Table(title="crmbus is up", show_header=False)
    table.add_row("ingress", f"{ingress}  (POST /v1/events; docs {ingress}/docs; {ingress}/status)")
    table.add_row("API key", f"{api_key}  (tenant demo; kept in .crmbus/bus/demo.key)")
    table.add_row("sandbox", f"{settings.sandbox_url}  (CRM, Financeiro, Z-API, WAHA, e-mail, marketing)")
    table.add_row("  received", f"{settings.sandbox_url}/_control/<system>/requests")
    table.add_row("workers", f"http://127.0.0.1:{settings.worker_web_port}/health  and  /metrics")
    table.add_row("dashboard", f"{dashboard_url(settings)}  (JSON: /dashboard/api/overview)")
    table.add_row("  sign in", f"{operator_key}  (operator of tenant demo; kept in .crmbus/bus/operator.key)")
    table.add_row("kafka", f"{settings.kafka_bootstrap}  (e.g. kcat -b {settings.kafka_bootstrap} -L)")
    table.add_row("postgres", database_url(settings).render_as_string(hide_password=True))
    table.add_row("try", "crmbus demo   (posts leads, clients and services, and shows them delivered)")
    console.print(table)


def ingress(
    host: str | None = typer.Option(None, help="Listen address (default CRMBUS_INGRESS_HOST)."),
    port: int | None = typer.Option(None, help="Port (default CRMBUS_INGRESS_PORT)."),
    workers: int | None = typer.Option(None, help="Processes sharing the port (default CRMBUS_INGRESS_WORKERS)."),
) -> None:
    """Run the HTTP ingress in the foreground until Ctrl-C."""
    overrides = {"ingress_host": host, "ingress_port": port, "ingress_workers": workers}
    settings = Settings().model_copy(update={k: v for k, v in overrides.items() if v is not None})
    url = f"http://{settings.ingress_host}:{settings.ingress_port}"
    with announced(settings, "ingress", url=url, processes=settings.ingress_workers):
        raise typer.Exit(serve_ingress(settings))


def worker(
    processes: int | None = typer.Option(None, help="Worker processes (default CRMBUS_WORKER_PROCESSES)."),
    roles: str | None = typer.Option(
        None, help="Comma-separated: router, scheduler, sinks, retry, archive (default CRMBUS_WORKER_ROLES: all)."
    ),
) -> None:
    """Run the Faust workers (router, scheduler, sinks, retry, archive) in the foreground until Ctrl-C."""
    overrides: dict[str, object] = {}
    if processes is not None:
        overrides["CRMBUS_WORKER_PROCESSES"] = str(processes)
    if roles is not None:
        overrides["CRMBUS_WORKER_ROLES"] = roles
    os.environ.update({k: str(v) for k, v in overrides.items()})  # validated by Settings like the environment
    settings = Settings()
    health = f"http://127.0.0.1:{settings.worker_web_port}/health (+ index)"
    with announced(
        settings, "worker", roles=list(settings.worker_roles), processes=settings.worker_processes, health=health
    ):
        raise typer.Exit(serve_workers(settings))


def register(app: typer.Typer) -> None:
    app.command("up")(up)
    app.command("ingress")(ingress)
    app.command("worker")(worker)
    app.command("down")(down)
    app.command("status")(status)
    app.add_typer(kafka_app, name="kafka")
    app.add_typer(postgres_app, name="postgres")
