import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from streams.api_keys import digest_of, is_usable, issue_key, looks_like_key

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_a_key_carries_a_recognisable_prefix_and_256_random_bits():
    key = issue_key()
    assert key.secret.startswith("crmb_live_")
    assert len(key.secret.removeprefix("crmb_live_")) == 43  # 32 bytes, url-safe base64
    assert looks_like_key(key.secret)


def test_keys_never_repeat_and_only_their_hash_is_kept():
    a, b = issue_key(), issue_key()
    assert a.secret != b.secret
    assert a.digest == digest_of(a.secret)
    assert len(a.digest) == 32


def test_a_credential_whose_bytes_were_not_utf8_is_hashed_as_the_bytes_sent():
    presented = b"crmb_live_\xc3(".decode("utf-8", "surrogateescape")  # how aiohttp hands such a header over
    assert digest_of(presented) == hashlib.sha256(b"crmb_live_\xc3(").digest()


def test_the_display_prefix_tells_keys_apart_without_revealing_them():
    key = issue_key("test")
    assert key.secret.startswith(key.display_prefix)
    assert len(key.display_prefix) == len("crmb_test_") + 8


@pytest.mark.parametrize(
    "presented", ["", "Bearer x", "crmb_live_short", "xxxx_live_" + "a" * 43, issue_key().secret + "!"]
)
def test_malformed_keys_are_refused_before_any_lookup(presented):
    assert not looks_like_key(presented)


def test_a_key_is_usable_until_revoked_or_past_its_overlap_window():
    assert is_usable(None, None, NOW)
    assert is_usable(None, NOW + timedelta(minutes=1), NOW)
    assert not is_usable(None, NOW, NOW)
    assert not is_usable(NOW - timedelta(seconds=1), None, NOW)


def test_an_environment_name_is_letters_only():
    with pytest.raises(ValueError, match="lowercase"):
        issue_key("Prod_1")
