"""Destinations that misbehave under load, at once on one worker: crm fails (503), zapi is slow
(2 s per answer), marketing throttles (429 with Retry-After). Once they behave again every accepted
event reaches each of them, and none takes effect twice; the trouble of one destination's tenant
stream is reported apart from the others'."""

from __future__ import annotations

from functools import partial

from bench.chaos_harness import TROUBLES, Disruption, Worker, behave, misbehave, run_load

RATE = 20.0
DURATION_S = 20.0


def test_a_failing_a_slow_and_a_throttling_destination(shared_stage):
    ledger = shared_stage.ledger
    with Worker(shared_stage, "host").start():
        run = run_load(
            shared_stage, tag=1, rate=RATE, duration_s=DURATION_S,
            disruptions=[Disruption(3.0, partial(misbehave, ledger)), Disruption(13.0, partial(behave, ledger))],
            drain_s=150.0,
        )  # fmt: skip
    attempts = ledger.attempts()
    verdicts = [run.verdict(f"destination {trouble}", [system], moments=[1]) for trouble, system in TROUBLES]
    for verdict in verdicts:
        print(verdict.row())
    assert run.verdict("destinations").accepted >= int(DURATION_S * RATE * 0.9)
    for verdict in verdicts:
        assert verdict.lost == 0, verdict
        assert verdict.effective_duplicates == 0, verdict
    # The trouble was real: the destinations refused what they were told to refuse.
    assert attempts[("crm", 503)] > 0
    assert attempts[("marketing", 429)] > 0
