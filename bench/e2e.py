"""e2e: lead.created events accepted over HTTP and fully delivered to 3 destinations, vs Celery, Dramatiq, a ceiling.

crmbus (ingress → lane → router → deliver topics → sinks), then each ``--compare`` system doing the
same job (``bench.baselines``), one after another against one loopback receiver
(``bench.e2e_receiver``). Per system: a warm-up, an open loop at ``--rate`` for ``--duration`` s
(latency from each event's scheduled send to the arrival of its last delivery; lost; duplicates;
CPU and peak RSS per process), then a saturation search from that rate for the fully delivered
events/s it sustains.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import sys
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

from bench.deliver_systems import secret_key, tenants
from bench.e2e_phases import PhaseResult, PhaseRunner
from bench.e2e_receiver import DESTINATIONS, ReceiverClient
from bench.e2e_report import BASELINES, comparison, parts_table, phase_table, summary_table, system_figures
from bench.e2e_systems import Options, Running, ceiling, crmbus, queue_baseline
from bench.genpool import LoadGenerators
from bench.report import console
from bench.resources import TreeMeter
from bench.router_systems import worker_available
from bench.saturation import SearchPolicy, Step, search
from bench.stack import BenchError, Infra, Servers, free_port, infra, ingress_available, ingress_command
from bench.stats import Report, json_line, median_report
from infra.core.settings import Settings
from infra.db.api_keys import ApiKeys
from infra.db.engine import database_url, make_engine

DEFAULT_RATE = 100.0  # events/s (300 deliveries/s): under what every system but Celery sustains on 2 cores
COMPARABLE = ("ceiling", *BASELINES)
WARM_UP_EVENTS = 60
WARM_UP_RATE = 20.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--compare", default="", help=f"systems to run after crmbus, comma-separated: {','.join(COMPARABLE)}"
    )
    parser.add_argument("--step-duration", type=float, default=4.0, help="seconds per saturation step (default 4)")
    parser.add_argument("--max-steps", type=int, default=6, help="saturation steps, the --rate run included")
    parser.add_argument("--p99-limit-ms", type=float, default=1000.0, help="a step whose p99 exceeds this fails")
    parser.add_argument(
        "--drain-timeout", type=float, default=30.0,
        help="after the --rate run, how long its deliveries may take to arrive before they count as lost",
    )  # fmt: skip
    parser.add_argument("--step-wait", type=float, default=10.0, help="longest wait for one step's deliveries")
    parser.add_argument("--idle-timeout", type=float, default=3.0, help="stop waiting for a step after this idle")
    parser.add_argument("--max-in-flight", type=int, default=256, help="the generator's connections (in-flight cap)")
    parser.add_argument("--ingress-workers", type=int, default=1, help="crmbus ingress processes (default 1)")
    parser.add_argument("--sink-processes", type=int, default=1, help="crmbus worker --roles sinks processes")
    parser.add_argument(
        "--worker-processes", type=int, default=0,
        help="run crmbus's worker as deployed by default, `crmbus worker --processes N` with every role, rather "
        "than a process per part (router, sinks, retry and archive); 0: per part (default)",
    )  # fmt: skip
    parser.add_argument("--cores", type=int, default=2, help="Celery's prefork children and Dramatiq's processes")
    parser.add_argument("--threads", type=int, default=8, help="Dramatiq's threads per process (default 8)")
    parser.add_argument("--start-timeout", type=float, default=120.0, help="seconds for a system to start")


def _compared(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(COMPARABLE))
    if unknown or len(set(names)) != len(names):
        raise BenchError(f"--compare takes some of {','.join(COMPARABLE)} once each, not {text!r}")
    return names


class _Receiver(Servers):
    def _healthy(self) -> bool:
        return True  # its ready file says it listens


@contextlib.contextmanager
def _receiver(log_dir: Path, timeout_s: float) -> Iterator[Servers]:
    port = free_port()
    ready = log_dir / "receiver.ready"
    command = [sys.executable, "-m", "bench.e2e_receiver", "--port", str(port), "--ready-file", str(ready)]
    with _Receiver("receiver", [command], port, log_dir) as servers:
        servers.start(timeout_s, [ready])
        yield servers


@contextlib.contextmanager
def _api_key(settings: Settings, tenant: str) -> Iterator[str]:
    engine = make_engine(database_url(settings))
    keys = ApiKeys(engine, actor="bench")
    try:
        view, secret = keys.create(tenant, "bench")
        try:
            yield secret
        finally:
            with contextlib.suppress(Exception):  # the database may be gone; the key dies with it
                keys.revoke(view.id)
    finally:
        engine.dispose()


def _system(name: str, options: Options, infra_: Infra, prefix: str, secret: str) -> AbstractContextManager[Running]:
    if name == "crmbus":
        return crmbus(options, prefix, secret, infra_.broker_pid, infra_.postgres_pid)
    if name == "ceiling":
        return ceiling(options, prefix, secret, infra_.broker_pid)
    return queue_baseline(name, options, secret)


def _measure(
    name: str, options: Options, infra_: Infra, tag: str, shared: tuple[LoadGenerators, ReceiverClient, str],
    args: argparse.Namespace,
) -> tuple[Report, list[PhaseResult]]:  # fmt: skip
    generators, receiver, secret = shared
    policy = _policy(args)
    receiver.clear()
    with (
        _system(name, options, infra_, f"bench.e2e.{tag}.{name}.", secret) as running,
        contextlib.ExitStack() as stack,
    ):
        meters = {part: stack.enter_context(TreeMeter(roots)) for part, roots in running.parts.items()}
        runner = PhaseRunner(
            running, generators, receiver, meters, options.log_dir, f"{tag}-{name}-", args.max_in_flight
        )
        runner.warm_up(WARM_UP_EVENTS, WARM_UP_RATE, args.start_timeout)
        rate = runner.run("rate", args.rate, args.duration, args.drain_timeout, args.drain_timeout)

        def step(offered: float) -> Step:
            return runner.run("step", offered, args.step_duration, args.step_wait, args.idle_timeout).step

        search(step, policy, first=rate.step)
    steps = runner.phases[runner.phases.index(rate) + 1 :]
    peaks = {part: meter.peak_rss_mb for part, meter in meters.items()}
    return system_figures(rate, steps, runner.phases, peaks, policy), runner.phases


def _policy(args: argparse.Namespace) -> SearchPolicy:
    return SearchPolicy(
        start_per_s=args.rate, factor=2.0, p99_limit_ms=args.p99_limit_ms, resolution=1.15, max_steps=args.max_steps
    )


def run(args: argparse.Namespace) -> int:
    compare = _compared(args.compare)
    settings = Settings()
    log_dir = Path(tempfile.mkdtemp(prefix="crmbus-bench-e2e-"))
    tag = secrets.token_hex(3)
    console.print(
        f"bench e2e {tag}: crmbus{''.join(', ' + name for name in compare)}; rate {args.rate:,.0f} events/s "
        f"(3 deliveries each) for {args.duration:.0f} s, then a saturation search in {args.step_duration:.0f} s "
        f"steps; {args.runs} run(s); logs in {log_dir}"
    )
    if not ingress_available() or not worker_available():
        raise BenchError(f"`{ingress_command()} ingress --help` or `worker --help` fails: no crmbus to measure")
    tenant = f"bench-e2e-{tag}"
    reports: list[Report] = []
    systems = ["crmbus", *compare]
    with (
        infra(settings, log_dir / "bench.log") as infra_,
        _receiver(log_dir, args.start_timeout) as receiver_servers,
        ReceiverClient(f"http://127.0.0.1:{receiver_servers.port}") as receiver,
        LoadGenerators(1) as generators,
        tenants([tenant], DESTINATIONS, settings, receiver.url, log_dir / "tenants.log"),
        _api_key(settings, tenant) as secret,
    ):
        options = Options(
            settings, log_dir, receiver.url, args.start_timeout, args.cores, args.threads, args.ingress_workers,
            args.sink_processes, args.worker_processes, secret_key(settings),
        )  # fmt: skip
        for index in range(1, args.runs + 1):
            figures: dict[str, Report] = {}
            phases: list[PhaseResult] = []
            for name in systems:
                figures[name], done = _measure(
                    name, options, infra_, f"{tag}.{index}", (generators, receiver, secret), args
                )
                phases += done
            console.print(phase_table(f"run {index}: every phase", phases, _policy(args)))
            reports.append(comparison(figures, compare))
    final = median_report(reports) if len(reports) > 1 else reports[0]
    # Anything lost or doubled in any run matters: the median would hide it.
    for key in ("lost", "duplicates"):
        final[f"{key}_total"] = sum(r.get(key) or 0 for r in reports)
    final.update(rate_per_s=args.rate, duration_s=args.duration, runs=args.runs)
    title = f"summary ({'median of ' + str(args.runs) + ' runs' if args.runs > 1 else '1 run'})"
    console.print(summary_table(title, final, systems))
    console.print(parts_table("every process: CPU at --rate, peak RSS", final, systems))
    print(json_line(final), flush=True)
    return 0
