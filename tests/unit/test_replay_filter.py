"""Which DLQ records a replay selects, and how an operator writes the time bounds."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from streams.dead_letter import Origin, dead_letter_headers
from streams.errors import MappingError, TransientDeliveryError
from streams.replay_filter import ReplayFilter, parse_since

NOW = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
FAILED = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)
WRITTEN = datetime(2026, 3, 6, 11, 0, tzinfo=UTC)  # the DLQ record's own Kafka timestamp

HEADERS = dead_letter_headers(
    Origin("crmbus.deliver.crm", 2, 41),
    TransientDeliveryError("503 from crm", status=503),
    FAILED,
    stage="sink",
    destination="crm",
    attempts=8,
)


def selects(replay_filter, key=b"acme", headers=HEADERS, timestamp=WRITTEN):
    return replay_filter.matches(key, headers, timestamp)


def test_an_empty_filter_selects_every_record():
    assert selects(ReplayFilter())
    assert selects(ReplayFilter(), key=None, headers=[])


def test_the_tenant_is_the_record_key():
    assert selects(ReplayFilter(tenant="acme"))
    assert not selects(ReplayFilter(tenant="beta"))
    assert not selects(ReplayFilter(tenant="acme"), key=None)


def test_destination_and_error_class_are_read_from_the_dlq_headers():
    assert selects(ReplayFilter(destination="crm", error_class="TransientDeliveryError"))
    assert not selects(ReplayFilter(destination="zapi"))
    assert not selects(ReplayFilter(error_class="MappingError"))


def test_a_record_without_the_header_a_filter_asks_about_is_not_selected():
    router_letter = dead_letter_headers(Origin("crmbus.events", 0, 7), MappingError("x"), FAILED, stage="router")
    assert not selects(ReplayFilter(destination="crm"), headers=router_letter)


def test_every_given_field_must_match():
    assert not selects(ReplayFilter(tenant="acme", destination="crm", error_class="MappingError"))


def test_the_time_window_includes_since_and_excludes_until():
    assert selects(ReplayFilter(since=FAILED))
    assert not selects(ReplayFilter(until=FAILED))
    assert selects(ReplayFilter(since=FAILED - timedelta(hours=1), until=FAILED + timedelta(seconds=1)))


def test_the_time_is_the_failed_at_header_not_the_record_timestamp():
    assert not selects(ReplayFilter(since=WRITTEN))


def test_without_a_usable_failed_at_header_the_record_timestamp_is_the_time():
    assert selects(ReplayFilter(since=WRITTEN), headers=[])
    assert selects(ReplayFilter(since=WRITTEN), headers=[("crmbus-failed-at", b"yesterday")])
    assert selects(ReplayFilter(since=WRITTEN), headers=[("crmbus-failed-at", b"2026-03-06T10:00:00")])


def test_time_bounds_without_a_zone_are_refused():
    with pytest.raises(ValueError, match="since needs a time zone"):
        ReplayFilter(since=datetime(2026, 3, 6))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", NOW - timedelta(seconds=30)),
        ("30m", NOW - timedelta(minutes=30)),
        ("2h", NOW - timedelta(hours=2)),
        (" 7d ", NOW - timedelta(days=7)),
        ("1w", NOW - timedelta(weeks=1)),
        ("0m", NOW),
    ],
)
def test_a_relative_time_counts_back_from_now(text, expected):
    assert parse_since(text, NOW) == expected


def test_an_iso_time_with_a_zone_is_taken_as_written():
    assert parse_since("2026-03-06T10:00:00Z", NOW) == FAILED
    assert parse_since("2026-03-06T07:00:00-03:00", NOW) == FAILED


def test_an_iso_time_without_a_zone_is_taken_in_the_zone_of_now():
    sao_paulo_now = NOW.astimezone(timezone(timedelta(hours=-3)))
    assert parse_since("2026-03-06T07:00", sao_paulo_now) == FAILED
    assert parse_since("2026-03-06", NOW) == datetime(2026, 3, 6, tzinfo=UTC)


@pytest.mark.parametrize("text", ["", "2 hours", "-2h", "2H", "1y", "yesterday", "2026-13-01", "999999999w"])
def test_anything_else_is_refused(text):
    with pytest.raises(ValueError, match=r"not a time|before the year 1"):
        parse_since(text, NOW)
