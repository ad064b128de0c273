"""The sink's circuit states: read from the table once, written back as changelog records, and
forgotten when a rebalance hands their partitions to another worker."""

from __future__ import annotations

from agents.circuit_book import CircuitBook
from agents.outputs import Output
from streams.circuit import CircuitConfig, CircuitState

OPEN = CircuitState("open", opened_at=1_000.0, open_for_s=10.0)


class Table:
    def __init__(self):
        self.data = {}

    def get(self, key):
        return self.data.get(key)

    def put(self, partition, key, value):
        self.data[key] = value
        return Output("changelog", key, value, partition=partition)


def test_a_state_is_read_from_the_table_and_a_key_never_seen_is_closed():
    table = Table()
    table.data[b"acme\x1fcrm"] = OPEN.to_bytes()
    book = CircuitBook(table, CircuitConfig())
    assert book.get(b"acme\x1fcrm") == OPEN
    assert book.get(b"globex\x1fcrm") == CircuitState()


def test_a_changed_state_becomes_one_changelog_record_in_the_partition_it_came_from():
    book = CircuitBook(Table(), CircuitConfig())
    book.set(3, b"acme\x1fcrm", OPEN)
    assert book.changelog() == [Output("changelog", b"acme\x1fcrm", OPEN.to_bytes(), partition=3)]
    assert book.changelog() == []


def test_after_a_rebalance_states_are_read_again_from_the_restored_table():
    table = Table()
    book = CircuitBook(table, CircuitConfig())
    assert book.get(b"acme\x1fcrm") == CircuitState()
    table.data[b"acme\x1fcrm"] = OPEN.to_bytes()  # restored from the changelog another worker wrote
    book.reload()
    assert book.get(b"acme\x1fcrm") == OPEN


def test_a_partition_handed_away_takes_its_circuits_with_it():
    table = Table()
    book = CircuitBook(table, CircuitConfig())
    book.set(2, b"acme\x1fcrm", OPEN)
    book.changelog()
    table.data.clear()  # Faust dropped the keys of the partition this worker lost
    book.reload()
    assert book.get(b"acme\x1fcrm") == CircuitState()


def test_a_change_made_while_the_rebalance_ran_is_still_written():
    book = CircuitBook(Table(), CircuitConfig())
    book.set(2, b"acme\x1fcrm", OPEN)
    book.reload()
    assert book.changelog() == [Output("changelog", b"acme\x1fcrm", OPEN.to_bytes(), partition=2)]
