"""One measured system of the router bench, and the phases of load it goes through.

For each system, on a fresh topic prefix: a warm-up that must come out whole (or the system
is not routing and the bench says so), the open-loop run at ``--rate``, then a backlog
written as fast as the generator can and drained. After each phase the bench waits, bounded,
for the fan-out to land, then reads it back and matches it to the inputs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.deliver_topics import DeliverTopics, landed
from bench.fanout import Drain, EventIds, Tally, drain, tally
from bench.lane_load import LaneLoad, LaneResult, LaneWriter
from bench.resources import TreeMeter, cpu_seconds, machine_busy_seconds
from bench.stack import BenchError
from bench.stats import Latency

FANOUT = 3
FANOUT_DESTINATIONS = ("crm", "zapi", "marketing")


@dataclass(frozen=True, slots=True)
class Waits:
    idle_s: float  # give up waiting for outputs after this long without a new one
    limit_s: float  # and in any case after this long


@dataclass(frozen=True, slots=True)
class PhaseResult:
    name: str
    load: LaneResult
    tally: Tally
    latency: Latency
    drain: Drain
    public: int  # records on the public topic crm.lead.created
    wall_s: float
    system_cpu_s: float
    broker_cpu_s: float
    other_cpu_s: float  # the machine's busy CPU that was neither system, broker nor generator
    broker_stamped: bool  # output times are LogAppendTime (else the producer's CreateTime)


@dataclass(slots=True)
class Bench:
    """What the phases of one system share."""

    writer: LaneWriter
    outputs: DeliverTopics
    public: DeliverTopics
    system: TreeMeter
    broker_pid: int | None
    bootstrap: str
    lane: str
    partitions: int
    tenants: tuple[str, ...]
    registry_url: str | None
    waits: Waits
    describe: Callable[[], str]  # the system's recent log lines, for errors

    def phase(self, name: str, count: int, rate: float | None) -> PhaseResult:
        ids = EventIds.fresh()
        load = LaneLoad(self.bootstrap, self.lane, self.partitions, self.tenants, ids, count, rate, self.registry_url)
        before, public_before = self.outputs.end_offsets(), self.public.end_offsets()
        broker = [self.broker_pid] if self.broker_pid else []
        system_before, broker_before, wall_before = self.system.cpu_s(), cpu_seconds(broker), time.monotonic()
        busy_before = machine_busy_seconds()
        written = self.writer.run(load)
        if written.failed or written.errors:
            raise BenchError(f"the generator could not write the {name} load: {written.errors}")
        end = self.outputs.settle(before, FANOUT * written.sent, self.waits.idle_s, self.waits.limit_s)
        wall = time.monotonic() - wall_before
        system_cpu, broker_cpu = self.system.cpu_s() - system_before, cpu_seconds(broker) - broker_before
        other = machine_busy_seconds() - busy_before - system_cpu - broker_cpu - written.cpu_s
        public = landed(public_before, self.public.end_offsets())
        stamped = True
        outputs = []
        for output, by_broker in self.outputs.read(before, end):
            outputs.append(output)
            stamped &= by_broker
        counted = tally(outputs, ids, written.sent, FANOUT, written.scheduled_ms, frozenset(written.failed))
        return PhaseResult(
            name=name,
            load=written,
            tally=counted,
            latency=Latency.of(counted.latencies_ms),
            drain=drain(counted.completed_at_ms, written.acked_at_ms),
            public=public,
            wall_s=wall,
            system_cpu_s=system_cpu,
            broker_cpu_s=broker_cpu,
            other_cpu_s=max(0.0, other),
            broker_stamped=stamped,
        )

    def warm_up(self, count: int, rate: float) -> PhaseResult:
        """A short load that must come out whole before anything is measured."""
        result = self.phase("warm-up", count, rate)
        counted = result.tally
        if counted.complete == 0:
            raise BenchError(
                f"no event of the warm-up got its {FANOUT} fan-out records within the wait "
                f"({counted.outputs} records landed, by destination {counted.destinations}); "
                f"recent log lines:\n{self.describe()}"
            )
        unexpected = set(counted.destinations) - set(FANOUT_DESTINATIONS)
        if counted.overfull or unexpected:
            raise BenchError(
                f"the fan-out is not the expected {FANOUT_DESTINATIONS}: by destination {counted.destinations}, "
                f"{counted.overfull} events with more than {FANOUT} deliveries"
            )
        return result
