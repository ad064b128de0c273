"""One phase of the e2e bench: an open loop of leads against a running system, then its deliveries.

The generator (``bench.loadgen`` in its own process) posts at the phase's rate for its duration;
then the bench waits, bounded, until every accepted event is complete at the receiver (all three
destinations), or the deadline passed, or (steps only) nothing arrived for ``idle_s``; then it
reads the phase's arrivals once and accounts for them (``bench.e2e_accounting``). Each phase has a
tag of its own in the events' phones, so a late delivery of an earlier phase is never counted.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench.e2e_accounting import Outcome, Schedule, account
from bench.e2e_events import MAX_TAG, LeadEvents
from bench.e2e_receiver import DESTINATIONS, ReceiverClient
from bench.e2e_systems import Running
from bench.genpool import LoadGenerators
from bench.loadgen import LoadResult, LoadSpec
from bench.resources import TreeMeter, machine_busy_seconds
from bench.saturation import Step
from bench.stack import HOST, BenchError

_POLL_S = 0.25


@dataclass(frozen=True, slots=True)
class PhaseResult:
    system: str
    name: str  # "warm-up", "rate" or "step"
    offered_per_s: float
    duration_s: float
    load: LoadResult
    outcome: Outcome
    wall_s: float  # load and wait
    cpu_s: Mapping[str, float]  # per part of the system
    other_cpu_s: float  # the rest of the machine, the generator and receiver included

    @property
    def delivered_per_s(self) -> float:
        return self.outcome.delivered_per_s(self.duration_s)

    @property
    def system_cores(self) -> float:
        return sum(self.cpu_s.values()) / self.wall_s if self.wall_s else math.nan

    @property
    def step(self) -> Step:
        """As a saturation step: passing means fully delivered (not just accepted) in time."""
        return Step(
            offered_per_s=self.offered_per_s,
            accepted_per_s=self.delivered_per_s,
            error_rate=self.outcome.incomplete_share,
            p99_ms=self.outcome.latency.p99_ms,
            generator_late=self.load.late_share,
        )


@dataclass(slots=True)
class PhaseRunner:
    """Runs the phases of one system with the shared generator and receiver."""

    running: Running
    generators: LoadGenerators
    receiver: ReceiverClient
    meters: Mapping[str, TreeMeter]  # per part
    work_dir: Path
    key_prefix: str  # unique to the invocation, run and system
    max_in_flight: int
    phases: list[PhaseResult] = field(default_factory=list)

    def run(self, name: str, rate: float, duration_s: float, wait_s: float, idle_s: float) -> PhaseResult:
        tag = len(self.phases)
        if tag > MAX_TAG:
            raise BenchError(f"more than {MAX_TAG + 1} phases for one system")
        start_file = self.work_dir / f"{self.key_prefix}{tag}.start"
        workload = LeadEvents(HOST, self.running.port, self.running.secret, self.key_prefix, tag, start_file)
        spec = LoadSpec(HOST, self.running.port, workload, rate, duration_s, self.max_in_flight, drain_s=2.0)
        cpu_before = {part: meter.cpu_s() for part, meter in self.meters.items()}
        busy_before, started = machine_busy_seconds(), time.monotonic()
        load = self.generators.run(spec, [workload])
        self._wait(tag, load.accepted_events, wait_s, idle_s)
        wall = time.monotonic() - started
        cpu = {part: meter.cpu_s() - cpu_before[part] for part, meter in self.meters.items()}
        other = machine_busy_seconds() - busy_before - sum(cpu.values())
        if not start_file.exists():
            raise BenchError(f"{self.running.name} {name}: no request was sent ({dict(load.errors)}): {load.samples}")
        schedule = Schedule(float(start_file.read_text()), spec.rate, spec.total)
        outcome = account(schedule, load.accepted_events, self.receiver.arrivals(tag), DESTINATIONS)
        phase = PhaseResult(self.running.name, name, rate, duration_s, load, outcome, wall, cpu, max(0.0, other))
        self.phases.append(phase)
        return phase

    def _wait(self, tag: int, accepted: int, wait_s: float, idle_s: float) -> None:
        deadline = time.monotonic() + wait_s
        last, moved_at = (-1, -1), time.monotonic()
        while time.monotonic() < deadline:
            progress = self.receiver.progress(tag)
            if progress[0] >= accepted:
                return
            if progress != last:
                last, moved_at = progress, time.monotonic()
            elif time.monotonic() - moved_at >= idle_s:
                return
            time.sleep(_POLL_S)

    def warm_up(self, events: int, rate: float, wait_s: float) -> PhaseResult:
        """A few events, waited for as long as a start may take; none delivered stops the bench."""
        phase = self.run("warm-up", rate, events / rate, wait_s, wait_s)
        if phase.outcome.complete == 0:
            raise BenchError(
                f"{self.running.name}: no warm-up event was delivered (accepted {phase.load.accepted_events}, "
                f"errors {dict(phase.load.errors)} {phase.load.samples}); recent log lines:\n{self.running.describe()}"
            )
        return phase
