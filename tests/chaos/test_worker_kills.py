"""kill -9 of a worker process under load, several times: the supervisor of `crmbus worker` starts
it again, deliveries resume within 15 s of each kill without anyone running a command, nothing
accepted is lost and nothing takes effect twice."""

from __future__ import annotations

from functools import partial

from bench.chaos_harness import Disruption, Worker, run_load

RATE = 30.0
RESUME_LIMIT_S = 15.0  # the promise


def test_kill_9_of_a_worker_child_three_times_under_load(shared_stage):
    worker = Worker(shared_stage, "host", processes=2).start()

    def kill(index: int) -> None:
        worker.wait_healthy(60)  # the previous victim is back before the next one dies
        worker.kill_child(index)

    try:
        run = run_load(
            shared_stage, tag=1, rate=RATE, duration_s=60.0,
            disruptions=[Disruption(at, partial(kill, i), "kill -9") for i, at in enumerate((8.0, 26.0, 44.0))],
            drain_s=120.0,
        )  # fmt: skip
    finally:
        worker.stop()
    verdict = run.verdict("kill -9 a worker child ×3")
    print(verdict.row())
    assert verdict.accepted >= int(60.0 * RATE * 0.9)
    assert verdict.lost == 0, verdict
    assert verdict.effective_duplicates == 0, verdict
    assert len(verdict.resume_s) == 3
    assert max(verdict.resume_s) <= RESUME_LIMIT_S, verdict
