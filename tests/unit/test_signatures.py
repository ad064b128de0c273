import hashlib
import hmac

import pytest

from streams.errors import SignatureError
from streams.signatures import ReplayGuard, crmbus_signature, verify_crmbus, verify_waha

SECRET = b"s3cret"
BODY = b'{"event":"message"}'
NOW = 1_800_000_000


def test_a_waha_body_signed_with_hmac_sha512_is_accepted():
    header = hmac.new(SECRET, BODY, hashlib.sha512).hexdigest()
    verify_waha(SECRET, BODY, header)


@pytest.mark.parametrize("algorithm", ["sha512", "SHA512", " sha512 ", None])
def test_waha_names_its_algorithm_sha512_or_leaves_it_implied(algorithm):
    header = hmac.new(SECRET, BODY, hashlib.sha512).hexdigest()
    verify_waha(SECRET, BODY, header, algorithm)


@pytest.mark.parametrize("algorithm", ["sha256", "sha1", "md5", ""])
def test_any_other_waha_algorithm_is_refused_naming_the_header_and_the_supported_one(algorithm):
    # Even with a body signed the way we check: the sender says it signs otherwise, so it is misconfigured.
    header = hmac.new(SECRET, BODY, hashlib.sha512).hexdigest()
    with pytest.raises(SignatureError) as raised:
        verify_waha(SECRET, BODY, header, algorithm)
    assert raised.value.reason == "unsupported_algorithm"
    assert "X-Webhook-Hmac-Algorithm" in str(raised.value)
    assert "supported: sha512" in str(raised.value)


@pytest.mark.parametrize(("header", "reason"), [(None, "missing"), ("", "missing"), ("ab" * 64, "mismatch")])
def test_a_waha_body_without_the_right_hmac_is_refused(header, reason):
    with pytest.raises(SignatureError) as raised:
        verify_waha(SECRET, BODY, header)
    assert raised.value.reason == reason


def test_a_crmbus_signature_within_five_minutes_is_accepted():
    signature = crmbus_signature(SECRET, NOW - 299, BODY)
    assert verify_crmbus(SECRET, BODY, str(NOW - 299), signature, now=NOW) == signature


@pytest.mark.parametrize("skew", [-301, 301])
def test_a_crmbus_signature_outside_the_tolerance_is_expired(skew):
    with pytest.raises(SignatureError) as raised:
        verify_crmbus(SECRET, BODY, str(NOW + skew), crmbus_signature(SECRET, NOW + skew, BODY), now=NOW)
    assert raised.value.reason == "expired"


def test_a_changed_body_or_timestamp_breaks_the_signature():
    signature = crmbus_signature(SECRET, NOW, BODY)
    with pytest.raises(SignatureError, match="does not match"):
        verify_crmbus(SECRET, BODY + b" ", str(NOW), signature, now=NOW)
    with pytest.raises(SignatureError, match="does not match"):
        verify_crmbus(SECRET, BODY, str(NOW + 1), signature, now=NOW)


def test_during_a_rotation_either_of_two_signatures_is_enough():
    both = f"{crmbus_signature(b'old', NOW, BODY)}, {crmbus_signature(SECRET, NOW, BODY)}"
    verify_crmbus(SECRET, BODY, str(NOW), both, now=NOW)


def test_a_signature_is_accepted_once():
    guard = ReplayGuard()
    guard.check("v1=abc", now=NOW)
    with pytest.raises(SignatureError) as raised:
        guard.check("v1=abc", now=NOW + 10)
    assert raised.value.reason == "replayed"


def test_the_replay_guard_forgets_signatures_after_the_window():
    guard = ReplayGuard(window_s=600, max_entries=1)
    guard.check("v1=a", now=NOW)
    guard.check("v1=b", now=NOW + 601)
    guard.check("v1=a", now=NOW + 1202)
