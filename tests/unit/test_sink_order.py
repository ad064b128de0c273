"""Order across retries: while a delivery of an ordered destination waits in a retry tier, the later
deliveries of its order wait behind it, and its hold is cleared once it is delivered or dead-lettered."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from agents.order_holds import OrderHolds
from streams.errors import PermanentDeliveryError, TransientDeliveryError
from streams.order_holds import FORGOTTEN_AFTER_S, Hold, after_settling, behind, order_key, waits_behind
from streams.retry_policy import tier_named
from tests.unit.test_sink import DELIVERIES, NOW, OK, Config, Table, crm, delivery, sink

T = NOW.timestamp()
HOLD = Hold("d-1", "5s", T + 5)


# -- the decisions -------------------------------------------------------------------------------


def test_each_ordering_key_of_a_tenants_destination_is_its_own_order():
    assert order_key("acme", "crm", "lead-1") != order_key("acme", "crm", "lead-2")
    assert order_key("acme", "crm", None) != order_key("globex", "crm", None)
    assert order_key("acme", "crm", None) != order_key("acme", "zapi", None)


def test_a_delivery_waits_behind_the_hold_of_another_delivery_of_its_order():
    assert waits_behind(HOLD, "d-2", T) == HOLD


def test_the_waiting_delivery_itself_and_an_order_without_a_hold_go_through():
    assert waits_behind(HOLD, "d-1", T) is None
    assert waits_behind(None, "d-2", T) is None


def test_a_hold_long_overdue_is_taken_for_lost_and_holds_nothing():
    assert waits_behind(HOLD, "d-2", HOLD.not_before + FORGOTTEN_AFTER_S) == HOLD
    assert waits_behind(HOLD, "d-2", HOLD.not_before + FORGOTTEN_AFTER_S + 1) is None


def test_behind_a_hold_is_its_tier_and_its_due_time():
    assert behind(HOLD) == (tier_named("5s"), datetime.fromtimestamp(T + 5, UTC))


def test_a_delivery_that_goes_to_a_tier_holds_its_order():
    waiting = (tier_named("30s"), NOW + timedelta(seconds=30))
    assert after_settling(None, "d-1", waiting, T) == Hold("d-1", "30s", T + 30)


def test_the_waiting_delivery_sent_back_to_a_tier_moves_its_hold_along():
    waiting = (tier_named("2m"), NOW + timedelta(seconds=120))
    assert after_settling(HOLD, "d-1", waiting, T) == Hold("d-1", "2m", T + 120)


def test_a_delivery_parked_behind_another_leaves_that_ones_hold():
    assert after_settling(HOLD, "d-2", behind(HOLD), T) == HOLD


def test_the_waiting_delivery_done_clears_its_hold_and_another_done_leaves_it():
    assert after_settling(HOLD, "d-1", None, T) is None
    assert after_settling(HOLD, "d-2", None, T) == HOLD


@pytest.mark.parametrize("data", [b"", b"[]", b'[2,"d-1","5s",0]', b'[1,"d-1","7s",0]', b'[1,3,"5s",0]'])
def test_bytes_that_are_not_a_hold_are_refused(data):
    with pytest.raises(ValueError, match="not an order hold"):
        Hold.from_bytes(data)


def test_a_hold_survives_its_changelog_round_trip():
    assert Hold.from_bytes(HOLD.to_bytes()) == HOLD


# -- the sink ------------------------------------------------------------------------------------


def ordered_sink(answers):
    table = Table()
    made, writer, called = sink(Config(crm(ordered=True)), answers, holds=OrderHolds(table))
    return made, writer, called, table


def waiting(writer) -> list[tuple[str, str, int, datetime]]:
    found = []
    for output in writer.written:
        if output.topic.startswith("crmbus.retry."):
            record = DELIVERIES.decode(output.value)
            found.append((output.topic, record["delivery_id"], record["attempt"], record["not_before"]))
    return found


def test_a_later_delivery_of_an_order_waits_behind_one_in_a_retry_tier_uncalled():
    answers = {"d-1": TransientDeliveryError("503"), "d-2": OK}
    made, writer, called, table = ordered_sink(answers.__getitem__)
    asyncio.run(made.handle([delivery(1, ordering_key="lead-1")]))
    asyncio.run(made.handle([delivery(2, ordering_key="lead-1")]))
    assert called == ["crm:crm.upsert_lead:d-1"]
    (first, second) = waiting(writer)
    assert first[:3] == ("crmbus.retry.5s", "d-1", 1)
    assert second == ("crmbus.retry.5s", "d-2", 0, first[3])  # same tier, same due time, after it
    assert Hold.from_bytes(table.data[order_key("acme", "crm", "lead-1")]) == Hold("d-1", "5s", first[3].timestamp())


def test_a_delivery_of_another_order_is_not_held():
    answers = {"d-1": TransientDeliveryError("503"), "d-2": OK}
    made, _, called, _ = ordered_sink(answers.__getitem__)
    asyncio.run(made.handle([delivery(1, ordering_key="lead-1")]))
    asyncio.run(made.handle([delivery(2, ordering_key="lead-2")]))
    assert called == ["crm:crm.upsert_lead:d-1", "crm:crm.upsert_lead:d-2"]


def test_once_the_waiting_delivery_is_delivered_its_hold_is_cleared_and_the_next_one_goes():
    answers = {"d-1": TransientDeliveryError("503")}
    made, writer, called, table = ordered_sink(lambda key: answers.get(key, OK))
    asyncio.run(made.handle([delivery(1)]))
    asyncio.run(made.handle([delivery(2)]))  # parked behind d-1
    del answers["d-1"]  # the destination is well again
    asyncio.run(made.handle([delivery(1, attempt=1), delivery(2)]))  # both back, in order
    assert called == ["crm:crm.upsert_lead:d-1", "crm:crm.upsert_lead:d-1", "crm:crm.upsert_lead:d-2"]
    assert order_key("acme", "crm", None) not in table.data
    tombstones = [o for o in writer.written if o.topic == "changelog" and o.value is None]
    assert [o.key for o in tombstones] == [order_key("acme", "crm", None)]


def test_a_waiting_delivery_that_ends_in_the_dlq_clears_its_hold():
    answers = {"d-1": TransientDeliveryError("503")}
    made, _, called, table = ordered_sink(lambda key: answers.get(key, OK))
    asyncio.run(made.handle([delivery(1)]))
    answers["d-1"] = PermanentDeliveryError("422")
    asyncio.run(made.handle([delivery(1, attempt=1)]))
    asyncio.run(made.handle([delivery(2)]))
    assert called[-1] == "crm:crm.upsert_lead:d-2"
    assert table.data == {}


def test_in_a_batch_a_permanent_failure_does_not_hold_the_rest_of_its_order():
    answers = {"d-1": PermanentDeliveryError("422")}
    made, writer, called, _ = ordered_sink(lambda key: answers.get(key, OK))
    asyncio.run(made.handle([delivery(1), delivery(2)]))
    assert called == ["crm:crm.upsert_lead:d-1", "crm:crm.upsert_lead:d-2"]
    assert waiting(writer) == []


def test_a_hold_survives_in_the_table_a_new_sink_process_reads():
    answers = {"d-1": TransientDeliveryError("503")}
    made, _, _, table = ordered_sink(lambda key: answers.get(key, OK))
    asyncio.run(made.handle([delivery(1)]))
    restarted, writer, called = sink(Config(crm(ordered=True)), lambda _: OK, holds=OrderHolds(table))
    asyncio.run(restarted.handle([delivery(2)]))
    assert called == [] and [w[1] for w in waiting(writer)] == ["d-2"]
