"""The archive agent skips a batch PostgreSQL refuses for good, and waits out PostgreSQL being away."""

import asyncio

import pytest

from agents import archive
from agents.archive import Archive
from agents.records import Consumed
from streams.dead_letter import Origin
from streams.errors import ServiceUnreachableError, StoreRefusedError

DLQ = "crmbus.dlq"


class Log:
    def __init__(self, *failures):
        self.failures, self.written = list(failures), []

    def record(self, attempts, letters):
        if self.failures:
            raise self.failures.pop(0)
        self.written.append((attempts, letters))

    def open_dead_letters(self):
        return len(self.written)


def letter(offset):
    return Consumed(Origin(DLQ, 0, offset), b"acme", b"bytes")


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setattr(archive, "_BACKOFF_FIRST_S", 0.0)


def test_a_batch_postgresql_refuses_for_good_is_skipped_not_retried():
    log = Log(StoreRefusedError("PostgreSQL refused archiving deliveries: DataError"))
    asyncio.run(Archive(log_=log, outcomes=None, dlq_topic=DLQ).handle([letter(1)]))
    assert log.written == [] and log.failures == []


def test_a_batch_is_written_once_postgresql_answers_again():
    log = Log(ServiceUnreachableError("PostgreSQL unreachable"), ServiceUnreachableError("PostgreSQL unreachable"))
    asyncio.run(Archive(log_=log, outcomes=None, dlq_topic=DLQ).handle([letter(1)]))
    assert [len(letters) for _, letters in log.written] == [1]
