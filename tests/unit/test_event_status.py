"""What ``GET /v1/events/{id}`` says became of an event, from the router's decision and the attempts."""

from datetime import UTC, datetime

import pytest

from streams.event_status import RoutingDecision, event_status

pytestmark = pytest.mark.unit

AT = datetime(2026, 12, 5, tzinfo=UTC)


def routed(planned, failed_routes=0):
    return RoutingDecision("routed", planned, failed_routes, AT)


def test_nothing_known_is_no_status():
    assert event_status(None, []) is None


@pytest.mark.parametrize("decision", ["no_route", "deduplicated"])
def test_an_event_that_produced_no_delivery_says_why(decision):
    assert event_status(RoutingDecision(decision, 0, 0, AT), []) == decision


def test_a_routed_event_without_any_attempt_yet_is_routed():
    assert event_status(routed(2), []) == "routed"


def test_while_a_planned_delivery_is_pending_or_retrying_the_event_is_delivering():
    assert event_status(routed(2), [("a", "delivered")]) == "delivering"
    assert event_status(routed(1), [("a", "retrying")]) == "delivering"


def test_an_event_whose_every_delivery_was_made_is_delivered_a_skipped_duplicate_included():
    attempts = [("a", "retrying"), ("a", "delivered"), ("b", "duplicate")]
    assert event_status(routed(2), attempts) == "delivered"


def test_an_event_with_a_dead_lettered_delivery_or_route_is_failed_once_all_settled():
    assert event_status(routed(2), [("a", "delivered"), ("b", "dead_lettered")]) == "failed"
    assert event_status(routed(1, failed_routes=1), [("a", "delivered")]) == "failed"
    assert event_status(routed(0, failed_routes=2), []) == "failed"


def test_a_delivery_made_after_being_dead_lettered_and_replayed_counts_as_made():
    assert event_status(routed(1), [("a", "dead_lettered"), ("a", "delivered")]) == "delivered"


def test_attempts_archived_before_decisions_were_recorded_still_tell_a_status():
    assert event_status(None, [("a", "delivered")]) == "delivered"
    assert event_status(None, [("a", "retrying")]) == "delivering"
    assert event_status(None, [("a", "dead_lettered"), ("b", "delivered")]) == "failed"
