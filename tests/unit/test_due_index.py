"""The scheduler's due index and its stored record format."""

from hypothesis import given
from hypothesis import strategies as st

from streams.due_index import DueEntry, DueIndex, Pending


def test_entries_come_out_when_due_earliest_first_and_only_for_partitions_held():
    index = DueIndex([DueEntry(30.0, b"c", 1), DueEntry(10.0, b"a", 0), DueEntry(20.0, b"b", 2)])
    assert index.pop_due(5.0, {0, 1, 2}) == []
    assert index.next_due() == 10.0
    assert [e.key for e in index.pop_due(25.0, {0, 1})] == [b"a"]  # b's partition is another worker's
    assert len(index) == 1
    assert [e.key for e in index.pop_due(100.0, {0, 1})] == [b"c"]


def test_a_tick_releases_at_most_its_limit():
    index = DueIndex(DueEntry(float(i), str(i).encode(), 0) for i in range(10))
    assert len(index.pop_due(100.0, {0}, limit=4)) == 4
    assert len(index) == 6


@given(
    due=st.floats(min_value=0, max_value=4e9, allow_nan=False),
    partition=st.integers(0, 65535),
    topic=st.text(min_size=1, max_size=200),
    key=st.binary(max_size=300),
    value=st.binary(max_size=2000),
)
def test_a_pending_action_round_trips_through_its_stored_bytes(due, partition, topic, key, value):
    pending = Pending(due, partition, topic, key, value)
    assert Pending.unpack(pending.pack()) == pending
