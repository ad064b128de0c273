"""DLQ headers: where the record came from and why it stopped, without personal data."""

from datetime import UTC, datetime

from streams.dead_letter import Origin, dead_letter_headers, header
from streams.errors import MappingError


def test_dlq_headers_name_the_origin_the_error_and_the_time():
    error = MappingError("contact.email: source field email is missing", field="contact.email")
    headers = dict(
        dead_letter_headers(
            Origin("crmbus.events", 3, 1207),
            error,
            datetime(2026, 3, 6, 10, 0, tzinfo=UTC),
            stage="router.mapping",
            route_id="r-1",
            destination="crm",
        )
    )
    assert headers == {
        "crmbus-original-topic": b"crmbus.events",
        "crmbus-original-partition": b"3",
        "crmbus-original-offset": b"1207",
        "crmbus-error-class": b"MappingError",
        "crmbus-error-message": b"contact.email: source field email is missing",
        "crmbus-failed-at": b"2026-03-06T10:00:00Z",
        "crmbus-stage": b"router.mapping",
        "crmbus-route-id": b"r-1",
        "crmbus-destination": b"crm",
    }


def test_a_long_error_message_is_cut_so_headers_stay_small():
    headers = dict(dead_letter_headers(Origin("t", 0, 0), ValueError("x" * 5000), datetime.now(UTC), stage="s"))
    assert len(headers["crmbus-error-message"]) == 500


def test_header_reads_the_last_value_of_a_name_or_none():
    assert header([("a", b"1"), ("b", b"2"), ("a", b"3")], "a") == "3"
    assert header([("a", b"1")], "missing") is None
    assert header(None, "a") is None
