"""The dashboard's overview document and its HTML page, from readings given as values."""

from datetime import UTC, datetime, timedelta

from ingress.console.document import Readings, Unavailable, Window, overview
from ingress.console.page import age, render
from streams.bus_health import DeadLetterGroup, GroupLag, PartitionOffsets, WorkerMetrics, WorkerReading
from streams.delivery_sla import DeliveryFigures, DeliverySla

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SLA = DeliverySla(p95_ms=1000, success_rate=0.9)
HEALTHY = DeliveryFigures(delivered=20, p50_ms=12.0, p95_ms=40.0)
FAILING = DeliveryFigures(
    delivered=1, retrying=3, p50_ms=900.0, p95_ms=5000.0, last_error_class="TransientDeliveryError"
)
UP = WorkerReading("http://127.0.0.1:18010", "up", WorkerMetrics({"financeiro": 1}, 2, 3, 9))


def readings(*, recent=None, day=None, dead_letters=(), workers=(UP,), lag=(), deliveries=None):
    windows = {
        "15m": Window(NOW, recent if recent is not None else {("acme", "crm"): HEALTHY}),
        "24h": Window(NOW - timedelta(seconds=30), day if day is not None else {("acme", "crm"): HEALTHY}),
    }
    return Readings(NOW, SLA, windows if deliveries is None else deliveries, dead_letters, list(workers), lag)


def test_a_bus_with_every_source_answering_and_nothing_wrong_is_healthy():
    doc = overview(readings())
    assert doc["healthy"] is True and doc["attention"] == []
    row = doc["deliveries"]["rows"][0]
    assert (row["tenant_id"], row["destination"]) == ("acme", "crm")
    assert row["windows"]["15m"] == {
        "attempts": 20, "delivered": 20, "retrying": 0, "dead_lettered": 0, "success_rate": 1.0,
        "p50_ms": 12.0, "p95_ms": 40.0, "last_error_class": None, "sla": "ok", "sla_reasons": [],
    }  # fmt: skip


def test_a_destination_seen_only_in_the_day_is_idle_in_the_last_15_minutes():
    doc = overview(readings(recent={}, day={("acme", "zapi"): FAILING}))
    [row] = doc["deliveries"]["rows"]
    assert row["windows"]["15m"]["sla"] == "idle" and row["windows"]["15m"]["attempts"] == 0
    assert row["windows"]["24h"]["sla"] == "breached"
    assert doc["healthy"] is True  # the day is context; only the last 15 minutes call for action


def test_a_breach_in_the_last_15_minutes_needs_attention_and_says_why():
    doc = overview(readings(recent={("acme", "financeiro"): FAILING}))
    assert doc["attention"] == ["SLA breached: acme → financeiro (success 25.0 % < 90 %; p95 5000 ms > 1000 ms)"]


def test_each_long_window_says_how_old_its_figures_are():
    doc = overview(readings())
    assert doc["deliveries"]["as_of"] == {"15m": NOW.isoformat(), "24h": (NOW - timedelta(seconds=30)).isoformat()}


def test_open_dead_letters_are_counted_aged_and_given_their_replay_command():
    group = DeadLetterGroup("acme", "crm", "PermanentDeliveryError", 3, NOW - timedelta(minutes=90))
    doc = overview(readings(dead_letters=[group]))
    assert doc["dead_letters"]["open_records"] == 3
    [shown] = doc["dead_letters"]["groups"]
    assert shown["oldest_age_s"] == 5400
    assert shown["replay"] == "crmbus dlq replay --tenant acme --destination crm --error-class PermanentDeliveryError"
    assert "3 open DLQ records" in doc["attention"]


def test_postgresql_unreachable_shows_in_both_of_its_sections_and_the_rest_still_shows():
    down = Unavailable("unreachable", "OperationalError")
    doc = overview(readings(deliveries=down, dead_letters=down))
    assert doc["deliveries"] == {"status": "unreachable", "error": "OperationalError"}
    assert doc["attention"][0] == "PostgreSQL unreachable"
    assert doc["workers"][0]["circuits_open"] == {"financeiro": 1}


def test_a_database_that_answers_with_errors_is_failing_not_unreachable():
    doc = overview(readings(deliveries=Unavailable("failing", "ProgrammingError")))
    assert doc["deliveries"]["status"] == "failing"
    assert doc["attention"][0] == "PostgreSQL failing"


def test_kafka_unreachable_leaves_no_lag_to_judge():
    doc = overview(readings(lag=Unavailable("unreachable", "ServiceUnreachableError")))
    assert doc["consumer_lag"] == {"status": "unreachable", "error": "ServiceUnreachableError"}
    assert doc["attention"] == ["Kafka unreachable"]


def test_consumer_lag_is_shown_per_group_and_topic():
    group = GroupLag("crmbus-worker", "stable", (PartitionOffsets("crmbus.deliver.crm", 0, 3, 10),))
    doc = overview(readings(lag=[group]))
    assert doc["consumer_lag"]["groups"] == [
        {"group": "crmbus-worker", "state": "stable", "lag": 7, "by_topic": {"crmbus.deliver.crm": 7}}
    ]


def test_the_page_shows_the_figures_the_document_holds():
    group = DeadLetterGroup("acme", "crm", "PermanentDeliveryError", 3, NOW - timedelta(minutes=90))
    page = render(overview(readings(recent={("acme", "financeiro"): FAILING}, dead_letters=[group])))
    assert "<td>financeiro</td><td class=n>1</td><td class=n>3</td><td class=n>0</td><td class=n>25.0 %</td>" in page
    assert "<td class=n>900 ms</td><td class=n>5000 ms</td><td>TransientDeliveryError</td>" in page
    assert "<code>crmbus dlq replay --tenant acme --destination crm --error-class PermanentDeliveryError</code>" in page
    assert "<td class=n>1 h 30 min</td>" in page
    assert "financeiro: 1" in page  # the worker's open circuits


def test_the_page_shows_a_down_worker_and_an_unreachable_kafka_as_such():
    down = WorkerReading("http://127.0.0.1:18011", "unreachable", error="ClientConnectorError")
    page = render(overview(readings(workers=[UP, down], lag=Unavailable("unreachable", "ServiceUnreachableError"))))
    assert "<span class=bad>unreachable (ClientConnectorError)</span>" in page
    assert "Kafka unreachable (ServiceUnreachableError)" in page
    assert "<li>worker http://127.0.0.1:18011 unreachable</li>" in page


def test_the_page_escapes_what_it_did_not_write():
    hostile = DeadLetterGroup("<script>alert(1)</script>", None, "DecodeError", 1, NOW)
    page = render(overview(readings(dead_letters=[hostile])))
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_healthy_bus_says_all_good():
    assert "All good" in render(overview(readings()))
    assert "Needs attention" not in render(overview(readings()))


def test_ages_read_in_the_unit_an_operator_needs():
    assert [age(s) for s in (45, 600, 3 * 3600 + 5 * 60, 2 * 86400 + 4 * 3600)] == [
        "45 s",
        "10 min",
        "3 h 5 min",
        "2 d 4 h",
    ]
