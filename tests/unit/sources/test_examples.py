import pytest

from streams.sources import SOURCES
from tests.builtin_types import CATALOGUE, validate_payload
from tests.unit.sources import EXAMPLES, example

pytestmark = pytest.mark.unit

SOURCE_EXAMPLES = sorted(
    (path.parent.name, path.stem) for path in EXAMPLES.glob("*/*.json") if path.parent.name != "events"
)


def test_every_source_is_registered_and_has_examples():
    assert set(SOURCES) == {"zapi", "waha", "site", "crm", "operacao", "financeiro"}
    assert {source for source, _ in SOURCE_EXAMPLES} == set(SOURCES)


@pytest.mark.parametrize(("source", "name"), SOURCE_EXAMPLES)
def test_every_example_maps_to_canonical_events_that_are_already_normalised(source, name):
    for event in SOURCES[source](example(source, name), validate_payload):
        assert CATALOGUE.knows("any-tenant", event.type)
        assert validate_payload(event.type, event.payload) == event.payload
        assert event.occurred_at is None or event.occurred_at.utcoffset() is not None
