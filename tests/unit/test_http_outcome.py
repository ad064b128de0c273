"""An HTTP answer is delivered, worth a retry (with the destination's Retry-After) or permanent."""

from email.utils import formatdate

import pytest

from streams.errors import ConfigurationError, PermanentDeliveryError, TransientDeliveryError
from streams.http_outcome import OutcomePolicy, classify, parse_retry_after

NOW = 1_800_000_000.0


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_a_2xx_is_delivered(status):
    assert classify(status, now=NOW) is None


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504, 599])
def test_timeouts_too_early_rate_limits_and_server_errors_are_transient(status):
    error = classify(status, now=NOW)

    assert type(error) is TransientDeliveryError
    assert error.status == status
    assert error.retry_after_s is None


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308, 400, 401, 403, 404, 409, 410, 413, 422])
def test_redirects_and_other_client_errors_are_permanent(status):
    error = classify(status, now=NOW)

    assert type(error) is PermanentDeliveryError
    assert error.status == status


@pytest.mark.parametrize("status", [100, 101, 600, 999])
def test_a_status_outside_2xx_that_is_not_known_transient_is_permanent(status):
    assert isinstance(classify(status, now=NOW), PermanentDeliveryError)


def test_the_message_names_who_answered_and_the_status_only():
    error = classify(503, now=NOW, label="crm (crm.upsert_lead)")

    assert str(error) == "crm (crm.upsert_lead) answered HTTP 503"


def test_retry_after_in_seconds_is_carried_by_a_429():
    assert classify(429, retry_after="120", now=NOW).retry_after_s == 120


def test_retry_after_as_an_http_date_becomes_seconds_from_now():
    error = classify(503, retry_after=formatdate(NOW + 90, usegmt=True), now=NOW)

    assert error.retry_after_s == 90


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("0", 0),
        (" 30 ", 30),
        (formatdate(NOW + 45, usegmt=True), 45),  # IMF-fixdate
        ("Friday, 15-Jan-27 08:00:45 GMT", 45),  # obsolete RFC 850 form (NOW is 2027-01-15 08:00:00 UTC)
        ("Fri Jan 15 08:00:45 2027", 45),  # obsolete asctime form
        (formatdate(NOW - 600, usegmt=True), 0),  # a date in the past means now
        ("999999", 3600),  # capped
    ],
)
def test_retry_after_reads_seconds_and_every_http_date_form(value, seconds):
    assert parse_retry_after(value, NOW) == seconds


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5", "١٢"])
def test_an_unreadable_retry_after_is_ignored(value):
    assert parse_retry_after(value, NOW) is None


def test_retry_after_is_capped_by_the_policy():
    policy = OutcomePolicy(retry_after_cap_s=60)

    assert classify(429, retry_after="3600", now=NOW, policy=policy).retry_after_s == 60


def test_a_permanent_answer_ignores_retry_after():
    assert classify(404, retry_after="30", now=NOW).retry_after_s is None


def test_a_destination_can_declare_409_already_exists_a_success():
    policy = OutcomePolicy.from_config({"statuses": {"success": [409]}})

    assert classify(409, now=NOW, policy=policy) is None


def test_a_destination_can_move_statuses_between_transient_and_permanent():
    policy = OutcomePolicy.from_config({"statuses": {"transient": [423], "permanent": [501]}})

    assert isinstance(classify(423, now=NOW, policy=policy), TransientDeliveryError)
    assert type(classify(501, now=NOW, policy=policy)) is PermanentDeliveryError


def test_a_redirect_is_delivered_only_when_configured_so():
    policy = OutcomePolicy.from_config({"statuses": {"success": [303]}})

    assert classify(303, now=NOW, policy=policy) is None
    assert isinstance(classify(302, now=NOW, policy=policy), PermanentDeliveryError)


def test_an_empty_config_keeps_the_defaults():
    assert OutcomePolicy.from_config({}) == OutcomePolicy()


@pytest.mark.parametrize(
    "config",
    [
        {"statuses": {"success": [409], "permanent": [409]}},
        {"statuses": {"success": ["409"]}},
        {"statuses": {"success": [True]}},
        {"statuses": {"success": [700]}},
        {"statuses": {"success": 409}},
        {"statuses": {"sucess": [409]}},
        {"statuses": [409]},
        {"retry_after_cap_s": 0},
        {"retry_after_cap_s": "1h"},
    ],
)
def test_an_invalid_status_config_is_refused(config):
    with pytest.raises(ConfigurationError):
        OutcomePolicy.from_config(config)
