from agents.outputs import dead_letter
from agents.records import Consumed
from streams.dead_letter import Origin

HEADERS = [("crmbus-error-class", b"DecodeError")]


def test_a_keyed_record_is_dead_lettered_where_its_key_hashes_with_its_bytes_unchanged():
    record = Consumed(Origin("crmbus.events", 4, 17), b"acme", b"not avro")
    letter = dead_letter("crmbus.dlq", record, HEADERS)
    assert (letter.topic, letter.key, letter.value, letter.headers, letter.partition) == (
        "crmbus.dlq",
        b"acme",
        b"not avro",
        HEADERS,
        None,
    )


def test_a_keyless_record_is_dead_lettered_beside_the_records_it_was_read_with():
    record = Consumed(Origin("crmbus.events", 4, 17), None, b"not avro")
    assert dead_letter("crmbus.dlq", record, HEADERS).partition == 4


def test_a_tombstone_is_dead_lettered_as_a_tombstone():
    record = Consumed(Origin("crmbus.events", 2, 9), b"acme", None)
    assert dead_letter("crmbus.dlq", record, HEADERS).value is None
