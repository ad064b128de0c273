"""signatures: what accepting each webhook signature once across processes costs per request.

A signed webhook's signature is claimed in PostgreSQL (``infra.db.signature_claims``, one
autocommitted ``INSERT ... ON CONFLICT`` through a pool of 4 connections of its own, called in a
thread as the ingress calls it) behind this process's in-memory guard. The baseline is the
in-memory guard alone, what every process did before, measured in the same invocation; so is
``durable``, the same claims through an ordinary engine (a ping before each use, and every commit
waiting for its WAL flush), to show what the claims' own pool saves. For each:

- after a second's warm-up (not counted), a fixed-rate run, open loop: check *i* is due at
  ``start + i/rate`` and its latency counts from then, for ``--duration`` s → p50/p99;
- a saturation run: ``--concurrency`` checks in flight for ``--duration`` s → checks/s.

Every 10th check presents an earlier signature again: ``replays_accepted`` must be 0, and
``lost`` counts fresh signatures refused (must be 0). PostgreSQL is the one at
``CRMBUS_DATABASE_URL`` (started if it does not answer, stopped only then); the claims go to a
schema of their own, dropped on the way out.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from rich.table import Table
from sqlalchemy import text

from bench.report import console
from bench.stats import Latency, Report, json_line, median_report
from infra.core.settings import Settings
from infra.db.engine import database_url, make_engine
from infra.db.migrate import upgrade
from infra.db.signature_claims import SignatureClaims
from infra.local.postgres_node import LocalPostgres
from ingress.api.auth import SignatureGuard
from streams.errors import SignatureError
from streams.signatures import REPLAY_WINDOW_S, ReplayGuard

DEFAULT_RATE = 500.0
_REPLAY_EVERY = 10
Check = Callable[[str, float], Awaitable[None]]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--concurrency", type=int, default=8, help="checks in flight when saturating (default 8)")


@dataclass(slots=True)
class Tally:
    latencies_ms: list[float]
    lost: int = 0
    replays_accepted: int = 0


async def _one(check: Check, index: int, issued: list[str], tally: Tally, due: float) -> None:
    replay = index % _REPLAY_EVERY == _REPLAY_EVERY - 1 and bool(issued)
    signature = issued[(index // 2) % len(issued)] if replay else f"v1={secrets.token_hex(32)}"
    try:
        await check(signature, time.time())
        if replay:
            tally.replays_accepted += 1
        else:
            issued.append(signature)
    except SignatureError:
        tally.lost += 0 if replay else 1
    tally.latencies_ms.append((time.perf_counter() - due) * 1000)


async def fixed_rate(check: Check, rate: float, duration_s: float) -> Tally:
    tally, tasks = Tally([]), []
    issued: list[str] = []
    start, total = time.perf_counter(), int(rate * duration_s)
    for index in range(total):
        due = start + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(_one(check, index, issued, tally, due)))
    await asyncio.gather(*tasks)
    return tally


async def saturation(check: Check, concurrency: int, duration_s: float) -> tuple[float, Tally]:
    tally = Tally([])
    issued: list[str] = []
    start = time.perf_counter()
    deadline, counter = start + duration_s, iter(range(1 << 62))

    async def worker() -> None:
        while time.perf_counter() < deadline:
            await _one(check, next(counter), issued, tally, time.perf_counter())

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(tally.latencies_ms) / (time.perf_counter() - start), tally


def in_memory() -> Check:
    guard = ReplayGuard()

    async def check(signature: str, now: float) -> None:
        guard.check(signature, now)

    return check


def shared(claims: SignatureClaims, tenant: str) -> Check:
    guard = SignatureGuard(claims.claim, claims.release)

    async def check(signature: str, now: float) -> None:
        await guard.check(tenant, signature, now)

    return check


def measure(name: str, make: Callable[[], Check], args: argparse.Namespace) -> Report:
    asyncio.run(fixed_rate(make(), args.rate, 1.0))  # warm-up, not counted: the pool connects
    fixed = asyncio.run(fixed_rate(make(), args.rate, args.duration))
    throughput, saturated = asyncio.run(saturation(make(), args.concurrency, args.duration))
    latency = Latency.of(fixed.latencies_ms)
    return {
        "guard": name,
        "throughput_per_s": throughput,
        "p50_ms": latency.p50_ms,
        "p99_ms": latency.p99_ms,
        "lost": fixed.lost + saturated.lost,
        "replays_accepted": fixed.replays_accepted + saturated.replays_accepted,
    }


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    postgres = LocalPostgres(settings)
    started = postgres.up()
    schema = f"bench_signatures_{secrets.token_hex(4)}"
    engine = make_engine(database_url(settings), schema=schema, pool_size=4)
    try:
        upgrade(engine, schema=schema)
        durable = SignatureClaims(engine, REPLAY_WINDOW_S)
        claims = SignatureClaims.at(database_url(settings), REPLAY_WINDOW_S, schema=schema)
        reports = []
        for _ in range(args.runs):
            baseline = measure("in-memory", in_memory, args)
            ours = measure("postgresql", lambda: shared(claims, "bench"), args)
            slow = measure("durable", lambda: shared(durable, "bench"), args)
            reports.append(
                {
                    **{key: ours[key] for key in ("throughput_per_s", "p50_ms", "p99_ms", "lost")},
                    "replays_accepted": ours["replays_accepted"] + slow["replays_accepted"],
                    **{f"baseline_{key}": baseline[key] for key in ("throughput_per_s", "p50_ms", "p99_ms")},
                    **{f"durable_{key}": slow[key] for key in ("throughput_per_s", "p50_ms", "p99_ms")},
                    "ratio": ours["throughput_per_s"] / baseline["throughput_per_s"],
                    "added_p50_ms": ours["p50_ms"] - baseline["p50_ms"],
                }
            )
        claims.close()
    finally:
        engine.dispose()
        admin = make_engine(database_url(settings), pool_size=1)
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
        if started:
            postgres.down()
    report = {"scenario": "signatures", "rate": args.rate, "concurrency": args.concurrency, **median_report(reports)}
    # Any run's loss counts: a median must not vote one away.
    report["lost"] = sum(r["lost"] for r in reports)
    report["replays_accepted"] = sum(r["replays_accepted"] for r in reports)
    console.print(_table(report))
    print(json_line(report))
    return 0 if report["lost"] == 0 and report["replays_accepted"] == 0 else 1


def _table(report: Report) -> Table:
    table = Table(title="signature guard: claims in PostgreSQL vs this process's memory", title_justify="left")
    for column in ("metric", "postgresql", "durable", "in-memory"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for label, key in (("checks/s (saturated)", "throughput_per_s"), ("p50 ms", "p50_ms"), ("p99 ms", "p99_ms")):
        table.add_row(label, *(f"{report[prefix + key]:.3f}" for prefix in ("", "durable_", "baseline_")))
    return table
