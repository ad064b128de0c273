"""One measured system of the deliver bench, and the phases of load it goes through.

- **lane** phases (warm-up, rate): lead.created envelopes into the lane topic, so the system's
  router makes the deliveries; "accepted" is each event's scheduled send, which is also its
  record's timestamp (the instant an ingress would have produced it and answered 202).
- **direct** phases (backlog, failing): the Delivery records themselves written into the deliver
  topics as fast as the producer takes them; the sinks alone are measured. Deliveries/s count
  only first applications after the last record was acknowledged (``bench.fanout.drain``), so
  the generator's CPU is not in the figure.

After the load the bench waits, bounded, until the system's consumer group has committed
everything it was given, then reads the destinations' journal once and matches it by idempotency key.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.deliver_destination import DestinationClient
from bench.deliver_load import DeliveryTemplate, expected, write_deliveries
from bench.deliver_receipts import Arrival, Due, Receipts, match
from bench.deliver_systems import GroupProgress
from bench.fanout import Drain, EventIds, drain
from bench.lane_load import LaneLoad, LaneWriter
from bench.resources import TreeMeter, cpu_seconds, machine_busy_seconds
from bench.stack import BenchError
from bench.stats import Latency

HEALTHY_DESTINATIONS = ("crm", "marketing")
FAILING_DESTINATION = "zapi"


@dataclass(frozen=True, slots=True)
class PhaseResult:
    name: str
    receipts: Receipts
    drain: Drain  # every destination
    healthy: Drain  # crm and marketing only
    latency: Latency
    wall_s: float
    system_cpu_s: float
    server_cpu_s: float
    broker_cpu_s: float
    other_cpu_s: float  # the rest of the machine, the bench's own generator included
    settled: bool  # the system committed everything it was given within the wait
    timed: bool  # latency means something: the events' acceptance times are known (lane phases)


@dataclass(slots=True)
class DeliverBench:
    """What the phases of one system share."""

    server: DestinationClient  # the destinations: the fast one or the sandbox
    system: TreeMeter
    server_meter: TreeMeter
    broker_pid: int | None
    progress: GroupProgress
    bootstrap: str
    prefix: str
    templates: Sequence[Sequence[DeliveryTemplate]]  # per tenant
    destinations: Sequence[str]
    idle_s: float
    limit_s: float
    describe: Callable[[], str]  # the system's recent log lines, for errors

    @property
    def deliver_topics(self) -> list[str]:
        return [f"{self.prefix}crmbus.deliver.{d}" for d in self.destinations]

    def arrivals(self, destinations: Sequence[str]) -> list[Arrival]:
        return [
            Arrival(r.idempotency_key, r.system, r.at, r.applied, r.duplicate)
            for destination in destinations
            for r in self.server.requests(destination)
        ]

    def _measured(
        self, name: str, load: Callable[[], tuple[dict[str, Due], float]], wait_on: list[str], timed: bool
    ) -> tuple[PhaseResult, dict[str, Due]]:
        self.server.clear()
        broker = [self.broker_pid] if self.broker_pid else []
        before = (self.system.cpu_s(), self.server_meter.cpu_s(), cpu_seconds(broker), machine_busy_seconds())
        started = time.monotonic()
        due, written_at_ms = load()
        settled = self.progress.wait(wait_on, self.limit_s, self.idle_s)
        wall = time.monotonic() - started
        system_cpu = self.system.cpu_s() - before[0]
        server_cpu = self.server_meter.cpu_s() - before[1]
        broker_cpu = cpu_seconds(broker) - before[2]
        other = machine_busy_seconds() - before[3] - system_cpu - server_cpu - broker_cpu
        wanted = {key: d for key, d in due.items() if d.destination in self._destinations_of(wait_on)}
        receipts = match(wanted, self.arrivals(sorted({d.destination for d in wanted.values()})))
        result = PhaseResult(
            name=name,
            receipts=receipts,
            drain=drain(receipts.times(), written_at_ms),
            healthy=drain(receipts.times(HEALTHY_DESTINATIONS), written_at_ms),
            latency=Latency.of(receipts.latencies_ms),
            wall_s=wall,
            system_cpu_s=system_cpu,
            server_cpu_s=server_cpu,
            broker_cpu_s=broker_cpu,
            other_cpu_s=max(0.0, other),
            settled=settled,
            timed=timed,
        )
        return result, due

    def _destinations_of(self, topics: list[str]) -> set[str]:
        return {t.rsplit(".", 1)[1] for t in topics if t.startswith(f"{self.prefix}crmbus.deliver.")}

    def lane(self, name: str, writer: LaneWriter, lane: tuple[str, int], tenants: tuple[str, ...], count: int,
             rate: float, registry_url: str | None) -> PhaseResult:  # fmt: skip
        ids = EventIds.fresh()

        def load() -> tuple[dict[str, Due], float]:
            written = writer.run(LaneLoad(self.bootstrap, lane[0], lane[1], tenants, ids, count, rate, registry_url))
            if written.failed or written.errors:
                raise BenchError(f"the generator could not write the {name} load: {written.errors}")
            return expected(ids, written.sent, self.templates, written.scheduled_ms), written.acked_at_ms

        return self._measured(name, load, [lane[0], *self.deliver_topics], timed=True)[0]

    def direct(self, name: str, count: int, failing: bool = False) -> tuple[PhaseResult, dict[str, Due]]:
        """A backlog of ``count`` events' deliveries; with ``failing``, only the healthy ones are waited for."""
        ids = EventIds.fresh()

        def load() -> tuple[dict[str, Due], float]:
            written = write_deliveries(self.bootstrap, self.prefix, ids, count, self.templates)
            if written.errors:
                raise BenchError(f"the generator could not write the {name} load: {written.errors}")
            return expected(ids, count, self.templates, lambda _: written.acked_at_ms), written.acked_at_ms

        topics = self.deliver_topics
        if failing:
            topics = [t for t in topics if not t.endswith("." + FAILING_DESTINATION)]
        return self._measured(name, load, topics, timed=False)

    def warm_up(self, result: PhaseResult) -> PhaseResult:
        """``result`` if something arrived; else the system is not delivering and the bench says so."""
        if result.receipts.applied == 0:
            raise BenchError(
                f"no delivery of the warm-up reached the destinations ({result.receipts.failed_requests} failed "
                f"requests); recent log lines:\n{self.describe()}"
            )
        return result

    def recover(self, due: dict[str, Due], limit_s: float, poll_s: float = 5.0) -> Receipts:
        """After healing: ``due`` (every destination's) as it arrives, until all of it did or ``limit_s``.

        The healthy destinations are included: a delivery the failing phase did not see within
        its wait is only lost if it never arrives.
        """
        deadline = time.monotonic() + limit_s
        destinations = sorted({d.destination for d in due.values()})
        while True:
            receipts = match(due, self.arrivals(destinations))
            if receipts.lost == 0 or time.monotonic() >= deadline:
                return receipts
            time.sleep(poll_s)
