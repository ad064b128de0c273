from pathlib import Path

import pytest

from schemas.avro_schemas import load_schema
from schemas.catalogue import RAW_VALUE, TYPED_VALUE, load_catalogue, parse_duration_ms
from streams.errors import ConfigurationError

LANES = ("crmbus.events.high", "crmbus.events", "crmbus.events.low")


def test_catalogue_has_every_topic_family_the_design_names():
    names = set(load_catalogue().topics)
    assert set(LANES) <= names
    assert {"crmbus.deliver.crm", "crmbus.deliver.financeiro", "crmbus.deliver.zapi", "crmbus.deliver.waha"} <= names
    assert {"crmbus.retry.5s", "crmbus.retry.6h", "crmbus.scheduled", "crmbus.deliveries", "crmbus.dlq"} <= names
    assert {"crm.lead.created", "crm.client.registered", "ops.service.completed"} <= names


def test_every_value_schema_named_by_the_catalogue_exists_and_parses():
    for spec in load_catalogue():
        if spec.value_schema not in (RAW_VALUE, TYPED_VALUE):  # typed: see test_public_topics.py
            assert load_schema(spec.value_schema).name.startswith("io.crmbus.")


def test_lanes_and_deliver_topics_are_co_partitioned_for_faust_tables():
    catalogue = load_catalogue()
    counts = {spec.partitions for spec in catalogue if spec.name in LANES or spec.name.startswith("crmbus.deliver.")}
    assert len(counts) == 1


def test_the_dlq_has_a_partition_for_every_partition_a_worker_reads():
    """A keyless poison record is dead-lettered to the partition number it was read from."""
    catalogue = load_catalogue()
    read = [spec for spec in catalogue if spec.name.startswith("crmbus.") and spec.name != "crmbus.dlq"]
    assert read
    assert all(spec.partitions <= catalogue["crmbus.dlq"].partitions for spec in read)


def test_every_entry_states_key_and_purpose():
    for spec in load_catalogue():
        assert spec.key
        assert len(spec.purpose) > 20


@pytest.mark.parametrize(
    ("text", "ms"), [("500ms", 500), ("5s", 5_000), ("2m", 120_000), ("1h", 3_600_000), ("7d", 604_800_000)]
)
def test_durations_parse_to_milliseconds(text, ms):
    assert parse_duration_ms(text) == ms


def test_forever_is_kafkas_infinite_retention():
    assert parse_duration_ms("forever") == -1


@pytest.mark.parametrize("text", ["", "7", "7 days", "-1d", "1w"])
def test_malformed_durations_are_refused(text):
    with pytest.raises(ConfigurationError, match="not a duration"):
        parse_duration_ms(text)


def write(directory: Path, name: str, body: str) -> None:
    (directory / name).write_text(body)


ENTRY = """
name: {name}
partitions: 3
retention: 1d
cleanup_policy: {policy}
key: tenant_id
value_schema: envelope.v1.avsc
purpose: a topic used by the catalogue tests only
"""


def test_for_each_expands_one_file_into_a_family(tmp_path):
    write(tmp_path, "family.yaml", ENTRY.format(name="x.{d}", policy="delete") + "for_each:\n  d: [a, b]\n")
    assert set(load_catalogue(tmp_path).topics) == {"x.a", "x.b"}


def test_a_topic_defined_twice_is_refused(tmp_path):
    write(tmp_path, "one.yaml", ENTRY.format(name="x.a", policy="delete"))
    write(tmp_path, "two.yaml", ENTRY.format(name="x.a", policy="delete"))
    with pytest.raises(ConfigurationError, match="defined twice"):
        load_catalogue(tmp_path)


def test_an_unknown_cleanup_policy_is_refused(tmp_path):
    write(tmp_path, "bad.yaml", ENTRY.format(name="x.a", policy="forever"))
    with pytest.raises(ConfigurationError, match="cleanup_policy"):
        load_catalogue(tmp_path)


def test_a_missing_field_is_named(tmp_path):
    write(tmp_path, "bad.yaml", ENTRY.format(name="x.a", policy="delete").replace("key: tenant_id\n", ""))
    with pytest.raises(ConfigurationError, match="'key'"):
        load_catalogue(tmp_path)


def test_prefix_renames_every_topic_and_keeps_its_shape():
    catalogue = load_catalogue()
    prefixed = catalogue.with_prefix("staging.")
    assert len(prefixed) == len(catalogue)
    assert prefixed["staging.crmbus.dlq"].retention_ms == catalogue["crmbus.dlq"].retention_ms
