"""clients: requests/s and CPU per request of the HTTP clients a delivery sink could use.

A sink worker is CPU-bound long before the network is, so the client's CPU per request decides
how many deliveries a core makes. Against one loopback destination server in a process of its
own (``bench.deliver_destination``, the deliver bench's fast one, started and stopped here), each
client in ``--clients`` sends ``--requests`` POSTs of a 500-byte JSON lead with an
Idempotency-Key, at most ``--concurrency`` in flight on one keep-alive pool, in a fresh process
(``bench.clients_load``) that measures its own CPU: aiohttp's ClientSession, httpx's AsyncClient,
httpx on the httpx-aiohttp transport (only when that package is installed) and crmbus's own
``connectors.http.HttpClients``. ``--rate`` and ``--duration`` do not apply.
"""

from __future__ import annotations

import argparse
import math
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson
from rich.table import Table

from bench.clients_load import CLIENTS, ClientRun, missing, warm_up
from bench.deliver_destination import DestinationClient
from bench.deliver_systems import fast_destination
from bench.report import console
from bench.resources import TreeMeter, machine_busy_seconds
from bench.stack import HOST, BenchError
from bench.stats import Report, json_line, median_report, ratio

OURS = "aiohttp"  # what connectors.http uses: the headline figures are its
BASELINE = "httpx"  # what the ratios compare it with
START_TIMEOUT_S = 30.0
_FIGURES = (
    "throughput_per_s", "cpu_ms_per_request", "p50_ms", "p99_ms", "errors", "server_cpu_ms_per_request",
    "other_cores",
)  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--requests", type=int, default=20_000, help="measured POSTs per client (default 20000)")
    parser.add_argument("--concurrency", type=int, default=50, help="requests in flight per client (default 50)")
    parser.add_argument(
        "--clients",
        default=",".join(CLIENTS),
        help=f"comma-separated, of {', '.join(CLIENTS)} (default: all available)",
    )


@dataclass(frozen=True, slots=True)
class Measured:
    """One client's run, with what the rest of the machine did meanwhile."""

    run: ClientRun
    server_cpu_s: float  # the destination's, warm-up requests included
    other_cores: float  # busy cores besides this client and the destination, over the client's lifetime


def chosen(text: str) -> tuple[list[str], dict[str, str]]:
    """The clients named in ``--clients`` that can run here, and those skipped with why."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in CLIENTS]
    if unknown or not names:
        raise BenchError(f"--clients takes names of {', '.join(CLIENTS)}, not {text!r}")
    skipped = {name: why for name in names if (why := missing(name)) is not None}
    return [name for name in names if name not in skipped], skipped


def figures(measured: Mapping[str, Measured], concurrency: int) -> Report:
    """One run's flat report: every figure of every client as ``<client>_<figure>``."""
    report: Report = {}
    for name, result in measured.items():
        run = result.run
        served = run.requests + warm_up(concurrency)
        values = (
            run.per_s, run.cpu_ms_per_request, run.p50_ms, run.p99_ms, run.errors,
            1000.0 * result.server_cpu_s / served, result.other_cores,
        )  # fmt: skip
        report.update({f"{name}_{figure}": value for figure, value in zip(_FIGURES, values, strict=True)})
    return report


def summary(reports: Sequence[Report], names: Sequence[str]) -> Report:
    """Medians of the runs, errors summed over them, and the headline figures first.

    ``lost`` = the aiohttp client's errors in every run: any one matters, a median would hide it.
    """
    merged = median_report(reports)
    for name in names:
        merged[f"{name}_errors"] = sum(report[f"{name}_errors"] for report in reports)
    headline: Report = {
        "throughput_per_s": merged.get(f"{OURS}_throughput_per_s", math.nan),
        "p50_ms": merged.get(f"{OURS}_p50_ms", math.nan),
        "p99_ms": merged.get(f"{OURS}_p99_ms", math.nan),
        "lost": merged.get(f"{OURS}_errors"),
        "baseline_ratio": ratio(merged.get(f"{OURS}_throughput_per_s"), merged.get(f"{BASELINE}_throughput_per_s")),
        "cpu_ratio": ratio(merged.get(f"{BASELINE}_cpu_ms_per_request"), merged.get(f"{OURS}_cpu_ms_per_request")),
    }
    return {**headline, **merged}


def _number(value: object, digits: int) -> str:
    if not isinstance(value, int | float) or math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}"


def client_table(title: str, report: Report, names: Sequence[str]) -> Table:
    table = Table(
        title=title,
        title_justify="left",
        caption=f"CPU = the client process's, per measured request; server = the destination's; other = busy cores "
        f"besides both; ÷ {BASELINE} = req/s ratio",
        caption_justify="left",
    )
    columns = ("client", "req/s", "CPU ms/req", "p50 ms", "p99 ms", "errors", "server ms/req", "other", f"÷ {BASELINE}")
    for column in columns:
        table.add_column(column, justify="left" if column == "client" else "right", no_wrap=True)
    for name in names:
        value = {figure: report.get(f"{name}_{figure}") for figure in _FIGURES}
        table.add_row(
            CLIENTS[name], _number(value["throughput_per_s"], 0), _number(value["cpu_ms_per_request"], 3),
            _number(value["p50_ms"], 2), _number(value["p99_ms"], 2), str(value["errors"]),
            _number(value["server_cpu_ms_per_request"], 3), _number(value["other_cores"], 2),
            _number(ratio(value["throughput_per_s"], report.get(f"{BASELINE}_throughput_per_s")), 2),
        )  # fmt: skip
    return table


def _children_cpu_s() -> float:
    """CPU of this process's children that have been waited for (the client processes)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timeout_s(requests: int) -> float:
    """How long one client process may take: 20 req/s at worst, a tenth of the slowest measured client."""
    return 60.0 + requests / 20.0


def measure_client(name: str, url: str, args: argparse.Namespace, tag: str, server: TreeMeter) -> Measured:
    """Run client ``name`` in a process of its own; the other cores are read around it."""
    command = [
        sys.executable, "-m", "bench.clients_load", "--client", name, "--url", url, "--requests",
        str(args.requests), "--concurrency", str(args.concurrency), "--tag", tag,
    ]  # fmt: skip
    timeout_s = _timeout_s(args.requests)
    children, server_before, busy, started = _children_cpu_s(), server.cpu_s(), machine_busy_seconds(), time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{name}: no result after {timeout_s:.0f} s (the process was killed)") from None
    wall_s = time.monotonic() - started
    server_cpu = server.cpu_s() - server_before
    other = machine_busy_seconds() - busy - server_cpu - (_children_cpu_s() - children)
    if done.returncode != 0 or not done.stdout.strip():
        tail = "\n".join(done.stderr.splitlines()[-20:])
        raise BenchError(f"{name}: the client process exited with {done.returncode}:\n{tail}")
    run = ClientRun(**orjson.loads(done.stdout.splitlines()[-1]))
    return Measured(run, server_cpu, max(0.0, other / wall_s))


def run(args: argparse.Namespace) -> int:
    if args.requests < 1 or args.concurrency < 1:
        raise BenchError("--requests and --concurrency must be at least 1")
    names, skipped = chosen(args.clients)
    for name, why in skipped.items():
        console.print(f"{name} ({CLIENTS[name]}): skipped, {why}")
    if not names:
        raise BenchError("no client left to measure")
    log_dir = Path(tempfile.mkdtemp(prefix="crmbus-bench-clients-"))
    tag = secrets.token_hex(3)
    console.print(
        f"bench clients {tag}: {args.requests:,} POSTs per client, {args.concurrency} in flight, clients "
        f"{', '.join(names)}, {args.runs} run(s); logs in {log_dir}"
    )
    reports: list[Report] = []
    with (
        fast_destination(log_dir, START_TIMEOUT_S) as server,
        DestinationClient(f"http://{HOST}:{server.port}") as dest,
    ):
        meter = TreeMeter(lambda: server.roots)
        for index in range(1, args.runs + 1):
            measured: dict[str, Measured] = {}
            for name in names:
                dest.clear()  # each client finds the destination as empty as the first did
                measured[name] = measure_client(name, dest.url, args, f"{tag}-{index}-{name}", meter)
            reports.append(figures(measured, args.concurrency))
            console.print(client_table(f"run {index}", reports[-1], names))
    final = summary(reports, names)
    final.update(
        requests=args.requests, concurrency=args.concurrency, runs=args.runs, clients=",".join(names),
        skipped=",".join(skipped),
    )  # fmt: skip
    title = f"summary ({'median of ' + str(args.runs) + ' runs' if args.runs > 1 else '1 run'}; errors: all runs)"
    console.print(client_table(title, final, names))
    print(json_line(final), flush=True)
    return 0
