"""Which daily partitions a table needs and which have expired (``streams.retention``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from streams.retention import bounds, day_of, days_ahead, expired, partition_name

pytestmark = pytest.mark.unit
NOW = datetime(2026, 12, 5, 10, 30, tzinfo=UTC)


def test_a_partition_is_named_by_its_table_and_day_and_read_back():
    name = partition_name("dead_letter", date(2026, 12, 5))
    assert name == "dead_letter_p20261205"
    assert day_of("dead_letter", name) == date(2026, 12, 5)


def test_the_default_partition_and_other_tables_partitions_have_no_day():
    assert day_of("dead_letter", "dead_letter_default") is None
    assert day_of("audit_log", "dead_letter_p20261205") is None
    assert day_of("dead_letter", "dead_letter_p2026120") is None


def test_a_day_covers_its_utc_midnight_up_to_the_next():
    assert bounds(date(2026, 12, 5)) == (datetime(2026, 12, 5, tzinfo=UTC), datetime(2026, 12, 6, tzinfo=UTC))


def test_the_days_ahead_start_today_in_utc():
    late_in_sao_paulo = datetime(2026, 12, 5, 22, 0, tzinfo=timezone(timedelta(hours=-3)))  # 01:00 UTC on the 6th
    assert days_ahead(late_in_sao_paulo, 2) == [date(2026, 12, 6), date(2026, 12, 7), date(2026, 12, 8)]


def test_a_day_expires_once_its_last_moment_is_older_than_the_retention():
    keep = timedelta(days=2)
    assert expired(date(2026, 12, 2), NOW, keep)  # ended 12-03 00:00, before 12-03 10:30
    assert not expired(date(2026, 12, 3), NOW, keep)  # its rows up to 12-03 23:59 are younger
