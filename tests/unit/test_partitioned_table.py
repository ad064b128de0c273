"""A table whose changes the agent writes itself: its changelog records, and how its keys follow
their partitions when a rebalance moves them."""

from __future__ import annotations

import asyncio

import faust
import pytest
from faust.types import TP

from agents.runtime.partitioned_table import PartitionedTable
from agents.runtime.table_stores import filter_write_buffers, store_arguments


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


@pytest.fixture
def rocks(tmp_path):
    app = faust.App(
        "crmbus-partitioned-rocks",
        broker="kafka://127.0.0.1:9",
        store="memory://",
        datadir=str(tmp_path),
        autodiscover=False,
        web_enabled=False,
    )
    made = app.Table("router-dedupe", partitions=6, **store_arguments("rocksdb", "router-dedupe", 3600))
    filter_write_buffers(made)
    yield made
    app.consumer._thread.thread_loop.close()  # made, never started


def test_in_rocksdb_a_change_goes_to_the_database_of_its_partition_and_is_found_without_one(rocks):
    keys = PartitionedTable(rocks)
    output = keys.put(4, b"acme\x1fk", b"stamp")
    assert output.partition == 4
    assert rocks.data._db_for_partition(4).get(b"acme\x1fk") == b"stamp"
    assert rocks.data._db_for_partition(3).get(b"acme\x1fk") is None
    assert keys.get(b"acme\x1fk") == b"stamp"  # no current event, no partition given
    assert keys.get(b"acme\x1fother") is None


def test_in_rocksdb_a_forgotten_key_is_gone_from_disk(rocks):
    keys = PartitionedTable(rocks)
    keys.put(2, b"k", b"v")
    keys.forget(b"k")
    assert keys.get(b"k") is None
    assert rocks.data._db_for_partition(2).get(b"k") is None


def test_a_rocksdb_table_with_a_retention_expires_its_keys_itself_a_memory_one_does_not(rocks, table):
    assert PartitionedTable(rocks).expires_by_itself
    assert rocks.data.rocksdb_options.ttl == 3600
    assert not PartitionedTable(table).expires_by_itself


def test_a_rocksdb_store_is_bounded_per_partition_far_below_faust_defaults():
    options = store_arguments("rocksdb", "router-dedupe", None)["options"]
    assert "ttl" not in options
    assert options["block_cache_size"] + options["write_buffer_size"] * options["max_write_buffer_number"] <= (
        32 * 1024**2
    )
    assert store_arguments("memory", "circuits", 60) == {"store": "memory://"}


def test_a_rocksdb_database_answers_most_misses_from_bloom_filters_in_its_files_and_its_write_buffers(rocks):
    rocks.data._db_for_partition(1)  # opened as on assignment
    path = rocks.data.partition_path(1)
    # RocksDB writes the options each database was opened with beside its files.
    written = max(path.glob("OPTIONS-*"), key=lambda file: file.stat().st_mtime).read_text()
    assert "memtable_whole_key_filtering=true" in written
    assert "memtable_prefix_bloom_size_ratio=0.020000" in written
    assert "filter_policy=bloomfilter" in written  # the file doesn't say the bits: Faust passes them
    assert rocks.data.rocksdb_options.bloom_filter_size == 10


def test_a_memory_table_is_left_as_it_is(table):
    filter_write_buffers(table)
    assert PartitionedTable(table).get(b"k") is None


class Ends:
    """The consumer's end offsets of the changelog partitions asked for."""

    def __init__(self, ends):
        self.ends = ends

    async def highwaters(self, *tps):
        return {tp: self.ends[tp.partition] for tp in tps}


def test_a_checkpoint_records_the_changelog_end_each_database_holds_so_a_restart_reads_past_it(rocks):
    keys = PartitionedTable(rocks)
    keys.put(4, b"a", b"v")  # opens partition 4's database, as an assignment does
    keys.put(1, b"b", b"v")
    app = type("App", (), {"rebalancing": False, "in_recovery": False, "consumer": Ends({4: 10, 1: 0})})()
    assert asyncio.run(keys.checkpoint(app)) == 1  # partition 1's changelog is empty: nothing to skip
    topic = rocks.changelog_topic.get_topic_name()
    assert rocks.data.persisted_offset(TP(topic, 4)) == 9
    assert rocks.data.persisted_offset(TP(topic, 1)) is None


def test_no_checkpoint_while_a_partition_is_being_restored(rocks):
    keys = PartitionedTable(rocks)
    keys.put(4, b"a", b"v")
    app = type("App", (), {"rebalancing": False, "in_recovery": True, "consumer": Ends({4: 10})})()
    assert asyncio.run(keys.checkpoint(app)) == 0
    assert rocks.data.persisted_offset(TP(rocks.changelog_topic.get_topic_name(), 4)) is None
