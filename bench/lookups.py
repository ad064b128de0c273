"""lookups: CPU per lookup in a worker's idempotency table on RocksDB, crmbus's options against Faust's.

The router asks ``router-dedupe`` about every event and the sinks ask ``sink-finished`` about
every delivery; nearly always the key is new. A batch mixes partitions, so a miss asks every
partition's database (``agents.runtime.partitioned_table``). Here, in this process, one table per
variant is made as a worker makes it (``agents.tables``): ``crmbus`` with the workers' options
(``agents.runtime.table_stores``: bloom filters in the files at 10 bits per key and in the write
buffers), ``faust`` with the same bounded caches and buffers but Faust's filters (3 bits per key in
the files, none in the write buffers). Each is filled with ``--keys`` keys round-robin over
``--partitions`` partitions, as ``DedupeStore.remember`` writes them (most end in files, the
latest in the write buffers), then asked ``--lookups`` keys never written (misses) and as many
written ones (hits), one lookup at a time, each timed. ``lost``: written keys not found, plus
keys never written that were. No Kafka: the changelog records the puts return are dropped.
``--rate`` and ``--duration`` do not apply.
"""

from __future__ import annotations

import argparse
import gc
import math
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import faust
from rich.table import Table

from agents.dedupe import DedupeStore, dedupe_key
from agents.runtime.partitioned_table import PartitionedTable
from agents.runtime.table_stores import filter_write_buffers, store_arguments
from bench.report import console
from bench.stack import BenchError
from bench.stats import Latency, Report, head_to_head, json_line

OURS, BASELINE = "crmbus", "faust"
_TABLE = "router-dedupe"
_TTL_S = 86_400.0
_FAUST_BLOOM_BITS = 3  # faust.stores.rocksdb.DEFAULT_BLOOM_FILTER_SIZE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keys", type=int, default=1_200_000, help="keys written per table (default 1200000)")
    parser.add_argument("--lookups", type=int, default=100_000, help="misses, and as many hits, asked (default 100000)")
    parser.add_argument("--partitions", type=int, default=6, help="partitions of the table (default 6)")


def _ours(app: faust.App, partitions: int) -> Any:
    table = app.Table(_TABLE, partitions=partitions, **store_arguments("rocksdb", _TABLE, _TTL_S))
    filter_write_buffers(table)
    return table


def _fausts(app: faust.App, partitions: int) -> Any:
    arguments = store_arguments("rocksdb", _TABLE, _TTL_S)
    arguments["options"]["bloom_filter_size"] = _FAUST_BLOOM_BITS
    return app.Table(_TABLE, partitions=partitions, **arguments)


_VARIANTS: dict[str, Callable[[faust.App, int], Any]] = {OURS: _ours, BASELINE: _fausts}


@dataclass(frozen=True, slots=True)
class Asked:
    """One variant's run: CPU per lookup and each lookup's time (in µs, though ``Latency`` names
    its fields in ms), for misses and hits."""

    miss_cpu_s: float
    miss_us: Latency
    hit_cpu_s: float
    hit_us: Latency
    lost: int

    def figures(self) -> Report:
        misses, hits = self.miss_us.count, self.hit_us.count
        return {
            "throughput_per_s": misses / self.miss_cpu_s if self.miss_cpu_s else math.nan,
            "miss_cpu_us": 1e6 * self.miss_cpu_s / misses,
            "hit_cpu_us": 1e6 * self.hit_cpu_s / hits,
            "p50_ms": self.miss_us.p50_ms / 1000,
            "p99_ms": self.miss_us.p99_ms / 1000,
            "miss_p50_us": self.miss_us.p50_ms,
            "miss_p99_us": self.miss_us.p99_ms,
            "hit_p50_us": self.hit_us.p50_ms,
            "hit_p99_us": self.hit_us.p99_ms,
            "lost": self.lost,
        }


def _timed(store: DedupeStore, keys: Sequence[bytes]) -> tuple[float, list[float], int]:
    """CPU seconds for asking about ``keys``, each lookup's µs, and how many were seen."""
    spans: list[float] = []
    seen = 0
    clock = time.perf_counter
    cpu = time.process_time()
    for key in keys:
        started = clock()
        seen += store.seen(key)
        spans.append((clock() - started) * 1e6)
    return time.process_time() - cpu, spans, seen


def ask(variant: str, keys: int, lookups: int, partitions: int) -> Asked:
    """Fill one table made the ``variant`` way, then time its misses and hits."""
    with tempfile.TemporaryDirectory(prefix="crmbus-bench-lookups-") as datadir:
        app = faust.App(
            f"crmbus-bench-lookups-{variant}", broker="kafka://127.0.0.1:9", store="memory://", datadir=datadir,
            autodiscover=False, web_enabled=False,
        )  # fmt: skip
        store = DedupeStore(PartitionedTable(_VARIANTS[variant](app, partitions)), _TTL_S)
        written = [dedupe_key("bench", str(uuid.uuid4())) for _ in range(keys)]
        for index, key in enumerate(written):
            store.remember(index % partitions, key)
        misses = [dedupe_key("bench", str(uuid.uuid4())) for _ in range(lookups)]
        hits = written[:: max(1, keys // lookups)][:lookups]  # spread over the files and the write buffers
        miss_cpu, miss_spans, phantoms = _timed(store, misses)
        hit_cpu, hit_spans, found = _timed(store, hits)
        consumer: Any = app.consumer
        consumer._thread.thread_loop.close()  # made, never started
        del store, app, consumer
        gc.collect()  # the databases close as they are freed, before their directory goes
    lost = (len(hits) - found) + phantoms
    return Asked(miss_cpu, Latency.of(miss_spans), hit_cpu, Latency.of(hit_spans), lost)


def summary(reports: Sequence[Report]) -> Report:
    """Medians of the runs, lost summed over them, and the headline figures (ours) first."""
    headline, merged = head_to_head(reports, _VARIANTS, OURS, BASELINE)
    saved = merged[f"{BASELINE}_miss_cpu_us"] - merged[f"{OURS}_miss_cpu_us"]
    return {**headline, "miss_cpu_us_saved": saved, **merged}


def _table(title: str, report: Report) -> Table:
    table = Table(title=title, title_justify="left", caption="one lookup: µs", caption_justify="left")
    columns = ("options", "misses/s (CPU)", "CPU µs/miss", "miss p50", "miss p99", "CPU µs/hit", "hit p50", "hit p99")
    for column in (*columns, "lost"):
        table.add_column(column, justify="left" if column == "options" else "right", no_wrap=True)
    for name in _VARIANTS:
        table.add_row(
            name, f"{report[f'{name}_throughput_per_s']:,.0f}", f"{report[f'{name}_miss_cpu_us']:.2f}",
            f"{report[f'{name}_miss_p50_us']:.2f}", f"{report[f'{name}_miss_p99_us']:.2f}",
            f"{report[f'{name}_hit_cpu_us']:.2f}", f"{report[f'{name}_hit_p50_us']:.2f}",
            f"{report[f'{name}_hit_p99_us']:.2f}", str(report[f"{name}_lost"]),
        )  # fmt: skip
    return table


def run(args: argparse.Namespace) -> int:
    if args.keys < 1 or args.lookups < 1 or args.partitions < 1:
        raise BenchError("--keys, --lookups and --partitions must be at least 1")
    console.print(
        f"bench lookups: {args.keys:,} keys over {args.partitions} partitions, {args.lookups:,} misses and hits, "
        f"{args.runs} run(s)"
    )
    reports: list[Report] = []
    for number in range(1, args.runs + 1):
        asked = {name: ask(name, args.keys, args.lookups, args.partitions) for name in _VARIANTS}
        reports.append(
            {f"{name}_{figure}": value for name, run in asked.items() for figure, value in run.figures().items()}
        )
        console.print(_table(f"run {number}", reports[-1]))
    report = summary(reports)
    console.print(_table(f"summary ({args.runs} run(s), medians)", report))
    print(json_line(report))
    return 0 if report["lost"] == 0 and report[f"{BASELINE}_lost"] == 0 else 1
