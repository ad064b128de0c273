import pytest

from streams.nul_text import nul_path

pytestmark = pytest.mark.unit


def test_a_document_without_nul_has_no_path():
    assert nul_path({"type": "lead.created", "payload": {"name": "Ana", "tags": ["a", 1, None, True]}}) is None


@pytest.mark.parametrize(
    ("document", "path"),
    [
        ({"payload": {"text": "Olá, Fulana\x00! Tudo bem?"}}, "payload.text"),
        ({"events": [{"payload": {}}, {"payload": {"notes": ["ok", "bad\x00"]}}]}, "events[1].payload.notes[1]"),
        ({"type": "\x00"}, "type"),
        ({"payload": {"na\x00me": "Ana"}}, "payload"),
    ],
)
def test_the_first_string_holding_nul_is_named_by_its_dotted_path(document, path):
    assert nul_path(document) == path


def test_a_key_holding_nul_at_the_top_level_is_named_by_the_empty_path():
    assert nul_path({"\x00": 1}) == ""


def test_documents_nested_deeper_than_recursion_allows_are_walked():
    document: dict = {"text": "\x00"}
    for _ in range(5_000):
        document = {"a": [document]}
    assert nul_path(document) == "a[0]." * 5_000 + "text"
