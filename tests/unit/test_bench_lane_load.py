from datetime import UTC, datetime

from bench.fanout import EventIds
from bench.lane_load import LEAD, LaneLoad, LaneResult, Template, templates
from schemas.avro_schemas import CatalogueSchemaIds, load_schema
from schemas.codec import AvroCodec
from streams.envelope import Envelope
from tests.builtin_types import validate_payload

CODEC = AvroCodec(load_schema("envelope.v1.avsc"), "crmbus.events-value", CatalogueSchemaIds())
IDS = EventIds(0xABCDEF)


def _load(tenants: tuple[str, ...] = ("bench-a", "bench-bb")) -> LaneLoad:
    return LaneLoad("127.0.0.1:1", "crmbus.events", 6, tenants, IDS, 10, 100.0)


def test_the_bench_lead_is_a_valid_consenting_lead_created_payload():
    payload = validate_payload("lead.created", LEAD)
    assert payload["marketing_consent"] is True
    assert payload["phone"] == "+5511987654321"


def test_a_template_with_a_spliced_id_decodes_to_the_same_envelope_with_that_id():
    at = datetime(2026, 3, 2, 17, 5, tzinfo=UTC)
    forms = templates(_load(), at)
    decoded = Envelope.from_record(CODEC.decode(forms[1].with_id(str(IDS.make(7)))))
    assert decoded.event_id == IDS.make(7)
    assert (decoded.tenant_id, decoded.type, decoded.received_at) == ("bench-bb", "lead.created", at)
    assert decoded.payload == validate_payload("lead.created", LEAD)


def test_a_template_knows_where_the_event_id_sits_in_the_encoded_envelope():
    envelope = Envelope("t", "lead.created", "site", {"note": "x"}, IDS.make(0))
    assert Template.of(envelope, CODEC).id_at > 0


def test_tenants_take_turns_and_the_schedule_follows_the_rate():
    load = _load()
    assert [load.tenant_of(seq) for seq in range(4)] == [0, 1, 0, 1]
    result = LaneResult(start_ms=1000.0, rate=100.0)
    assert result.scheduled_ms(50) == 1500.0
    assert LaneResult(start_ms=1000.0, rate=None).scheduled_ms(50) == 1000.0
