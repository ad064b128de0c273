"""Our webhook signatures are Standard Webhooks: the reference package verifies them, rotation included."""

import base64
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from streams import standard_webhooks
from streams.errors import ConfigurationError, SignatureError

BODY = b'{"lead_id":"L-1","name":"Ana"}'
MSG_ID = "7b1f2c4e-0a8d-5f7e-9d21-3c6b8a9e0f14"


def signed_headers(secrets, timestamp=None):
    return standard_webhooks.headers(secrets, MSG_ID, timestamp or int(time.time()), BODY)


def test_a_generated_secret_is_whsec_and_base64_of_at_least_24_random_bytes():
    first, second = standard_webhooks.generate_secret(), standard_webhooks.generate_secret()

    assert first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"), validate=True)) >= 24
    assert first != second


def test_the_reference_package_verifies_our_signature_and_returns_the_body():
    secret = standard_webhooks.generate_secret()

    assert Webhook(secret).verify(BODY, signed_headers([secret])) == {"lead_id": "L-1", "name": "Ana"}


def test_the_signature_is_v1_and_base64_hmac_sha256_of_id_timestamp_and_body():
    # The example of the Standard Webhooks specification's test vectors.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'

    signature = standard_webhooks.sign([secret], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)

    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_during_a_rotation_receivers_on_either_secret_accept_the_message():
    new, old = standard_webhooks.generate_secret(), standard_webhooks.generate_secret()
    headers = signed_headers([new, old])

    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(BODY, headers)
    Webhook(old).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(standard_webhooks.generate_secret()).verify(BODY, headers)


def test_a_changed_body_or_id_fails_the_reference_verification():
    secret = standard_webhooks.generate_secret()
    headers = signed_headers([secret])

    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"Ana", b"Bia"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, {**headers, "webhook-id": "another"})


def test_our_verify_accepts_what_we_sign_with_any_of_the_rotation_secrets():
    new, old = standard_webhooks.generate_secret(), standard_webhooks.generate_secret()
    headers = signed_headers([new, old], timestamp=1_800_000_000)

    for secret in (new, old):
        standard_webhooks.verify(
            secret,
            BODY,
            msg_id=headers["webhook-id"],
            timestamp=headers["webhook-timestamp"],
            signature=headers["webhook-signature"],
            now=1_800_000_100,
        )


def test_our_verify_accepts_a_signature_made_by_the_reference_package():
    secret = standard_webhooks.generate_secret()
    now = int(time.time())
    signature = Webhook(secret).sign(MSG_ID, datetime.fromtimestamp(now, tz=UTC), BODY.decode())

    standard_webhooks.verify(secret, BODY, msg_id=MSG_ID, timestamp=str(now), signature=signature, now=now)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"signature": None}, "missing"),
        ({"msg_id": ""}, "missing"),
        ({"timestamp": "yesterday"}, "missing"),
        ({"now": 1_800_000_000 + 301}, "expired"),
        ({"now": 1_800_000_000 - 301}, "expired"),
        ({"signature": "v1,AAAA"}, "mismatch"),
        ({"signature": "v2,whatever v1a,xyz"}, "mismatch"),
    ],
)
def test_our_verify_refuses_missing_stale_or_wrong_signatures(change, reason):
    secret = standard_webhooks.generate_secret()
    headers = signed_headers([secret], timestamp=1_800_000_000)
    arguments = {
        "msg_id": headers["webhook-id"],
        "timestamp": headers["webhook-timestamp"],
        "signature": headers["webhook-signature"],
        "now": 1_800_000_000,
        **change,
    }

    with pytest.raises(SignatureError) as raised:
        standard_webhooks.verify(secret, BODY, **arguments)
    assert raised.value.reason == reason


def test_stored_secrets_are_split_on_whitespace_newest_first():
    assert standard_webhooks.split_secrets("whsec_bmV3 \n whsec_b2xk") == ("whsec_bmV3", "whsec_b2xk")
    with pytest.raises(ConfigurationError):
        standard_webhooks.split_secrets("  ")


def test_a_malformed_secret_is_a_configuration_error_that_does_not_echo_it():
    with pytest.raises(ConfigurationError) as raised:
        standard_webhooks.sign(["whsec_not-base64!"], MSG_ID, 1_800_000_000, BODY)
    assert "not-base64" not in str(raised.value)


@pytest.mark.parametrize("secrets", [[], ["whsec_"]])
def test_signing_needs_a_non_empty_secret(secrets):
    with pytest.raises(ConfigurationError):
        standard_webhooks.sign(secrets, MSG_ID, 1_800_000_000, BODY)
