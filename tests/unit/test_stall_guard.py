"""The stall guard seeks a partition back only when Faust fetched past records its idle agent never
got (or that its commit waits for), and only after two identical looks; each handled batch is
checked for records skipped before or inside it."""

from agents.runtime.stall_guard import Progress, Reading, StallDetector

LANE = ("lane", 3)


def test_a_position_ahead_of_an_idle_agent_is_sought_back_on_the_second_identical_look():
    detector: StallDetector[tuple[str, int]] = StallDetector()
    stalled = Reading(position=200, handled_next=12, idle=True)
    assert detector.observe({LANE: stalled}) == {}
    assert detector.observe({LANE: stalled}) == {LANE: 12}


def test_a_busy_agent_or_a_moving_position_is_left_alone():
    detector: StallDetector[tuple[str, int]] = StallDetector()
    busy = Reading(position=200, handled_next=12, idle=False)
    detector.observe({LANE: busy})
    assert detector.observe({LANE: busy}) == {}
    detector.observe({LANE: Reading(200, 12, True)})
    assert detector.observe({LANE: Reading(250, 60, True)}) == {}


def test_a_caught_up_or_unknown_partition_is_left_alone():
    detector: StallDetector[tuple[str, int]] = StallDetector()
    for reading in (Reading(200, 200, True), Reading(200, None, True)):
        detector.observe({LANE: reading})
        assert detector.observe({LANE: reading}) == {}


def test_the_same_stall_is_sought_back_once_and_a_new_one_again():
    detector: StallDetector[tuple[str, int]] = StallDetector()
    marker_gap = Reading(position=13, handled_next=12, idle=True)  # e.g. a transaction marker at 12
    detector.observe({LANE: marker_gap})
    assert detector.observe({LANE: marker_gap}) == {LANE: 12}
    assert detector.observe({LANE: marker_gap}) == {}
    later = Reading(position=90, handled_next=40, idle=True)
    detector.observe({LANE: later})
    assert detector.observe({LANE: later}) == {LANE: 40}


def test_records_waiting_while_an_idle_agent_gets_nothing_are_read_from_the_position():
    detector: StallDetector[tuple[str, int]] = StallDetector()
    assert detector.observe({LANE: Reading(2583, 2583, True, end=3000)}) == {}
    assert detector.observe({LANE: Reading(2583, 2583, True, end=3050)}) == {LANE: 2583}  # producers go on


def test_a_partition_read_to_its_end_or_still_moving_is_left_alone():
    detector: StallDetector[tuple[str, int]] = StallDetector()
    detector.observe({LANE: Reading(3000, 3000, True, end=3000)})
    assert detector.observe({LANE: Reading(3000, 3000, True, end=3000)}) == {}
    detector.observe({LANE: Reading(2000, 2000, True, end=3000)})
    assert detector.observe({LANE: Reading(2400, 2400, True, end=3000)}) == {}


def test_forgetting_starts_afresh_after_a_rebalance():
    detector: StallDetector[tuple[str, int]] = StallDetector()
    stalled = Reading(200, 12, True)
    detector.observe({LANE: stalled})
    detector.forget()
    assert detector.observe({LANE: stalled}) == {}


def test_a_commit_waiting_on_a_record_never_acknowledged_is_read_again_from_it():
    detector: StallDetector[tuple[str, int]] = StallDetector()
    waiting = Reading(position=1009, handled_next=1009, idle=True, end=1009, hole=202)
    assert detector.observe({LANE: waiting}) == {}
    assert detector.observe({LANE: waiting}) == {LANE: 202}


def test_progress_knows_busy_topics_and_the_offset_after_the_last_record_handled():
    progress: Progress[tuple[str, int]] = Progress()
    assert progress.idle("lane") and progress.handled_next(LANE) is None
    progress.begin(("lane",))
    assert not progress.idle("lane")
    assert progress.end(("lane",), {LANE: range(0, 12)}, generation=1, committed={LANE: 0}) == {}
    assert progress.idle("lane") and progress.handled_next(LANE) == 12
    progress.begin(("lane",))
    progress.end(("lane",), {LANE: [3, 4, 5]}, generation=1, committed={})  # read again: never moves it back
    assert progress.handled_next(LANE) == 12


def test_a_batch_starting_past_the_next_expected_offset_reports_the_hole_once():
    progress: Progress[tuple[str, int]] = Progress()
    progress.begin(("lane",))
    progress.end(("lane",), {LANE: range(0, 5)}, generation=1, committed={LANE: 0})
    progress.begin(("lane",))
    assert progress.end(("lane",), {LANE: range(160, 200)}, generation=1, committed={LANE: 5}) == {LANE: 5}
    progress.begin(("lane",))
    progress.end(("lane",), {LANE: range(5, 200)}, generation=1, committed={LANE: 5})  # the hole read again
    progress.begin(("lane",))
    assert progress.end(("lane",), {LANE: range(201, 211)}, generation=1, committed={}) == {LANE: 200}
    progress.begin(("lane",))
    assert progress.end(("lane",), {LANE: range(201, 211)}, generation=1, committed={}) == {}  # reported once


def test_a_hole_inside_a_batch_is_found_even_without_a_committed_offset():
    progress: Progress[tuple[str, int]] = Progress()
    progress.begin(("lane",))
    assert progress.end(("lane",), {LANE: [*range(0, 202), *range(1007, 1100)]}, 1, committed={}) == {LANE: 202}
    assert progress.handled_next(LANE) == 1100


def test_records_read_again_inside_a_batch_are_no_hole():
    progress: Progress[tuple[str, int]] = Progress()
    progress.begin(("lane",))
    assert progress.end(("lane",), {LANE: [*range(50, 60), *range(40, 50)]}, 1, committed={LANE: 50}) == {}


def test_a_first_batch_is_checked_against_the_committed_offset_and_a_rebalance_starts_afresh():
    progress: Progress[tuple[str, int]] = Progress()
    progress.begin(("lane",))
    assert progress.end(("lane",), {LANE: range(30, 41)}, generation=1, committed={LANE: 12}) == {LANE: 12}
    progress.begin(("lane",))
    assert progress.end(("lane",), {LANE: range(90, 96)}, generation=2, committed={LANE: 90}) == {}
    assert progress.handled_next(LANE) == 96
