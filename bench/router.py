"""router: input events/s routed end to end (lane topic → 3 fan-out records), against a plain-loop ceiling.

For each system — the ceiling (a confluent-kafka consume → transform → produce loop), then
``crmbus worker`` with each ``--workers`` count — on topics of its own: a warm-up, an open
loop at ``--rate`` for ``--duration`` (latency from each event's scheduled send to its last
fan-out record's LogAppendTime), and a backlog of ``--backlog`` events drained as fast as it
goes (input events/s counted after the backlog was fully written). Every input is matched
to its outputs by event and delivery id: lost and duplicated records are counted.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

from confluent_kafka.admin import AdminClient

from bench.deliver_systems import tenants as seeded_tenants
from bench.deliver_topics import DELIVER, DeliverTopics, create_topics, delete_topics
from bench.lane_load import LaneWriter
from bench.report import console
from bench.resources import TreeMeter
from bench.router_phases import FANOUT_DESTINATIONS, Bench, Waits
from bench.router_report import SystemResult, figures, summary, system_table
from bench.router_systems import ceiling_router, crmbus_workers, worker_available
from bench.stack import BenchError, Infra, Servers, infra, ingress_command
from bench.stats import Report, json_line, median_report
from infra.core.settings import Settings
from schemas.catalogue import load_catalogue
from streams.routes import DESTINATIONS

LANE, PUBLIC = "crmbus.events", "crm.lead.created"
WARM_UP_EVENTS = 300


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers", default="1,2", help="worker process counts to measure, comma-separated (default 1,2)"
    )
    parser.add_argument("--backlog", type=int, default=60_000, help="events of the drained backlog (default 60000)")
    parser.add_argument(
        "--tenants", type=int, default=6, help="bench tenants, one lane partition each (default 6, at most 6)"
    )
    parser.add_argument("--idle-timeout", type=float, default=15.0, help="stop waiting for outputs after this idle")
    parser.add_argument("--max-wait", type=float, default=180.0, help="longest wait for one phase's outputs")
    parser.add_argument("--start-timeout", type=float, default=120.0, help="seconds for a system to become ready")
    parser.add_argument("--ceiling-only", action="store_true", help="measure only the ceiling (checks the harness)")


def _worker_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise BenchError(f"--workers takes counts like 1,2, not {text!r}") from None
    if not counts or any(count < 1 for count in counts):
        raise BenchError("--workers needs at least one count, each 1 or more")
    return counts


@contextlib.contextmanager
def _topics(admin: AdminClient, prefix: str, replication_factor: int) -> Iterator[None]:
    create_topics(admin, prefix, replication_factor)
    try:
        yield
    finally:
        delete_topics(admin, prefix)


def _measure(
    label: str, start: contextlib.AbstractContextManager[Servers], prefix: str, infra_: Infra,
    writer: LaneWriter, tenants: tuple[str, ...], args: argparse.Namespace,
) -> SystemResult:  # fmt: skip
    settings = infra_.settings
    catalogue = load_catalogue().with_prefix(prefix)
    lane = catalogue[prefix + LANE]
    deliver = [prefix + DELIVER + destination for destination in DESTINATIONS]
    broker = infra_.broker_pid
    with (
        start as servers,
        TreeMeter(lambda: servers.roots) as system,
        TreeMeter(lambda: [broker] if broker else []) as broker_meter,
        DeliverTopics(settings.kafka_bootstrap, deliver) as outputs,
        DeliverTopics(settings.kafka_bootstrap, [prefix + PUBLIC]) as public,
    ):
        bench = Bench(
            writer, outputs, public, system, broker, settings.kafka_bootstrap, lane.name, lane.partitions,
            tenants, settings.schema_registry_url, Waits(args.idle_timeout, args.max_wait), servers.tail,
        )  # fmt: skip
        warm = bench.warm_up(WARM_UP_EVENTS, min(args.rate, 1000.0))
        fixed = bench.phase("rate", round(args.rate * args.duration), args.rate)
        backlog = bench.phase("backlog", args.backlog, None)
    return SystemResult(label, [warm, fixed, backlog], system.peak_rss_mb, broker_meter.peak_rss_mb)


def _one_run(
    index: int, tag: str, infra_: Infra, writer: LaneWriter, tenants: tuple[str, ...], log_dir: Path,
    args: argparse.Namespace,
) -> Report:  # fmt: skip
    settings = infra_.settings
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    replication = settings.kafka_replication_factor
    systems: list[SystemResult] = []
    prefix = f"bench.{tag}.{index}.ceiling."
    with _topics(admin, prefix, replication):
        start = ceiling_router(
            settings.kafka_bootstrap, prefix, log_dir, args.start_timeout, settings.schema_registry_url
        )
        systems.append(_measure("ceiling", start, prefix, infra_, writer, tenants, args))
    if not args.ceiling_only:
        for count in _worker_counts(args.workers):
            prefix = f"bench.{tag}.{index}.crmbus{count}."
            with _topics(admin, prefix, replication):
                start = crmbus_workers(count, prefix, log_dir, args.start_timeout)
                systems.append(_measure(f"crmbus{count}", start, prefix, infra_, writer, tenants, args))
    console.print(system_table(f"run {index}: every system", systems, args.rate))
    return figures(systems)


def run(args: argparse.Namespace) -> int:
    counts = _worker_counts(args.workers)
    if not 1 <= args.tenants <= 6 or args.backlog < 1000:
        raise BenchError("--tenants must be 1..6 and --backlog at least 1000")
    settings = Settings()
    log_dir = Path(tempfile.mkdtemp(prefix="crmbus-bench-router-"))
    tag = secrets.token_hex(3)
    console.print(
        f"bench router {tag}: rate {args.rate:,.0f} ev/s for {args.duration:.0f} s, backlog {args.backlog:,}, "
        f"worker processes {counts}, {args.tenants} tenant(s), fan-out {FANOUT_DESTINATIONS}, "
        f"{args.runs} run(s); logs in {log_dir}"
    )
    if not args.ceiling_only and not worker_available():
        raise BenchError(f"`{ingress_command()} worker --help` fails: no worker to measure (try --ceiling-only)")
    reports: list[Report] = []
    with infra(settings, log_dir / "bench.log") as infra_, LaneWriter() as writer, contextlib.ExitStack() as stack:
        names = tuple(f"bench-{tag}-{i}" for i in range(args.tenants))
        if not args.ceiling_only:
            # Seeded at the sandbox URL, which nothing reads here: no sinks run, the fan-out
            # destinations only need a credential so that their routes are not paused.
            stack.enter_context(
                seeded_tenants(names, FANOUT_DESTINATIONS, settings, settings.sandbox_url, log_dir / "tenants.log")
            )
        for index in range(1, args.runs + 1):
            reports.append(_one_run(index, tag, infra_, writer, names, log_dir, args))
    final = median_report(reports) if len(reports) > 1 else reports[0]
    # A record lost in any run matters: the median would hide it.
    final["lost_total"] = sum(r.get("lost") or 0 for r in reports)
    final["duplicates_total"] = sum(r.get("duplicates") or 0 for r in reports)
    final.update(
        rate_per_s=args.rate,
        duration_s=args.duration,
        backlog=args.backlog,
        tenants=args.tenants,
        runs=args.runs,
    )
    title = f"summary ({'median of ' + str(args.runs) + ' runs' if args.runs > 1 else '1 run'})"
    console.print(summary(title, final, ["ceiling", *(f"crmbus{c}" for c in counts if not args.ceiling_only)]))
    print(json_line(final), flush=True)
    return 0
