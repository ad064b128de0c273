"""The e2e bench's pure parts: event tagging, arrival accounting, the receiver's journal, and the report."""

import json
import math

import orjson
import pytest

from bench.baselines.deliveries import deliveries
from bench.e2e_accounting import Arrival, Schedule, account
from bench.e2e_events import event_body, phone, tag_and_seq
from bench.e2e_receiver import DESTINATIONS, Journal
from bench.e2e_report import comparison, ratio
from bench.stats import json_line
from tests.builtin_types import validate_payload

pytestmark = pytest.mark.unit

SCHEDULE = Schedule(start_s=100.0, rate=10.0, total=4)  # events due at 100.0, 100.1, 100.2, 100.3


def _all(seq: int, at_s: float) -> list[Arrival]:
    return [Arrival(system, seq, at_s) for system in DESTINATIONS]


def test_phone_carries_tag_and_sequence_and_is_a_valid_lead_phone() -> None:
    body = event_body(7, 123_456, "k-")
    payload = orjson.loads(body)["payload"]

    assert payload["phone"] == phone(7, 123_456) == "+5511907123456"
    assert validate_payload("lead.created", payload)["marketing_consent"] is True
    assert tag_and_seq(body) == (7, 123_456)


def test_every_baseline_delivery_names_its_event_by_phone() -> None:
    payload = orjson.loads(event_body(3, 42, "k-"))["payload"]

    made = deliveries("event-1", payload)

    assert [d.destination for d in made] == list(DESTINATIONS)
    assert {tag_and_seq(d.body) for d in made} == {(3, 42)}


def test_phone_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="seq"):
        phone(0, 1_000_000)


def test_latency_counts_from_the_schedule_to_the_last_destination() -> None:
    arrivals = [Arrival("crm", 1, 100.15), Arrival("zapi", 1, 100.40), Arrival("marketing", 1, 100.20)]

    outcome = account(SCHEDULE, accepted=1, arrivals=arrivals, destinations=DESTINATIONS)

    assert outcome.complete == 1
    assert outcome.latency.p50_ms == pytest.approx(300.0)


def test_event_missing_one_destination_is_lost() -> None:
    arrivals = [*_all(0, 100.05), Arrival("crm", 1, 100.15), Arrival("zapi", 1, 100.16)]

    outcome = account(SCHEDULE, accepted=2, arrivals=arrivals, destinations=DESTINATIONS)

    assert (outcome.complete, outcome.lost) == (1, 1)
    assert outcome.incomplete_share == pytest.approx(0.75)


def test_repeated_delivery_is_a_duplicate_and_its_first_arrival_counts() -> None:
    arrivals = [*_all(2, 100.30), Arrival("crm", 2, 100.25), Arrival("crm", 2, 100.90)]

    outcome = account(SCHEDULE, accepted=1, arrivals=arrivals, destinations=DESTINATIONS)

    assert outcome.duplicates == 2
    assert outcome.latency.max_ms == pytest.approx(100.0)


def test_sequence_outside_the_schedule_is_foreign_not_complete() -> None:
    outcome = account(SCHEDULE, accepted=0, arrivals=_all(9, 101.0), destinations=DESTINATIONS)

    assert (outcome.complete, outcome.foreign, outcome.lost) == (0, 3, 0)
    assert math.isnan(outcome.latency.p99_ms)


def test_lost_is_never_negative_when_more_arrive_than_were_acknowledged() -> None:
    arrivals = [*_all(0, 100.1), *_all(1, 100.2)]

    assert account(SCHEDULE, accepted=1, arrivals=arrivals, destinations=DESTINATIONS).lost == 0


def test_delivered_rate_is_complete_events_over_the_load_duration() -> None:
    outcome = account(SCHEDULE, accepted=4, arrivals=[*_all(0, 100.1), *_all(3, 100.4)], destinations=DESTINATIONS)

    assert outcome.delivered_per_s(0.4) == pytest.approx(5.0)


def _post(journal: Journal, system: str, body: bytes, key: str) -> int:
    return journal.answer(b"POST", f"/{system}/api", key, body)[0]


def test_journal_counts_an_event_complete_once_every_destination_got_it() -> None:
    journal = Journal()
    body = event_body(1, 5, "k-")
    for system in ("crm", "zapi"):
        _post(journal, system, body, f"e/{system}")

    before = orjson.loads(journal.answer(b"GET", "/_control/e2e/1/progress", None, b"")[2])
    _post(journal, "marketing", body, "e/marketing")
    _post(journal, "marketing", body, "e/marketing")
    after = orjson.loads(journal.answer(b"GET", "/_control/e2e/1/progress", None, b"")[2])

    assert before == {"complete": 0, "arrivals": 2}
    assert after == {"complete": 1, "arrivals": 4}
    rows = orjson.loads(journal.answer(b"GET", "/_control/e2e/1", None, b"")[2])["arrivals"]
    assert [row[:2] for row in rows] == [["crm", 5], ["zapi", 5], ["marketing", 5], ["marketing", 5]]


def test_journal_ignores_failed_requests() -> None:
    journal = Journal()
    journal.failing["crm"] = 503

    assert _post(journal, "crm", event_body(1, 5, "k-"), "e/crm") == 503
    assert journal.arrivals == {}


def _figures(throughput: float, p99: float, p50: float = 10.0, cpu_us: float = 2000.0) -> dict[str, object]:
    return {"throughput_per_s": throughput, "p50_ms": p50, "p95_ms": 20.0, "p99_ms": p99, "p999_ms": 60.0,
            "lost": 0, "duplicates": 0, "front_cpu_s": 1.5, "cpu_us_per_event": cpu_us}  # fmt: skip


def test_comparison_divides_crmbus_by_the_first_baseline_named_and_by_the_ceiling() -> None:
    systems = {
        "crmbus": _figures(600.0, 50.0),
        "dramatiq": _figures(200.0, 400.0),
        "celery": _figures(60.0, 800.0),
        "ceiling": _figures(1200.0, 25.0, p50=8.0, cpu_us=500.0),
    }

    final = comparison(systems, ["dramatiq", "ceiling", "celery"])

    assert final["throughput_per_s"] == 600.0
    assert final["baseline_ratio"] == pytest.approx(3.0)
    assert final["ceiling_ratio"] == pytest.approx(0.5)
    assert final["ceiling_p50_ratio"] == pytest.approx(1.25)  # crmbus's p50 over the ceiling's
    assert final["ceiling_cpu_ratio"] == pytest.approx(4.0)  # CPU per event, the same way round
    assert final["celery_throughput_ratio"] == pytest.approx(10.0)
    assert final["celery_p99_ratio"] == pytest.approx(0.0625)
    assert final["dramatiq_front_cpu_s"] == 1.5
    assert json.loads(json_line(final))["p999_ms"] == 60.0


def test_comparison_without_compare_has_no_ratios() -> None:
    final = comparison({"crmbus": _figures(600.0, 50.0)}, [])

    assert not {"baseline_ratio", "ceiling_ratio", "ceiling_p50_ratio", "ceiling_cpu_ratio"} & final.keys()


def test_ratio_of_missing_or_zero_is_none() -> None:
    assert ratio(5.0, 0.0) is None
    assert ratio(None, 2.0) is None
    assert ratio(math.nan, 2.0) is None
    assert ratio(6, 2.0) == 3.0
