"""How the dashboard reads its sources: the day's figures at most once a minute, and a source that
fails becomes a reading that says so instead of an error page."""

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy.exc import OperationalError, ProgrammingError

from infra.db.errors import translated
from ingress.console.document import Unavailable
from ingress.console.gather import Gather
from streams.delivery_sla import DeliveryFigures, DeliverySla
from streams.errors import ServiceUnreachableError, StoreError


def from_postgres(error):
    """What a repository raises when SQLAlchemy raises ``error``."""

    @translated("reading")
    def read():
        raise error

    with pytest.raises((ServiceUnreachableError, StoreError)) as raised:
        read()
    return raised.value


FIGURES = {("acme", "crm"): DeliveryFigures(delivered=1, p50_ms=1.0, p95_ms=1.0)}


class Stats:
    def __init__(self, failure=None):
        self.spans, self.failure = [], failure

    def figures_since(self, since):
        if self.failure:
            raise self.failure
        self.spans.append(since)
        return FIGURES

    def open_dead_letters(self):
        if self.failure:
            raise self.failure
        return []


class Lag:
    def __init__(self, failure=None):
        self.failure = failure

    def read(self):
        if self.failure:
            raise self.failure
        return []


def read(stats, lag=None):
    gather = Gather(stats, lag or Lag(), session=None, workers=[], sla=DeliverySla(1000, 0.9))
    return asyncio.run(gather.readings())


def test_the_last_15_minutes_are_read_every_time_and_the_day_once_a_minute():
    stats = Stats()
    gather = Gather(stats, Lag(), session=None, workers=[], sla=DeliverySla(1000, 0.9))
    first = asyncio.run(gather.readings())
    second = asyncio.run(gather.readings())
    assert len(stats.spans) == 3  # 15 min, 24 h, then 15 min again
    assert second.deliveries["24h"] is first.deliveries["24h"]
    assert second.deliveries["15m"].as_of == second.now
    assert first.now - stats.spans[1] == timedelta(hours=24)


def test_a_database_that_does_not_answer_is_unreachable():
    readings = read(Stats(from_postgres(OperationalError("SELECT", {}, Exception("refused")))))
    assert readings.deliveries == Unavailable("unreachable", "OperationalError")
    assert readings.dead_letters == Unavailable("unreachable", "OperationalError")


def test_a_database_that_answers_with_an_error_is_failing():
    readings = read(Stats(from_postgres(ProgrammingError("SELECT", {}, Exception("no such table")))))
    assert readings.deliveries == Unavailable("failing", "ProgrammingError")


def test_kafka_away_is_unreachable_and_the_database_still_read():
    readings = read(Stats(), Lag(ServiceUnreachableError("kafka: _TIMED_OUT")))
    assert readings.lag == Unavailable("unreachable", "ServiceUnreachableError")
    assert readings.deliveries["15m"].figures == FIGURES


def test_a_bug_of_ours_is_not_disguised_as_a_source_being_away():
    with pytest.raises(KeyError):
        read(Stats(KeyError("oops")))
