"""A stream process freezes what start-up built and collects young objects in larger, rarer passes."""

import gc
import weakref
from collections.abc import Iterator

import pytest

from infra.core.collector import MIDDLE_THRESHOLD, OLD_THRESHOLD, YOUNG_THRESHOLD, tune_for_streams


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


class Node:
    """A container object the collector tracks."""


def test_objects_alive_at_start_up_are_frozen_out_of_later_passes():
    started_with = Node()
    tune_for_streams()
    assert gc.get_freeze_count() > 0
    assert not any(o is started_with for o in gc.get_objects())  # frozen objects are in no generation


def test_a_stream_process_uses_larger_rarer_passes_than_pythons_defaults():
    tune_for_streams()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
    assert YOUNG_THRESHOLD > 700 and MIDDLE_THRESHOLD > 10 and OLD_THRESHOLD > 10
    assert gc.get_freeze_count() > 0


def test_garbage_cycles_are_still_collected_without_being_asked():
    tune_for_streams()
    cycle = Node()
    cycle.self = cycle
    gone = weakref.ref(cycle)
    del cycle
    young = [Node() for _ in range(YOUNG_THRESHOLD + 1)]  # enough objects allocated to start a pass
    assert gone() is None
    del young
