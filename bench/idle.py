"""idle: what a bus with no traffic costs, process by process, beside a bare consumer and web server.

The processes of a default deployment (as ``crmbus up`` runs them, the sandbox aside): ``crmbus
ingress`` (``CRMBUS_INGRESS_WORKERS`` processes), ``crmbus worker`` (``CRMBUS_WORKER_PROCESSES``,
every role) and ``crmbus dashboard``, on the Kafka and PostgreSQL of ``CRMBUS_KAFKA_BOOTSTRAP`` and
``CRMBUS_DATABASE_URL``, with a fresh topic prefix (the whole catalogue) and a fresh database
schema (migrated), both dropped at the end. The baseline in the same invocation:
``bench.baselines.idle_member``, a bare aiokafka consumer group member with a bare aiohttp server.
Once every process answers 200 on ``/health`` and ``--settle`` seconds passed (group joins, start-up
jobs), each process's CPU time (user + system, /proc) and context switches (voluntary and not, all
threads: the wakeups) are read before and after ``--seconds`` without traffic. ``--rate`` and
``--duration`` do not apply; ``throughput_per_s`` and ``lost`` are 0.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka.admin import AdminClient, NewTopic
from cryptography.fernet import Fernet
from rich.table import Table
from sqlalchemy import text

from bench.deliver_topics import delete_topics
from bench.report import console
from bench.resources import cpu_seconds, tree
from bench.router_systems import free_ports
from bench.stack import HOST, Servers, answers_health, free_port, ingress_command
from bench.stats import Report, json_line
from connectors.kafka.admin import apply_catalogue
from infra.core.settings import Settings
from infra.db.engine import database_url, make_engine
from infra.db.migrate import upgrade
from schemas.catalogue import load_catalogue

BASELINE = "baseline"
_BASELINE_PARTITIONS = 6


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=60.0, help="idle seconds measured (default 60)")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds after ready before measuring (default 10)")
    parser.add_argument("--start-timeout", type=float, default=180.0, help="seconds each part may take to start")


@dataclass(frozen=True, slots=True)
class Usage:
    """One process's CPU seconds and context switches so far."""

    cpu_s: float
    switches: int


@dataclass(frozen=True, slots=True)
class Cost:
    """What one process spent over the measured window."""

    part: str
    name: str
    cpu_s: float
    switches: int


def usage(pid: int) -> Usage | None:
    """CPU seconds and context switches (summed over its threads) of ``pid``; None once it is gone."""
    if not Path(f"/proc/{pid}").exists():
        return None
    switches = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        with contextlib.suppress(OSError):
            for line in status.read_text().splitlines():
                if "ctxt_switches:" in line:
                    switches += int(line.split(":", 1)[1])
    return Usage(cpu_seconds([pid]), switches)


def processes(part: str, roots: Sequence[int]) -> dict[int, str]:
    """Every process under ``roots`` named for the table: the root as ``part``, multiprocessing's
    helpers as ``part/tracker`` and ``part/forkserver`` (a process with children), the processes
    doing the work as ``part/1``, ``part/2``, ..."""
    named: dict[int, str] = {}
    for root in roots:
        named[root] = part
        below = sorted(pid for pid in tree(root) if pid != root)
        workers = [pid for pid in below if not _helper(pid)]
        for pid in below:
            named[pid] = f"{part}/{_helper(pid) or workers.index(pid) + 1}"
    return named


def _helper(pid: int) -> str:
    """``tracker`` or ``forkserver`` for multiprocessing's helper processes, else empty."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    if b"resource_tracker" in command:
        return "tracker"
    return "forkserver" if len(tree(pid)) > 1 else ""


def costs(parts: Mapping[str, Sequence[int]], seconds: float) -> list[Cost]:
    """Each process's spending over ``seconds``; a process gone by the end is not counted (the run says so)."""
    named = {pid: (part, name) for part, roots in parts.items() for pid, name in processes(part, roots).items()}
    before = {pid: usage(pid) for pid in named}
    time.sleep(seconds)  # the measured window: nothing is sent
    found: list[Cost] = []
    for pid, (part, name) in named.items():
        start, end = before[pid], usage(pid)
        if start is not None and end is not None:
            found.append(Cost(part, name, end.cpu_s - start.cpu_s, end.switches - start.switches))
    return found


def summary(spent: Sequence[Cost], seconds: float) -> Report:
    """The last line: totals of crmbus's processes (``cpu_pct_total``: % of one core) and the
    baseline's, each process's figures, and ``ratio`` = crmbus ÷ baseline."""

    def pct(cpu_s: float) -> float:
        return 100.0 * cpu_s / seconds

    ours = [cost for cost in spent if cost.part != BASELINE]
    floor = [cost for cost in spent if cost.part == BASELINE]
    total, base = pct(sum(c.cpu_s for c in ours)), pct(sum(c.cpu_s for c in floor))
    report: Report = {
        "scenario": "idle",
        "seconds": seconds,
        "throughput_per_s": 0,
        "lost": 0,
        "cpu_pct_total": total,
        "wakeups_per_s_total": sum(c.switches for c in ours) / seconds,
        "baseline_cpu_pct_total": base,
        "baseline_wakeups_per_s_total": sum(c.switches for c in floor) / seconds,
        "ratio": total / base if base > 0 else None,
    }
    for cost in spent:
        key = cost.name.replace("/", "_")
        report[f"{key}_cpu_pct"] = pct(cost.cpu_s)
        report[f"{key}_wakeups_per_s"] = cost.switches / seconds
    return report


def table(spent: Sequence[Cost], seconds: float) -> Table:
    shown = Table(title=f"idle for {seconds:g} s: CPU and wakeups per process", title_justify="left")
    for column in ("process", "CPU % of one core", "wakeups/s"):
        shown.add_column(column, justify="left" if column == "process" else "right")
    for cost in spent:
        shown.add_row(cost.name, f"{100 * cost.cpu_s / seconds:.2f}", f"{cost.switches / seconds:.1f}")
    for label, mine in (("crmbus total", [c for c in spent if c.part != BASELINE]),
                        ("baseline total", [c for c in spent if c.part == BASELINE])):  # fmt: skip
        shown.add_row(
            label, f"{100 * sum(c.cpu_s for c in mine) / seconds:.2f}", f"{sum(c.switches for c in mine) / seconds:.1f}"
        )
    return shown


class _Health(Servers):
    """Processes ready when every port of ``ports`` answers 200 on ``/health``."""

    def __init__(self, name: str, command: list[str], ports: Sequence[int], log_dir: Path, env: dict[str, str]) -> None:
        super().__init__(name, [command], ports[0], log_dir, env)
        self.ports = list(ports)

    def _healthy(self) -> bool:
        return all(answers_health(port) for port in self.ports)


@contextlib.contextmanager
def _isolated(settings: Settings, tag: str) -> Iterator[tuple[str, str]]:
    """A fresh topic prefix with the whole catalogue and a fresh migrated schema: (prefix, database URL)."""
    prefix, schema = f"bench.idle.{tag}.", f"bench_idle_{tag}"
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    url = database_url(settings)
    engine = make_engine(url, pool_size=1)
    try:
        apply_catalogue(admin, load_catalogue().with_prefix(prefix), settings.kafka_replication_factor)
        created = admin.create_topics([NewTopic(f"{prefix}baseline", _BASELINE_PARTITIONS, 1)])
        for future in created.values():
            future.result(30)
        with engine.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        scoped_engine = make_engine(url, schema=schema, pool_size=1)
        upgrade(scoped_engine, schema=schema)
        scoped_engine.dispose()
        scoped = url.update_query_dict({"options": f"-csearch_path={schema}"})
        yield prefix, scoped.render_as_string(hide_password=False)
    finally:
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()
        delete_topics(admin, prefix)


def _started(
    stack: contextlib.ExitStack, prefix: str, db_url: str, log_dir: Path, timeout_s: float
) -> dict[str, Servers]:
    """The deployment's processes with their default settings, and the baseline; all started at once."""
    settings = Settings()
    env = {
        "CRMBUS_TOPIC_PREFIX": prefix,
        "CRMBUS_DATABASE_URL": db_url,
        "CRMBUS_STATE_DIR": str(log_dir / "state"),
        "CRMBUS_SECRET_KEY": Fernet.generate_key().decode(),
        "CRMBUS_LOG_LEVEL": "warning",
    }
    crmbus = str(ingress_command())
    ingress_port, dashboard_port, baseline_port = free_port(), free_port(), free_port()
    worker_port = free_ports(settings.worker_processes)
    baseline = [
        sys.executable, "-m", "bench.baselines.idle_member", "--bootstrap", settings.kafka_bootstrap,
        "--topic", f"{prefix}baseline", "--group", f"{prefix}baseline", "--port", str(baseline_port),
    ]  # fmt: skip
    parts: dict[str, Servers] = {
        "ingress": _Health(
            "ingress", [crmbus, "ingress", "--host", HOST, "--port", str(ingress_port)], [ingress_port], log_dir, env
        ),
        "worker": _Health(
            "worker", [crmbus, "worker"],
            [worker_port + i for i in range(settings.worker_processes)], log_dir,
            {**env, "CRMBUS_WORKER_WEB_PORT": str(worker_port)},
        ),
        "dashboard": _Health(
            "dashboard", [crmbus, "dashboard", "--host", HOST, "--port", str(dashboard_port)], [dashboard_port],
            log_dir, env,
        ),
        BASELINE: _Health(BASELINE, baseline, [baseline_port], log_dir, {}),
    }  # fmt: skip
    with ThreadPoolExecutor(len(parts)) as pool:
        futures = {name: pool.submit(servers.started, timeout_s) for name, servers in parts.items()}
    for servers in parts.values():
        stack.enter_context(servers)  # every part stopped on the way out, started or not
    for future in futures.values():
        future.result()
    return parts


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    tag = secrets.token_hex(4)
    log_dir = Path(tempfile.mkdtemp(prefix="bench-idle-"))
    console.print(f"bench idle: logs in {log_dir}")
    with _isolated(settings, tag) as (prefix, db_url), contextlib.ExitStack() as stack:
        started = _started(stack, prefix, db_url, log_dir, args.start_timeout)
        time.sleep(args.settle)
        spent = costs({part: servers.roots for part, servers in started.items()}, args.seconds)
    console.print(table(spent, args.seconds))
    print(json_line(summary(spent, args.seconds)))
    return 0
