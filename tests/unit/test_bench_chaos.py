"""How the chaos harness judges a run: what counts as lost, as an effective duplicate, as a gap."""

from __future__ import annotations

import pytest

from bench.chaos_harness import judge
from bench.chaos_ledger import Application, Ledger, _Throttle

SYSTEMS = ("crm", "zapi", "marketing")


def delivered(seq: int, at: float, key: str | None = None, replay: bool = False, systems=SYSTEMS) -> list[Application]:
    return [Application(system, seq, key or f"{system}-{seq}", at, replay) for system in systems]


def test_an_acknowledged_event_a_destination_never_got_is_lost():
    applications = delivered(0, 1.0) + delivered(1, 1.1, systems=("crm", "zapi"))
    verdict = judge("s", {0, 1}, applications, tenants=1, load=(0.0, 2.0), disruptions=[], drained_s=0.0)
    assert verdict.lost == 1
    assert verdict.accepted == 2


def test_the_same_key_again_is_a_redelivery_and_another_key_an_effective_duplicate():
    applications = [
        *delivered(0, 1.0),
        Application("crm", 0, "crm-0", 1.5, replay=True),  # the sink sent it again: the destination replayed
        Application("zapi", 0, "another-delivery-id", 1.6, replay=False),  # the event took effect twice
    ]
    verdict = judge("s", {0}, applications, tenants=1, load=(0.0, 2.0), disruptions=[], drained_s=0.0)
    assert (verdict.lost, verdict.effective_duplicates, verdict.redeliveries) == (0, 1, 1)


def test_a_judgement_on_some_destinations_ignores_the_others():
    applications = delivered(0, 1.0, systems=("crm",))
    verdict = judge("s", {0}, applications, 1, (0.0, 2.0), [], 0.0, systems=("crm",))
    assert verdict.lost == 0


def test_the_gap_is_the_longest_pause_of_one_stream_and_resumption_counts_from_the_disruption():
    # Tenant stream 0 (even seqs) pauses from 2.0 to 9.0; stream 1 (odd seqs) never pauses long.
    applications = [
        app for seq, at in ((0, 1.0), (2, 2.0), (4, 9.0), (1, 1.5), (3, 2.5), (5, 3.5)) for app in delivered(seq, at)
    ]
    verdict = judge("s", set(range(6)), applications, 2, load=(0.0, 10.0), disruptions=[3.0], drained_s=0.0)
    assert verdict.gap_s == pytest.approx(7.0)
    assert verdict.resume_s == (pytest.approx(6.0),)


def test_a_throttle_admits_its_rate_per_second_then_refuses_until_the_next_second():
    throttle = _Throttle(per_s=2, retry_after_s=1)
    assert [throttle.admits(at) for at in (10.0, 10.3, 10.6, 10.9, 11.0)] == [True, True, False, False, True]


def test_the_ledger_applies_a_key_once_and_records_the_repeat_as_a_replay():
    ledger = Ledger()
    body = b'{"phone": "+5511901000007"}'  # tag 1, event 7
    assert ledger.answer(b"POST", "/marketing/leads", "k1", body)[:2] == (201, b"")
    assert ledger.answer(b"POST", "/marketing/leads", "k1", body)[1] == b"Idempotent-Replayed: true\r\n"
    assert [(system, seq, key, replay) for system, seq, key, _, replay in ledger.ledger[1]] == [
        ("marketing", 7, "k1", False),
        ("marketing", 7, "k1", True),
    ]


def test_a_throttled_request_is_answered_429_with_retry_after_and_not_applied():
    ledger = Ledger()
    ledger.answer(b"POST", "/_control/chaos/marketing", None, b'{"mode": "throttle", "per_s": 0, "retry_after_s": 2}')
    status, extra, _ = ledger.answer(b"POST", "/marketing/leads", "k1", b'{"phone": "+5511901000007"}')
    assert (status, extra) == (429, b"Retry-After: 2\r\n")
    assert ledger.ledger == {}
    assert ledger.attempts[("marketing", 429)] == 1
