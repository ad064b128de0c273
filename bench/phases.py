"""One measured phase of load against a running server, with what it cost the machine.

A phase is one open-loop run at one rate. Around it the bench reads the CPU of the
server's processes, of Kafka's broker when it is known, and of the whole machine, so the
report can say how much of the two cores other work took while it ran.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.genpool import LoadGenerators
from bench.loadgen import LoadResult, LoadSpec, Workload
from bench.resources import TreeMeter, cpu_seconds, machine_busy_seconds
from bench.saturation import Step
from bench.stats import Latency

# Makes one workload per generator process from a unique key prefix.
WorkloadFactory = Callable[[str], Workload]


@dataclass(frozen=True, slots=True)
class Phase:
    target: str  # "crmbus" or "ceiling"
    mode: str  # "single" or "batch"
    kind: str  # "rate" (the fixed --rate run) or "step" (saturation search)
    offered_per_s: float  # events per second
    result: LoadResult
    latency: Latency
    wall_s: float
    server_cpu_s: float
    broker_cpu_s: float
    other_cpu_s: float  # the machine's busy CPU that was neither server, broker nor generator

    @property
    def step(self) -> Step:
        return Step(
            offered_per_s=self.offered_per_s,
            accepted_per_s=self.result.accepted_per_s,
            error_rate=self.result.error_rate,
            p99_ms=self.latency.p99_ms,
            generator_late=self.result.late_share,
        )

    @property
    def server_cores(self) -> float:
        return self.server_cpu_s / self.wall_s

    @property
    def other_cores(self) -> float:
        return self.other_cpu_s / self.wall_s


@dataclass(slots=True)
class Runner:
    """Runs phases against one server with the shared generator processes."""

    target: str
    key_prefix: str  # unique to the invocation and run: idempotency keys never repeat
    generators: LoadGenerators
    server: TreeMeter
    host: str
    port: int
    max_in_flight: int
    broker_pid: int | None
    counter: int = 0
    accepted_events: int = 0  # over every phase, for the lost count

    def run(self, mode: str, kind: str, events_per_s: float, duration_s: float, make: WorkloadFactory) -> Phase:
        self.counter += 1
        tag = f"{self.key_prefix}-{self.target}-{mode}-{self.counter}"
        workloads = [make(f"{tag}-{index}-") for index in range(len(self.generators.pids))]
        per_request = workloads[0].events_per_request
        spec = LoadSpec(
            self.host, self.port, workloads[0], events_per_s / per_request, duration_s, self.max_in_flight, drain_s=2.0
        )
        broker = [self.broker_pid] if self.broker_pid else []
        server_before, broker_before = self.server.cpu_s(), cpu_seconds(broker)
        busy_before, wall_before = machine_busy_seconds(), time.monotonic()
        result = self.generators.run(spec, workloads)
        wall = time.monotonic() - wall_before
        server_cpu = self.server.cpu_s() - server_before
        broker_cpu = cpu_seconds(broker) - broker_before
        other = machine_busy_seconds() - busy_before - server_cpu - broker_cpu - result.cpu_s
        self.accepted_events += result.accepted_events
        return Phase(
            target=self.target,
            mode=mode,
            kind=kind,
            offered_per_s=spec.total * per_request / duration_s,
            result=result,
            latency=Latency.of(result.latencies_ms),
            wall_s=wall,
            server_cpu_s=server_cpu,
            broker_cpu_s=broker_cpu,
            other_cpu_s=max(0.0, other),
        )
