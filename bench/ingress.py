"""ingress: events/s the HTTP ingress accepts (202 after Kafka's ack), against a bare aiohttp ceiling.

For each server (the ceiling first, then ``crmbus ingress``), with the same number of
processes and the same generator: a fixed-rate run at ``--rate`` (latency percentiles),
then a saturation search from there, for single events and for batches. Records landed
in the ingress topics are counted before and after the crmbus runs.
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
from functools import partial
from pathlib import Path

from bench.events import BUILT_IN_TYPE, TENANT_TYPE, BatchEvents, SingleEvents
from bench.genpool import LoadGenerators
from bench.landed import Landing, end_offsets, settled_end_offsets
from bench.phases import Phase, Runner, WorkloadFactory
from bench.report import console, phase_table, print_error_samples, summary_table
from bench.resources import TreeMeter, wait_for_quiet
from bench.saturation import SearchPolicy, Step, search, sustained_per_s
from bench.stack import (
    HOST,
    BenchError,
    Infra,
    Servers,
    ceiling_servers,
    infra,
    ingress_available,
    ingress_command,
    ingress_servers,
)
from bench.stats import Report, json_line, median_report
from infra.core.settings import Settings

MODES = ("single", "batch")
MIN_STEP_REQUESTS = 150
QUIET_CORES = 0.3  # an idle broker and this bench's idle processes stay below it


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, default=2, choices=(1, 2), help="server processes (default 2)")
    parser.add_argument("--gen-procs", type=int, default=1, help="load generator processes (default 1)")
    parser.add_argument("--max-in-flight", type=int, default=512, help="open connections = in-flight cap")
    parser.add_argument("--batch-size", type=int, default=100, help="events per batch request (default 100)")
    parser.add_argument("--step-duration", type=float, default=3.0, help="seconds per saturation step")
    parser.add_argument("--p99-limit-ms", type=float, default=200.0, help="a step whose p99 exceeds this fails")
    parser.add_argument("--ceiling-only", action="store_true", help="measure only the ceiling (checks the harness)")
    parser.add_argument(
        "--quiet-wait", type=float, default=0.0, help="before each run, wait up to this long for the machine to idle"
    )
    parser.add_argument("--start-timeout", type=float, default=60.0, help="seconds for a server to become healthy")


def _policies(args: argparse.Namespace) -> dict[str, SearchPolicy]:
    return {
        "single": SearchPolicy(start_per_s=args.rate, factor=1.5, p99_limit_ms=args.p99_limit_ms),
        "batch": SearchPolicy(start_per_s=args.rate, factor=2.0, p99_limit_ms=args.p99_limit_ms),
    }


def _workloads(port: int, secret: str, batch_size: int) -> dict[str, WorkloadFactory]:
    return {
        "single": partial(SingleEvents, HOST, port, secret),
        "batch": lambda prefix: BatchEvents(HOST, port, secret, prefix, batch_size),
    }


def _probe(runner: Runner, workloads: dict[str, WorkloadFactory]) -> None:
    """A few requests of each kind before any load: a server that refuses them is reported, not measured."""
    for mode, make in workloads.items():
        phase = runner.run(mode, "probe", 10 * make("probe-").events_per_request, 0.5, make)
        if phase.result.error_rate > 0:
            samples = "; ".join(f"{kind}: {body}" for kind, body in phase.result.samples.items())
            raise BenchError(f"{runner.target} refused the {mode} probe ({dict(phase.result.errors)}): {samples}")


def _saturate(runner: Runner, mode: str, make: WorkloadFactory, args: argparse.Namespace) -> list[Phase]:
    """The fixed-rate run, then the search that starts from it."""
    phases = [runner.run(mode, "rate", args.rate, args.duration, make)]

    per_request = make("probe-").events_per_request

    def measure(rate: float) -> Step:
        time.sleep(0.5)  # let the server finish what an overloaded step left queued
        # Enough requests that a p99 is not just the one slowest (slow batch rates need longer steps).
        duration = max(args.step_duration, MIN_STEP_REQUESTS * per_request / rate)
        phases.append(runner.run(mode, "step", rate, duration, make))
        return phases[-1].step

    search(measure, _policies(args)[mode], first=phases[0].step)
    return phases


def _run_target(
    target: str, servers: Servers, generators: LoadGenerators, infra_: Infra, key_prefix: str, args: argparse.Namespace
) -> tuple[dict[str, list[Phase]], TreeMeter, int]:
    broker = infra_.broker_pid if target == "crmbus" else None
    with TreeMeter(lambda: servers.roots) as meter:
        runner = Runner(target, key_prefix, generators, meter, HOST, servers.port, args.max_in_flight, broker)
        workloads = _workloads(servers.port, infra_.api_secret, args.batch_size)
        _probe(runner, workloads)
        phases = {mode: _saturate(runner, mode, make, args) for mode, make in workloads.items()}
        if target == "crmbus":
            phases["types"] = _types(runner, servers.port, infra_.api_secret, args)
    return phases, meter, runner.accepted_events


def _types(runner: Runner, port: int, secret: str, args: argparse.Namespace) -> list[Phase]:
    """Single events of a built-in type and of the bench tenant's own copy of it, at ``--rate``,
    alternated twice so that neither always runs on a warmer server."""
    phases = []
    for event_type in (BUILT_IN_TYPE, TENANT_TYPE, BUILT_IN_TYPE, TENANT_TYPE):
        make = partial(SingleEvents, HOST, port, secret, event_type=event_type)
        time.sleep(0.5)
        phases.append(runner.run("single", f"type:{event_type}", args.rate, args.duration / 2, make))
    return phases


def _cpu_us_per_event(phases: list[Phase], kind: str) -> float | None:
    chosen = [p for p in phases if p.kind == kind]
    accepted = sum(p.result.accepted_events for p in chosen)
    return 1e6 * sum(p.server_cpu_s for p in chosen) / accepted if accepted else None


def _at_saturation(phases: list[Phase], policy: SearchPolicy) -> Phase | None:
    passed = [p for p in phases if p.step.verdict(policy) is None]
    return max(passed, key=lambda p: p.result.accepted_per_s, default=None)


def _figures(phases: dict[str, list[Phase]], meter: TreeMeter, policies: dict[str, SearchPolicy]) -> Report:
    single, batch = phases["single"][0], phases["batch"][0]
    saturated = _at_saturation(phases["single"], policies["single"])
    return {
        "throughput_per_s": sustained_per_s([p.step for p in phases["single"]], policies["single"]),
        "saturation_p99_ms": saturated.latency.p99_ms if saturated else None,
        "batch_throughput_per_s": sustained_per_s([p.step for p in phases["batch"]], policies["batch"]),
        "p50_ms": single.latency.p50_ms,
        "p99_ms": single.latency.p99_ms,
        "p999_ms": single.latency.p999_ms,
        "batch_p99_ms": batch.latency.p99_ms,
        "errors": sum(single.result.errors.values()) + sum(batch.result.errors.values()),
        "cpu_s": single.server_cpu_s,
        "cpu_us_per_event": 1e6 * single.server_cpu_s / max(1, single.result.accepted_events),
        "broker_cpu_us_per_event": 1e6 * single.broker_cpu_s / max(1, single.result.accepted_events),
        "peak_rss_mb": meter.peak_rss_mb,
    }


def _measure_ingress(
    key_prefix: str, generators: LoadGenerators, infra_: Infra, log_dir: Path, args: argparse.Namespace
) -> tuple[dict[str, list[Phase]], TreeMeter, Landing]:
    bootstrap, topics = infra_.settings.kafka_bootstrap, infra_.ingress_topics
    before = end_offsets(bootstrap, topics)
    with ingress_servers(args.workers, log_dir, args.start_timeout) as ingress:
        phases, meter, accepted = _run_target("crmbus", ingress, generators, infra_, key_prefix, args)
    return phases, meter, Landing(accepted, settled_end_offsets(bootstrap, topics) - before)


def _one_run(
    key_prefix: str, generators: LoadGenerators, infra_: Infra, log_dir: Path, args: argparse.Namespace
) -> Report:
    policies = _policies(args)
    with ceiling_servers(args.workers, log_dir, args.start_timeout) as ceiling:
        ceiling_phases, ceiling_meter, _ = _run_target("ceiling", ceiling, generators, infra_, key_prefix, args)
    theirs = _figures(ceiling_phases, ceiling_meter, policies)
    every = [p for mode in MODES for p in ceiling_phases[mode]]
    mine: Report = dict.fromkeys(theirs)
    landing = None
    if not args.ceiling_only:
        ours, ours_meter, landing = _measure_ingress(key_prefix, generators, infra_, log_dir, args)
        mine = _figures(ours, ours_meter, policies)
        every += [p for mode in MODES for p in ours[mode]]
        built_in_cpu = _cpu_us_per_event(ours["types"], f"type:{BUILT_IN_TYPE}")
        tenant_cpu = _cpu_us_per_event(ours["types"], f"type:{TENANT_TYPE}")
        mine |= {
            "built_in_type_cpu_us_per_event": built_in_cpu,
            "tenant_type_cpu_us_per_event": tenant_cpu,
            "tenant_type_cpu_ratio": _ratio(tenant_cpu, built_in_cpu or 0.0),
        }
        console.print(phase_table(f"run {key_prefix}: built-in type against a tenant's own", ours["types"], policies))
    singles = [p for p in every if p.mode == "single"]
    loadgen_cpu_s = sum(p.result.cpu_s for p in singles)
    console.print(phase_table(f"run {key_prefix}: every phase", every, policies))
    print_error_samples(every)
    return {
        "throughput_per_s": mine["throughput_per_s"],
        "p50_ms": mine["p50_ms"],
        "p99_ms": mine["p99_ms"],
        "p999_ms": mine["p999_ms"],
        "errors": mine["errors"],
        "lost": landing.lost if landing else None,
        "ceiling_ratio": _ratio(mine["throughput_per_s"], theirs["throughput_per_s"]),
        "extra": landing.extra if landing else None,
        "accepted": landing.accepted if landing else None,
        "landed": landing.landed if landing else None,
        "saturation_p99_ms": mine["saturation_p99_ms"],
        "ceiling_throughput_per_s": theirs["throughput_per_s"],
        "batch_throughput_per_s": mine["batch_throughput_per_s"],
        "batch_ceiling_throughput_per_s": theirs["batch_throughput_per_s"],
        "batch_ceiling_ratio": _ratio(mine["batch_throughput_per_s"], theirs["batch_throughput_per_s"]),
        "batch_p99_ms": mine["batch_p99_ms"],
        "batch_ceiling_p99_ms": theirs["batch_p99_ms"],
        "ceiling_p50_ms": theirs["p50_ms"],
        "ceiling_p99_ms": theirs["p99_ms"],
        "ceiling_p999_ms": theirs["p999_ms"],
        "ingress_cpu_s": mine["cpu_s"],
        "ingress_cpu_us_per_event": mine["cpu_us_per_event"],
        "ingress_peak_rss_mb": mine["peak_rss_mb"],
        "built_in_type_cpu_us_per_event": mine.get("built_in_type_cpu_us_per_event"),
        "tenant_type_cpu_us_per_event": mine.get("tenant_type_cpu_us_per_event"),
        "tenant_type_cpu_ratio": mine.get("tenant_type_cpu_ratio"),
        "broker_cpu_us_per_event": mine["broker_cpu_us_per_event"] if infra_.broker_pid else None,
        "ceiling_cpu_us_per_event": theirs["cpu_us_per_event"],
        "ceiling_peak_rss_mb": theirs["peak_rss_mb"],
        "loadgen_cpu_us_per_request": 1e6 * loadgen_cpu_s / max(1, sum(p.result.sent for p in singles)),
        "other_load_cores": sum(p.other_cpu_s for p in every) / sum(p.wall_s for p in every),
    }


def _ratio(ours: float | None, ceiling: float) -> float | None:
    return ours / ceiling if ours is not None and ceiling else None


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    log_dir = Path(tempfile.mkdtemp(prefix="crmbus-bench-"))
    run_tag = secrets.token_hex(4)
    console.print(
        f"bench ingress {run_tag}: rate {args.rate:,.0f} ev/s for {args.duration:.0f} s, {args.workers} server "
        f"processes, {args.gen_procs} generator process(es), in-flight cap {args.max_in_flight}, "
        f"{args.runs} run(s); logs in {log_dir}"
    )
    if not args.ceiling_only and not ingress_available():
        raise BenchError(f"`{ingress_command()} ingress --help` fails: no ingress to measure (try --ceiling-only)")
    reports: list[Report] = []
    with infra(settings, log_dir / "bench.log") as infra_, LoadGenerators(args.gen_procs) as generators:
        for index in range(args.runs):
            if args.quiet_wait > 0:
                busy = wait_for_quiet(QUIET_CORES, args.quiet_wait)
                console.print(f"machine busy before run {index + 1}: {busy:.2f} cores (Kafka's idle load included)")
            reports.append(_one_run(f"{run_tag}.{index + 1}", generators, infra_, log_dir, args))
    final = median_report(reports) if len(reports) > 1 else reports[0]
    # A record lost in any run matters: the median would hide it.
    final["lost_total"] = sum(r["lost"] or 0 for r in reports)
    final.update(
        rate_per_s=args.rate,
        duration_s=args.duration,
        workers=args.workers,
        generator_processes=args.gen_procs,
        max_in_flight=args.max_in_flight,
        runs=args.runs,
    )
    title = f"summary ({'median of ' + str(args.runs) + ' runs' if args.runs > 1 else '1 run'})"
    console.print(summary_table(title, final))
    print(json_line(final), flush=True)
    return 0
