"""The load generator's own processes: started once, each running one open loop per step.

Separate processes keep the generator's CPU apart from the bench's bookkeeping, and let
the offered rate be split over several cores when one process is not enough.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import multiprocessing
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

import uvloop

from bench.loadgen import LoadResult, LoadSpec, run_open_loop


def new_event_loop() -> asyncio.AbstractEventLoop:
    return uvloop.new_event_loop()


def _serve(channel: Connection) -> None:
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        while True:
            spec = channel.recv()
            if spec is None:
                return
            channel.send(runner.run(run_open_loop(spec)))


class LoadGenerators:
    """``processes`` generator processes; ``run`` splits one load evenly over them."""

    def __init__(self, processes: int) -> None:
        context = multiprocessing.get_context("spawn")  # the bench holds Kafka client threads: never fork it
        self.channels: list[Connection] = []
        self.processes: list[Any] = []
        for index in range(processes):
            parent, child = context.Pipe()
            process = context.Process(target=_serve, args=(child,), name=f"bench-loadgen-{index}", daemon=True)
            process.start()
            child.close()
            self.channels.append(parent)
            self.processes.append(process)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.pid is not None]

    def run(self, spec: LoadSpec, workloads: list[Any]) -> LoadResult:
        """Run ``spec`` with one workload per process (each with its own idempotency keys)."""
        count = len(self.channels)
        for channel, workload in zip(self.channels, workloads, strict=True):
            share = dataclasses.replace(
                spec, workload=workload, rate=spec.rate / count, max_in_flight=max(1, spec.max_in_flight // count)
            )
            channel.send(share)
        results: list[LoadResult] = [channel.recv() for channel in self.channels]
        merged = results[0]
        for other in results[1:]:
            merged = merged.merge(other)
        return merged

    def close(self) -> None:
        for channel in self.channels:
            with contextlib.suppress(OSError):
                channel.send(None)
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)

    def __enter__(self) -> LoadGenerators:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()
