import uuid

import pytest

from bench.fanout import EventIds, Output, delivery_ids, drain, tally
from schemas.avro_schemas import CatalogueSchemaIds, load_schema
from schemas.codec import AvroCodec
from streams.routes import delivery_id

IDS = EventIds(0x1234_5678_9ABC_DEF0)


def _outputs(seq: int, at_ms: float, routes: tuple[str, ...] = ("crm", "zapi", "marketing")) -> list[Output]:
    event_id = str(IDS.make(seq))
    return [Output(event_id, delivery_id(event_id, route), route, at_ms + i) for i, route in enumerate(routes)]


def _scheduled(seq: int) -> float:
    return 1000.0 + seq


def test_event_ids_give_back_their_sequence_number_and_refuse_other_phases():
    event_id = IDS.make(41)
    assert event_id.version == 4
    assert IDS.seq_of(str(event_id)) == 41
    assert EventIds(7).seq_of(str(event_id)) is None
    assert IDS.seq_of(str(uuid.uuid4())) is None
    assert IDS.seq_of("not a uuid") is None


def test_delivery_ids_reads_the_first_two_fields_of_a_wire_format_delivery():
    codec = AvroCodec(load_schema("delivery.v1.avsc"), "crmbus.deliver.crm-value", CatalogueSchemaIds())
    event_id = IDS.make(3)
    record = {
        "delivery_id": delivery_id(event_id, "r1"), "event_id": event_id, "tenant_id": "t", "event_type": "lead.created",
        "destination": "crm", "route_id": "r1", "action": "crm.upsert_lead", "payload": "{}",
    }  # fmt: skip
    assert delivery_ids(codec.encode(record)) == (delivery_id(event_id, "r1"), str(event_id))


def test_delivery_ids_refuses_a_truncated_record():
    with pytest.raises(ValueError, match="past the record"):
        delivery_ids(b"\x00\x00\x00\x00\x02\x50ab")


def test_an_event_with_its_whole_fan_out_is_complete_and_timed_by_its_last_record():
    result = tally(_outputs(0, 1050.0) + _outputs(1, 1070.0), IDS, sent=2, fanout=3, scheduled_ms=_scheduled)
    assert (result.complete, result.lost, result.duplicates, result.foreign) == (2, 0, 0, 0)
    assert sorted(result.latencies_ms) == [52.0, 71.0]
    assert result.destinations == {"crm": 2, "zapi": 2, "marketing": 2}


def test_events_missing_a_record_or_everything_are_lost():
    partial = _outputs(0, 1050.0)[:2]
    result = tally(partial, IDS, sent=3, fanout=3, scheduled_ms=_scheduled)
    assert (result.complete, result.lost) == (0, 3)


def test_repeated_records_count_as_duplicates_and_the_first_copy_sets_the_time():
    first = _outputs(0, 1050.0)
    late_copy = Output(first[2].event_id, first[2].delivery_id, "marketing", 5000.0)
    result = tally([*first, late_copy], IDS, sent=1, fanout=3, scheduled_ms=_scheduled)
    assert (result.complete, result.duplicates, result.outputs) == (1, 1, 4)
    assert result.latencies_ms == [52.0]


def test_records_of_other_phases_or_unsent_events_are_foreign_not_matched():
    other_phase = [Output(str(EventIds(9).make(0)), "d", "crm", 1.0)]
    beyond = _outputs(5, 1.0)
    failed_send = _outputs(1, 1.0)
    result = tally(
        [*other_phase, *beyond, *failed_send, *_outputs(0, 1.0)],
        IDS, sent=2, fanout=3, scheduled_ms=_scheduled, failed=frozenset({1}),
    )  # fmt: skip
    assert (result.sent, result.complete, result.lost, result.foreign) == (1, 1, 0, 7)


def test_an_event_with_more_deliveries_than_the_fan_out_is_overfull():
    result = tally(_outputs(0, 1.0, ("crm", "zapi", "marketing", "email")), IDS, 1, 3, _scheduled)
    assert (result.complete, result.overfull) == (1, 1)


def test_drain_counts_only_completions_after_the_backlog_was_written():
    result = drain([900.0, 1000.0, 1500.0, 2000.0, 3000.0], written_at_ms=1000.0)
    assert (result.events, result.seconds, result.share) == (3, 2.0, 0.6)
    assert result.per_s == 1.5


def test_a_backlog_drained_while_it_was_written_has_no_drain_rate():
    result = drain([100.0, 200.0], written_at_ms=1000.0)
    assert (result.events, result.per_s, result.share) == (0, 0.0, 0.0)
