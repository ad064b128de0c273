"""drain: records/s and CPU per record of the workers' hand-over from a fetch to the agents' streams.

Every record a worker consumes passes from the fetch loop (``Consumer._drain_messages``) to the
agents' streams. Faust guards each record's hand-over with ``Service.wait_first`` (tasks and an
``asyncio.wait`` per record); the workers' ``agents.runtime.consumer.StrictConsumer`` guards each fetch's.
Both loops run here, in this process, on the consumer a worker builds, over ``--records`` records
fetched ``--fetch`` at a time from an in-memory stand-in of Faust's ``getmany``, handed to a
callback that only counts: what is measured is the hand-over itself, not Kafka, not the agents.
The worker benches (``deliver``, ``router``) measure the whole path. ``--rate`` and
``--duration`` do not apply.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from faust.transport.consumer import Consumer as FaustConsumer
from faust.types import TP
from rich.table import Table

from agents.runtime.consumer import StrictConsumer
from bench.report import console
from bench.stack import BenchError
from bench.stats import Latency, Report, head_to_head, json_line
from infra.cli.wiring import worker_app
from infra.core.settings import Settings

OURS, BASELINE = "crmbus", "faust"
_LOOPS: dict[str, Callable[[Any, Any], Any]] = {
    OURS: StrictConsumer._drain_messages,
    BASELINE: FaustConsumer._drain_messages,
}
_PARTITIONS = 6


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--records", type=int, default=200_000, help="records handed over per loop (default 200000)")
    parser.add_argument("--fetch", type=int, default=2000, help="records per fetch (default 2000)")


@dataclass(frozen=True, slots=True)
class Drained:
    """One loop's run: records handed over, CPU and wall time, and each fetch's hand-over time."""

    handed: int
    cpu_s: float
    wall_s: float
    fetch_ms: Latency

    def figures(self, records: int) -> Report:
        return {
            "throughput_per_s": self.handed / self.wall_s if self.wall_s else math.nan,
            "cpu_us_per_record": 1e6 * self.cpu_s / self.handed if self.handed else math.nan,
            "p50_ms": self.fetch_ms.p50_ms,
            "p99_ms": self.fetch_ms.p99_ms,
            "lost": records - self.handed,
        }


async def drain(loop_name: str, records: int, fetch: int) -> Drained:
    """Run one drain loop over ``records`` records, ``fetch`` to a fetch, round-robin over partitions."""
    with tempfile.TemporaryDirectory(prefix="crmbus-bench-drain-") as state_dir:
        # The loops never touch its state. Any: its fetch and callback are swapped for the bench's below.
        consumer: Any = worker_app(Settings(state_dir=state_dir)).consumer
    fetcher = SimpleNamespace(_stopped=asyncio.Event())
    partitions = [TP("crmbus.deliver.crm", p) for p in range(_PARTITIONS)]
    fetches = -(-records // fetch)
    handed = [0]
    fetch_ms: list[float] = []  # from each fetch to the next: its records' hand-over
    fetched_at = [0.0]
    calls = [0]

    async def getmany(timeout: float) -> AsyncIterator[tuple[TP, SimpleNamespace]]:
        index, now = calls[0], time.perf_counter()
        calls[0] += 1
        if index:
            fetch_ms.append((now - fetched_at[0]) * 1000)
        fetched_at[0] = now
        if index == fetches - 1:
            fetcher._stopped.set()
        first = index * fetch
        for n in range(first, min(first + fetch, records)):
            yield partitions[n % _PARTITIONS], SimpleNamespace(offset=n // _PARTITIONS)

    async def count(message: SimpleNamespace) -> None:
        handed[0] += 1

    consumer.getmany = getmany
    consumer.callback = count
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        await _LOOPS[loop_name](consumer, fetcher)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        fetch_ms.append((time.perf_counter() - fetched_at[0]) * 1000)
    finally:
        consumer._thread.thread_loop.close()  # the consumer thread's loop, made but never started
    return Drained(handed[0], cpu, wall, Latency.of(fetch_ms))


def figures(drained: dict[str, Drained], records: int) -> Report:
    """One run's flat report: each loop's figures as ``<loop>_<figure>``."""
    return {
        f"{name}_{figure}": value for name, run in drained.items() for figure, value in run.figures(records).items()
    }


def summary(reports: Sequence[Report]) -> Report:
    """Medians of the runs, records lost summed over them, and the headline figures (ours) first."""
    headline, merged = head_to_head(reports, _LOOPS, OURS, BASELINE)
    saved = merged[f"{BASELINE}_cpu_us_per_record"] - merged[f"{OURS}_cpu_us_per_record"]
    return {**headline, "cpu_us_saved_per_record": saved, **merged}


def _table(title: str, report: Report) -> Table:
    table = Table(title=title, title_justify="left", caption="p50 / p99: one fetch's hand-over", caption_justify="left")
    for column in ("loop", "records/s", "CPU µs/record", "p50 ms", "p99 ms", "lost"):
        table.add_column(column, justify="left" if column == "loop" else "right", no_wrap=True)
    for name in _LOOPS:
        table.add_row(
            name, f"{report[f'{name}_throughput_per_s']:,.0f}", f"{report[f'{name}_cpu_us_per_record']:.2f}",
            f"{report[f'{name}_p50_ms']:.2f}", f"{report[f'{name}_p99_ms']:.2f}", str(report[f"{name}_lost"]),
        )  # fmt: skip
    return table


def run(args: argparse.Namespace) -> int:
    if args.records < 1 or args.fetch < 1:
        raise BenchError("--records and --fetch must be at least 1")
    console.print(f"bench drain: {args.records:,} records, {args.fetch:,} per fetch, {args.runs} run(s)")
    reports: list[Report] = []
    for number in range(1, args.runs + 1):
        drained = {name: asyncio.run(drain(name, args.records, args.fetch)) for name in _LOOPS}
        reports.append(figures(drained, args.records))
        console.print(_table(f"run {number}", reports[-1]))
    report = summary(reports)
    console.print(_table(f"summary ({args.runs} run(s), medians)", report))
    print(json_line(report))
    return 0 if report["lost"] == 0 and report[f"{BASELINE}_lost"] == 0 else 1
