import pytest

from streams.errors import InvalidRouteError
from streams.field_paths import ENVELOPE_PATHS, MISSING, check_path, reader
from tests.builtin_types import CATALOGUE, TENANT, example
from tests.builtin_types import paths as field_paths


def paths_in(payload, prefix=""):
    for key, value in payload.items():
        yield prefix + key
        if isinstance(value, dict):
            yield from paths_in(value, f"{prefix}{key}.")


def test_the_paths_of_a_lead_include_its_nested_campaign_and_the_campaign_itself():
    paths = field_paths("lead.created")
    assert {"name", "phone", "channel", "campaign", "campaign.utm_source", "campaign.utm_content"} <= paths
    assert "utm_source" not in paths


def test_the_paths_of_a_client_include_the_address_and_its_city():
    assert {"address", "address.city", "address.zip", "cpf"} <= field_paths("client.registered")


def test_the_paths_of_a_received_message_include_the_media_url():
    assert {"media", "media.url", "media.mime_type", "text", "edited"} <= field_paths("whatsapp.message.received")


@pytest.mark.parametrize("event_type", sorted({t.name for t in CATALOGUE.types()}))
def test_every_path_of_every_example_payload_is_known(event_type):
    assert set(paths_in(example(event_type))) <= field_paths(event_type)


def test_an_unknown_event_type_has_no_paths():
    assert CATALOGUE.paths(TENANT, "lead.exploded") == frozenset()


def test_the_envelope_paths_are_the_safe_fields_of_the_envelope():
    assert {
        "$event.id",
        "$event.type",
        "$event.tenant_id",
        "$event.source",
        "$event.occurred_at",
        "$event.correlation_id",
    } == ENVELOPE_PATHS


def test_a_known_payload_or_envelope_path_is_accepted_as_it_is():
    lead = field_paths("lead.created")
    assert check_path("campaign.utm_source", paths=lead, field="f") == "campaign.utm_source"
    assert check_path("$event.tenant_id", paths=lead, field="f") == "$event.tenant_id"


def test_any_well_formed_payload_path_is_accepted_when_no_paths_are_given():
    assert check_path("customer.full_name", paths=None, field="f") == "customer.full_name"


@pytest.mark.parametrize(
    ("path", "event_type", "rule"),
    [
        ("campaign.utm_sorce", "lead.created", "is not a field of this event type"),
        ("$event.payload", None, "is not an envelope field"),
        ("$phone", None, "is not an envelope field"),
        ("campaign..utm_source", None, "names joined by dots"),
        ("", None, "names joined by dots"),
        ("address[0]", None, "names joined by dots"),
        (["phone"], None, "must be a string"),
    ],
)
def test_a_path_routes_cannot_read_is_refused_on_the_field_given(path, event_type, rule):
    with pytest.raises(InvalidRouteError) as raised:
        check_path(path, paths=field_paths(event_type) if event_type else None, field="filter.somewhere")
    assert raised.value.field == "filter.somewhere"
    assert str(raised.value).startswith("filter.somewhere: ")
    assert rule in str(raised.value)


def test_a_reader_reads_top_level_nested_and_envelope_paths():
    payload = {"name": "Maria Souza", "campaign": {"utm_source": "google"}}
    meta = {"tenant_id": "cuidar-sp"}
    assert reader("name")(payload, meta) == "Maria Souza"
    assert reader("campaign.utm_source")(payload, meta) == "google"
    assert reader("campaign")(payload, meta) == {"utm_source": "google"}
    assert reader("$event.tenant_id")(payload, meta) == "cuidar-sp"


@pytest.mark.parametrize(
    "path", ["email", "campaign.utm_medium", "address.city", "name.first", "$event.correlation_id"]
)
def test_a_reader_gives_missing_for_what_is_absent_null_or_under_a_non_object(path):
    payload = {"name": "Maria Souza", "email": None, "campaign": {"utm_source": "google"}}
    assert reader(path)(payload, {"correlation_id": None}) is MISSING


def test_false_zero_and_empty_text_are_values_not_missing():
    payload = {"edited": False, "amount_cents": 0, "notes": ""}
    assert [reader(path)(payload, {}) for path in payload] == [False, 0, ""]
