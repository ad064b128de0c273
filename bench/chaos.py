"""chaos: the chaos suite's scenarios, longer: lost, effective duplicates and delivery gap of each.

The scenarios of ``tests/chaos`` with the same harness (``bench.chaos_harness``): a steady stream
of lead.created envelopes (six tenants, one per lane partition) to ``crmbus worker`` delivering to
a ledger that applies each Idempotency-Key once, with ``--duration`` s of calm before and after
each disruption:

- ``kill``: ``crmbus worker`` with two processes; ``--kills`` times, every ``--kill-every`` s,
  one child is SIGKILLed (after the previous victim is healthy again); its supervisor restarts it.
- ``broker``: a broker of the bench's own, stopped for ``--outage`` s and started again.
- ``postgres``: a PostgreSQL cluster of the bench's own, stopped for ``--outage`` s.
- ``destinations``: for ``--outage`` s crm answers 503, zapi answers after 2 s, marketing answers
  429 with Retry-After over 3 requests/s; each judged on its own destination.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

from confluent_kafka.admin import AdminClient
from pydantic import SecretStr
from rich.table import Table

from bench.chaos_harness import (
    LANE_PARTITIONS,
    TROUBLES,
    Disruption,
    Stage,
    Verdict,
    Worker,
    behave,
    ledger_server,
    misbehave,
    own_kafka,
    own_postgres,
    own_schema,
    run_load,
    stage,
)
from bench.chaos_ledger import LedgerClient
from bench.deliver_topics import delete_topics
from bench.report import console
from bench.router_systems import worker_available
from bench.stack import BenchError, ingress_command
from bench.stats import Report, json_line
from infra.core.settings import Settings
from infra.db.engine import database_url, make_engine
from infra.db.migrate import upgrade

DEFAULT_RATE = 30.0  # events/s, 90 deliveries/s
SCENARIOS = ("kill", "broker", "postgres", "destinations")
RESUME_LIMIT_S = 15.0  # after a kill -9, the promise


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated, default all")
    parser.add_argument("--kills", type=int, default=5, help="kill -9s of the kill scenario (default 5)")
    parser.add_argument("--kill-every", type=float, default=20.0, help="seconds between kills (default 20)")
    parser.add_argument("--outage", type=float, default=20.0, help="seconds a server or destination is down")
    parser.add_argument("--drain-timeout", type=float, default=240.0, help="longest wait for the deliveries owed")
    parser.add_argument("--start-timeout", type=float, default=180.0, help="seconds for a worker to start")


class _Bench:
    """What every scenario is given: the shared settings and database, the ledger, a place for logs."""

    def __init__(
        self, args: argparse.Namespace, settings: Settings, ledger: LedgerClient, work_dir: Path, tag: str
    ) -> None:  # fmt: skip
        self.args, self.settings, self.ledger, self.work_dir, self.tag = args, settings, ledger, work_dir, tag
        self.count = 0

    @contextlib.contextmanager
    def stage(self, settings: Settings | None = None, own_database: bool = False) -> Iterator[Stage]:
        """Six fresh tenants on a fresh topic prefix, whose topics go on the way out."""
        self.count += 1
        prefix = f"bench.chaos.{self.tag}.{self.count}."
        chosen = (settings or self.settings).model_copy(update={"topic_prefix": prefix})
        engine = make_engine(database_url(chosen))
        tenants = [f"chaos-{self.tag}-{self.count}-{index}" for index in range(LANE_PARTITIONS)]
        try:
            if own_database:
                upgrade(engine)
            made = stage(chosen, engine, self.ledger, self.work_dir / str(self.count), tenants)
            try:
                yield made
            finally:
                with contextlib.suppress(Exception):  # an own broker may be gone already
                    delete_topics(AdminClient({"bootstrap.servers": chosen.kafka_bootstrap}), prefix)
        finally:
            engine.dispose()

    def worker(self, stage_: Stage, processes: int = 1) -> Worker:
        return Worker(stage_, "worker", processes=processes).start(self.args.start_timeout)

    def load(self, stage_: Stage, trouble_s: float, disruptions: list[Disruption]) -> Callable[..., Verdict]:
        calm = self.args.duration
        tag = self.count  # one ledger serves every scenario: each load has a tag of its own
        run = run_load(stage_, tag, self.args.rate, calm + trouble_s + calm, disruptions, self.args.drain_timeout)
        return run.verdict


def _kill(bench: _Bench) -> list[Verdict]:
    args = bench.args
    with bench.stage() as stage_, bench.worker(stage_, processes=2) as worker:

        def kill(index: int) -> None:
            worker.wait_healthy(args.start_timeout)
            worker.kill_child(index)

        moments = [args.duration + index * args.kill_every for index in range(args.kills)]
        disruptions = [Disruption(at, partial(kill, i), "kill -9") for i, at in enumerate(moments)]
        verdict = bench.load(stage_, (args.kills - 1) * args.kill_every, disruptions)
    return [verdict(f"kill -9 a worker child ×{args.kills}")]


def _outage(
    bench: _Bench, stage_: Stage, name: str, stop: Callable[[], object], start: Callable[[], object]
) -> Verdict:
    args = bench.args
    with bench.worker(stage_):
        disruptions = [Disruption(args.duration, stop, "stop"), Disruption(args.duration + args.outage, start, "start")]
        verdict = bench.load(stage_, args.outage, disruptions)
    return verdict(f"{name} stopped {args.outage:.0f} s", moments=[1])


def _broker(bench: _Bench) -> list[Verdict]:
    with own_kafka(bench.work_dir / "kafka") as broker:
        ours = bench.settings.model_copy(update={"kafka_bootstrap": broker.settings.kafka_bootstrap})
        with bench.stage(ours) as stage_:
            return [_outage(bench, stage_, "broker", broker.down, broker.up)]


def _postgres(bench: _Bench) -> list[Verdict]:
    with own_postgres() as (database, url):
        ours = bench.settings.model_copy(update={"database_url": SecretStr(url)})
        with bench.stage(ours, own_database=True) as stage_:
            return [_outage(bench, stage_, "PostgreSQL", database.down, database.up)]


def _destinations(bench: _Bench) -> list[Verdict]:
    ledger, args = bench.ledger, bench.args
    with bench.stage() as stage_, bench.worker(stage_):
        disruptions = [
            Disruption(args.duration, partial(misbehave, ledger)),
            Disruption(args.duration + args.outage, partial(behave, ledger)),
        ]
        verdict = bench.load(stage_, args.outage, disruptions)
    return [
        verdict(f"destination {trouble} {args.outage:.0f} s", [system], moments=[1]) for trouble, system in TROUBLES
    ]


_RUNS = {"kill": _kill, "broker": _broker, "postgres": _postgres, "destinations": _destinations}


def _table(verdicts: list[Verdict]) -> Table:
    table = Table(
        title="chaos", title_justify="left", caption_justify="left",
        caption="lost = accepted events a destination never got; eff. dup = events applied under two keys; "
        "redeliv = the same key again (harmless); gap = longest pause of one (destination, tenant) stream; "
        "resume = from each kill / the end of the trouble until every stream delivered again",
    )  # fmt: skip
    for column in ("scenario", "accepted", "lost", "eff. dup", "redeliv", "gap s", "resume s", "drained s"):
        table.add_column(column, justify="left" if column == "scenario" else "right", no_wrap=True)
    for v in verdicts:
        resume = ", ".join(f"{s:.1f}" for s in v.resume_s)
        table.add_row(
            v.scenario, f"{v.accepted:,}", str(v.lost), str(v.effective_duplicates), str(v.redeliveries),
            f"{v.gap_s:.1f}", resume, f"{v.drained_s:.1f}",
        )  # fmt: skip
    return table


def _scenarios(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names or set(names) - set(SCENARIOS):
        raise BenchError(f"--scenarios takes some of {','.join(SCENARIOS)}, not {text!r}")
    return names


def run(args: argparse.Namespace) -> int:
    names = _scenarios(args.scenarios)
    if args.kills < 1 or args.kill_every <= 0 or args.outage <= 0:
        raise BenchError("--kills must be at least 1, --kill-every and --outage positive")
    if not worker_available():
        raise BenchError(f"`{ingress_command()} worker --help` fails: no crmbus to run")
    tag = secrets.token_hex(3)
    settings = Settings()
    work_dir = Path(tempfile.mkdtemp(prefix="crmbus-bench-chaos-"))
    console.print(
        f"bench chaos: {', '.join(names)}; {args.rate:,.0f} events/s (3 deliveries each), {args.duration:.0f} s of "
        f"calm around each disruption; logs in {work_dir}"
    )
    verdicts: list[Verdict] = []
    started = time.monotonic()
    with own_schema(settings, f"bench_chaos_{tag}") as on_schema, ledger_server(work_dir) as ledger:
        bench = _Bench(args, on_schema, ledger, work_dir, tag)
        for name in names:
            found = _RUNS[name](bench)
            for verdict in found:
                console.print(verdict.row())
            verdicts += found
    console.print(_table(verdicts))
    report: Report = {
        "lost": sum(v.lost for v in verdicts),
        "effective_duplicates": sum(v.effective_duplicates for v in verdicts),
        "redeliveries": sum(v.redeliveries for v in verdicts),
        "max_gap_s": max(v.gap_s for v in verdicts),
    }
    kills = [s for v in verdicts if v.scenario.startswith("kill") for s in v.resume_s]
    if kills:
        report["kill_resume_max_s"] = max(kills)
        report["kill_resume_within_limit"] = max(kills) <= RESUME_LIMIT_S
    report.update(rate_per_s=args.rate, wall_s=time.monotonic() - started)
    report["scenarios"] = [v.row() for v in verdicts]
    print(json_line(report), flush=True)
    return 0
