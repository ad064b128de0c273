"""The stall guard seeks a partition back only when Faust fetched past records its idle agent never
got, and only after two identical looks."""

from agents.stall_guard import Progress, Reading, StallDetector

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


def test_progress_knows_busy_topics_and_the_offset_after_the_last_record_handled():
    progress: Progress[tuple[str, int]] = Progress()
    assert progress.idle("lane") and progress.handled_next(LANE) is None
    progress.begin(("lane",))
    assert not progress.idle("lane")
    assert progress.end(("lane",), {LANE: (0, 11)}, generation=1, committed={LANE: 0}) == {}
    assert progress.idle("lane") and progress.handled_next(LANE) == 12
    progress.begin(("lane",))
    progress.end(("lane",), {LANE: (3, 5)}, generation=1, committed={})  # records read again never move it back
    assert progress.handled_next(LANE) == 12


def test_a_batch_starting_past_the_next_expected_offset_reports_the_hole_once():
    progress: Progress[tuple[str, int]] = Progress()
    progress.begin(("lane",))
    progress.end(("lane",), {LANE: (0, 4)}, generation=1, committed={LANE: 0})
    progress.begin(("lane",))
    assert progress.end(("lane",), {LANE: (160, 199)}, generation=1, committed={LANE: 5}) == {LANE: 5}
    progress.begin(("lane",))
    progress.end(("lane",), {LANE: (5, 199)}, generation=1, committed={LANE: 5})  # the hole read again
    progress.begin(("lane",))
    assert progress.end(("lane",), {LANE: (201, 210)}, generation=1, committed={}) == {LANE: 200}
    progress.begin(("lane",))
    assert progress.end(("lane",), {LANE: (201, 210)}, generation=1, committed={}) == {}  # read again: no new hole


def test_a_first_batch_is_checked_against_the_committed_offset_and_a_rebalance_starts_afresh():
    progress: Progress[tuple[str, int]] = Progress()
    progress.begin(("lane",))
    assert progress.end(("lane",), {LANE: (30, 40)}, generation=1, committed={LANE: 12}) == {LANE: 12}
    progress.begin(("lane",))
    assert progress.end(("lane",), {LANE: (90, 95)}, generation=2, committed={LANE: 90}) == {}
    assert progress.handled_next(LANE) == 96
