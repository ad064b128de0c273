"""How a selection of dead letters is kept with its replay, and how an operator writes the time bounds."""

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from streams.replay_filter import ReplayFilter, parse_since

NOW = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
FAILED = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)
EVENT = uuid.UUID("5f0c8e0e-9d7a-4c2e-8f0e-2b1f5a3c9d41")


def test_a_selection_goes_to_json_and_back_unchanged():
    selection = ReplayFilter(
        tenant="acme", destination="crm", error_class="TransientDeliveryError", since=FAILED, until=NOW,
        status="open", ids=frozenset({3, 1}), delivery_ids=frozenset({"d-2"}), through_id=7,
        event_ids=frozenset({EVENT}),
    )  # fmt: skip
    stored = selection.to_json()
    assert stored["ids"] == [1, 3] and stored["since"] == "2026-03-06T10:00:00+00:00"
    assert stored["event_ids"] == [str(EVENT)]
    assert ReplayFilter.from_json(stored) == selection


def test_an_empty_selection_is_an_empty_object():
    assert ReplayFilter().to_json() == {}
    assert ReplayFilter.from_json({}) == ReplayFilter()


def test_a_stored_selection_with_unknown_fields_or_bad_ids_is_refused():
    with pytest.raises(ValueError, match="unknown selection fields: partition"):
        ReplayFilter.from_json({"partition": 1})
    with pytest.raises(ValueError, match="ints"):
        ReplayFilter.from_json({"ids": ["1"]})
    with pytest.raises(ValueError, match="UUIDs"):
        ReplayFilter.from_json({"event_ids": ["not-a-uuid"]})


def test_a_status_outside_open_replayed_discarded_is_refused():
    with pytest.raises(ValueError, match="status must be one of open, replayed, discarded"):
        ReplayFilter(status="lost")


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
