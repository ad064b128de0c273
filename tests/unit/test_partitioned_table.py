"""A table whose changes the agent writes itself: its changelog records, and how its keys follow
their partitions when a rebalance moves them."""

from __future__ import annotations

import asyncio

import faust
import pytest
from faust.types import TP

from agents.runtime.partitioned_table import PartitionedTable


@pytest.fixture
def table(tmp_path):
    app = faust.App(
        "crmbus-partitioned-table",
        broker="kafka://127.0.0.1:9",
        store="memory://",
        datadir=str(tmp_path),
        autodiscover=False,
        web_enabled=False,
    )
    made = app.Table("circuits", partitions=6)
    yield made
    app.consumer._thread.thread_loop.close()  # made, never started


def test_a_change_is_written_to_the_changelog_partition_of_the_record_it_came_from(table):
    output = PartitionedTable(table).put(4, b"acme\x1fcrm", b"state")
    assert (output.key, output.value, output.partition) == (b"acme\x1fcrm", b"state", 4)
    assert output.topic == table.changelog_topic.get_topic_name()


def test_a_deleted_key_leaves_a_tombstone(table):
    states = PartitionedTable(table)
    states.put(1, b"k", b"v")
    assert states.delete(1, b"k").value is None
    assert states.get(b"k") is None


def test_keys_of_a_partition_the_worker_no_longer_holds_are_forgotten_after_a_rebalance(table):
    states = PartitionedTable(table)
    states.put(2, b"acme\x1fcrm", b"open")
    states.put(3, b"globex\x1fcrm", b"closed")
    # Recovery after a rebalance that took partition 2 away and kept 3.
    asyncio.run(table.data.on_recovery_completed({TP("crmbus-worker-circuits-changelog", 3)}, set()))
    assert states.get(b"acme\x1fcrm") is None
    assert states.get(b"globex\x1fcrm") == b"closed"
