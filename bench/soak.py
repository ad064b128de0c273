"""soak: the whole bus under a steady, modest open-loop rate for a long time; RSS and lag sampled.

crmbus as the e2e bench runs it (``bench.e2e_systems.crmbus``: ingress, router, sinks, retry +
archive, each in processes of their own, on a fresh topic prefix, delivering to the loopback
receiver), a warm-up, then lead.created events posted open loop at ``--rate`` for ``--duration``
s. Every ``--sample-interval`` s a sampler thread records the RSS of each part's process tree,
the consumer lag of the router's group on the lanes plus the sinks' group on the deliver topics,
and the events delivered so far. Then the bench waits (bounded by ``--drain-timeout``) for every
accepted event's three deliveries and accounts for them like the e2e bench: lost, duplicates,
latency from each event's scheduled send to its last delivery.
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rich.table import Table

from bench.chaos_harness import own_schema
from bench.deliver_systems import ROUTER_ROLES, SINK_ROLES, GroupProgress, secret_key, tenants, worker_group
from bench.e2e import _api_key, _receiver
from bench.e2e_phases import PhaseRunner
from bench.e2e_receiver import DESTINATIONS, ReceiverClient
from bench.e2e_systems import Options, crmbus
from bench.genpool import LoadGenerators
from bench.report import console
from bench.resources import TreeMeter, rss_bytes
from bench.router_systems import worker_available
from bench.stack import BenchError, infra, ingress_available, ingress_command
from bench.stats import Report, json_line
from infra.core.settings import Settings
from schemas.topic_names import TopicNames

DEFAULT_RATE = 20.0  # events/s (60 deliveries/s): steady and modest, a fraction of what the bus sustains
WARM_UP_EVENTS = 60
WARM_UP_RATE = 20.0
_SYSTEM_PARTS = ("ingress", "router", "sinks", "retry_archive")  # the broker's JVM is reported, not judged


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sample-interval", type=float, default=30.0, help="seconds between samples (default 30)")
    parser.add_argument(
        "--drain-timeout", type=float, default=60.0,
        help="after the load, how long its deliveries may take to arrive before they count as lost",
    )  # fmt: skip
    parser.add_argument("--max-in-flight", type=int, default=64, help="the generator's connections (in-flight cap)")
    parser.add_argument("--start-timeout", type=float, default=180.0, help="seconds for the bus to start")


@dataclass(frozen=True, slots=True)
class Sample:
    at_s: float  # since the load started
    rss_mb: Mapping[str, float]  # per part
    lag: int | None  # None: the broker did not answer in time
    complete: int  # events with all three deliveries so far
    arrivals: int  # successful delivery requests so far


@dataclass(slots=True)
class Sampler:
    """Samples every ``interval_s`` in a thread of its own, from ``start`` until ``stop``."""

    parts: Mapping[str, Callable[[], list[int]]]
    meters: Mapping[str, TreeMeter]
    lag: Callable[[], int]
    progress: Callable[[], tuple[int, int]]
    interval_s: float
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _started: float = 0.0

    def sample(self) -> Sample:
        rss = {part: rss_bytes(self.meters[part].pids()) / 2**20 for part in self.parts}
        try:
            lag: int | None = self.lag()
        except Exception:  # noqa: BLE001 - a slow broker answer is a missing lag, not the end of the soak
            lag = None
        complete, arrivals = self.progress()
        found = Sample(time.monotonic() - self._started, rss, lag, complete, arrivals)
        self.samples.append(found)
        console.print(_sample_line(found))
        return found

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def start(self) -> None:
        self._started = time.monotonic()
        self.sample()
        self._thread = threading.Thread(target=self._loop, name="bench-soak-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()


def _sample_line(sample: Sample) -> str:
    rss = " ".join(f"{part} {mb:.0f}" for part, mb in sample.rss_mb.items())
    lag = "?" if sample.lag is None else f"{sample.lag:,}"
    return f"  t={sample.at_s:7.0f} s  rss MB: {rss}  lag {lag}  delivered {sample.complete:,}"


def _lag_reader(settings: Settings, prefix: str) -> tuple[GroupProgress, list[str]]:
    names = TopicNames(prefix)
    router = worker_group(prefix, ROUTER_ROLES)
    progress = GroupProgress(
        settings.kafka_bootstrap, worker_group(prefix, SINK_ROLES), {lane: router for lane in names.lanes}
    )
    return progress, [*names.lanes, *(names.deliver(d) for d in DESTINATIONS)]


def samples_table(samples: list[Sample]) -> Table:
    table = Table(
        title="samples", title_justify="left", caption="RSS of each part's process tree in MB; lag in records "
        "(router group on the lanes + sinks group on the deliver topics); delivered = complete events so far",
        caption_justify="left",
    )  # fmt: skip
    parts = list(samples[0].rss_mb) if samples else []
    for column in ("t s", *parts, "lag", "delivered", "deliveries"):
        table.add_column(column, justify="right", no_wrap=True)
    for s in samples:
        lag = "?" if s.lag is None else f"{s.lag:,}"
        row = [f"{s.at_s:.0f}", *(f"{s.rss_mb[p]:.1f}" for p in parts), lag, f"{s.complete:,}", f"{s.arrivals:,}"]
        table.add_row(*row)
    return table


def figures(samples: list[Sample], throughput: float, p50: float, p99: float, lost: int, duplicates: int) -> Report:
    """The JSON line: headline figures, then RSS at start and end and their ratio per part."""
    first, last = samples[0], samples[-1]
    lags = [s.lag for s in samples if s.lag is not None]
    report: Report = {"throughput_per_s": throughput, "p50_ms": p50, "p99_ms": p99, "lost": lost}
    report["duplicates"] = duplicates
    report["max_lag"] = max(lags) if lags else None
    report["end_lag"] = last.lag
    ratios = []
    for part in first.rss_mb:
        start, end = first.rss_mb[part], last.rss_mb[part]
        ratio = end / start if start > 0 else float("nan")
        report.update({f"rss_start_mb_{part}": start, f"rss_end_mb_{part}": end, f"rss_ratio_{part}": ratio})
        if part in _SYSTEM_PARTS:
            ratios.append(ratio)
    report["rss_ratio"] = max(ratios) if ratios else None
    return report


def run(args: argparse.Namespace) -> int:
    if args.sample_interval <= 0 or args.drain_timeout <= 0:
        raise BenchError("--sample-interval and --drain-timeout must be positive")
    tag = secrets.token_hex(3)
    with own_schema(Settings(), f"bench_soak_{tag}") as settings:
        # The ingress, the workers and `crmbus tenants create` read it from the environment.
        os.environ["CRMBUS_DATABASE_URL"] = settings.database_url.get_secret_value()
        return _soak(args, settings, tag)


def _soak(args: argparse.Namespace, settings: Settings, tag: str) -> int:
    log_dir = Path(tempfile.mkdtemp(prefix="crmbus-bench-soak-"))
    console.print(
        f"bench soak {tag}: {args.rate:,.0f} events/s (3 deliveries each) for {args.duration:,.0f} s, "
        f"a sample every {args.sample_interval:.0f} s; logs in {log_dir}"
    )
    if not ingress_available() or not worker_available():
        raise BenchError(f"`{ingress_command()} ingress --help` or `worker --help` fails: no crmbus to run")
    tenant = f"bench-soak-{tag}"
    prefix = f"bench.soak.{tag}."
    with (
        infra(settings, log_dir / "bench.log") as infra_,
        _receiver(log_dir, args.start_timeout) as receiver_servers,
        ReceiverClient(f"http://127.0.0.1:{receiver_servers.port}") as receiver,
        LoadGenerators(1) as generators,
        tenants([tenant], DESTINATIONS, settings, receiver.url, log_dir / "tenants.log"),
        _api_key(settings, tenant) as secret,
    ):
        options = Options(
            settings, log_dir, receiver.url, args.start_timeout, cores=2, threads=8, ingress_workers=1,
            sink_processes=1, worker_processes=0, key=secret_key(settings),
        )  # fmt: skip
        with crmbus(options, prefix, secret, infra_.broker_pid, infra_.postgres_pid) as running:
            meters = {part: TreeMeter(roots, interval_s=5.0) for part, roots in running.parts.items()}
            for meter in meters.values():
                meter.__enter__()
            lag, topics = _lag_reader(settings, prefix)
            try:
                runner = PhaseRunner(running, generators, receiver, meters, log_dir, f"soak-{tag}-", args.max_in_flight)
                runner.warm_up(WARM_UP_EVENTS, WARM_UP_RATE, args.start_timeout)
                soak_tag = len(runner.phases)
                sampler = Sampler(
                    running.parts, meters, lambda: lag.lag(topics), lambda: receiver.progress(soak_tag),
                    args.sample_interval,
                )  # fmt: skip
                sampler.start()
                try:
                    phase = runner.run("soak", args.rate, args.duration, args.drain_timeout, args.drain_timeout)
                finally:
                    sampler.stop()
            finally:
                lag.close()
                for meter in meters.values():
                    meter.__exit__(None, None, None)
    outcome = phase.outcome
    report = figures(
        sampler.samples, phase.delivered_per_s, outcome.latency.p50_ms, outcome.latency.p99_ms, outcome.lost,
        outcome.duplicates,
    )  # fmt: skip
    report.update(
        accepted=outcome.accepted, complete=outcome.complete, load_errors=sum(phase.load.errors.values()),
        rate_per_s=args.rate, duration_s=args.duration, samples=len(sampler.samples),
        **{f"peak_rss_mb_{part}": meter.peak_rss_mb for part, meter in meters.items()},
    )  # fmt: skip
    console.print(samples_table(sampler.samples))
    print(json_line(report), flush=True)
    return 0
