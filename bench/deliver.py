"""deliver: deliveries/s from the deliver topics to loopback destinations, healthy and with one failing.

Against one loopback destination server (every destination of the bench tenants points there:
``bench.deliver_destination``, or ``crmbus sandbox`` with ``--destination sandbox``), for each
system on topics of its own — the ceiling (a confluent-kafka consumer and an aiohttp session,
``bench.deliver_ceiling``), then ``crmbus worker`` with each ``--workers`` count: a warm-up, an
open loop of lead.created events at ``--rate`` events/s for ``--duration`` s through the lane
(latency from each event's scheduled send to the destination's arrival time of each of its three
deliveries; crmbus only), a backlog of ``--backlog`` events' Delivery records written straight
into the deliver topics and drained, and (crmbus only) the same backlog while zapi answers 503,
counting the healthy destinations' deliveries/s, then zapi healed and every delivery of that
backlog waited for.
Every expected delivery is matched to the destination's journal by its Idempotency-Key.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from confluent_kafka.admin import AdminClient

from bench.deliver_destination import DestinationClient
from bench.deliver_load import DELIVER, DeliveryTemplate, templates
from bench.deliver_phases import FAILING_DESTINATION, DeliverBench
from bench.deliver_report import SystemResult, figures, summary, system_table
from bench.deliver_systems import (
    RETRY_ROLES,
    ROUTER_ROLES,
    SINK_ROLES,
    GroupProgress,
    ceiling,
    fast_destination,
    sandbox,
    secret_key,
    tenants,
    worker_group,
    workers,
)
from bench.deliver_topics import create_topics, delete_topics
from bench.lane_load import LaneWriter
from bench.report import console
from bench.resources import TreeMeter
from bench.router_systems import worker_available
from bench.stack import BenchError, Infra, Servers, infra, ingress_command
from bench.stats import Report, json_line, median_report
from infra.core.settings import Settings
from infra.db.engine import database_url, make_engine
from infra.db.routes import Routes
from schemas.catalogue import load_catalogue

DEFAULT_RATE = 200.0  # lead.created events/s: 600 deliveries/s, below what one worker delivers
DESTINATIONS = ("crm", "zapi", "marketing")  # what the seed routes make of a consenting lead
LANE = "crmbus.events"
WARM_UP_EVENTS = 300


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", default="1", help="worker process counts to measure, comma-separated (default 1)")
    parser.add_argument(
        "--backlog", type=int, default=20_000, help="events (3 deliveries each) per drained backlog (default 20000)"
    )
    parser.add_argument(
        "--destination", choices=("fast", "sandbox"), default="fast",
        help="fast: bench.deliver_destination (default); sandbox: crmbus sandbox, every contract checked, ~0.4 ms CPU "
        "per request",
    )  # fmt: skip
    parser.add_argument("--tenants", type=int, default=6, help="bench tenants, one lane partition each (1..6)")
    parser.add_argument(
        "--max-in-flight", type=int, default=None, help="CRMBUS_SINK_MAX_IN_FLIGHT (per destination; default: settings)"
    )
    parser.add_argument("--idle-timeout", type=float, default=20.0, help="stop waiting for a phase after this idle")
    parser.add_argument("--max-wait", type=float, default=240.0, help="longest wait for one phase's deliveries")
    parser.add_argument(
        "--recovery-wait", type=float, default=180.0, help="longest wait for zapi's deliveries once it is healed"
    )
    parser.add_argument(
        "--ceiling-processes", type=int, default=1, help="ceiling processes in one consumer group (default 1)"
    )
    parser.add_argument("--start-timeout", type=float, default=120.0, help="seconds for a system to become ready")
    parser.add_argument("--ceiling-only", action="store_true", help="measure only the ceiling (checks the harness)")


@dataclass(frozen=True, slots=True)
class _Shared:
    """What every system of every run uses."""

    infra: Infra
    server: Servers
    client: DestinationClient
    server_meter: TreeMeter
    writer: LaneWriter
    tenants: tuple[str, ...]
    key: str
    max_in_flight: int
    log_dir: Path
    args: argparse.Namespace


def _worker_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise BenchError(f"--workers takes counts like 1,2, not {text!r}") from None
    if not counts or any(count < 1 for count in counts):
        raise BenchError("--workers needs at least one count, each 1 or more")
    return counts


@contextlib.contextmanager
def _topics(shared: _Shared, prefix: str) -> Iterator[None]:
    admin = AdminClient({"bootstrap.servers": shared.infra.settings.kafka_bootstrap})
    create_topics(admin, prefix, shared.infra.settings.kafka_replication_factor)
    try:
        yield
    finally:
        delete_topics(admin, prefix)


def _templates(shared: _Shared, prefix: str) -> list[list[DeliveryTemplate]]:
    settings = shared.infra.settings
    engine = make_engine(database_url(settings))
    try:
        routes = Routes(engine, actor="bench").load_enabled(event_type="lead.created")
    finally:
        engine.dispose()
    try:
        return [
            templates(tenant, [r for r in routes if r.tenant_id == tenant], settings.schema_registry_url, prefix,
                      DESTINATIONS)
            for tenant in shared.tenants
        ]  # fmt: skip
    except ValueError as error:
        raise BenchError(str(error)) from error


def _bench(
    shared: _Shared, servers: Sequence[Servers], system: TreeMeter, progress: GroupProgress, prefix: str
) -> DeliverBench:
    settings, args = shared.infra.settings, shared.args

    def describe() -> str:
        return "\n".join(f"-- {s.name} ({s.log_file}):\n{s.tail()}" for s in servers)

    return DeliverBench(
        shared.client, system, shared.server_meter, shared.infra.broker_pid, progress, settings.kafka_bootstrap,
        prefix, _templates(shared, prefix), DESTINATIONS, args.idle_timeout, args.max_wait, describe,
    )  # fmt: skip


def _ceiling(shared: _Shared, prefix: str) -> SystemResult:
    settings, args = shared.infra.settings, shared.args
    topics = [prefix + DELIVER + d for d in DESTINATIONS]
    group = f"{prefix}bench-ceiling"
    with _topics(shared, prefix):
        start = ceiling(
            settings.kafka_bootstrap, topics, group, shared.client.url, shared.max_in_flight * len(DESTINATIONS),
            args.ceiling_processes, shared.log_dir, args.start_timeout, settings.schema_registry_url,
        )  # fmt: skip
        with (
            start as servers,
            TreeMeter(lambda: servers.roots) as system,
            contextlib.closing(GroupProgress(settings.kafka_bootstrap, group)) as progress,
        ):
            bench = _bench(shared, [servers], system, progress, prefix)
            warm = bench.warm_up(bench.direct("warm-up", WARM_UP_EVENTS)[0])
            backlog, _ = bench.direct("backlog", args.backlog)
        return SystemResult("ceiling", [warm, backlog], None, system.peak_rss_mb)


def _crmbus(shared: _Shared, count: int, prefix: str) -> SystemResult:
    """``count`` sink processes, measured; a retry process to heal the failing backlog; a router for
    the lane phases (warm-up, rate) only, stopped before the backlogs. Each its own ``crmbus worker
    --roles`` and consumer group, as an operator would run them for throughput: Faust blocks every
    agent of a process when one agent's buffer is full. The system's CPU is all of theirs."""
    settings, args = shared.infra.settings, shared.args
    catalogue = load_catalogue().with_prefix(prefix)
    lane = catalogue[prefix + LANE]
    registry = settings.schema_registry_url
    routed = {lane.name: worker_group(prefix, ROUTER_ROLES)}  # the lane phases wait on it too
    with _topics(shared, prefix):
        start = partial(
            workers, prefix=prefix, log_dir=shared.log_dir, timeout_s=args.start_timeout, key=shared.key,
            sandbox_url=shared.client.url, max_in_flight=args.max_in_flight,
        )  # fmt: skip
        with (
            start(count, SINK_ROLES) as sinks,
            start(1, RETRY_ROLES) as retry,
            start(1, ROUTER_ROLES) as router,
            TreeMeter(lambda: [*sinks.roots, *retry.roots, *router.roots]) as system,
            contextlib.closing(
                GroupProgress(settings.kafka_bootstrap, worker_group(prefix, SINK_ROLES), routed)
            ) as progress,
        ):
            bench = _bench(shared, [sinks, retry, router], system, progress, prefix)
            where = (lane.name, lane.partitions)
            warm = bench.warm_up(
                bench.lane("warm-up", shared.writer, where, shared.tenants, WARM_UP_EVENTS, 300.0, registry)
            )
            count_at_rate = round(args.rate * args.duration)
            rate = bench.lane("rate", shared.writer, where, shared.tenants, count_at_rate, args.rate, registry)
            router.stop()  # the backlogs go straight into the deliver topics: the sinks alone are measured
            backlog, _ = bench.direct("backlog", args.backlog)
            shared.client.fail(FAILING_DESTINATION, status=503)
            try:
                failing, due = bench.direct("failing", args.backlog, failing=True)
            finally:
                shared.client.heal(FAILING_DESTINATION)
            recovered = bench.recover(due, args.recovery_wait)
        return SystemResult(f"crmbus{count}", [warm, rate, backlog, failing], recovered, system.peak_rss_mb)


def _one_run(index: int, tag: str, shared: _Shared) -> Report:
    systems = [_ceiling(shared, f"bench.{tag}.{index}.ceiling.")]
    if not shared.args.ceiling_only:
        for count in _worker_counts(shared.args.workers):
            systems.append(_crmbus(shared, count, f"bench.{tag}.{index}.crmbus{count}."))
    console.print(system_table(f"run {index}: every system", systems))
    return figures(systems, shared.args.ceiling_processes)


def run(args: argparse.Namespace) -> int:
    counts = _worker_counts(args.workers)
    if not 1 <= args.tenants <= 6 or args.backlog < 1000:
        raise BenchError("--tenants must be 1..6 and --backlog at least 1000")
    settings = Settings()
    log_dir = Path(tempfile.mkdtemp(prefix="crmbus-bench-deliver-"))
    tag = secrets.token_hex(3)
    max_in_flight = args.max_in_flight or settings.sink_max_in_flight
    console.print(
        f"bench deliver {tag}: rate {args.rate:,.0f} ev/s ({3 * args.rate:,.0f} deliveries/s) for "
        f"{args.duration:.0f} s, backlog {args.backlog:,} events ({3 * args.backlog:,} deliveries), worker "
        f"processes {counts}, {args.tenants} tenant(s), {args.destination} destinations, {max_in_flight} in "
        f"flight per destination, {args.runs} run(s); logs in {log_dir}"
    )
    if not args.ceiling_only and not worker_available():
        raise BenchError(f"`{ingress_command()} worker --help` fails: no worker to measure (try --ceiling-only)")
    names = tuple(f"bench-{tag}-{i}" for i in range(args.tenants))
    reports: list[Report] = []
    start = sandbox if args.destination == "sandbox" else fast_destination
    with (
        infra(settings, log_dir / "bench.log") as infra_,
        start(log_dir, args.start_timeout) as servers,
        DestinationClient(f"http://127.0.0.1:{servers.port}") as client,
        TreeMeter(lambda: servers.roots) as server_meter,
        LaneWriter() as writer,
        tenants(names, DESTINATIONS, settings, client.url, log_dir / "tenants.log"),
    ):
        shared = _Shared(
            infra_, servers, client, server_meter, writer, names, secret_key(settings), max_in_flight,
            log_dir, args,
        )  # fmt: skip
        for index in range(1, args.runs + 1):
            reports.append(_one_run(index, tag, shared))
    final = median_report(reports) if len(reports) > 1 else reports[0]
    # Anything lost or doubled in any run matters: the median would hide it.
    for key in ("lost", "duplicates", "redeliveries", "ceiling_lost"):
        final[f"{key}_total"] = sum(r.get(key) or 0 for r in reports)
    final.update(
        rate_per_s=args.rate, duration_s=args.duration, backlog=args.backlog, tenants=args.tenants,
        max_in_flight=max_in_flight, runs=args.runs,
    )  # fmt: skip
    title = f"summary ({'median of ' + str(args.runs) + ' runs' if args.runs > 1 else '1 run'})"
    console.print(summary(title, final, ["ceiling", *(f"crmbus{c}" for c in counts if not args.ceiling_only)]))
    print(json_line(final), flush=True)
    return 0
