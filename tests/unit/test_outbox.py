"""The outbox relay's pure rules: where a row goes, its headers, the progress record, the DDL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from infra.db.outbox import ddl
from schemas.topic_names import TopicNames
from streams.errors import InvalidOutboxRowError
from streams.outbox import OutboxRow, checked_relay_name, checked_topic, headers_of, progress_ids, progress_value

pytestmark = pytest.mark.unit


def test_a_row_is_routed_by_aggregate_type_as_debeziums_router_does_by_default():
    assert TopicNames().outbox_event("order") == "outbox.event.order"
    assert TopicNames("staging.").outbox_event("order", "shop.{aggregatetype}.events") == "staging.shop.order.events"


@pytest.mark.parametrize("topic", ["outbox.event.pedido criado", "outbox.event.ação", "", "..", "x" * 250])
def test_an_aggregate_type_that_makes_no_kafka_topic_name_stops_the_relay_naming_the_row(topic):
    with pytest.raises(InvalidOutboxRowError, match="outbox row r-1"):
        checked_topic(topic, "r-1")


def test_a_record_carries_the_outbox_id_and_the_event_type_as_headers():
    row = OutboxRow(1, "9b1d", "order", "o-1", "order.created", b"{}", datetime(2026, 12, 5, tzinfo=UTC))
    assert headers_of(row) == [("id", b"9b1d"), ("type", b"order.created")]


def test_the_progress_record_gives_back_the_ids_of_its_batch_and_none_without_a_record():
    assert progress_ids(progress_value(["a", "b"])) == ["a", "b"]
    assert progress_ids(None) == []


@pytest.mark.parametrize("name", ["", "Outbox", "a b", "-x", "x" * 64])
def test_a_relay_name_must_fit_a_transactional_id_and_a_topic_name(name):
    with pytest.raises(ValueError, match="relay name"):
        checked_relay_name(name)


def test_the_ddl_has_debeziums_columns_and_refuses_a_table_name_that_is_not_an_identifier():
    sql = ddl("shop.outbox")
    for column in ("id", "aggregatetype", "aggregateid", "type", "payload", "seq", "created_at"):
        assert f"\n    {column} " in sql
    with pytest.raises(ValueError, match="lower-case identifier"):
        ddl("outbox; DROP TABLE x")
