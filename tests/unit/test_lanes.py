"""Priority lanes: each event type goes to the lane configured for it, the rest to the default."""

import pytest

from streams.lanes import Lanes

TOPICS = ("p.high", "p.default", "p.low")


def test_an_event_type_goes_to_its_configured_lane_and_any_other_to_the_default():
    lanes = Lanes.configure(TOPICS, high=["payment.received"], low=["sync.batch"])
    assert lanes.topic_for("payment.received") == "p.high"
    assert lanes.topic_for("sync.batch") == "p.low"
    assert lanes.topic_for("lead.created") == "p.default"


def test_an_event_type_in_both_the_high_and_the_low_lane_is_refused():
    with pytest.raises(ValueError, match="both the high and the low lane"):
        Lanes.configure(TOPICS, high=["lead.created"], low=["lead.created"])
